"""tools/analysis_tools/benchmark.py: two configs timed side by side give a
markdown table with both rows, ratio 1.00 for the first, positive numbers.

Timings are not checked against anything (the machine is shared); only that
the tool builds the right models, runs them and reports sane values.
"""
import re

import pytest
from conftest import REPO, load_script, run_tool

bench = load_script('tools/analysis_tools/benchmark.py')

TDAM = 'configs/tdam/demo/tdam-r18_cls_demo.py'
BASE = 'configs/baselines/demo/resnet50_demo.py'
# ResNet-18 for the baseline too (the TDAM demo config sets its own
# backbone and head), so that both models are small.
R18 = ['--cfg-options', 'model.backbone.depth=18',
       'model.head.in_channels=512']


def _rows(markdown: str) -> dict:
    """Table rows by config name -> the cells, from the markdown."""
    lines = [ln for ln in markdown.splitlines() if ln.startswith('| ')]
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    rows = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip('|').split('|')]
        rows[cells[0]] = dict(zip(header, cells))
    return rows


def test_two_configs_table(tmp_path):
    out = tmp_path / 'table.md'
    proc = run_tool('tools/analysis_tools/benchmark.py', BASE, TDAM,
                    '--shape', '32', '32', '--batch', '2', '--iters', '2',
                    '--warmup', '1', '--out', out, *R18, timeout=300)
    text = out.read_text()
    assert '| config |' in proc.stdout  # printed as well as written
    rows = _rows(text)
    assert list(rows) == ['resnet50_demo', 'tdam-r18_cls_demo']
    base, tdam = rows['resnet50_demo'], rows['tdam-r18_cls_demo']
    assert base['time ratio vs resnet50_demo'] == '1.00'
    # Parameters of the models the configs describe: ResNet-18 + a
    # 4-class head; TDAM-ResNet-18 adds its attention MLPs.
    assert float(base['params (M)']) == pytest.approx(11.18, abs=0.01)
    assert float(tdam['params (M)']) > float(base['params (M)'])
    for row in rows.values():
        for col in ('params (M)', 'GMACs/img', 'latency ms/batch (median)',
                    'throughput img/s', 'time ratio vs resnet50_demo',
                    'peak mem (MiB)'):
            assert float(row[col]) > 0, (col, row)
        lat = float(row['latency ms/batch (median)'])
        assert float(row['throughput img/s']) == pytest.approx(
            2e3 / lat, rel=0.01)
    # TDAM re-runs layer4 (T = 2), so it has more MACs than the baseline.
    assert float(tdam['GMACs/img']) > float(base['GMACs/img'])
    assert re.search(r'Mode inference, batch 2, device cpu', text)
    assert 'Allocator: MALLOC_MMAP_THRESHOLD_' in text
    assert f'benchmark.py {BASE} {TDAM} --shape 32 32' in text


def test_train_mode_in_process():
    """Train mode times forward + backward (no re-exec in process)."""
    results = bench.benchmark([str(REPO / TDAM)], batch=2, shape=(32, 32),
                              mode='train', iters=1, warmup=0,
                              measure_memory=False)
    (r, ) = results
    assert r.name == 'tdam-r18_cls_demo' and r.mode == 'train'
    assert r.median_ms > 0 and r.ratio == 1.0
    table = bench.to_table(results, batch=2)
    assert 'Mode train, batch 2' in table
    assert _rows(table)['tdam-r18_cls_demo']['peak mem (MiB)'] == 'n/a'


def test_detector_runs_in_tensor_mode():
    """A TDAF-FCOS is called in tensor mode on a random (B, 3, H, W) input
    and returns its raw head outputs, five FPN levels each."""
    import torch
    case, kind = bench.make_case(
        str(REPO / 'configs/tdaf/demo/fcos_tdaf-r18_demo.py'), 'fcos', 1,
        (64, 64), 'inference')
    assert kind == 'detector' and case.mode == 'forward'
    model, x = case.build().eval(), case.make_input()
    assert x.shape == (1, 3, 64, 64)
    with torch.no_grad():
        cls_scores, bbox_preds, centerness = model(x)
    assert len(cls_scores) == len(bbox_preds) == len(centerness) == 5
    assert cls_scores[0].shape[-2:] == (8, 8)  # stride 8
    assert bbox_preds[0].shape[:2] == (1, 4)


def test_models_built_without_pretrained_weights():
    from mmengine.config import Config
    cfg = Config.fromfile(str(
        REPO / 'configs/baselines/faster-rcnn_r50_fpn_1x_coco.py'))
    assert 'Pretrained' in str(cfg.model)  # torchvision://resnet50
    model = bench.build_model(cfg)
    inits = [str(m.init_cfg) for m in model.modules()
             if getattr(m, 'init_cfg', None)]
    assert not any('Pretrained' in i for i in inits), inits
    assert type(model).__name__ == 'FasterRCNN'
    assert bench._kind(model) == 'detector'


def test_invalid_arguments():
    with pytest.raises(ValueError, match='config file not found'):
        bench.benchmark(['no/such/config.py'])
    with pytest.raises(ValueError, match='batch'):
        bench.benchmark([str(REPO / TDAM)], batch=0)
    with pytest.raises(ValueError, match='mode must be one of'):
        bench.make_case(str(REPO / TDAM), 'x', 1, (32, 32), 'predict')
    assert bench._names(['a/x.py', 'b/x.py', 'b/x.py', 'y.py']) == [
        'a/x', 'b/x', 'b/x #2', 'y']
