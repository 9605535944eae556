"""tools/analysis_tools/get_flops.py and td_plugins.utils.flops: MACs
against formulas (ResNet-50, TDAM-R50, AW-R50, BagNet-77), the per-module
breakdown, what is and is not counted, and every task's model input."""
import functools
import json

import pytest
import torch
from conftest import REPO, load_script, run_tool
from torch import nn

from td_plugins.utils.dummy_inputs import config_complexity, parse_shape
from td_plugins.utils.flops import count_complexity

R50 = 'configs/baselines/resnet50_8xb32_in1k.py'
TDAM_R50 = 'configs/tdam/tdam-joint-t2m1_resnet50_8xb64_in1k.py'
AW_R50 = 'configs/aw/aw-resnet50_8xb32_in1k.py'
BAGNET = 'configs/tnet/bagnet77_4xb16_in1k.py'
# (width, output side at 224, blocks, stride) of ResNet-50's stages.
STAGES = ((64, 56, 3, 1), (128, 28, 4, 2), (256, 14, 6, 2), (512, 7, 3, 2))


@functools.lru_cache(maxsize=None)
def _count(config: str, device: str = 'auto', **options):
    return config_complexity(REPO / config, device=device,
                             cfg_options=options or None)


def resnet50_macs() -> int:
    """Convolutions + fc of torchvision's ResNet-50 at 224x224."""
    macs = 112 * 112 * 64 * 3 * 7 * 7  # stem
    inplanes, side_in = 64, 56
    for width, side, blocks, _ in STAGES:
        for i in range(blocks):
            macs += side_in * side_in * inplanes * width  # conv1 1x1
            macs += side * side * width * width * 9  # conv2 3x3 (stride)
            macs += side * side * width * 4 * width  # conv3 1x1
            if i == 0:
                macs += side * side * inplanes * 4 * width  # downsample
            inplanes, side_in = 4 * width, side
    return macs + 2048 * 1000


def test_resnet50_is_4_09_g_convs_and_fc():
    r = _count(R50)
    assert r.macs == resnet50_macs()
    assert abs(r.macs / 4.09e9 - 1) < 0.01
    assert r.params == 25_557_032
    assert set(r.by_op) == {'convolution', 'addmm'}  # no products counted


def _tdam_extra(pool_early_tops: bool) -> int:
    """What TDjoint t=2 m=1 adds to ResNet-50 in layer3 and layer4: the
    searchlight MLPs (on pooled maps), the channel and spatial gates and the
    spatial sum (per position and bottom channel), and conv3 once more (on
    the pooled map when the early top is pooled)."""
    extra = 0
    for width, side, blocks, _ in STAGES[2:]:
        out, hw = 4 * width, side * side
        rd = out // 16
        mlp = out * rd + width * rd + 2 * rd * width
        gates, spatial_sum = 2 * width * hw, width * hw
        conv3 = width * out * (1 if pool_early_tops else hw)
        extra += blocks * (mlp + gates + spatial_sum + conv3)
    return extra


def test_tdam_r50_official_order_is_4_55_to_4_59_g():
    r = _count(TDAM_R50, **{'model.backbone.pool_early_tops': False})
    assert r.macs == resnet50_macs() + _tdam_extra(False)
    assert 4.55e9 <= r.macs <= 4.59e9
    # The searchlight's spatial sum (an einsum -> bmm) and the two gates
    # (element-wise products) are counted.
    assert r.by_op['bmm'] == 6 * 256 * 14 * 14 + 3 * 512 * 7 * 7
    assert r.by_op['mul'] == 2 * r.by_op['bmm']


def test_tdam_r50_default_inference_pools_the_early_top():
    r = _count(TDAM_R50)
    assert r.macs == resnet50_macs() + _tdam_extra(True)
    assert abs(r.macs / 4.10e9 - 1) < 0.005
    assert r.params == 27_645_992


