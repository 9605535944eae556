"""The per-method bench scripts build what they say they time."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import bench_tdaf, bench_tdam  # noqa: E402


def test_tdaf_pieces_are_every_stage_and_anar_call():
    calls = bench_tdaf.tdaf_shapes()
    names = [name for name, _ in calls]
    # 3 flows: stem and layer1-2 in all three, layer3 in two, layer4 in one;
    # ANARs gate flows 2-3 of stages 1-2 and flow 3 of stage 3.
    assert sorted(names) == sorted(
        ['stem'] * 3 + ['layer1'] * 3 + ['layer2'] * 3 + ['layer3'] * 2 +
        ['layer4'] + ['anar1'] * 2 + ['anar2'] * 2 + ['anar3'])
    stem_sizes = sorted(shapes[0][-1] for name, shapes in calls
                        if name == 'stem')
    assert stem_sizes == [56, 112, 224]


def test_tdam_bench_models():
    base, tdam = bench_tdam.resnet50(), bench_tdam.tdam_r50()
    n = sum(p.numel() for p in tdam.parameters())
    assert n == 27_645_992
    assert sum(p.numel() for p in base.parameters()) == 25_557_032
    full = bench_tdam.tdam_r50_full_tops()
    assert not full.backbone.layer3[0].pool_early_tops


def test_aw_bench_models():
    from benchmarks import bench_aw
    from td_plugins.models.layers import AWConv2d
    base = bench_aw.resnet50()
    assert sum(p.numel() for p in base.parameters()) == 23_508_032
    assert not any(isinstance(m, AWConv2d) for m in base.modules())
    aw = bench_aw.aw_resnet50('taps')
    convs = [m for m in aw.modules() if isinstance(m, AWConv2d)]
    assert len(convs) == 16 and all(c.impl == 'taps' for c in convs)
    from td_plugins.models.layers.aw_conv import AW_IMPLS
    assert set(bench_aw.IMPLS) == set(AW_IMPLS)  # every form is timed


def test_aw_fpn_bench_models_and_features():
    from benchmarks import bench_aw
    from td_plugins.models.layers import AWConv2d
    feats = bench_aw.make_features()
    assert [tuple(f.shape) for f in feats] == [
        (1, 256, 200, 200), (1, 512, 100, 100), (1, 1024, 50, 50),
        (1, 2048, 25, 25)]
    base, aw = bench_aw.fpn(), bench_aw.aw_fpn('fold')
    assert not any(isinstance(m, AWConv2d) for m in base.modules())
    convs = [m for m in aw.modules() if isinstance(m, AWConv2d)]
    assert len(convs) == 8 and all(c.impl == 'fold' for c in convs)
    n = sum(p.numel() for p in aw.parameters())
    assert n - sum(p.numel() for p in base.parameters()) == 114_944


def _tiny(width: int):
    import torch.nn as nn
    return lambda: nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(),
                                 nn.Flatten())


def _fast_compile(monkeypatch):
    """torch.compile with the 'eager' backend: the scripts' wiring is under
    test, not inductor."""
    import functools

    import torch
    monkeypatch.setattr(torch, 'compile', functools.partial(
        torch.compile, backend='eager'))


def test_tdam_bench_reports_eager_and_compiled_rows(monkeypatch, tmp_path):
    _fast_compile(monkeypatch)
    m = bench_tdam
    monkeypatch.setattr(m, 'BATCH', 1)
    monkeypatch.setattr(m, 'SIZE', 8)
    monkeypatch.setattr(m, 'BUILDERS', {m.BASE: _tiny(4), m.TDAM: _tiny(8)})
    monkeypatch.setattr(m, 'EXTRA', {'forward': {m.FULL: _tiny(6)},
                                     'train': {}})
    out = tmp_path / 'tdam.md'
    monkeypatch.setattr(sys, 'argv', [
        'bench_tdam.py', '--repeats', '1', '--warmup', '0', '--malloc',
        'default', '--out', str(out)])
    m.main()
    text = out.read_text()
    assert '--compile both' in text  # the default, in the command line
    for mode in ('forward', 'train'):
        for form in ('eager', 'compiled'):
            assert f'| {mode} | {form} |' in text, (mode, form)
    assert '| forward, full early tops | compiled |' in text
    assert 'memory ratio, eager' in text and 'memory ratio, compiled' in text
    assert '[compiled]' in text and 'compile s' in text


def test_aw_bench_compile_off_has_eager_rows_only(monkeypatch, tmp_path):
    from benchmarks import bench_aw
    m = bench_aw
    monkeypatch.setattr(m, 'IMPLS', ('auto', 'taps'))
    monkeypatch.setattr(m, 'PARTS', {'backbone': (
        'plain', _tiny(4), 'aw', lambda impl: _tiny(8)(),
        lambda: __import__('torch').rand(1, 3, 8, 8), 'tiny')})
    out = tmp_path / 'aw.md'
    monkeypatch.setattr(sys, 'argv', [
        'bench_aw.py', '--part', 'backbone', '--repeats', '1', '--warmup',
        '0', '--malloc', 'default', '--compile', 'off', '--out', str(out)])
    m.main()
    text = out.read_text()
    assert '| aw vs plain | forward | eager |' in text
    assert '| aw vs plain | train | eager |' in text
    assert 'compiled' not in text
