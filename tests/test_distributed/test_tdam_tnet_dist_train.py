"""``tools/dist_train.sh`` on 2 gloo processes trains TDAM with
``num_steps=1`` and TNet with ``num_levels=1`` under mmengine's DDP wrapper
with ``find_unused_parameters=False`` (the default of our launcher): the
settings build no attention / location module, so no parameter goes
without a gradient (DDP would fail at the second iteration otherwise)."""
import re
import socket
import sys

import pytest
from conftest import run_tool

from td_plugins.utils import safe_torch_load

COMMON = ['train_cfg.max_iters=2', 'train_dataloader.batch_size=2',
          'train_dataloader.num_workers=0',
          'train_dataloader.persistent_workers=False',
          'default_hooks.checkpoint.interval=2',
          'default_hooks.logger.interval=1']


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.parametrize('config,options,absent', [
    ('configs/tdam/demo/tdam-r18_cls_demo.py',
     ['model.backbone.num_steps=1'], '.td.'),
    ('configs/tnet/demo/tnet-bagnet_cls_demo.py',
     ['model.num_levels=1', 'model.locations_per_level=1'],
     'location_module.'),
])
def test_dist_train_without_find_unused_parameters(config, options, absent,
                                                   demo_data, tmp_path):
    proc = run_tool(
        'bash', 'tools/dist_train.sh', config, '2', '--work-dir', tmp_path,
        '--no-validate', '--cfg-options', *COMMON, *options,
        env=dict(PORT=str(_free_port()), OMP_NUM_THREADS='1',
                 PYTHON=sys.executable), timeout=600)
    log = proc.stdout + proc.stderr
    assert re.search(r'Distributed training: True\s+GPU number: 2', log), \
        log[-3000:]
    wrapper = re.search(r"model_wrapper_cfg = dict\(([^)]*)\)", log)
    assert wrapper, log[-3000:]
    assert "type='MMDistributedDataParallel'" in wrapper.group(1)
    assert 'find_unused_parameters=False' in wrapper.group(1)
    assert 'Iter(train) [2/2]' in log, log[-3000:]
    state = safe_torch_load(str(tmp_path / 'iter_2.pth'))['state_dict']
    assert not any(absent in k for k in state), absent
