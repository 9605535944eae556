"""tools/visualization/vis_attention.py: attention pictures of any config.

Small models (ResNet-18 where the method allows it, 96x128 inputs), no
training: the untrained weights check the plumbing, and the pictures are
checked to decode, to have the model input's size and to show a map that
varies (not the uniform overlay of a constant map).
"""
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO, load_script, run_tool
from PIL import Image

import td_plugins.visualization as vis

TOOL = 'tools/visualization/vis_attention.py'
SHAPE = (96, 128)
R18_NECK = 'model.neck.in_channels=[64,128,256,512]'


@pytest.fixture(scope='module')
def tool():
    pytest.importorskip('mmdet')
    pytest.importorskip('mmpretrain')
    return load_script(TOOL)


@pytest.fixture(scope='module')
def image(demo_data):
    return sorted((demo_data / 'coco_det' / 'val').glob('*.jpg'))[0]


def _options(*pairs: str) -> dict:
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *pairs]).o


def check_pictures(tool, out_dir, method, image_path, shape, panels,
                   heat=True):
    """``panels`` pictures ``<method>_<i>.png`` of ``shape`` that decode,
    are not blank, differ from the image and (``heat``) show a varying map;
    the row ``<method>.png`` and ``attention.png`` exist."""
    h, w = shape
    img = cv2.imread(str(image_path))
    img = cv2.resize(img, (w, h)) if img.shape[:2] != (h, w) else img
    flat, _, _ = vis.colour_overlay(np.zeros((h, w)), img)
    rows = slice(h // 2, None)  # below the title band
    for i in range(1, panels + 1):
        pic = np.asarray(Image.open(out_dir / f'{method}_{i}.png')
                         .convert('RGB'))[..., ::-1].astype(np.float32)
        assert pic.shape == (h, w, 3)
        assert pic.std() > 10, f'{method}_{i}.png is blank'
        if heat:
            assert np.abs(pic[rows] - img[rows]).mean() > 5, \
                f'{method}_{i}.png = image'
            assert np.abs(pic[rows] - flat[rows]).mean() > 3, \
                f'{method}_{i}.png shows a constant map'
    assert not (out_dir / f'{method}_{panels + 1}.png').exists()
    row = Image.open(out_dir / f'{method}.png')
    assert row.size == ((panels + 1) * w, h)
    assert Image.open(out_dir / 'attention.png').size[0] >= row.size[0]


def test_cli_tdaf_detector_loads_the_checkpoint(tool, image, tmp_path):
    """The demo's case: FCOS TDAF-R18 (3 flows: 2 + 2 + 1 ANAR masks), the
    image's own size. The config zero-inits the ANARs (constant masks), so
    varying masks show that the checkpoint's weights were loaded."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    config = 'configs/tdaf/demo/fcos_tdaf-r18_demo.py'
    init_default_scope('mmdet')
    cfg = Config.fromfile(REPO / config)
    cfg.model.backbone.zero_init_anar = False
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    out = tmp_path / 'pics'
    proc = run_tool(TOOL, image, config, '--checkpoint', ckpt,
                    '--out-dir', out)
    assert 'tdaf:' in proc.stdout and 'attention.png' in proc.stdout
    check_pictures(tool, out, 'tdaf', image, (160, 160), 5)
    assert not list(out.glob('tdam*')) and not list(out.glob('aw*'))


def test_tdaf_classifier(tool, image, tmp_path):
    files = tool.visualize(
        image, str(REPO / 'configs/tdaf/tdaf-r50-anar3-3f_8xb32_in1k.py'),
        str(tmp_path), shape=SHAPE, cfg_options=_options(
            'model.backbone.depth=18', 'model.head.in_channels=512',
            'model.backbone.zero_init_anar=False'))
    assert set(files) == {'tdaf', 'all'}
    check_pictures(tool, tmp_path, 'tdaf', image, SHAPE, 5)


def test_tdam_classifier_steps_are_grad_cam(tool, image, tmp_path):
    """Two steps (T = 2); with a linear head on global average pooling,
    Grad-CAM is ReLU(CAM) / (h * w) of the step's top-1 class."""
    config = str(REPO / 'configs/tdam/demo/tdam-r18_cls_demo.py')
    tool.visualize(image, config, str(tmp_path), shape=SHAPE)
    check_pictures(tool, tmp_path, 'tdam', image, SHAPE, 2)

    from td_plugins.evaluation.any_step import class_activation_maps
    torch.manual_seed(0)
    model, cfg, _ = tool.build_model(config)
    x = torch.randn(1, 3, *SHAPE)
    maps = vis.tdam_maps(model, x)
    assert len(maps) == 2
    with torch.no_grad():
        steps = model.backbone.forward_step_maps(x)
    for (title, cam), feat in zip(maps, steps):
        logits = model.head.fc(feat.mean((2, 3)))
        top = logits.argmax(1)
        assert f'Grad-CAM: {int(top)} ' in title
        expected = F.relu(class_activation_maps(
            feat, model.head.fc.weight, top))[0] / feat[0, 0].numel()
        assert cam.max() > 0
        torch.testing.assert_close(cam, expected, rtol=1e-4, atol=1e-6)


def test_tdam_detector_falls_back_to_the_feature_norm(tool, image, tmp_path):
    config = str(REPO / 'configs/tdam/demo/fcos_tdam-r50_demo.py')
    options = _options('model.backbone.depth=18', R18_NECK)
    tool.visualize(image, config, str(tmp_path), shape=SHAPE,
                   cfg_options=options)
    check_pictures(tool, tmp_path, 'tdam', image, SHAPE, 2)
    model, _, _ = tool.build_model(config, cfg_options=options)
    x = torch.randn(1, 3, 64, 64)
    maps = vis.tdam_maps(model, x)
    with torch.no_grad():
        steps = model.backbone.forward_step_maps(x)
    for (title, norm), feat in zip(maps, steps):
        assert 'feature norm (no classifier)' in title
        torch.testing.assert_close(norm, feat[0].norm(dim=0))


def test_aw_classifier(tool, image, tmp_path):
    files = tool.visualize(
        image, str(REPO / 'configs/aw/aw-resnet50_8xb32_in1k.py'),
        str(tmp_path), shape=SHAPE)
    assert set(files) == {'aw', 'all'}
    check_pictures(tool, tmp_path, 'aw', image, SHAPE, 4)


def test_aw_detector_backbone(tool, image, tmp_path):
    config = tmp_path / 'fcos_aw-r50.py'
    config.write_text(
        f"_base_ = '{REPO / 'configs/baselines/demo/fcos_r50_fpn_demo.py'}'\n"
        "model = dict(backbone=dict(_delete_=True, type='td_plugins.AWResNet',"
        " depth=50, out_indices=(0, 1, 2, 3)))\n")
    tool.visualize(image, str(config), str(tmp_path / 'pics'), shape=SHAPE)
    check_pictures(tool, tmp_path / 'pics', 'aw', image, SHAPE, 4)


def test_aw_map_is_what_the_attention_adds(tool):
    """The AW map is |Conv(I, K * A)| over channels (eq. 5-6: AK = K + A K),
    the per-sample-kernel form, whatever form the layer computes with."""
    from td_plugins.models.layers import AWConv2d
    torch.manual_seed(0)
    net = torch.nn.Sequential()
    net.add_module('layer1', AWConv2d(8, 16, 3, padding=1, reduction=4,
                                      impl='taps'))
    net.eval()
    recorder = vis.AWRecorder(net)
    x = torch.randn(2, 8, 9, 11)
    with torch.no_grad():
        net(x)
    recorder.remove()
    (title, effect), = recorder.maps()
    conv = net.layer1
    a = conv.attention(x[:1])
    expected = F.conv2d(x[:1], conv.weight * a[0][:, None],
                        padding=1)[0].norm(dim=0)
    torch.testing.assert_close(effect, expected, rtol=1e-4, atol=1e-5)
    assert title.startswith(f'AW layer1 mean A {float(a.mean()):.3f}')


def test_model_without_attention_is_refused(tool, image, tmp_path):
    with pytest.raises(ValueError, match='no td_plugins attention module'):
        tool.visualize(image, str(REPO / 'configs/baselines/demo/'
                                  'resnet50_demo.py'), str(tmp_path),
                       shape=(64, 64))
    assert not list(tmp_path.iterdir())


def test_video_model_shows_the_middle_frame(tool, image, tmp_path):
    """mmaction2 3D TDAM: the image repeated over --frames frames, Grad-CAM
    through the recognizer's cls_head, the middle frame's map drawn."""
    pytest.importorskip('mmaction')
    config = str(REPO / 'configs/tdam/demo/tdam-resnet3d50_demo.py')
    options = _options('model.backbone.depth=18',
                       'model.cls_head.in_channels=512')
    tool.visualize(image, config, str(tmp_path), shape=(64, 64), frames=4,
                   cfg_options=options)
    check_pictures(tool, tmp_path, 'tdam', image, (64, 64), 2)
    model, _, _ = tool.build_model(config, cfg_options=options)
    x = vis.prepare_input(model, np.zeros((64, 64, 3), np.uint8),
                          'mmaction', frames=4)
    assert x.shape == (1, 1, 3, 4, 64, 64)
    maps = vis.tdam_maps(model, x.flatten(0, 1))
    assert [m.dim() for _, m in maps] == [3, 3]  # (T', h, w) per step
    assert all('Grad-CAM' in title for title, _ in maps)


def test_tnet_regions_per_level(tool, image, tmp_path):
    """TNet (demo config: 2 levels, 2 locations): one panel for the attended
    level, boxes drawn by tnet_regions.py over the image."""
    if not (REPO / 'tools/visualization/tnet_regions.py').is_file():
        pytest.skip('tools/visualization/tnet_regions.py is not there')
    files = tool.visualize(
        image, str(REPO / 'configs/tnet/demo/tnet-bagnet_cls_demo.py'),
        str(tmp_path), shape=SHAPE)
    assert set(files) == {'tnet', 'all'}
    check_pictures(tool, tmp_path, 'tnet', image, SHAPE, 1, heat=False)
    # The level's boxes: pixels of exactly its colour, absent from the image.
    colour = vis.level_colour(1)
    pic = cv2.imread(str(tmp_path / 'tnet_1.png'))
    img = cv2.resize(cv2.imread(str(image)), SHAPE[::-1])
    assert (img == colour).all(-1).sum() == 0
    assert (pic == colour).all(-1).sum() > min(SHAPE)
