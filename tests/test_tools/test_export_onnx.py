"""tools/deployment/export_onnx.py: TDAM/TDAF/AW backbones and FCOS with a
TDAF backbone, exported at opset 17, give PyTorch's outputs in onnxruntime
(CPU) within 1e-4."""
import re

import pytest
import torch
import torch.nn.functional as F

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')

from conftest import load_script, run_tool  # noqa: E402

TOOL = 'tools/deployment/export_onnx.py'
tool = load_script(TOOL)
ATOL = 1e-4


def _calibrate_norms(model: torch.nn.Module, shape, seed: int = 0,
                     **forward_kwargs) -> None:
    """Random BN / MFBN affines, then running statistics measured on random
    inputs (training-mode passes with a cumulative average), as a trained
    network has: eval-mode outputs stay O(1) and every statistic is
    non-trivial. The last norm of each residual branch gets gammas in
    [0.125, 0.375], as trained ResNets (started with zero-init residuals)
    have; with gammas around 1 in all 16 bottlenecks, float32 PyTorch
    itself is off its float64 result by ~1e-3 at the output, so no float32
    runtime could match it within 1e-4."""
    from td_plugins.models.layers import MultiFlowBatchNorm
    gen = torch.Generator().manual_seed(seed)
    norm_types = (torch.nn.modules.batchnorm._BatchNorm, MultiFlowBatchNorm)
    last = set()
    for block in model.modules():
        if hasattr(block, 'conv2') and isinstance(getattr(block, 'bn2', None),
                                                  norm_types):
            name = 'bn3' if hasattr(block, 'bn3') else 'bn2'
            last |= {id(m) for n, m in block.named_children()
                     if n == name or n.startswith(name + '_')}
    with torch.no_grad():
        for m in model.modules():
            if not isinstance(m, norm_types):
                continue
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            if id(m) in last:
                m.weight.mul_(0.25)
            m.bias.copy_(torch.rand(m.bias.shape, generator=gen) * 0.4 - 0.2)
            m.momentum = None
            m.running_mean.zero_()
            m.running_var.fill_(1)
            m.num_batches_tracked.zero_()
        model.train()
        for _ in range(2):
            model(torch.randn(4, 3, *shape, generator=gen), **forward_kwargs)
    model.eval()


def _run_onnx(path, x):
    session = ort.InferenceSession(str(path),
                                   providers=['CPUExecutionProvider'])
    names = [o.name for o in session.get_outputs()]
    return names, session.run(None, {'input': x.numpy()})


@pytest.mark.parametrize('size_in,size_out', [(16, 3), (7, 3), (5, 1),
                                              (9, 3), (3, 3), (2, 3)])
