"""tools/dist_train.sh and dist_test.sh: 2 processes, gloo backend, CPU."""
import json
import re
import sys

import pytest
from conftest import run_tool
from ddp_equivalence import free_port

from td_plugins.utils import safe_torch_load

CONFIG = 'configs/baselines/demo/resnet50_demo.py'


def _env() -> dict:
    return dict(PORT=str(free_port()), OMP_NUM_THREADS='1',
                PYTHON=sys.executable)


def test_two_process_ddp_trains_and_evaluates(demo_data, tmp_path):
    proc = run_tool(
        'bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', tmp_path,
        '--no-validate', '--cfg-options',
        'train_cfg.max_iters=2', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.checkpoint.interval=2',
        env=_env(), timeout=600)
    log = proc.stdout + proc.stderr
    # mmengine calls the world size "GPU number" whatever the device.
    assert re.search(r'Distributed training: True\s+GPU number: 2', log), \
        log[-3000:]
    assert "type='MMDistributedDataParallel'" in log
    ckpt = safe_torch_load(str(tmp_path / 'iter_2.pth'))
    assert ckpt['meta']['iter'] == 2
    # The checkpoint holds the plain model's keys, without DDP's "module."
    # prefix, so it loads into an unwrapped model too.
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])

    # Distributed evaluation: each process scores half of the val set and
    # the metric is computed on the gathered results.
    out = tmp_path / 'metrics.json'
    run_tool('bash', 'tools/dist_test.sh', CONFIG, tmp_path / 'iter_2.pth',
             '2', '--work-dir', tmp_path, '--metrics-out', out,
             '--cfg-options', 'test_dataloader.num_workers=0',
             'test_dataloader.persistent_workers=False', env=_env(),
             timeout=600)
    metrics = json.loads(out.read_text())
    # ... and equals one process's evaluation of the same checkpoint
    single = tmp_path / 'metrics_single.json'
    run_tool('tools/test.py', CONFIG, tmp_path / 'iter_2.pth', '--work-dir',
             tmp_path / 'single', '--metrics-out', single, '--cfg-options',
             'test_dataloader.num_workers=0',
             'test_dataloader.persistent_workers=False', timeout=600)
    assert metrics['accuracy/top1'] == pytest.approx(
        json.loads(single.read_text())['accuracy/top1'], abs=1e-9), metrics
