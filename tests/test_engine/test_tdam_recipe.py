"""The official TDAM ImageNet recipe pieces (issue 13.4): timm's per-epoch
cosine schedule with cool-down, ``--dist-bn reduce`` (2 gloo processes) and
``--train-interpolation random``; the configs use them."""
import math
import os
import tempfile
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import REPO
from ddp_equivalence import free_port, init_gloo, leave_gloo, spawn
from mmengine.config import Config

from td_plugins.engine import (
    DistBNReduceHook,
    TimmCosineLR,
    distribute_bn_stats,
)

# --- timm CosineLRScheduler, restated from the official local_timm -------

def _official_lr(epoch, base=0.4, t_initial=150, warmup_t=5,
                 warmup_lr_init=1e-4, lr_min=1e-6):
    """``CosineLRScheduler._get_lr(t)`` (cycle_mul 1, cycle_limit 1,
    warmup_prefix False, k_decay 1, no noise)."""
    if epoch < warmup_t:
        step = (base - warmup_lr_init) / warmup_t
        return warmup_lr_init + epoch * step
    i = epoch // t_initial
    t_curr = epoch - t_initial * i
    if i < 1:
        return lr_min + 0.5 * (base - lr_min) * (
            1 + math.cos(math.pi * t_curr / t_initial))
    return lr_min


def _lrs_through_a_run(scheduler_cfg, epochs, base=0.4):
    param = nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([param], lr=base)
    sched = TimmCosineLR(opt, **scheduler_cfg)
    lrs = []
    for _ in range(epochs):  # mmengine: scheduler.step() after each epoch
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    return lrs


def test_schedule_equals_timm_per_epoch_with_cooldown():
    cfg = Config.fromfile(
        REPO / 'configs/tdam/tdam-joint-t2m1_resnet50_8xb64_in1k.py')
    # create_scheduler: num_epochs = t_initial + cooldown_epochs = 160
    assert cfg.train_cfg.max_epochs == 160
    sched_cfg = {k: v for k, v in cfg.param_scheduler.items()
                 if k != 'type'}
    assert cfg.param_scheduler['type'] == 'td_plugins.TimmCosineLR'
    lrs = _lrs_through_a_run(sched_cfg, cfg.train_cfg.max_epochs)
    expected = [_official_lr(e) for e in range(160)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=0)
    assert lrs[0] == pytest.approx(1e-4) and lrs[4] == pytest.approx(0.32002)
    # the cosine counts from epoch 0 (not restarted after the warm-up) ...
    assert lrs[5] == pytest.approx(
        1e-6 + 0.5 * (0.4 - 1e-6) * (1 + math.cos(math.pi * 5 / 150)))
    # ... and the last 10 epochs stay at the minimum
    assert lrs[150:] == [1e-6] * 10 and lrs[149] > 1e-6
    r34 = Config.fromfile(
        REPO / 'configs/tdam/tdam-joint-t2m2_resnet34_8xb64_in1k.py')
    assert r34.train_cfg.max_epochs == 110
    assert r34.param_scheduler['t_initial'] == 100


def test_schedule_arguments_are_refused_clearly():
    opt = torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1)
    for kwargs, match in (
            (dict(t_initial=0), 't_initial must be an integer >= 1'),
            (dict(t_initial=10, warmup_epochs=10),
             r'warmup_epochs must be an integer in \[0, t_initial=10\)'),
            (dict(t_initial=10, min_lr=-1), 'min_lr must be a number >= 0'),
            (dict(t_initial=10, by_epoch=False), 'by_epoch must be True')):
        with pytest.raises(ValueError, match=match):
            TimmCosineLR(opt, **kwargs)


# --- --dist-bn reduce: 2 gloo processes ------------------------------------

def _small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 5, 1), nn.BatchNorm2d(5))


def _reduce_after_three_steps(rank: int, mode: str, out_dir: str) -> None:
    model = _small_net()
    ddp = nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)
    gen = torch.Generator().manual_seed(100 + rank)  # different data
    ddp.train()
    for _ in range(3):
        ddp(torch.randn(4, 3, 8, 8, generator=gen) * (1 + rank)).sum() \
            .backward()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hook = DistBNReduceHook(mode=mode)
    hook.after_train_epoch(SimpleNamespace(model=ddp))
    after = model.state_dict()
    torch.save({'before': before, 'after': after},
               os.path.join(out_dir, f'rank{rank}.pth'))