def test_pool_matrix_is_adaptive_average_pooling(size_in, size_out):
    from td_plugins.models.layers.aw_conv import adaptive_pool_matrix
    x = torch.randn(2, 4, size_in, size_in + 1)
    ph = adaptive_pool_matrix(size_in, size_out)
    pw = adaptive_pool_matrix(size_in + 1, size_out)
    torch.testing.assert_close(ph @ x @ pw.t(),
                               F.adaptive_avg_pool2d(x, size_out),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize('config,options,shape,n_out,n_aw', [
    ('configs/aw/aw-resnet50_8xb32_in1k.py', {}, (112, 96), 1, 16),
    ('configs/tdaf/demo/fcos_tdaf-r18_demo.py',
     {'model.backbone.num_flows': 2, 'model.backbone.zero_init_anar': False},
     (96, 80), 4, 0),
], ids=['aw-r50', 'tdaf-r18-2flows'])
def test_backbone_matches_onnxruntime(tmp_path, config, options, shape,
                                      n_out, n_aw):
    model = tool.build_model(config, backbone_only=True, cfg_options=options)
    _calibrate_norms(model, shape)
    out = tmp_path / 'backbone.onnx'
    result = tool.export(model, shape, str(out))
    assert result['names'] == [f'out{i}' for i in range(n_out)]
    # AW's 16 bottleneck 3x3 convs see 28x24 .. 4x3 maps: pooling to 3x3
    # needs the matrix form, which the check below compares with the
    # unpatched model's outputs.
    assert result['aw_patched'] == n_aw
    # Each AWConv2d is pinned to its form at this shape, never col2im.
    from td_plugins.models.layers import AWConv2d
    forms = [m.impl for m in model.modules() if isinstance(m, AWConv2d)]
    assert len(forms) == n_aw and set(forms) <= {'taps', 'reference'}
    diffs = tool.verify(str(out), result['input'], result['reference'],
                        result['names'])
    print(config, diffs)
    assert max(diffs.values()) <= ATOL, diffs
    # A fresh input: the graph is not tied to the traced values.
    x = torch.randn(1, 3, *shape)
    with torch.no_grad():
        ref = model(x)
    _, got = _run_onnx(out, x)
    for a, b in zip(got, ref):
        assert (torch.from_numpy(a) - b).abs().max() <= ATOL


def test_tdam_backbone_cli_with_classifier_checkpoint(tmp_path):
    """--backbone-only takes the ``backbone.`` part of a whole-model
    checkpoint; the exported TDAM-R18 computes that checkpoint's backbone."""
    config = 'configs/tdam/demo/tdam-r18_cls_demo.py'
    torch.manual_seed(1)
    classifier = tool.build_model(config)
    _calibrate_norms(classifier.backbone, (64, 96), seed=1)
    ckpt = tmp_path / 'tdam.pth'
    torch.save({'state_dict': classifier.state_dict()}, ckpt)
    out = tmp_path / 'tdam.onnx'
    proc = run_tool(TOOL, config, '--checkpoint', ckpt, '--shape', 64, 96,
                    '--out', out, '--backbone-only', '--verify',
                    '--cfg-options', 'model.backbone.out_indices=(2,3)')
    assert 'verify: OK' in proc.stdout, proc.stdout
    diffs = [float(d) for d in re.findall(r'= ([0-9.e+-]+)\n', proc.stdout)]
    print('tdam diffs', diffs)
    assert len(diffs) == 2 and max(diffs) <= ATOL, proc.stdout
    from td_plugins.models.backbones import TDAMResNet
    backbone = TDAMResNet(depth=18, feedback_distance=2, out_indices=(2, 3))
    backbone.load_state_dict(classifier.backbone.state_dict())
    backbone.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ref = backbone(x)
    names, got = _run_onnx(out, x)
    assert names == ['out0', 'out1']
    assert [g.shape for g in got] == [(1, 256, 4, 6), (1, 512, 2, 3)]
    for a, b in zip(got, ref):
        assert (torch.from_numpy(a) - b).abs().max() <= ATOL


def test_fcos_tdaf_raw_outputs_cli(tmp_path):
    config = 'configs/tdaf/demo/fcos_tdaf-r18_demo.py'
    torch.manual_seed(2)
    detector = tool.build_model(
        config, cfg_options={'model.backbone.zero_init_anar': False})
    _calibrate_norms(detector, (96, 128), seed=2, mode='tensor')
    ckpt = tmp_path / 'fcos.pth'
    torch.save({'state_dict': detector.state_dict(),
                'meta': {'note': 'test'}}, ckpt)
    out = tmp_path / 'fcos.onnx'
    proc = run_tool(TOOL, config, '--checkpoint', ckpt, '--shape', 96, 128,
                    '--out', out, '--verify', '--cfg-options',
                    'model.backbone.zero_init_anar=False')
    assert 'verify: OK' in proc.stdout, proc.stdout
    names, got = _run_onnx(out, torch.zeros(1, 3, 96, 128))
    levels = range(5)
    assert names == [f'{k}_{i}' for k in ('cls_score', 'bbox_pred',
                                          'centerness') for i in levels]
    graph_ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert 'NonMaxSuppression' not in graph_ops and 'TopK' not in graph_ops
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        cls, box, ctr = detector(x, mode='tensor')
    names, got = _run_onnx(out, x)
    strides = (8, 16, 32, 64, 128)
    for i, s in enumerate(strides):
        h, w = -(-96 // s), -(-128 // s)
        assert got[i].shape == (1, cls[i].shape[1], h, w)
        assert got[5 + i].shape == (1, 4, h, w)
        assert got[10 + i].shape == (1, 1, h, w)
    diffs = [(torch.from_numpy(a) - b).abs().max().item()
             for a, b in zip(got, list(cls) + list(box) + list(ctr))]
    print('fcos tdaf diffs', diffs)
    assert max(diffs) <= ATOL, diffs


def test_refuses_bad_shape():
    with pytest.raises(SystemExit):
        tool.parse_args(['cfg.py', '--shape', '0', '64', '--out', 'x.onnx'])
