"""--resume from a checkpoint the runner wrote (weights-only, allow-listed):
the resumed run continues where the first stopped and reproduces its
losses (weights, optimizer state, BN statistics and data position all
restored), on a run whose loss falls."""
import pickle

import pytest
import torch
from conftest import run_tool
from test_train_test import (
    CLS_IMAGES,
    LEARN_OPTIONS,
    assert_loss_falls,
    learn_options,
    logged_losses,
)

from td_plugins.utils import safe_torch_load

CONFIG = 'configs/baselines/demo/resnet50_demo.py'
ITERS, HALF = 8, 4
# (mean of the last 3 losses) / (mean of the first 3) of the 8 steps on
# the 4 fixed images, at most half the measured drop (1.205 -> 0.299,
# 0.248).
LOSS_RATIO = 0.62


def _options(max_iters: int) -> list:
    return ['--cfg-options', *learn_options(ITERS, CLS_IMAGES),
            *LEARN_OPTIONS['resnet50'], f'train_cfg.max_iters={max_iters}',
            f'default_hooks.checkpoint.interval={HALF}',
            'default_hooks.checkpoint.max_keep_ckpts=5']


def test_resume_continues_from_runner_checkpoint(demo_data, tmp_path):
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    run_tool('tools/train.py', CONFIG, '--work-dir', straight,
             '--no-validate', *_options(ITERS))
    losses = logged_losses(straight)
    assert len(losses) == ITERS, losses
    assert_loss_falls(losses, LOSS_RATIO, 'resume run', window=3)
    half = straight / f'iter_{HALF}.pth'
    # The runner's checkpoint holds more than tensors: plain weights-only
    # loading refuses it, the allow-listed one accepts it.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(half, weights_only=True)
    assert safe_torch_load(str(half))['meta']['iter'] == HALF

    proc = run_tool('tools/train.py', CONFIG, '--work-dir', resumed,
                    '--no-validate', '--resume', half, *_options(ITERS))
    log = proc.stdout + proc.stderr
    assert f'resumed epoch: 0, iter: {HALF}' in log, log[-3000:]
    # It continued at iteration HALF + 1 instead of starting again at 1.
    assert f'Iter(train) [1/{ITERS}]' not in log
    assert f'Iter(train) [{HALF + 1}/{ITERS}]' in log
    assert f'Iter(train) [{ITERS}/{ITERS}]' in log
    end = safe_torch_load(str(resumed / f'iter_{ITERS}.pth'))
    assert end['meta']['iter'] == ITERS
    # ... with the state of iteration HALF: the same losses as the
    # uninterrupted run (fixed seed, deterministic, no workers).
    again = logged_losses(resumed)
    assert again == pytest.approx(losses[HALF:], rel=1e-4, abs=1e-6), \
        (again, losses)
    # and the same final weights
    final = safe_torch_load(str(straight / f'iter_{ITERS}.pth'))
    for key, value in final['state_dict'].items():
        torch.testing.assert_close(end['state_dict'][key], value,
                                   rtol=1e-4, atol=1e-5, msg=key)