def _worker(rank: int, world_size: int, port: int, mode: str,
            out_dir: str) -> None:
    init_gloo(rank, world_size, port)
    _reduce_after_three_steps(rank, mode, out_dir)  # its DDP is freed here
    leave_gloo()


@pytest.mark.parametrize('mode', ['reduce', 'broadcast'])
def test_dist_bn_reduce_averages_running_stats_over_two_processes(mode):
    with tempfile.TemporaryDirectory(dir='/tmp') as out:
        spawn(_worker, (2, free_port(), mode, out), 2)
        ranks = [torch.load(os.path.join(out, f'rank{r}.pth'))
                 for r in range(2)]
    stats = [k for k in ranks[0]['before']
             if k.endswith(('running_mean', 'running_var'))]
    assert len(stats) == 4
    for k in stats:
        b0, b1 = ranks[0]['before'][k], ranks[1]['before'][k]
        assert not torch.allclose(b0, b1)  # the ranks did differ
        want = (b0 + b1) / 2 if mode == 'reduce' else b0
        for r in range(2):
            torch.testing.assert_close(ranks[r]['after'][k], want,
                                       rtol=1e-6, atol=1e-7)
    for k in ranks[0]['before']:  # weights, num_batches_tracked untouched
        if k not in stats:
            for r in range(2):
                torch.testing.assert_close(ranks[r]['after'][k],
                                           ranks[r]['before'][k])


def test_dist_bn_hook_is_a_no_op_without_distribution_and_checks_mode():
    model = _small_net()
    assert distribute_bn_stats(model) == 0
    DistBNReduceHook().after_train_epoch(SimpleNamespace(model=model))
    with pytest.raises(ValueError, match=r"mode must be one of \('reduce', "
                                         r"'broadcast'\), got 'mean'"):
        DistBNReduceHook(mode='mean')


def test_configs_use_the_hook_the_random_interpolation_and_timm_resize():
    from mmengine.registry import HOOKS, TRANSFORMS

    import td_plugins  # noqa: F401
    cfg = Config.fromfile(
        REPO / 'configs/tdam/tdam-joint-t2m1_resnet50_8xb64_in1k.py')
    assert [h['type'] for h in cfg.custom_hooks] == [
        'td_plugins.DistBNReduceHook']
    hook = HOOKS.build(cfg.custom_hooks[0])
    assert isinstance(hook, DistBNReduceHook) and hook.mode == 'reduce'
    crop = cfg.train_pipeline[1]
    assert crop['type'] == 'td_plugins.RandomInterpolationResizedCrop'
    assert crop['interpolations'] == ('bilinear', 'bicubic')
    t = TRANSFORMS.build(crop)
    img = np.random.RandomState(0).randint(0, 255, (40, 50, 3), np.uint8)
    np.random.seed(0)
    used = [t(dict(img=img.copy()))['interpolation'] for _ in range(40)]
    assert set(used) == {'bilinear', 'bicubic'}
    # timm transforms_imagenet_eval: floor(224 / crop_pct), bicubic
    assert cfg.test_pipeline[1]['scale'] == math.floor(224 / 0.875) == 256
    r101 = Config.fromfile(
        REPO / 'configs/tdam/tdam-joint-t2m1_resnet101_8xb64_in1k.py')
    assert r101.test_pipeline[1]['scale'] == math.floor(224 / 0.95) == 235
    assert r101.test_pipeline[1]['interpolation'] == 'bicubic'


def test_random_interpolation_crop_refuses_bad_arguments():
    from td_plugins.datasets import RandomInterpolationResizedCrop
    with pytest.raises(ValueError, match='interpolations must be a '
                                         'non-empty sequence'):
        RandomInterpolationResizedCrop(32, interpolations='bicubic')
    with pytest.raises(ValueError, match='give interpolations'):
        RandomInterpolationResizedCrop(32, interpolation='bicubic')
    # each drawn method gives exactly the crop of the single-method class
    from mmpretrain.datasets.transforms import RandomResizedCrop
    img = np.random.RandomState(1).randint(0, 255, (40, 50, 3), np.uint8)
    ours = RandomInterpolationResizedCrop(16, backend='pillow')
    for seed in range(6):
        np.random.seed(seed)
        got = ours(dict(img=img.copy()))
        np.random.seed(seed)
        np.random.randint(2)  # the draw of the method
        ref = RandomResizedCrop(16, backend='pillow',
                                interpolation=got['interpolation'])(
                                    dict(img=img.copy()))
        np.testing.assert_array_equal(got['img'], ref['img'])