def _aw_extra(model: nn.Module) -> int:
    """AW-convolution on the 16 bottleneck 3x3 convs: the attention branch
    (two 1x1 convs on the input pooled to 3x3) and the weighting products,
    per form: per-sample kernels form K * (1 + A) (C_out C_in 9); the tap
    forms ('taps', 'fold') scale each tap's output (9 C_out H W). The
    convolution itself costs the same in every form."""
    extra, side_in = 0, 56
    for s, (width, side, blocks, _) in enumerate(STAGES):
        for i in range(blocks):
            conv = getattr(model.backbone, f'layer{s + 1}')[i].conv2
            hidden = conv.attn_conv1.out_channels
            extra += 9 * (width * hidden + hidden * width)
            impl = conv.resolve_impl((side_in, side_in))
            extra += 9 * width * (width if impl == 'reference' else
                                  side * side)
            side_in = side
    return extra


def test_aw_r50_adds_about_0_01_g():
    from mmengine.config import Config

    from td_plugins.utils.dummy_inputs import build_model
    model = build_model(Config.fromfile(str(REPO / AW_R50)), 'meta')
    r = _count(AW_R50)
    assert r.macs == resnet50_macs() + _aw_extra(model)
    assert 0.005e9 < r.macs - resnet50_macs() < 0.02e9  # spec: ~ +0.01 G
    # the weighting products are counted (4.1 M in the default 'auto'
    # forms, 12.4 M with impl='taps')
    assert r.by_op.get('addcmul', 0) + r.by_op.get('mul', 0) > 1e6


def test_bagnet77_at_224_is_18_42_g():
    for path in ('td_plugins/models/backbones/bagnet.py', BAGNET):
        if not (REPO / path).is_file():
            pytest.skip(f'{path} does not exist yet (BagNet-77 and its '
                        'config are written separately)')
    r = _count(BAGNET)
    assert r.input_shape == (1, 3, 224, 224)
    assert abs(r.macs / 18.423e9 - 1) < 0.001  # spec 4.5: 18.423 GMAC
    assert r.params == 20_546_664


@pytest.mark.parametrize('depth', [0, 1, 2, 3, 5])
def test_breakdown_leaves_add_up_to_the_total(depth):
    r = _count(TDAM_R50)
    rows = r.breakdown(depth)
    assert rows[0]['name'] == '' and rows[0]['macs'] == r.macs
    assert sum(row['macs'] for row in rows if row['leaf']) == r.macs
    assert max(row['depth'] for row in rows) <= depth + (depth > 0)
    if depth >= 4:
        names = {row['name']: row for row in rows}
        block = names['backbone.layer3.0']
        # a block = its convs + its searchlight (module 'td')
        kids = [row for n, row in names.items()
                if n.startswith('backbone.layer3.0.') and row['depth'] == 4]
        assert sum(k['macs'] for k in kids) + names.get(
            'backbone.layer3.0 (own ops)', {'macs': 0})['macs'] == \
            block['macs']
        assert names['backbone.layer3.0.td']['macs'] > 0
        # conv3 runs in both steps: on the pooled map, then the full one
        assert names['backbone.layer3.0.conv3']['macs'] == \
            256 * 1024 * (1 + 14 * 14)


def test_params_per_module_match_the_model():
    r = _count(TDAM_R50)
    rows = {row['name']: row for row in r.breakdown(1)}
    assert rows['']['params'] == r.params
    assert rows['backbone']['params'] + rows['head']['params'] == r.params


class _Gate(nn.Module):
    """x * sigmoid(gate): one product per element; scalar factors not."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1, bias=False)
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        y = self.conv(x)
        g = torch.sigmoid(y.mean((2, 3), keepdim=True))  # [N, C, 1, 1]
        return (y * g) * 0.5 * self.scale + x.addcmul(x, y)


class _Caller(nn.Module):
    """Calls its sibling's module: charged to the sibling (by name)."""

    def __init__(self, other: nn.Module) -> None:
        super().__init__()
        self.other = [other]  # not a child

    def forward(self, x):
        return self.other[0](x)


def test_elementwise_products_and_attribution():
    net = nn.Module()
    net.gate = _Gate()
    net.caller = _Caller(net.gate)
    x = torch.rand(2, 4, 5, 5)
    r = count_complexity(net, lambda: net.caller(x))
    conv = 2 * 25 * 4 * 4
    assert r.by_op == {'convolution': conv, 'mul': 2 * 4 * 25,
                       'addcmul': 2 * 4 * 25}
    assert r.macs == conv + 2 * 2 * 4 * 25
    assert r.module_macs('gate.conv') == conv
    assert r.own_macs['gate'] == 2 * 2 * 4 * 25
    assert r.module_macs('caller') == 0
    plain = count_complexity(net, lambda: net.caller(x), elementwise=False)
    assert plain.macs == plain.by_op['convolution'] == conv


