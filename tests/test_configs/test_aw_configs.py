"""The AW configs build models with the parameter counts of spec 3.4."""
import pytest
from mmengine.config import Config
from test_baselines import REPO, _build, _n_params


@pytest.mark.parametrize('name,expected', [
    ('aw-resnet50_8xb32_in1k.py', 25_722_240),
    ('aw-se-resnet50_8xb32_in1k.py', 28_253_232),
    ('aw-resnet50_8xb16_cifar100.py', 23_870_460),
    ('aw-cbam-maxpool-resnet50_8xb32_in1k.py', 28_253_232),
    ('aw-resnet101_8xb32_in1k.py', 44_862_880),
])
def test_aw_config_parameter_count(name, expected):
    cfg = Config.fromfile(REPO / 'configs' / 'aw' / name)
    assert _n_params(_build(cfg)) == expected


# The paper's AW-FPN detectors: the neck swap adds exactly the AW branches
# (114,944 with 4 levels of 256 channels) and, for SE/CBAM, the modules
# before each of the 8 convs (734,256; CBAM 800 more for its spatial parts).
@pytest.mark.parametrize('depth', [50, 101])
@pytest.mark.parametrize('tag,extra', [
    ('aw-fpn', 114_944),
    ('aw-se-fpn', 114_944 + 734_256),
    ('aw-cbam-fpn', 114_944 + 734_256 + 800),
])
def test_faster_rcnn_aw_fpn_adds_the_neck_attention(depth, tag, extra,
                                                    tmp_path):
    cfg = Config.fromfile(
        REPO / 'configs' / 'aw' / f'faster-rcnn_r{depth}_{tag}_1x_coco.py')
    assert cfg.model.neck.type == 'td_plugins.AWFPN'
    stock_file = tmp_path / 'stock.py'
    stock_file.write_text(
        f"_base_ = 'mmdet::faster_rcnn/faster-rcnn_r{depth}_fpn_1x_coco.py'\n")
    stock = Config.fromfile(stock_file)
    assert cfg.model.backbone == stock.model.backbone
    assert _n_params(_build(cfg)) - _n_params(_build(stock)) == extra


def test_fcos_aw_fpn_keeps_its_extra_convs_plain():
    cfg = Config.fromfile(
        REPO / 'configs' / 'aw' / 'fcos_r50-caffe_aw-fpn_gn-head_1x_coco.py')
    stock = Config.fromfile(
        REPO / 'configs' / 'baselines' /
        'fcos_r50-caffe_fpn_gn-head_1x_coco.py')
    model = _build(cfg)
    # FCOS uses C3-C5 (start_level=1): 3 lateral + 3 output AW convs.
    extra = (512 + 1024 + 2048) * 16 + 3 * (16 * 256 + 2 * 16 + 2 * 256) \
        + 3 * (256 * 16 + 16 * 256 + 2 * 16 + 2 * 256)
    assert _n_params(model) - _n_params(_build(stock)) == extra
    assert type(model.neck.fpn_convs[3].conv).__name__ == 'Conv2d'


# Normalisation (docs/aw.md): every shipped AW detector puts one-group GN in
# its AW branches and keeps the backbone of the baseline it is compared
# with; the classification configs keep the paper's BN.
GN1 = dict(type='GN', num_groups=1)
AW_DETECTORS = {
    'faster-rcnn_r50_aw-fpn_1x_coco.py':
        'configs/baselines/faster-rcnn_r50_fpn_1x_coco.py',
    'faster-rcnn_r50_aw-se-fpn_1x_coco.py':
        'configs/baselines/faster-rcnn_r50_fpn_1x_coco.py',
    'faster-rcnn_r50_aw-cbam-fpn_1x_coco.py':
        'configs/baselines/faster-rcnn_r50_fpn_1x_coco.py',
    'faster-rcnn_r101_aw-fpn_1x_coco.py':
        'mmdet::faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py',
    'faster-rcnn_r101_aw-se-fpn_1x_coco.py':
        'mmdet::faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py',
    'faster-rcnn_r101_aw-cbam-fpn_1x_coco.py':
        'mmdet::faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py',
    'fcos_r50-caffe_aw-fpn_gn-head_1x_coco.py':
        'configs/baselines/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
    'demo/faster-rcnn_r50_aw-se-fpn_demo.py':
        'configs/baselines/demo/faster-rcnn_r50_fpn_demo.py',
    'demo/faster-rcnn_r50_aw-cbam-fpn_demo.py':
        'configs/baselines/demo/faster-rcnn_r50_fpn_demo.py',
    'demo/fcos_r50_aw-fpn_demo.py':
        'configs/baselines/demo/fcos_r50_fpn_demo.py',
}


def test_every_shipped_aw_detector_is_listed():
    shipped = {p.relative_to(REPO / 'configs' / 'aw').as_posix()
               for p in (REPO / 'configs' / 'aw').rglob('*.py')
               if p.name.startswith(('faster-rcnn', 'fcos'))}
    assert shipped == set(AW_DETECTORS)


def _load(path, tmp_path):
    if path.startswith('mmdet::'):
        stock = tmp_path / 'stock.py'
        stock.write_text(f"_base_ = '{path}'\n")
        return Config.fromfile(stock)
    return Config.fromfile(REPO / path)


@pytest.mark.parametrize('name', sorted(AW_DETECTORS))
def test_aw_detector_norms(name, tmp_path):
    cfg = Config.fromfile(REPO / 'configs' / 'aw' / name)
    baseline = _load(AW_DETECTORS[name], tmp_path)
    assert cfg.model.neck.attn_norm_cfg == GN1
    # the same backbone (and its norm rule) and batch as the baseline
    assert cfg.model.backbone == baseline.model.backbone
    assert cfg.train_dataloader.batch_size == \
        baseline.train_dataloader.batch_size
    if 'demo' not in name:
        assert cfg.model.backbone.norm_eval is True
        assert cfg.train_dataloader.batch_size == 2


def test_aw_detector_builds_gn_branches():
    cfg = Config.fromfile(
        REPO / 'configs' / 'aw' / 'faster-rcnn_r50_aw-cbam-fpn_1x_coco.py')
    neck = _build(cfg).neck
    norms = [m for n, m in neck.named_modules()
             if n.endswith(('attn_bn1', 'attn_bn2'))]
    assert len(norms) == 16
    assert all(type(m).__name__ == 'GroupNorm' and m.num_groups == 1
               for m in norms)


@pytest.mark.parametrize('name', ['aw-resnet50_8xb32_in1k.py',
                                  'aw-resnet101_8xb32_in1k.py',
                                  'aw-resnet50_8xb16_cifar100.py',
                                  'aw-se-resnet50_8xb32_in1k.py'])
def test_classification_configs_keep_the_papers_bn(name):
    cfg = Config.fromfile(REPO / 'configs' / 'aw' / name)
    assert cfg.model.backbone.attn_norm_cfg == dict(type='BN')
    assert cfg.train_dataloader.batch_size >= 16
