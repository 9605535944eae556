"""tools/visualization/tnet_regions.py: TNet's attended regions as a PNG."""
import cv2
import numpy as np
import torch
from conftest import REPO, load_script, run_tool

CONFIG = 'configs/tnet/demo/tnet-bagnet_cls_demo.py'


def test_draw_regions_colours_each_level():
    tool = load_script('tools/visualization/tnet_regions.py')
    image = np.full((40, 50, 3), 128, np.uint8)
    out = tool.draw_regions(image, np.array([[0, 0, 20, 20],
                                             [30, 10, 50, 40]]), [1, 2])
    assert (image == 128).all()                     # drawn on a copy
    assert tuple(out[0, 10]) == tool.level_colour(1)   # top edge, box 1
    assert tuple(out[39, 40]) == tool.level_colour(2)  # bottom edge, box 2
    assert tuple(out[5, 5]) == (128, 128, 128)      # inside: untouched
    assert tool.level_colour(1) != tool.level_colour(2)


def test_picture_decodes_has_the_image_size_and_shows_regions(demo_data,
                                                              tmp_path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from td_plugins.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(REPO / CONFIG).model)
    ckpt = tmp_path / 'tnet.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    image = sorted((demo_data / 'cls' / 'val').rglob('*.png'))[0]
    out = tmp_path / 'regions.png'
    run_tool('tools/visualization/tnet_regions.py', CONFIG, image,
             '--checkpoint', ckpt, '--out', out, '--num-levels', '3',
             '--locations', '2', '1', env=dict(OMP_NUM_THREADS='1'))
    picture = cv2.imread(str(out))
    original = cv2.imread(str(image))
    assert picture is not None and picture.shape == original.shape
    assert picture.std() > 0                         # not blank
    changed = (picture != original).any(axis=2)
    assert 0 < changed.mean() < 0.5                  # boxes, not a fill
    tool = load_script('tools/visualization/tnet_regions.py')
    for level in (1, 2):
        assert (picture == tool.level_colour(level)).all(axis=2).any(), level
