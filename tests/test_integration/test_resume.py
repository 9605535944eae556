"""--resume from a checkpoint the runner wrote (weights-only, allow-listed)."""
import pickle

import pytest
import torch

from conftest import run_tool
from td_plugins.utils import safe_torch_load

CONFIG = 'configs/baselines/demo/resnet50_demo.py'
SHORT = ['train_dataloader.batch_size=2', 'default_hooks.checkpoint.interval=1',
         'default_hooks.checkpoint.max_keep_ckpts=5',
         'default_hooks.logger.interval=1']


def test_resume_continues_from_runner_checkpoint(demo_data, tmp_path):
    run_tool('tools/train.py', CONFIG, '--work-dir', tmp_path,
             '--no-validate', '--cfg-options', 'train_cfg.max_iters=2', *SHORT)
    first = tmp_path / 'iter_1.pth'
    # The runner's checkpoint holds more than tensors: plain weights-only
    # loading refuses it, the allow-listed one accepts it.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(first, weights_only=True)
    assert safe_torch_load(str(first))['meta']['iter'] == 1

    proc = run_tool('tools/train.py', CONFIG, '--work-dir', tmp_path,
                    '--no-validate', '--resume', first, '--cfg-options',
                    'train_cfg.max_iters=3', *SHORT)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 1' in log, log[-3000:]
    # It continued at iteration 2 instead of starting again at 1.
    assert 'Iter(train) [1/3]' not in log
    assert 'Iter(train) [2/3]' in log and 'Iter(train) [3/3]' in log
    assert safe_torch_load(str(tmp_path / 'iter_3.pth'))['meta']['iter'] == 3
