"""TNet through the standard runners: the demo config trains a few
iterations with tools/train.py on two fixed images of two classes (the loss
falls by a measured fraction, the baseline b moves and is saved in the
checkpoint) and tools/test.py evaluates the checkpoint with more and with
fewer locations than in training."""
import json
import pickle

import pytest
from conftest import REPO, run_tool
from test_train_test import assert_loss_falls

from td_plugins.utils import safe_torch_load

ITERS = 10
# (mean of the last 3 losses) / (mean of the first 3), for the total loss
# and the two cross-entropies; half the measured drop (measured: total
# 1.12 -> 0.240, 0.215; cross-entropies 1.154 -> 0.147, 0.127).
LOSS_RATIO = 0.61
CE_RATIO = 0.56
# One thread per process: the CPU is shared, and oversubscribed OpenMP
# threads are far slower than one.
ENV = dict(OMP_NUM_THREADS='1')


def _overfit_config(tmp_path):
    """The demo config on 2 fixed training images (a circle and a square)
    without augmentation, seeded and deterministic, so that a few Adam steps
    must lower the loss."""
    cfg = tmp_path / 'tnet_demo_overfit.py'
    base = REPO / 'configs/tnet/demo/tnet-bagnet_cls_demo.py'
    cfg.write_text('\n'.join([
        f"_base_ = '{base}'",
        'train_dataloader = dict(batch_size=2, num_workers=0, '
        'persistent_workers=False, sampler=dict(type="InfiniteSampler", '
        'shuffle=False), dataset=dict(indices=[0, 40], '
        'pipeline={{_base_.test_pipeline}}))',
        'test_dataloader = dict(batch_size=4, num_workers=0, '
        'persistent_workers=False, dataset=dict(indices=4))',
        "optim_wrapper = dict(optimizer=dict(type='Adam', lr=3e-4))",
        f'train_cfg = dict(max_iters={ITERS})',
        f'default_hooks = dict(checkpoint=dict(interval={ITERS}), '
        'logger=dict(interval=1))',
        'log_processor = dict(window_size=1)',
        'randomness = dict(seed=0, deterministic=True)', '']))
    return cfg


def test_tnet_demo_trains_and_evaluates_with_other_locations(demo_data,
                                                             tmp_path):
    cfg = _overfit_config(tmp_path)
    work = tmp_path / 'work'
    run_tool('tools/train.py', cfg, '--work-dir', work, '--no-validate',
             env=ENV)
    (scalars, ) = work.glob('*/vis_data/scalars.json')
    logs = [json.loads(line) for line in scalars.read_text().splitlines()]
    logs = [r for r in logs if 'loss' in r]
    assert len(logs) == ITERS
    ce = [r['loss_ce'] + r['loss_perfeat_ce'] for r in logs]
    assert_loss_falls(ce, CE_RATIO, 'tnet cross-entropies', window=3)
    assert_loss_falls([r['loss'] for r in logs], LOSS_RATIO, 'tnet loss',
                      window=3)
    # b is logged as used by each step: 0.5 first, then the EMA.
    baselines = [r['baseline'] for r in logs]
    assert baselines[0] == 0.5 and len(set(baselines)) > 1, baselines

    ckpt = work / f'iter_{ITERS}.pth'
    state = safe_torch_load(str(ckpt))['state_dict']
    b = state['loss_module.baseline'].item()
    assert b != 0.5 and abs(b - baselines[-1]) > 0   # updated once more

    for options, regions in [
            (['model.test_cfg.locations_per_level=[4]'], 4),
            (['model.test_cfg.num_levels=1'], 0)]:
        out = tmp_path / f'metrics_{regions}.json'
        preds = tmp_path / f'preds_{regions}.pkl'
        run_tool('tools/test.py', cfg, ckpt, '--work-dir', work,
                 '--metrics-out', out, '--out', preds, '--cfg-options',
                 *options, env=ENV)
        metrics = json.loads(out.read_text())
        with open(preds, 'rb') as f:
            samples = pickle.load(f)
        assert len(samples) == 4
        # The metric is the accuracy of the dumped predictions.
        hits = [int(s['pred_label'][0]) == int(s['gt_label'][0])
                for s in samples]
        assert metrics['accuracy/top1'] == pytest.approx(
            100.0 * sum(hits) / len(hits)), metrics
        for sample in samples:
            assert tuple(sample['tnet_boxes'].shape) == (regions, 4)
            assert sample['tnet_levels'].tolist() == [1] * regions
            boxes = sample['tnet_boxes']
            assert (boxes >= 0).all() and (boxes <= 64).all()
