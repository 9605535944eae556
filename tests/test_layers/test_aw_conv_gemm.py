"""AWConv2d's stacked-GEMM form ('gemm', td_plugins/models/layers/
aw_gemm.py) against the independent per-sample ``F.conv2d`` oracle of
test_aw_conv_oracle.py: float64, the output and the gradient of every input
and parameter, both fusions of the shift-scale-sum, strides 1-3, odd sizes,
padding 0/1/asymmetric, dilation, bias on and off; its polyphase plan, its
dtypes under autocast, and 'auto''s choice."""
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from td_plugins.models.layers import aw_gemm
from td_plugins.models.layers.aw_conv import AUTO_MIN_POSITIONS, AWConv2d

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_aw_conv_oracle import oracle_forward  # noqa: E402

# kernel, stride, padding, dilation, input size
CASES = {
    'k3_s1_p1': (3, 1, 1, 1, (11, 9)),
    'k3_s1_p0': (3, 1, 0, 1, (9, 7)),
    'k3_s2_p1': (3, 2, 1, 1, (11, 9)),
    'k3_s2_p0_even': (3, 2, 0, 1, (10, 12)),
    'k3x5_s2_dil2': ((3, 5), 2, (1, 2), 2, (13, 15)),
    'k3_s3_p4_dil2': (3, 3, 4, 2, (9, 8)),
}


@pytest.fixture
def fusion(request):
    """Run with the given fusion, then restore 'compile'."""
    aw_gemm.set_gemm_fusion(request.param)
    yield request.param
    aw_gemm.set_gemm_fusion('eager')


def make_conv(case: str, bias: bool) -> AWConv2d:
    kernel, stride, padding, dilation, _ = CASES[case]
    torch.manual_seed(0)
    conv = AWConv2d(5, 8, kernel, stride=stride, padding=padding,
                    dilation=dilation, bias=bias, reduction=4, impl='gemm',
                    attn_norm_cfg=dict(type='GN', num_groups=1)).double()
    with torch.no_grad():   # nothing at its default
        for p in conv.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return conv


def grads(conv: AWConv2d, fn, x: torch.Tensor) -> dict:
    """The output and the gradient of every input and parameter."""
    conv.zero_grad()
    xi = x.clone().requires_grad_()
    out = fn(xi)
    probe = torch.randn(out.shape, dtype=out.dtype,
                        generator=torch.Generator().manual_seed(2))
    (out * probe).sum().backward()
    result = {'out': out.detach(), 'x': xi.grad}
    result.update({n: p.grad.clone() for n, p in conv.named_parameters()})
    return result


def check_against_oracle(case: str, bias: bool) -> None:
    conv = make_conv(case, bias)
    x = torch.randn(3, 5, *CASES[case][4], dtype=torch.float64,
                    generator=torch.Generator().manual_seed(1))
    got = grads(conv, conv, x)
    want = grads(conv, lambda t: oracle_forward(conv, t), x)
    assert got.keys() == want.keys()
    assert 'attn_bn2.weight' in got and ('bias' in got) == bias
    for name in want:
        err = (got[name] - want[name]).abs().max().item()
        assert err < 1e-10 * max(1.0, want[name].abs().max().item()), name


@pytest.mark.parametrize('fusion', ['eager'], indirect=True)
@pytest.mark.parametrize('bias', [True, False], ids=['bias', 'nobias'])
@pytest.mark.parametrize('case', sorted(CASES))
def test_gemm_eager_equals_the_oracle(fusion, case, bias):
    check_against_oracle(case, bias)


@pytest.mark.compile
@pytest.mark.parametrize('fusion', ['compile'], indirect=True)
@pytest.mark.parametrize('case', ['k3_s1_p1', 'k3_s2_p1'])
def test_gemm_compiled_equals_the_oracle(fusion, case):
    """The inductor-fused shift-scale-sum (ResNet's two 3x3 forms;
    inductor builds each in about 9 min on 2 busy cores)."""
    check_against_oracle(case, True)
    assert aw_gemm.gemm_fusion() == 'compile'   # it did not fall back


@pytest.mark.compile
@pytest.mark.parametrize('fusion', ['compile'], indirect=True)
@pytest.mark.parametrize('bias', [True, False], ids=['bias', 'nobias'])
@pytest.mark.parametrize('case', sorted(CASES))
def test_gemm_compiled_equals_the_oracle_everywhere(fusion, case, bias):
    check_against_oracle(case, bias)
    assert aw_gemm.gemm_fusion() == 'compile'


def test_the_polyphase_gemm_does_the_plain_convs_multiplies():
    """At stride 2 every tap multiplies only the input positions it reads:
    the GEMM columns over all taps equal 9 x the output positions."""
    x = torch.randn(1, 1, 56, 56)
    plan = aw_gemm.phase_plan((3, 3), (2, 2), (1, 1), (1, 1))
    columns = sum(len(taps) * x[0, 0, bh::2, bw::2].numel()
                  for (bh, bw), taps in plan)
    assert columns == 9 * 28 * 28
    assert sorted(t for _, taps in plan for t, _, _ in taps) == list(
        range(9))


