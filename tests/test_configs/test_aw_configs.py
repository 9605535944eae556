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
