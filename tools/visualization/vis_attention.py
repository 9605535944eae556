"""Attention pictures of any td_plugins model, overlaid on an image.

``python tools/visualization/vis_attention.py IMAGE CONFIG [--checkpoint
CKPT] --out-dir DIR [--shape H W]`` builds the config's model (mmpretrain,
mmdet, mmpose or mmaction2), loads the checkpoint if given (weights-only,
through the loader that ``import td_plugins`` installs; without one the
untrained model is drawn, which checks the plumbing), runs the image through
it and writes, for every attention method the *built model* contains:

* **TDAM** (a backbone with ``forward_steps``: TDAMResNet, TDAMResNet3d,
  TDAMConvNeXt, TDAMMobileNetV3): one panel per computation step t = 1..T,
  as the paper's Fig. 4 (Jaiswal et al., ECCV 2022, section 4.2): Grad-CAM
  (Selvaraju et al. 2017) of the step's top-1 class on the last TD stage's
  output, the network run with its TD blocks stopped after step t (the
  official ``output_pred_over_t``; ``shared/spec/methods.md`` section 1.6).
  For a linear head on global average pooling this is ``ReLU`` of the CAM
  that :func:`td_plugins.evaluation.any_step.class_activation_maps` gives,
  divided by the number of positions. Models without a classification head
  (detector, pose backbones) have no class to explain: their panels show
  the channel L2 norm of each step's last-stage output instead, and say so
  in the title.
* **TDAF** (every ``R2DNS``, in a backbone or a pose head): the ANAR mask of
  each gated stage and flow (Pang et al., AAAI 2021, eq. 5 and Fig. 3b),
  recorded by ``R2DNS.record_attention``; the drawing is shared with
  ``tdaf_attention.py``.
* **AW** (every ``AWConv2d``, Zhu et al., ICANN 2021, eqs. 4-8): the
  attention ``A`` has one value per sample, output channel and kernel tap,
  so it has no spatial layout. Each stage's panel shows *where A changes the
  output*: the channel L2 norm of ``Conv(I, K * (1 + A)) - Conv(I, K)`` (the
  AW convolution's output minus the plain convolution with the same
  weights), summed over the stage's AW convolutions; the title gives the
  stage's attention magnitude, the mean of ``A`` over its convolutions,
  channels and taps (``A`` lies in (0, 1); 0.5 is "no preference").
* **TNet** (Papadopoulos et al., NeurIPS 2021, Fig. 4): one panel per
  attended level with the boxes of its regions (``DataSample.tnet_boxes``
  of a traversal at the model's ``input_size``), drawn by
  ``tnet_regions.py``'s ``draw_regions``; the title gives the location
  probabilities and the predicted class. Without that tool "TNet not
  available" is printed and TNet is skipped.

TDAF and AW are recorded in one ``mode='tensor'`` forward of the whole
model; a detector gets data samples with the image's metadata (a two-stage
detector's RPN needs them). A config whose model has none of the methods is
refused with a one-line message (exit status 1) and nothing is written.

Every map (TDAM, TDAF, AW) is stretched to its own range (printed in the
title) and drawn in the JET colours over the image at the model's input
size (the image itself, or ``--shape H W``; a detector's padding is cut
off the maps). Files: ``<method>_<panel>.png`` (one panel each, the input's
size, titled), ``<method>.png`` (the input and the method's panels in a row)
and ``attention.png`` (those rows stacked). Videos (mmaction2 3D models) get
the image repeated over ``--frames`` frames and show the middle frame.

Why not a stock tool: mmpretrain's ``vis_cam.py`` (pytorch-grad-cam) takes
one target layer and one forward, so it cannot show TDAM's steps, and no
OpenMMLab tool knows TDAF's flows or AW's per-kernel attention.

Usage: python tools/visualization/vis_attention.py IMAGE CONFIG
       [--checkpoint CKPT] --out-dir DIR [--shape H W] [--frames N]
       [--device cpu] [--cfg-options k=v ...]
"""
import argparse
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
Panel = Tuple[str, np.ndarray]  # (title, BGR uint8 picture)
Map = Tuple[str, torch.Tensor]  # (title, (h, w) or video (T, h, w) map)


