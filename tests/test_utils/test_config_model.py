"""td_plugins.utils.load_config / build_from_config: the tools' one way to
build a config's model in the config's own scope."""
from pathlib import Path

import pytest

from td_plugins.utils import build_from_config, load_config

REPO = Path(__file__).resolve().parents[2]


def test_builds_the_model_a_part_or_with_the_preprocessor():
    cfg = load_config(str(REPO / 'configs/tdam/demo/tdam-r18_cls_demo.py'),
                      {'model.head.num_classes': 5})
    model = build_from_config(cfg, with_preprocessor=True)
    assert type(model).__name__ == 'TDAMClassifier'
    assert model.head.fc.out_features == 5
    backbone = build_from_config(cfg, part='backbone')
    assert type(backbone).__name__ == 'TDAMResNet'


def test_unprefixed_stock_names_resolve_in_the_configs_scope():
    cfg = load_config(str(REPO / 'configs/aw/demo/fcos_r50_aw-fpn_demo.py'))
    neck = build_from_config(cfg, part='neck')
    assert type(neck).__name__ == 'AWFPN'
    head = build_from_config(cfg, part='bbox_head')   # mmdet's FCOSHead
    assert type(head).__name__ == 'FCOSHead'


def test_unknown_part_is_refused_with_the_valid_ones(tmp_path):
    cfg = load_config(str(REPO / 'configs/tdam/demo/tdam-r18_cls_demo.py'))
    with pytest.raises(ValueError, match=r"part must name a sub-config of "
                       r"model \(\[.*'backbone'.*\]\), got 'nek'"):
        build_from_config(cfg, part='nek')
    empty = tmp_path / 'empty.py'
    empty.write_text('x = 1\n')
    with pytest.raises(ValueError, match='has no `model`'):
        load_config(str(empty))
