"""tools/visualization/draw_detections.py: mmdet's visualizer draws the
ground truth (left) beside the predictions (right)."""
import mmcv
import numpy as np
import torch
from conftest import REPO, load_script

tool = load_script('tools/visualization/draw_detections.py')
CONFIG = REPO / 'configs' / 'baselines' / 'demo' / 'fcos_r50_fpn_demo.py'


def test_ground_truth_beside_predictions(demo_data, tmp_path):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(CONFIG))
    cfg.work_dir = str(tmp_path / 'w')
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = Runner.from_cfg(cfg).model
    model.init_weights()
    ckpt = tmp_path / 'untrained.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    paths = tool.draw(str(CONFIG), str(ckpt), str(tmp_path / 'out'),
                      num_images=2, score_thr=1.01)  # no prediction drawn
    assert len(paths) == 2
    for path in paths:
        picture = mmcv.imread(path, channel_order='rgb')
        name = path.split('/')[-1].replace('.png', '.jpg')
        image = mmcv.imread(str(demo_data / 'coco_det' / 'val' / name),
                            channel_order='rgb')
        h, w = image.shape[:2]
        assert picture.shape == (h, 2 * w, 3)
        left, right = picture[:, :w].astype(int), picture[:, w:].astype(int)
        # the right half is the image itself (no box passes score 1.01) ...
        assert np.abs(right - image).mean() < 2
        # ... the left one has the ground-truth boxes drawn on it
        assert (np.abs(left - image).max(axis=2) > 60).sum() > 50
    # per_object: each image's N best boxes for its N objects, whatever
    # their scores (the untrained model's lie below the config's test
    # score_thr, so a child config keeps all): the right half has boxes too
    child = tmp_path / 'keep_all.py'
    child.write_text(f"_base_ = '{CONFIG}'\n"
                     "model = dict(test_cfg=dict(score_thr=0.0))\n")
    drawn = tool.draw(str(child), str(ckpt), str(tmp_path / 'best'),
                      num_images=1, per_object=True)
    picture = mmcv.imread(drawn[0], channel_order='rgb').astype(int)
    image = mmcv.imread(str(demo_data / 'coco_det' / 'val' / '000001.jpg'),
                        channel_order='rgb').astype(int)
    w = image.shape[1]
    assert (np.abs(picture[:, w:] - image).max(axis=2) > 60).sum() > 50