def _sibling(name: str) -> Optional[Any]:
    """Import ``HERE/name.py`` (tools/ is no package); None if absent."""
    path = HERE / f'{name}.py'
    if not path.is_file():
        return None
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_tdaf = _sibling('tdaf_attention')


# --------------------------------------------------------------- drawing ---

def _title(tile: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` on a darkened band at the top of ``tile`` (wrapped to
    its width; the tile keeps its size)."""
    tile = tile.copy()
    w = tile.shape[1]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = float(np.clip(w / 400, 0.3, 0.5))
    lines: List[str] = []
    for word in text.split():
        trial = f'{lines[-1]} {word}' if lines else word
        if lines and cv2.getTextSize(trial, font, scale, 1)[0][0] <= w - 4:
            lines[-1] = trial
        else:
            lines.append(word)
    line_h = cv2.getTextSize('Ag', font, scale, 1)[0][1] + 4
    band = min(tile.shape[0], line_h * len(lines) + 3)
    tile[:band] = (tile[:band] * 0.35).astype(np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(tile, line, (2, line_h * (i + 1) - 1), font, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def _overlay(mask: np.ndarray, image: np.ndarray, title: str) -> Panel:
    """A heat-map panel: ``mask`` over ``image``, its range in the title."""
    tile, lo, hi = _tdaf.colour_overlay(mask, image)
    return title, _title(tile, f'{title} [{lo:.3g}, {hi:.3g}]')


def _row(image: np.ndarray, panels: Sequence[Panel]) -> np.ndarray:
    return np.hstack([_title(image, 'input')] + [p for _, p in panels])


def _stack(rows: Sequence[np.ndarray]) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)),
                     constant_values=255) for r in rows]
    return np.vstack(padded)


# ----------------------------------------------------- model and input ---

def build_model(config: str, checkpoint: Optional[str] = None,
                cfg_options: Optional[dict] = None,
                device: str = 'cpu') -> Tuple[nn.Module, Any, dict]:
    """The config's model in eval mode, its config and the checkpoint's
    ``meta`` (empty without a checkpoint). Weights load with
    ``weights_only=True`` (``import td_plugins`` installs that loader);
    without a checkpoint the freshly built model is used as is (no
    ``init_weights``, which could try to download pretrained weights)."""
    from mmengine.runner import load_checkpoint

    # importing td_plugins also makes checkpoints load weights-only
    from td_plugins.utils import build_from_config, load_config
    cfg = load_config(config, cfg_options)
    model = build_from_config(cfg, with_preprocessor=True)
    meta: dict = {}
    if checkpoint:
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    return model.to(device).eval(), cfg, meta


def _clip_len(cfg: Any, default: int = 8) -> int:
    """``clip_len`` of the test pipeline's SampleFrames, if any."""
    for key in ('test_dataloader', 'val_dataloader'):
        pipeline = cfg.get(key, {}).get('dataset', {}).get('pipeline', [])
        for step in pipeline:
            if 'clip_len' in step:
                return int(step['clip_len'])
    return default


def prepare_input(model: nn.Module, image: np.ndarray, scope: str,
                  frames: int) -> torch.Tensor:
    """``image`` (BGR uint8, H x W x 3) as the model's input: the data
    preprocessor's channel order and normalisation, zero padding to its
    ``pad_size_divisor``; for mmaction2 the ``(1, 1, C, [T,] H, W)`` layout
    with the image repeated over ``frames`` frames for 3D models."""
    dp = model.data_preprocessor
    x = torch.from_numpy(image).permute(2, 0, 1).float()
    if getattr(dp, '_channel_conversion', False) or \
            getattr(dp, 'to_rgb', False):
        x = x.flip(0)
    if getattr(dp, '_enable_normalize', False):
        x = (x - dp.mean.view(-1, 1, 1).cpu()) / dp.std.view(-1, 1, 1).cpu()
    div = int(getattr(dp, 'pad_size_divisor', 1) or 1)
    h, w = x.shape[1:]
    x = F.pad(x, (0, -w % div, 0, -h % div))[None]
    if scope == 'mmaction':
        x = x[:, None]
        if getattr(dp, 'format_shape', 'NCHW') == 'NCTHW':
            x = x[:, :, :, None].repeat(1, 1, 1, frames, 1, 1)
    return x.to(next(model.parameters()).device)


def _spatial(t: torch.Tensor, size: Tuple[int, int],
             padded: Tuple[int, int]) -> np.ndarray:
    """A (h, w) map from a (h, w) map or a (T, h, w) video map (its middle
    frame), cropped to the part that covers the image (not the padding)."""
    t = t.detach().float().cpu()
    if t.dim() == 3:
        t = t[t.shape[0] // 2]
    h, w = t.shape
    keep_h = max(1, round(h * size[0] / padded[0]))
    keep_w = max(1, round(w * size[1] / padded[1]))
    return t[:keep_h, :keep_w].numpy()


# ------------------------------------------------------------------ TDAM ---

def _tdam_step_features(backbone: nn.Module, x: torch.Tensor
                        ) -> Tuple[list, List[torch.Tensor]]:
    """``forward_steps`` outputs and, per step, the spatial feature map of
    the last stage (for ConvNeXt with ``gap_before_final_norm`` the output
    is pooled, so the map is taken where it is pooled)."""
    captured: List[torch.Tensor] = []
    wrap = hasattr(backbone, '_stage_output')
    if wrap:
        original = backbone._stage_output
        last = max(backbone.out_indices)

        def capture(i: int, y: torch.Tensor) -> torch.Tensor:
            if i == last:
                captured.append(y)
            return original(i, y)
        backbone._stage_output = capture
    try:
        steps = backbone.forward_steps(x)
    finally:
        if wrap:
            del backbone._stage_output
    steps = [s if isinstance(s, (tuple, list)) else (s, ) for s in steps]
    feats = [s[-1] for s in steps]
    if any(f.dim() < 4 for f in feats):
        feats = captured
    return steps, feats


def _class_scores(model: nn.Module, step: tuple) -> Optional[torch.Tensor]:
    """Class logits of one step's backbone output through the model's own
    neck and head (mmpretrain classifiers, mmaction2 recognizers); None for
    models without a classification head."""
    head = getattr(model, 'head', None)
    if head is not None and hasattr(model, 'extract_feat') and \
            hasattr(head, 'pre_logits'):  # mmpretrain
        feats = model.neck(step) if getattr(model, 'with_neck', False) \
            else step
        return head(feats)
    cls_head = getattr(model, 'cls_head', None)
    if cls_head is not None:  # mmaction2 recognizer
        feats = step[-1]
        if getattr(model, 'with_neck', False):
            feats = model.neck(feats)
            feats = feats[0] if isinstance(feats, tuple) else feats
        return cls_head(feats)
    return None


def tdam_maps(model: nn.Module, x: torch.Tensor,
              classes: Optional[Sequence[str]] = None) -> List[Map]:
    """One map per TDAM step: Grad-CAM of the step's top-1 class on the last
    stage's output, or that output's channel L2 norm when the model has no
    classification head. ``x`` is the backbone's input."""
    maps = []
    with torch.enable_grad():
        x = x.clone().requires_grad_(True)
        steps, feats = _tdam_step_features(model.backbone, x)
        for t, (step, feat) in enumerate(zip(steps, feats), start=1):
            logits = _class_scores(model, step)
            if logits is None:
                maps.append((f'TDAM step {t} feature norm (no classifier)',
                             feat[0].detach().norm(dim=0)))
                continue
            logits = logits.reshape(logits.shape[0], -1)
            probs = logits.detach().softmax(1)[0]
            c = int(probs.argmax())
            grad, = torch.autograd.grad(logits[0, c], feat,
                                        retain_graph=True)
            # Grad-CAM: channel weights = spatially averaged gradients.
            weights = grad[0].mean(dim=tuple(range(1, grad.dim() - 1)),
                                   keepdim=True)
            cam = F.relu((weights * feat[0].detach()).sum(0))
            name = classes[c] if classes and c < len(classes) else str(c)
            note = '' if float(cam.max()) > 0 else ' (zero everywhere)'
            maps.append((f'TDAM step {t} Grad-CAM: {name} '
                         f'p={float(probs[c]):.2f}{note}', cam))
    return maps


# ------------------------------------------------------------------ TDAF ---

def tdaf_maps(model: nn.Module) -> List[Map]:
    """Every ANAR mask the model's R2DNS modules recorded in the last
    forward (run it with ``record_attention`` set), first sample."""
    from td_plugins.models.layers import R2DNS
    found = [(n, m) for n, m in model.named_modules()
             if isinstance(m, R2DNS)]
    maps = []
    for name, r2dns in found:
        where = f' ({name})' if len(found) > 1 else ''
        for stage, flow, mask in _tdaf.recorded_masks(r2dns):
            maps.append((f'TDAF{where} stage {stage} flow {flow}',
                         mask[0, 0]))
    return maps


# -------------------------------------------------------------------- AW ---

_STAGE = re.compile(r'(layer\d+|stages?\.\d+|res_layers?\.\d+)')


_INDEX = re.compile(r'\.(\d+)(\.|$)')


def _stage_of(name: str) -> str:
    """The group an AW conv is drawn in: its stage (``backbone.layer3.1.
    conv2`` -> ``layer3``) or, outside numbered stages, its top module and
    first index (an FPN's ``neck.lateral_convs.1.conv`` and
    ``neck.fpn_convs.1.conv`` -> ``neck level 1``: one resolution)."""
    match = _STAGE.search(name)
    if match:
        name = name[:match.end()]
        return name[9:] if name.startswith('backbone.') else name
    index = _INDEX.search(name)
    if index:
        return f'{name.split(".")[0]} level {index.group(1)}'
    return name


class AWRecorder:
    """Forward hooks on every ``AWConv2d``: per stage, the mean of ``A`` and
    the channel norm of ``AW output - plain conv output`` (sample 0)."""

    def __init__(self, model: nn.Module) -> None:
        from td_plugins.models.layers import AWConv2d
        self.means: Dict[str, List[float]] = {}
        self.effects: Dict[str, List[torch.Tensor]] = {}
        self.handles = [
            m.register_forward_hook(self._hook(_stage_of(n)))
            for n, m in model.named_modules() if isinstance(m, AWConv2d)]

    def _hook(self, stage: str):
        def hook(conv: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
            x = inputs[0][:1].detach()
            a = conv.attention(x)
            plain = F.conv2d(x, conv.weight, conv.bias, conv.stride,
                             conv.padding, conv.dilation)
            effect = (out[:1].detach() - plain)[0].norm(dim=0)
            self.means.setdefault(stage, []).append(float(a.mean()))
            self.effects.setdefault(stage, []).append(effect)
        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def maps(self) -> List[Map]:
        """Per stage: the summed effect maps (at the first one's size) and
        the mean of A in the title."""
        maps = []
        for stage, effects in self.effects.items():
            size = effects[0].shape
            total = sum(e if e.shape == size else F.interpolate(
                e[None, None], size=size, mode='bilinear',
                align_corners=False)[0, 0] for e in effects)
            mean_a = float(np.mean(self.means[stage]))
            maps.append((f'AW {stage} mean A {mean_a:.3f}, |AW-plain|',
                         total))
        return maps


# ------------------------------------------------------------------ TNet ---

def _tnet_class() -> Optional[type]:
    try:
        module = importlib.import_module(
            'td_plugins.models.classifiers.tnet')
    except ImportError:
        return None
    getter = getattr(module, 'tnet_class', None)
    try:
        return getter() if callable(getter) else getattr(module, 'TNet',
                                                         None)
    except ImportError:
        return None


def _is_tnet(model: nn.Module) -> bool:
    cls = _tnet_class()
    if isinstance(cls, type) and isinstance(model, cls):
        return True
    return type(model).__name__ == 'TNet' and \
        type(model).__module__.startswith('td_plugins')


def tnet_panels(model: nn.Module, image: np.ndarray,
                classes: Optional[Sequence[str]] = None
                ) -> Optional[List[Panel]]:
    """TNet's attended regions, one panel per level (level 1 is the first
    attended level, the paper's level 2), drawn by ``draw_regions`` of
    tnet_regions.py; None (and a message) when that tool is not there. The
    image is resized to the model's ``input_size`` for the traversal and
    the boxes scaled back."""
    tool = _sibling('tnet_regions')
    draw = getattr(tool, 'draw_regions', None) if tool else None
    if draw is None:
        print('[vis_attention] TNet not available (tools/visualization/'
              'tnet_regions.py with draw_regions() is missing): skipped')
        return None
    h, w = image.shape[:2]
    in_h, in_w = getattr(model, 'input_size', None) or (h, w)
    x = prepare_input(model, cv2.resize(image, (in_w, in_h)), 'mmpretrain',
                      1)
    with torch.no_grad():
        sample = model.predict(x)[0]
    boxes = sample.tnet_boxes.cpu().numpy() * np.array(
        [w / in_w, h / in_h, w / in_w, h / in_h])
    levels = sample.tnet_levels.cpu().numpy()
    probs = sample.tnet_probs.cpu().numpy()
    label = int(sample.pred_label)
    name = classes[label] if classes and label < len(classes) else label
    panels = []
    for level in sorted(set(levels.tolist())):
        keep = levels == level
        title = (f'TNet level {level}: {int(keep.sum())} regions, '
                 f'p {", ".join(f"{p:.2f}" for p in probs[keep])}')
        if not panels:
            title = f'{title}; class {name} ' \
                f'{float(sample.pred_score[label]):.2f}'
        # Boxes over the title band, so that none is dimmed by it.
        panels.append((title, draw(_title(image, title), boxes[keep],
                                   levels[keep].tolist())))
    return panels


# ------------------------------------------------------------------ main ---

def detect_methods(model: nn.Module) -> List[str]:
    """Which td_plugins attention methods the built model contains."""
    from td_plugins.models.layers import AWConv2d, R2DNS
    modules = list(model.modules())
    found = []
    if _is_tnet(model):
        found.append('tnet')
    if callable(getattr(getattr(model, 'backbone', None), 'forward_steps',
                        None)):
        found.append('tdam')
    if any(isinstance(m, R2DNS) for m in modules):
        found.append('tdaf')
    if any(isinstance(m, AWConv2d) for m in modules):
        found.append('aw')
    return found


def tensor_data_samples(x: torch.Tensor, scope: str,
                        img_shape: Optional[Tuple[int, int]] = None
                        ) -> Optional[list]:
    """The ``data_samples`` of a ``mode='tensor'`` forward of ``x``: for
    mmdet, one ``DetDataSample`` per image with the metadata the test
    pipeline and data preprocessor would give (a two-stage detector's RPN
    proposes boxes inside ``img_shape`` before its RoI head runs); None for
    the other scopes, whose tensor forward does not read them.
    ``img_shape`` is the image's size before padding (default: ``x``'s)."""
    if scope != 'mmdet':
        return None
    from mmdet.structures import DetDataSample
    padded = tuple(int(s) for s in x.shape[-2:])
    shape = tuple(int(s) for s in img_shape) if img_shape else padded
    meta = dict(img_shape=shape, ori_shape=shape, pad_shape=padded,
                batch_input_shape=padded, scale_factor=(1.0, 1.0))
    return [DetDataSample(metainfo=meta) for _ in range(x.shape[0])]


def collect_maps(model: nn.Module, x: torch.Tensor, methods: Sequence[str],
                 scope: str = 'mmengine',
                 classes: Optional[Sequence[str]] = None,
                 img_shape: Optional[Tuple[int, int]] = None
                 ) -> Dict[str, List[Map]]:
    """The maps of each method in ``methods`` (not TNet) for the input
    ``x`` (from :func:`prepare_input`; ``img_shape`` its size before
    padding). TDAF and AW come from one forward of the whole model
    (``mode='tensor'``, data samples from :func:`tensor_data_samples`),
    TDAM from the backbone's ``forward_steps`` with gradients."""
    from td_plugins.models.layers import R2DNS
    maps: Dict[str, List[Map]] = {}
    r2dns = [m for m in model.modules() if isinstance(m, R2DNS)] \
        if 'tdaf' in methods else []
    aw = AWRecorder(model) if 'aw' in methods else None
    for m in r2dns:
        m.record_attention = True
    try:
        if r2dns or aw is not None:
            with torch.no_grad():
                model(x, data_samples=tensor_data_samples(
                    x, scope, img_shape), mode='tensor')
    finally:
        for m in r2dns:
            m.record_attention = False
        if aw is not None:
            aw.remove()
    for method in methods:
        if method == 'tdam':
            # mmaction2 recognizers fold (N, clips) before the backbone.
            xb = x.flatten(0, 1) if scope == 'mmaction' else x
            maps[method] = tdam_maps(model, xb, classes)
        elif method == 'tdaf':
            maps[method] = tdaf_maps(model)
        elif method == 'aw':
            maps[method] = aw.maps()
    return maps


def visualize(image_path: str, config: str, out_dir: str,
              checkpoint: Optional[str] = None,
              shape: Optional[Sequence[int]] = None, frames: int = 0,
              device: str = 'cpu', cfg_options: Optional[dict] = None
              ) -> Dict[str, List[Path]]:
    """Write the pictures; returns ``{method: [files]}`` plus ``'all'``
    (``attention.png``). Raises ValueError when the model contains none
    of the methods."""
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'cannot read image {image_path}')
    if shape:
        image = cv2.resize(image, (int(shape[1]), int(shape[0])),
                           interpolation=cv2.INTER_LINEAR)
    model, cfg, meta = build_model(config, checkpoint, cfg_options, device)
    methods = detect_methods(model)
    if not methods:
        raise ValueError(f'{config}: the model contains no td_plugins '
                         f'attention module (TDAM, TDAF, AW or TNet)')
    scope = cfg.get('default_scope', 'mmengine')
    x = prepare_input(model, image, scope, frames or _clip_len(cfg))
    padded = tuple(x.shape[-2:])
    classes = meta.get('dataset_meta', {}).get('classes') or cfg.get(
        'test_dataloader', {}).get('dataset', {}).get('classes')
    maps = collect_maps(model, x, methods, scope, classes, image.shape[:2])

    rows: Dict[str, List[Panel]] = {}
    for method in methods:
        if method in maps:
            rows[method] = [
                _overlay(_spatial(m, image.shape[:2], padded), image, title)
                for title, m in maps[method]]
        else:
            panels = tnet_panels(model, image, classes)
            if panels:
                rows[method] = panels

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: Dict[str, List[Path]] = {}
    for method, panels in rows.items():
        files = [_write(out / f'{method}_{i}.png', tile)
                 for i, (_, tile) in enumerate(panels, start=1)]
        files.append(_write(out / f'{method}.png', _row(image, panels)))
        written[method] = files
    if rows:
        written['all'] = [_write(out / 'attention.png', _stack(
            [_row(image, p) for p in rows.values()]))]
    return written


def _write(path: Path, picture: np.ndarray) -> Path:
    if not cv2.imwrite(str(path), picture):
        raise OSError(f'could not write {path}')
    return path


def main() -> None:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('--checkpoint', default=None,
                        help='weights (loaded weights-only); none: the '
                        'untrained model')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='resize the image to H x W first (default: '
                        'its own size)')
    parser.add_argument('--frames', type=int, default=0,
                        help='frames of the clip for 3D video models '
                        '(default: the config\'s clip_len, else 8)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='k=v overrides of the config')
    args = parser.parse_args()
    try:
        written = visualize(args.image, args.config, args.out_dir,
                            args.checkpoint, args.shape, args.frames,
                            args.device, args.cfg_options)
    except ValueError as err:
        sys.exit(f'vis_attention: {err}')
    for method, files in written.items():
        print(f'{method}: ' + ', '.join(str(f) for f in files))


if __name__ == '__main__':
    main()
