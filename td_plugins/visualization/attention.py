"""Attention maps of any td_plugins model, per method, and their panels.

TDAM (ECCV 2022, section 4.2, Fig. 4), TDAF (AAAI 2021, eq. 5, Fig. 3b),
AW (ICANN 2021, eqs. 4-8) and TNet (NeurIPS 2021, Fig. 4); what each map
shows is in docs/visualization.md, "What each map shows".
"""
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from td_plugins.models.layers import R2DNS, AWConv2d

from .drawing import Panel, overlay_panel
from .inputs import spatial_map, tensor_data_samples
from .tdaf import tdaf_maps
from .tnet import is_tnet, tnet_panels

Map = Tuple[str, torch.Tensor]  # (title, (h, w) or video (T, h, w) map)

# ------------------------------------------------------------------ TDAM ---


def _tdam_step_features(backbone: nn.Module, x: torch.Tensor
                        ) -> Tuple[list, List[torch.Tensor]]:
    """``forward_steps`` outputs and each step's last-stage spatial map."""
    steps, maps = backbone.forward_steps_with_maps(x)
    return steps, [s[-1] if s[-1].dim() >= 4 else m
                   for s, m in zip(steps, maps)]


def _class_scores(model: nn.Module, step: tuple) -> Optional[torch.Tensor]:
    """Class logits of one step through the model's neck and head, or None."""
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
    """``(title, map)`` per TDAM step: Grad-CAM, or the channel norm headless.

    Args:
        model (nn.Module): A model whose backbone has ``forward_steps``.
        x (torch.Tensor): The backbone's input, e.g. ``(1, 3, H, W)``.
        classes (Sequence[str], optional): Class names for the titles.
    """
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


# -------------------------------------------------------------------- AW ---

_STAGE = re.compile(r'(layer\d+|stages?\.\d+|res_layers?\.\d+)')
_INDEX = re.compile(r'\.(\d+)(\.|$)')


def aw_group(name: str) -> str:
    """The group (stage, or FPN level) an AW convolution is drawn in.

    Example:
        >>> aw_group('backbone.layer3.1.conv2')
        'layer3'
        >>> aw_group('neck.fpn_convs.1.conv')
        'neck level 1'
    """
    match = _STAGE.search(name)
    if match:
        name = name[:match.end()]
        return name[9:] if name.startswith('backbone.') else name
    index = _INDEX.search(name)
    if index:
        return f'{name.split(".")[0]} level {index.group(1)}'
    return name


class AWRecorder:
    """Hooks on every ``AWConv2d`` recording, per group, the effect of ``A``.

    Example:
        >>> from td_plugins.models.layers import AWConv2d
        >>> net = nn.Sequential()
        >>> net.add_module('layer1', AWConv2d(8, 16, 3, padding=1))
        >>> recorder = AWRecorder(net.eval())
        >>> with torch.no_grad():
        ...     _ = net(torch.randn(2, 8, 9, 11))
        >>> recorder.remove()
        >>> [tuple(m.shape) for _, m in recorder.maps()]
        [(9, 11)]
    """

    def __init__(self, model: nn.Module) -> None:
        self.means: Dict[str, List[float]] = {}
        self.effects: Dict[str, List[torch.Tensor]] = {}
        self.handles = [
            m.register_forward_hook(self._hook(aw_group(n)))
            for n, m in model.named_modules() if isinstance(m, AWConv2d)]

    def _hook(self, stage: str) -> Callable:
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
        """Remove the hooks."""
        for handle in self.handles:
            handle.remove()

    def maps(self) -> List[Map]:
        """``(title, map)`` per group: summed maps, the mean of ``A``."""
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


# ------------------------------------------------------------ all methods ---

def detect_methods(model: nn.Module) -> List[str]:
    """The subset of ``['tnet', 'tdam', 'tdaf', 'aw']`` in the model, in order.

    Example:
        >>> detect_methods(nn.Sequential(AWConv2d(16, 16, 3)))
        ['aw']
    """
    modules = list(model.modules())
    found = []
    if is_tnet(model):
        found.append('tnet')
    if callable(getattr(getattr(model, 'backbone', None), 'forward_steps',
                        None)):
        found.append('tdam')
    if any(isinstance(m, R2DNS) for m in modules):
        found.append('tdaf')
    if any(isinstance(m, AWConv2d) for m in modules):
        found.append('aw')
    return found


def collect_maps(model: nn.Module, x: torch.Tensor, methods: Sequence[str],
                 scope: str = 'mmengine',
                 classes: Optional[Sequence[str]] = None,
                 img_shape: Optional[Tuple[int, int]] = None
                 ) -> Dict[str, List[Map]]:
    """``{method: [(title, map)]}`` for each method in ``methods`` but TNet.

    Args:
        x (torch.Tensor): The input from :func:`prepare_input`.
        methods (Sequence[str]): From :func:`detect_methods`.
        scope (str): The config's ``default_scope``.
        img_shape (tuple, optional): ``(h, w)`` of ``x`` before padding.
    """
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


def attention_panels(model: nn.Module, image: np.ndarray, x: torch.Tensor,
                     methods: Sequence[str], scope: str = 'mmengine',
                     classes: Optional[Sequence[str]] = None
                     ) -> Dict[str, List[Panel]]:
    """``{method: [(title, (H, W, 3) picture)]}``: the maps over ``image``.

    Args:
        image (np.ndarray): The BGR uint8 picture ``(H, W, 3)``.
        x (torch.Tensor): ``image`` as input, from :func:`prepare_input`.
        methods (Sequence[str]): From :func:`detect_methods`.
        scope (str): The config's ``default_scope``.
    """
    maps = collect_maps(model, x, methods, scope, classes, image.shape[:2])
    padded = tuple(x.shape[-2:])
    rows: Dict[str, List[Panel]] = {}
    for method in methods:
        if method in maps:
            rows[method] = [
                overlay_panel(spatial_map(m, image.shape[:2], padded),
                              image, title)
                for title, m in maps[method]]
        else:
            panels = tnet_panels(model, image, classes)
            if panels:
                rows[method] = panels
    return rows
