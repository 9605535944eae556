"""tools/analysis_tools/plot_logs.py: json logs (synthetic, and a real
mmengine run of a toy model) -> a PNG that decodes, of the expected size,
with the curves drawn."""
import json

import numpy as np
import pytest
from conftest import load_script
from PIL import Image

plot_logs = load_script('tools/analysis_tools/plot_logs.py')

# matplotlib's first two default line colours: C0 blue (31, 119, 180) and
# C1 orange (255, 127, 14); thin anti-aliased lines blend with white, so a
# pixel counts by its hue: blue well above red, or red well above blue.
C0, C1 = 'blue', 'orange'


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))


def _train(step, loss):
    return dict(lr=0.01, loss=loss, loss_cls=loss / 2, time=0.1,
                iter=step, step=step)


def _work_dir(root):
    """Three runs: an old full run, then a run that stopped at step 40 and
    its resume from 50; validation lines at step 0 as in iteration-based
    loops; plus a test run's json (no training lines)."""
    old = [_train(s, 9.0) for s in (10, 20, 30, 40)]
    _write(root / '20250101_000000/vis_data/20250101_000000.json', old)
    first = [_train(s, 4.0 - s / 20) for s in (10, 20)] + \
        [{'coco/bbox_mAP': 0.1, 'data_time': 0.0, 'time': 0.2, 'step': 0}] + \
        [_train(s, 4.0 - s / 20) for s in (30, 40)]
    _write(root / '20250102_000000/vis_data/20250102_000000.json', first)
    resumed = [_train(s, 4.0 - s / 20) for s in (50, 60)] + \
        [{'coco/bbox_mAP': 0.3, 'data_time': 0.0, 'time': 0.2, 'step': 0}]
    _write(root / '20250102_000100/vis_data/scalars.json', resumed)
    _write(root / '20250103_000000/20250103_000000.json',
           [{'coco/bbox_mAP': 0.3, 'time': 0.1}])
    (root / 'untrained').mkdir()
    return root


def _pixels(png, colour):
    img = np.asarray(Image.open(png).convert('RGB')).astype(int)
    red, blue = img[..., 0], img[..., 2]
    diff = blue - red if colour == 'blue' else red - blue
    return int((diff > 50).sum())


def test_work_dir_runs_and_series(tmp_path):
    wd = _work_dir(tmp_path / 'wd')
    logs = plot_logs.find_logs(wd)
    # The resumed run and the run it resumed from; not the older re-run,
    # not the test-only run.
    assert [p.parent.parent.name for p in logs] == ['20250102_000000',
                                                    '20250102_000100']
    records = [r for p in logs for r in plot_logs.load_log(p)]
    series = plot_logs.extract_series(records)
    assert series['loss'][0] == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert series['loss'][1] == pytest.approx([3.5, 3.0, 2.5, 2.0, 1.5, 1.0])
    # Validation at the iteration it ran after, not at its step of 0.
    assert series['coco/bbox_mAP'] == ([20.0, 60.0], [0.1, 0.3])
    assert plot_logs.default_keys(series) == ['loss', 'loss_cls',
                                              'coco/bbox_mAP']
    assert [p.parent.parent.name for p in plot_logs.find_logs(
        wd, run='20250101_000000')] == ['20250101_000000']
    with pytest.raises(FileNotFoundError, match='runs'):
        plot_logs.find_logs(wd, run='20990101_000000')
    with pytest.raises(FileNotFoundError, match='no <timestamp>'):
        plot_logs.find_logs(wd / 'untrained')


def test_png_size_and_curves(tmp_path):
    wd = _work_dir(tmp_path / 'wd')
    out = plot_logs.main([str(wd), '--out', str(tmp_path / 'c.png'),
                          '--dpi', '50'])
    img = Image.open(out)
    img.load()
    # 3 default keys -> 1 row of 3 panels, 4 x 3 inches each at 50 dpi.
    assert img.format == 'PNG' and img.size == (3 * 4 * 50, 3 * 50)
    arr = np.asarray(img.convert('L'))
    assert arr.std() > 5
    assert _pixels(out, C0) > 50  # the curves themselves are drawn

    # Two inputs, one line each; four keys -> 2 rows of 3 at 40 dpi.
    log = tmp_path / 'other.json'
    _write(log, [_train(s, 1.0) for s in (10, 20, 30)])
    out2 = plot_logs.plot_curves([wd, log], tmp_path / 'sub' / 'd.png',
                                 keys=['loss', 'loss_cls', 'lr', 'time'],
                                 dpi=40)
    img2 = Image.open(out2)
    assert img2.size == (3 * 4 * 40, 2 * 3 * 40)
    assert _pixels(out2, C0) > 30 and _pixels(out2, C1) > 30

    with pytest.raises(ValueError, match="keys found: .*'loss'"):
        plot_logs.plot_curves([wd], tmp_path / 'x.png', keys=['acc/top1'])
    assert not (tmp_path / 'x.png').exists()


def test_real_mmengine_run(tmp_path):
    """A toy model trained by mmengine's Runner (iteration-based, validation
    every 3 iterations) writes the log; the tool plots it."""
    import torch
    from mmengine.evaluator import BaseMetric
    from mmengine.model import BaseModel
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    class Toy(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, inputs, labels, mode='tensor'):
            out = self.fc(inputs).squeeze(1)
            if mode == 'loss':
                return dict(loss=((out - labels) ** 2).mean())
            return [dict(err=float((out - labels).abs().mean()))]

    class Err(BaseMetric):
        default_prefix = 'toy'

        def process(self, data_batch, data_samples):
            self.results += data_samples

        def compute_metrics(self, results):
            return dict(err=sum(r['err'] for r in results) / len(results))

    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 2, generator=g)
    data = [dict(inputs=x[i], labels=x[i].sum()) for i in range(16)]
    loader = dict(dataset=data, batch_size=4, collate_fn=dict(
        type='default_collate'), sampler=dict(type='DefaultSampler',
                                              shuffle=False))
    # The runner makes its default scope the current one; restore it after.
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = Runner(
            model=Toy(), work_dir=str(tmp_path / 'wd'),
            train_dataloader=loader, val_dataloader=loader,
            val_evaluator=[Err()],
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05)),
            train_cfg=dict(by_epoch=False, max_iters=6, val_interval=3),
            val_cfg=dict(), default_hooks=dict(
                logger=dict(type='LoggerHook', interval=1),
                checkpoint=dict(type='CheckpointHook', interval=100)),
            log_processor=dict(by_epoch=False), default_scope='mmengine',
            experiment_name=f'plot_logs_{tmp_path.name}')
        runner.train()

    (log,) = plot_logs.find_logs(tmp_path / 'wd')
    series = plot_logs.extract_series(plot_logs.load_log(log))
    assert series['loss'][0] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert series['toy/err'][0] == [3.0, 6.0]
    assert plot_logs.default_keys(series) == ['loss', 'toy/err']
    out = plot_logs.plot_curves([tmp_path / 'wd'], tmp_path / 'curves.png',
                                dpi=50)
    assert Image.open(out).size == (2 * 4 * 50, 3 * 50)
    assert _pixels(out, C0) > 30
