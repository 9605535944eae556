"""tools/visualization/tdaf_attention.py: per-flow ANAR masks as a picture."""
import cv2
import pytest
import torch
from conftest import REPO, load_script, run_tool

CONFIG = 'configs/tdaf/demo/fcos_tdaf-r18_demo.py'


def test_picture_has_one_row_per_image_and_a_tile_per_mask(demo_data,
                                                          tmp_path):
    pytest.importorskip('mmdet')
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = Config.fromfile(REPO / CONFIG)
    cfg.model.backbone.zero_init_anar = False  # masks that vary
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': ('circle', 'square',
                                                      'triangle')}}}, ckpt)
    images = sorted((demo_data / 'coco_det' / 'val').glob('*.jpg'))[:2]
    out = tmp_path / 'att.png'
    run_tool('tools/visualization/tdaf_attention.py', CONFIG, ckpt,
             *images, '--out', out)
    picture = cv2.imread(str(out))
    tile = load_script('tools/visualization/tdaf_attention.py').TILE
    # 3 flows: stage 1 and 2 gate flows 2 and 3, stage 3 gates flow 3 only.
    assert picture.shape == (2 * tile, (1 + 5) * tile, 3)
