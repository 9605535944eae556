"""``tools/dist_train.sh`` on 2 gloo processes trains the FCOS TDAF-ResNet-18
demo with ``sync_bn='torch'``: mmengine's Runner converts the multi-flow
BNs through ``convert_sync_batchnorm``, which td_plugins makes produce
``SyncMultiFlowBatchNorm`` (torch's ``SyncBatchNorm`` would refuse the CPU
tensors, and would give the checkpoint one-flow statistics)."""
import re
import socket
import sys

from conftest import run_tool

from td_plugins.utils import safe_torch_load


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_runner_sync_bn_trains_with_sync_multi_flow_bn(demo_data, tmp_path):
    proc = run_tool(
        'bash', 'tools/dist_train.sh',
        'configs/tdaf/demo/fcos_tdaf-r18_demo.py', '2', '--work-dir',
        tmp_path, '--no-validate', '--cfg-options',
        'sync_bn=torch', 'train_cfg.max_iters=2',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1',
        env=dict(PORT=str(_free_port()), OMP_NUM_THREADS='1',
                 PYTHON=sys.executable), timeout=600)
    log = proc.stdout + proc.stderr
    assert re.search(r'Distributed training: True\s+GPU number: 2', log), \
        log[-3000:]
    assert "sync_bn = 'torch'" in log, log[-3000:]
    assert 'Iter(train) [2/2]' in log, log[-3000:]
    state = safe_torch_load(str(tmp_path / 'iter_2.pth'))['state_dict']
    assert state['backbone.bn1.running_mean'].shape == (3, 64)
    assert state['backbone.r2dns.anars.0.trans_norm.num_batches_tracked'] \
        .tolist() == [2, 2, 0]
