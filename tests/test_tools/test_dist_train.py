"""tools/dist_train.sh: 2 processes, DDP with the gloo backend, on the CPU."""
import re
import socket
import sys

from conftest import run_tool
from td_plugins.utils import safe_torch_load


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_ddp_trains_two_iterations(demo_data, tmp_path):
    proc = run_tool(
        'bash', 'tools/dist_train.sh', 'configs/baselines/demo/resnet50_demo.py',
        '2', '--work-dir', tmp_path, '--no-validate', '--cfg-options',
        'train_cfg.max_iters=2', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.checkpoint.interval=2',
        env=dict(PORT=str(_free_port()), OMP_NUM_THREADS='1',
                 PYTHON=sys.executable), timeout=600)
    log = proc.stdout + proc.stderr
    # mmengine calls the world size "GPU number" whatever the device.
    assert re.search(r'Distributed training: True\s+GPU number: 2', log), \
        log[-3000:]
    assert "type='MMDistributedDataParallel'" in log
    ckpt = safe_torch_load(str(tmp_path / 'iter_2.pth'))
    assert ckpt['meta']['iter'] == 2
    # DDP keeps the replicas in sync: the wrapper's "module." prefix is
    # stripped and the weights are those of an ordinary model.
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])
