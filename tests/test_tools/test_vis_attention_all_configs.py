"""tools/visualization/vis_attention.py on every shipped config.

Every config under ``configs/`` (``configs/fcos_tdaf_r50.py`` and the
baselines included; the demo configs, ``configs/baselines/real`` and
``configs/tdam/_base_`` left out) is built untrained with its own
architecture, pretrained weights switched off and the network blocked, and
run on one small image (64 x 128; video configs 4 frames). A config with
attention must write its pictures and give maps that are finite, have the
shape of a feature map of the input and vary over it; a config without
attention must be refused with a clear message and draw nothing.

TDAF configs zero-init their ANARs (constant 0.5 masks at init, the plain
network), so the test builds them with ``zero_init_anar=False``: the masks
then vary, which checks that the drawn masks are the ones computed.
"""
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Set

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO, load_script

import td_plugins.visualization as vis

TOOL = 'tools/visualization/vis_attention.py'
SHAPE = (64, 128)  # H, W: not square (a swapped map shows), even maps
FRAMES = 4
LEFT_OUT = ('demo', 'real', '_base_')


def shipped_configs() -> List[str]:
    """The configs the tool must handle, relative to the repository."""
    found = []
    for path in sorted((REPO / 'configs').rglob('*.py')):
        parts = path.relative_to(REPO / 'configs').parts[:-1]
        if not any(p in LEFT_OUT for p in parts):
            found.append(str(path.relative_to(REPO)))
    return found


CONFIGS = shipped_configs()


def expected_methods(config: str) -> Set[str]:
    """The attention methods a config's file name promises."""
    stem = Path(config).stem
    found = {m for m in ('tdam', 'tdaf', 'tnet') if m in stem}
    if stem.startswith('aw-') or '_aw-' in stem:
        found.add('aw')
    return found


def untrained_options(cfg: Any) -> Dict[str, Any]:
    """``--cfg-options`` for an untrained build: no pretrained weights
    (``init_cfg`` of type Pretrained and ``pretrained`` set to None
    wherever they are in ``model``) and non-zero ANAR init for TDAF."""
    options: Dict[str, Any] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            init = node.get('init_cfg')
            if isinstance(init, dict) and init.get('type') == 'Pretrained':
                options[f'{key}.init_cfg'] = None
            if isinstance(node.get('pretrained'), str):
                options[f'{key}.pretrained'] = None
            if 'TDAF' in str(node.get('type', '')):
                options[f'{key}.zero_init_anar'] = False
            for k, v in node.items():
                walk(v, f'{key}.{k}')
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{key}.{i}')

    walk(cfg.model, 'model')
    return options


@pytest.fixture(scope='module')
def tool():
    for package in ('mmdet', 'mmpretrain', 'mmpose', 'mmaction'):
        pytest.importorskip(package)
    return load_script(TOOL)