@pytest.mark.parametrize('config,shape', [
    ('configs/tdam/demo/tdam-r18_cls_demo.py', (64, 64)),
    ('configs/tdaf/demo/fcos_tdaf-r18_demo.py', (96, 128)),
    (AW_R50, (3, 64, 64)),
])
def test_meta_device_counts_what_the_cpu_counts(config, shape):
    meta = _count(config, 'meta') if shape is None else \
        config_complexity(REPO / config, shape, device='meta')
    cpu = config_complexity(REPO / config, shape, device='cpu')
    assert meta.macs == cpu.macs > 0
    assert meta.by_op == cpu.by_op
    assert meta.device == 'meta' and cpu.device == 'cpu'


def test_video_and_pose_inputs():
    video = config_complexity(
        REPO / 'configs/tdaf/tdaf-resnet3d50-anar5-3f_8xb8-16x1x1-100e_'
        'kinetics400-rgb.py', (3, 8, 64, 64))
    assert video.input_shape == (1, 1, 3, 8, 64, 64)
    assert video.by_op['addmm'] == 2048 * 400  # the classification head
    assert video.by_op['mul'] > 0  # ANAR gates
    pose = config_complexity(
        REPO / 'configs/tdaf/td-hm_res50-tdaf-head_8xb64-210e_coco-'
        '256x192.py')
    assert pose.input_shape == (1, 3, 256, 192)
    assert pose.module_macs('head') > 0 and pose.by_op['mul'] > 0


def test_two_stage_detector_counts_max_per_img_proposals():
    r = config_complexity(REPO / 'configs/baselines/faster-rcnn_r50_fpn_'
                          '1x_coco.py', (256, 256))
    assert r.device == 'cpu'  # RoIAlign has no meta kernel
    per_roi = 256 * 7 * 7 * 1024 + 1024 * 1024 + 1024 * 81 + 1024 * 320
    assert r.by_op['addmm'] == 1000 * per_roi
    assert any('1000 proposals' in note for note in r.notes)


def test_parse_shape():
    assert parse_shape([224]) == (224, 224)
    assert parse_shape([800, 1333]) == (800, 1333)
    assert parse_shape([3, 16, 112, 112]) == (3, 16, 112, 112)
    for bad in ([], [1, 2, 3, 4, 5], [0, 4]):
        with pytest.raises(ValueError, match='shape'):
            parse_shape(bad)


def test_script_on_a_detection_config(tmp_path):
    out = tmp_path / 'flops.json'
    proc = run_tool('tools/analysis_tools/get_flops.py',
                    'configs/tdaf/demo/fcos_tdaf-r18_demo.py', '--shape',
                    '160', '--depth', '3', '--json', out)
    summary = json.loads(out.read_text())
    assert summary['macs'] > 0 and summary['flops'] == 2 * summary['macs']
    assert summary['input_shape'] == [1, 3, 160, 160]
    assert summary['device'] == 'meta'
    names = {m['name'] for m in summary['modules']}
    assert {'backbone', 'backbone.r2dns', 'neck', 'bbox_head'} <= names
    assert sum(m['macs'] for m in summary['modules'] if m['leaf']) == \
        summary['macs']
    assert summary['by_op']['mul'] > 0  # TDAF's gates
    assert f'{summary["macs"]:,}' in proc.stdout and 'r2dns' in proc.stdout


def test_script_cfg_options_and_no_elementwise(tmp_path, capsys):
    out = tmp_path / 'flops.json'
    tool = load_script('tools/analysis_tools/get_flops.py')
    tool.main([str(REPO / TDAM_R50), '--depth', '0', '--no-elementwise',
               '--json', str(out), '--cfg-options',
               'model.backbone.pool_early_tops=False'])
    summary = json.loads(out.read_text())
    assert 'MACs:        4.5' in capsys.readouterr().out
    assert summary['macs'] == resnet50_macs() + _tdam_extra(False) - \
        2 * (6 * 256 * 14 * 14 + 3 * 512 * 7 * 7)  # without the gates
    assert 'mul' not in summary['by_op']
    assert [m['name'] for m in summary['modules']] == ['']
