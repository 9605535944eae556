"""10-crop testing of the TDAF ImageNet paper config: the ten views of
tta_pipeline are the hand-placed centre/corner 224 crops and their flips,
AverageClsScoreTTA's score is the mean of the ten crops' scores computed one
by one, and tools/test.py --tta swaps model and pipeline; the paper's
[256, 480] scale augmentation in the training pipeline."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope

import td_plugins  # noqa: F401
from td_plugins.datasets import FivePointCrop
from td_plugins.utils.launcher import build_test_parser, prepare_test_cfg

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/tdaf/tdaf-r50-anar3-3f_8xb32_in1k_paper-aug-10crop.py'
H, W, CROP = 256, 300, 224
# (y, x) of each crop's top-left corner in a 256 x 300 image, by hand:
# centre ((256 - 224) // 2, (300 - 224) // 2), corners at 0 or H/W - 224.
OFFSETS = [(16, 38), (0, 0), (0, 76), (32, 0), (32, 76)]


@pytest.fixture(scope='module')
def cfg() -> Config:
    init_default_scope('mmpretrain')
    return Config.fromfile(str(CONFIG))


@pytest.fixture(scope='module')
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), np.uint8)


def hand_views(image: np.ndarray) -> list:
    """The ten views in TestTimeAug's order (crop-major, unflipped first),
    as CHW tensors, cut by slicing."""
    views = []
    for y, x in OFFSETS:
        crop = image[y:y + CROP, x:x + CROP]
        for view in (crop, crop[:, ::-1]):
            views.append(torch.from_numpy(
                np.ascontiguousarray(view.transpose(2, 0, 1))))
    return views


def tta_views(cfg: Config, image: np.ndarray) -> dict:
    """tta_pipeline after loading and resizing, on ``image``."""
    steps = [t['type'] for t in cfg.tta_pipeline]
    assert steps == ['LoadImageFromFile', 'ResizeEdge', 'TestTimeAug']
    assert cfg.tta_pipeline[1]['scale'] == 256
    assert cfg.tta_pipeline[1]['edge'] == 'short'
    return Compose(cfg.tta_pipeline[2:])(
        dict(img=image.copy(), img_shape=image.shape[:2],
             ori_shape=image.shape[:2]))


def test_ten_views_are_the_hand_placed_crops_and_flips(cfg, image):
    out = tta_views(cfg, image)
    expected = hand_views(image)
    assert len(out['inputs']) == len(out['data_samples']) == 10
    for i, (got, want) in enumerate(zip(out['inputs'], expected)):
        assert got.shape == (3, CROP, CROP), i
        assert torch.equal(got, want), i
    # ten different views
    flat = {v.numpy().tobytes() for v in out['inputs']}
    assert len(flat) == 10


@pytest.mark.parametrize('position,offset', [
    ('center', (16, 38)), ('top_left', (0, 0)), ('top_right', (0, 76)),
    ('bottom_left', (32, 0)), ('bottom_right', (32, 76))])
def test_five_point_crop_offsets(position, offset, image):
    crop = FivePointCrop(CROP, position)
    assert crop.offset(H, W) == offset
    out = crop(dict(img=image.copy()))
    y, x = offset
    assert out['img_shape'] == (CROP, CROP)
    assert np.array_equal(out['img'], image[y:y + CROP, x:x + CROP])


def test_five_point_crop_rejects_bad_arguments():
    with pytest.raises(ValueError):
        FivePointCrop(224, 'middle')
    with pytest.raises(ValueError):
        FivePointCrop((300, 224)).offset(H, W)


def test_tta_score_is_mean_of_the_ten_crop_scores(cfg, image):
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    module = dict(
        type='ImageClassifier',
        data_preprocessor=dict(cfg.data_preprocessor),
        backbone=dict(type='ResNet', depth=18, num_stages=1, strides=(1, ),
                      dilations=(1, ),
                      out_indices=(0, ), stem_channels=8, base_channels=8),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=8))
    tta = MODELS.build(dict(**cfg.tta_model, module=module)).eval()
    torch.nn.init.normal_(tta.module.head.fc.weight, std=1.0)
    batch = default_collate([tta_views(cfg, image)])
    with torch.no_grad():
        (merged, ) = tta.test_step(batch)
        scores = []
        for view in hand_views(image):
            (pred, ) = tta.module.test_step(
                dict(inputs=[view], data_samples=[DataSample()]))
            scores.append(pred.pred_score)
    by_hand = torch.stack(scores).mean(0)
    torch.testing.assert_close(merged.pred_score, by_hand, rtol=0, atol=1e-6)
    # the views disagree, so the mean is not any single crop's score
    assert max((s - by_hand).abs().max() for s in scores) > 1e-4


def test_test_tool_tta_flag_wraps_model_and_pipeline(cfg, tmp_path):
    args = build_test_parser().parse_args(
        [str(CONFIG), 'ckpt.pth', '--tta', '--work-dir', str(tmp_path)])
    tested = prepare_test_cfg(args)
    assert tested.model.type == 'AverageClsScoreTTA'
    assert tested.model.module.backbone.type == 'td_plugins.TDAFResNet'
    assert tested.test_dataloader.dataset.pipeline == cfg.tta_pipeline
    # without --tta: the 1-crop test pipeline of mmpretrain
    args = build_test_parser().parse_args(
        [str(CONFIG), 'ckpt.pth', '--work-dir', str(tmp_path)])
    plain = prepare_test_cfg(args)
    assert plain.model.backbone.type == 'td_plugins.TDAFResNet'
    assert [t['type'] for t in plain.test_dataloader.dataset.pipeline] == [
        'LoadImageFromFile', 'ResizeEdge', 'CenterCrop', 'PackInputs']


def test_tta_flag_needs_tta_entries(tmp_path):
    base = REPO / 'configs/tdaf/tdaf-r50-anar3-3f_8xb32_in1k.py'
    args = build_test_parser().parse_args(
        [str(base), 'ckpt.pth', '--tta', '--work-dir', str(tmp_path)])
    with pytest.raises(ValueError, match='tta_model'):
        prepare_test_cfg(args)


def test_paper_scale_augmentation(cfg):
    init_default_scope('mmpretrain')
    steps = cfg.train_dataloader.dataset.pipeline
    assert [t['type'] for t in steps] == [
        'LoadImageFromFile', 'RandomChoiceResize', 'RandomCrop',
        'RandomFlip', 'PackInputs']
    assert steps[1]['scales'] == list(range(256, 481))
    resize_and_crop = Compose(steps[1:3])
    rng = np.random.default_rng(1)
    shorter = set()
    for seed in range(40):
        np.random.seed(seed)
        img = rng.integers(0, 256, (60, 90, 3), np.uint8)
        resized = Compose(steps[1:2])(dict(img=img, img_shape=(60, 90)))
        h, w = resized['img'].shape[:2]
        assert 256 <= min(h, w) <= 480 and h == min(h, w)
        assert w == pytest.approx(h * 1.5, abs=1)
        shorter.add(h)
        np.random.seed(seed)
        out = resize_and_crop(dict(img=img, img_shape=(60, 90)))
        assert out['img'].shape == (224, 224, 3)
    assert len(shorter) > 20   # drawn, not fixed