@pytest.fixture(scope='module')
def image_path(tmp_path_factory) -> Path:
    """A 64 x 128 picture with structure (gradients and a disc)."""
    h, w = SHAPE
    yy, xx = np.mgrid[:h, :w]
    img = np.stack([xx * 255 / w, yy * 255 / h,
                    np.full((h, w), 96.)], -1).astype(np.uint8)
    cv2.circle(img, (w // 3, h // 2), h // 4, (20, 200, 240), -1)
    path = tmp_path_factory.mktemp('vis_all') / 'image.png'
    cv2.imwrite(str(path), img)
    return path


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One intra-op thread: small inputs, and no oversubscription on a
    loaded machine (several times faster there)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to download (pretrained weights) fails loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError(f'network access during the test: {args}')
    monkeypatch.setattr(socket.socket, 'connect', refuse)


def _feature_shape(shape: tuple) -> bool:
    """``(h, w)`` is ``SHAPE`` divided by a power of two (rounded up)."""
    return any(shape == tuple(-(-s // 2 ** k) for s in SHAPE)
               for k in range(7))


def check_map(method: str, title: str, attention: torch.Tensor) -> None:
    """A real map: finite, 2D (3D for video, ``(T', h, w)``) with a
    feature map's size, and not constant."""
    a = attention.detach().float()
    assert a.dim() in (2, 3), f'{title}: shape {tuple(a.shape)}'
    if a.dim() == 3:
        assert 1 <= a.shape[0] <= FRAMES, f'{title}: {tuple(a.shape)}'
    assert _feature_shape(tuple(a.shape[-2:])), \
        f'{title}: {tuple(a.shape)} is no feature map of {SHAPE}'
    assert torch.isfinite(a).all(), f'{title}: not finite'
    lo, hi = float(a.min()), float(a.max())
    assert hi - lo > 1e-6 * max(abs(hi), abs(lo)) and hi > lo, \
        f'{title}: constant map ({lo}, {hi})'
    if method == 'tdam':
        assert a.shape[-2:] == tuple(-(-s // 32) for s in SHAPE), title
        if 'Grad-CAM' in title:
            assert lo >= 0, f'{title}: Grad-CAM is a ReLU'


def check_pictures(out: Path, method: str, panels: int,
                   image: np.ndarray) -> None:
    """``<method>_<i>.png`` for i = 1..panels, each the input's size and
    (heat maps) overlaid on the image; the row and ``attention.png``."""
    for i in range(1, panels + 1):
        pic = cv2.imread(str(out / f'{method}_{i}.png'))
        assert pic is not None, f'{method}_{i}.png not written'
        assert pic.shape == image.shape
        if method != 'tnet':  # boxes: see check_tnet
            below_title = slice(SHAPE[0] // 2, None)
            diff = np.abs(pic[below_title].astype(float) -
                          image[below_title])
            assert diff.mean() > 3, f'{method}_{i}.png shows no overlay'
    assert not (out / f'{method}_{panels + 1}.png').exists()
    row = cv2.imread(str(out / f'{method}.png'))
    assert row.shape == (SHAPE[0], SHAPE[1] * (panels + 1), 3)
    assert cv2.imread(str(out / 'attention.png')) is not None


def test_the_walk_covers_the_shipped_configs():
    assert 'configs/fcos_tdaf_r50.py' in CONFIGS
    assert 'configs/baselines/resnet50_8xb32_in1k.py' in CONFIGS
    assert not [c for c in CONFIGS if '/demo/' in c or '/real/' in c
                or '/_base_/' in c]
    assert len([c for c in CONFIGS if expected_methods(c)]) >= 40


@pytest.mark.parametrize('config', CONFIGS)
def test_config_is_drawn_or_refused(tool, image_path, config, tmp_path,
                                    no_network):
    from td_plugins.utils import load_config
    options = untrained_options(load_config(str(REPO / config)))
    torch.manual_seed(0)
    model, cfg, _ = tool.build_model(str(REPO / config),
                                     cfg_options=options)
    methods = vis.detect_methods(model)
    assert set(methods) == expected_methods(config)
    out = tmp_path / 'pics'
    if not methods:
        with pytest.raises(ValueError) as err:
            tool.visualize(image_path, str(REPO / config), str(out),
                           frames=FRAMES, cfg_options=options)
        message = str(err.value)
        assert config in message
        assert 'no td_plugins attention module' in message
        assert not out.exists()
        pytest.skip(f'no attention to draw: {message}')

    image = cv2.imread(str(image_path))
    scope = cfg.get('default_scope', 'mmengine')
    x = vis.prepare_input(model, image, scope, FRAMES)
    logits = record_anar_logits(model)
    maps = vis.collect_maps(model, x, methods, scope, None, SHAPE)
    if 'tdaf' in maps:
        check_tdaf_masks(maps['tdaf'], logits)
    for method, found in maps.items():
        assert found, f'{method}: no map'
        for title, attention in found:
            check_map(method, title, attention)
    if 'tdam' in maps:
        assert len(maps['tdam']) == model.backbone.num_steps

    torch.manual_seed(0)  # the same weights as the model checked above
    written = tool.visualize(image_path, str(REPO / config), str(out),
                             frames=FRAMES, cfg_options=options)
    assert set(written) == set(methods) | {'all'}
    for method in methods:
        panels = len(maps[method]) if method in maps else \
            len(written[method]) - 1
        assert panels >= 1
        check_pictures(out, method, panels, image)
    if 'tnet' in methods:
        check_tnet(tool, model, image, out)


def record_anar_logits(model) -> List[torch.Tensor]:
    """Hook every ANAR's last conv: its logits, in call order."""
    from td_plugins.models.layers import ANAR
    logits: List[torch.Tensor] = []
    for m in model.modules():
        if isinstance(m, ANAR):
            m.last.register_forward_hook(
                lambda mod, inp, out: logits.append(out.detach()))
    return logits


def check_tdaf_masks(found, logits: List[torch.Tensor]) -> None:
    """Each drawn TDAF map is the sigmoid of its ANAR's last-conv logits
    (eq. 5's g), fitted to the gated stage's size, of the first image."""
    from td_plugins.models.layers import ANAR
    assert len(logits) >= len(found), (len(logits), len(found))
    for (title, drawn), out in zip(found, logits[-len(found):]):
        size = tuple(drawn.shape[-(out.dim() - 2):])
        want = torch.sigmoid(ANAR._fit(out, size))[0, 0]
        torch.testing.assert_close(drawn.detach().float().reshape(
            want.shape), want.float(), rtol=1e-5, atol=1e-6, msg=title)


def check_tnet(tool, model, image: np.ndarray, out: Path) -> None:
    """TNet's regions for ``image`` (at the model's input size, as the tool
    runs it): finite boxes inside the input, location probabilities in
    [0, 1], one panel per level with the level's boxes in its colour."""
    h, w = model.input_size
    x = vis.prepare_input(model, cv2.resize(image, (w, h)), 'mmpretrain',
                          1)
    with torch.no_grad():
        sample = model.predict(x)[0]
    boxes = sample.tnet_boxes
    assert len(boxes) >= 1 and torch.isfinite(boxes).all()
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= w).all() and \
        (boxes[:, 3] <= h).all() and (boxes[:, 2:] > boxes[:, :2]).all()
    probs = sample.tnet_probs
    assert ((probs >= 0) & (probs <= 1)).all()
    colour = vis.level_colour
    levels = sorted(set(sample.tnet_levels.tolist()))
    assert not (out / f'tnet_{len(levels) + 1}.png').exists()
    for i, level in enumerate(levels, start=1):
        pic = cv2.imread(str(out / f'tnet_{i}.png'))
        assert (pic == colour(level)).all(-1).any(), f'level {level}'


def test_cli_says_that_a_config_has_no_attention(image_path, tmp_path):
    """The command line: a clear one-line refusal, no traceback."""
    config = 'configs/baselines/resnet50_8xb32_in1k.py'
    proc = subprocess.run(
        [sys.executable, TOOL, str(image_path), config, '--out-dir',
         str(tmp_path / 'pics')], cwd=REPO, capture_output=True, text=True,
        timeout=600)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert f'vis_attention: {config}: the model contains no td_plugins ' \
        'attention module' in proc.stderr
    assert not (tmp_path / 'pics').exists()


def test_detector_data_samples_carry_the_image_metadata(tool):
    """A two-stage detector's tensor forward gets the unpadded image size
    (its RPN clips proposals to it) and the padded batch size."""
    x = torch.zeros(2, 3, 64, 96)
    samples = vis.tensor_data_samples(x, 'mmdet', (60, 90))
    assert len(samples) == 2
    meta = samples[1].metainfo
    assert meta['img_shape'] == meta['ori_shape'] == (60, 90)
    assert meta['pad_shape'] == meta['batch_input_shape'] == (64, 96)
    assert meta['scale_factor'] == (1.0, 1.0)
    assert vis.tensor_data_samples(x, 'mmdet')[0].img_shape == (64, 96)
    assert vis.tensor_data_samples(x, 'mmpretrain') is None