def test_gemm_of_a_plain_kernel_is_the_convolution():
    """Scale 1 everywhere: the plain ``F.conv2d``, strided and dilated."""
    x = torch.randn(2, 3, 12, 11, dtype=torch.float64)
    k = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    for stride, padding, dilation in ((1, 1, 1), (2, 1, 1), (2, 2, 2)):
        want = F.conv2d(x, k, None, stride, padding, dilation)
        got, dtype = aw_gemm.aw_gemm(
            x, k, torch.ones(2, 4, 3, 3, dtype=torch.float64),
            (stride, ) * 2, (padding, ) * 2, (dilation, ) * 2,
            tuple(want.shape[2:]))
        assert dtype == torch.float64
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize('fusion', ['eager'], indirect=True)
@pytest.mark.parametrize('bias', [True, False])
def test_bf16_autocast_output_dtype_is_the_plain_convs(fusion, bias):
    torch.manual_seed(0)
    conv = AWConv2d(8, 8, 3, stride=2, padding=1, bias=bias, reduction=4,
                    impl='gemm').eval()
    plain = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=bias)
    x = torch.randn(2, 8, 9, 9)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = conv(x)
        assert out.dtype == plain(x).dtype == torch.bfloat16
        conv.impl = 'taps'   # bf16 products, float32 sum in both forms
        taps = conv(x)
    # the sums differ only in their float32 order: at most one bf16 step
    step = 2.0**-7 * taps.float().abs().clamp_min(2.0**-6)
    assert ((out.float() - taps.float()).abs() <= step).all()
    assert conv.attention(x).dtype == torch.float32


def test_fusion_is_checked_and_a_failed_compile_falls_back(monkeypatch):
    with pytest.raises(ValueError, match=r"mode must be one of \('compile', "
                       r"'eager'\), got 'inductor'"):
        aw_gemm.set_gemm_fusion('inductor')

    def broken(*args):
        raise RuntimeError('no compiler')

    monkeypatch.setattr(aw_gemm, '_compiled_recombine', broken)
    aw_gemm.set_gemm_fusion('compile')
    try:
        with pytest.warns(UserWarning, match='no compiler'):
            check_against_oracle('k3_s2_p1', False)
        assert aw_gemm.gemm_fusion() == 'eager'
    finally:
        aw_gemm.set_gemm_fusion('eager')


def test_auto_picks_by_size_and_by_backward():
    conv = AWConv2d(8, 16, 3, padding=1, reduction=4)
    strided = AWConv2d(8, 16, 3, stride=2, padding=1, reduction=4)
    assert aw_gemm.gemm_fusion() == 'eager'   # the default
    for backward, small in ((False, 'taps'), (True, 'fold')):
        assert conv.resolve_impl((20, 20), backward) == 'reference'
        assert conv.resolve_impl((7, 7), backward) == small
        assert strided.resolve_impl((13, 13), backward) == 'taps'
    assert conv.resolve_impl((14, 14), False) == 'taps'
    assert conv.resolve_impl((14, 14), True) == 'reference'
    assert conv.resolve_impl((13, 15), True) == 'fold'   # 195 positions
    aw_gemm.set_gemm_fusion('compile')
    try:   # the fused GEMM below 20x20, in both modes
        for backward in (False, True):
            assert conv.resolve_impl((20, 20), backward) == 'reference'
            assert conv.resolve_impl((19, 20), backward) == 'gemm'
            assert strided.resolve_impl((13, 13), backward) == 'gemm'
    finally:
        aw_gemm.set_gemm_fusion('eager')
    assert AUTO_MIN_POSITIONS == 400


def test_forward_resolves_by_grad_mode(monkeypatch):
    conv = AWConv2d(8, 16, 3, padding=1, reduction=4)
    seen = []
    original = AWConv2d.resolve_impl

    def spy(self, size, backward=False):
        seen.append(backward)
        return original(self, size, backward)

    monkeypatch.setattr(AWConv2d, 'resolve_impl', spy)
    x = torch.randn(2, 8, 7, 7)
    with torch.no_grad():
        conv(x)
    conv(x)
    conv.requires_grad_(False)
    conv(x)
    conv(x.requires_grad_())
    assert seen == [False, True, False, True]


@pytest.mark.parametrize('case', sorted(CASES))
def test_the_functional_sum_equals_the_eager_one(case):
    """The out-of-place sum (what inductor and an outer compile trace)
    equals the in-place one, with gradients, without compiling."""
    size = CASES[case][4]
    conv = make_conv(case, False)
    x = torch.randn(2, 5, *size, dtype=torch.float64)
    scale = 1 + torch.rand(2, 8, *conv.kernel_size, dtype=torch.float64)
    sums = []
    for fn in (aw_gemm.recombine_eager, aw_gemm.recombine_functional):
        monkey = pytest.MonkeyPatch()
        monkey.setattr(aw_gemm, 'recombine_eager', fn)
        try:
            s = scale.clone().requires_grad_()
            out, _ = aw_gemm.aw_gemm(x, conv.weight, s, conv.stride,
                                     conv.padding, conv.dilation,
                                     conv.output_size(size))
        finally:
            monkey.undo()
        out.square().sum().backward()
        sums.append((out.detach(), s.grad))
    torch.testing.assert_close(sums[0], sums[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize('stride,products', [(1, 1), (2, 4)])
def test_inside_torch_compile_auto_takes_the_gemm_form(stride, products):
    """Traced by dynamo (no inductor build: a backend that runs the graph
    as traced): one graph, no break, one matrix product per phase, and the
    eager output."""
    torch.manual_seed(0)
    conv = AWConv2d(16, 16, 3, stride=stride, padding=1, reduction=4)
    x = torch.randn(2, 16, 9, 9)
    graphs = []

    def backend(gm, inputs):
        graphs.append([n.target for n in gm.graph.nodes
                       if n.op == 'call_function'])
        return gm

    torch._dynamo.reset()
    out = torch.compile(conv, backend=backend, fullgraph=True)(x)
    assert len(graphs) == 1
    assert graphs[0].count(torch.mm) == products
    assert conv.resolve_impl((9, 9)) == 'taps'   # eager: the taps
    torch.testing.assert_close(out, conv(x), rtol=1e-5, atol=1e-5)
