"""Parameters and multiply-accumulates (MACs) of a model, per module.

The counting runs the model once under :class:`torch.utils.flop_counter.
FlopCounterMode`, which sees every ATen operator that actually executes, in
whatever module or function it is called from. So the arithmetic that lives
outside ``nn.Conv2d``/``nn.Linear`` modules is counted too: TDAM's
searchlight products and spatial sums (``bmm``), AW-convolution in each of
its forms (per-sample kernels in one grouped convolution, per-tap
convolutions, or one matrix product and a col2im), TDAF's extra flows and
ANARs (the same modules called once per flow), TNet's backbone run on every
crop.

What is counted, in MACs (one multiply and one add = 1 MAC; PyTorch's counter
reports FLOPs = 2 x MACs for the operators below, and we divide by 2):

* PyTorch's own formulas: convolutions (any dimension, grouped, transposed),
  ``mm``/``addmm``/``bmm``/``baddbmm`` (so ``nn.Linear``, ``matmul`` and most
  ``einsum`` contractions) and scaled-dot-product attention. Biases, the
  additions of ``addmm``/``baddbmm`` and the accumulation are free.
* Added here (``elementwise=True``, the default): every element-wise product
  of two tensors that both have more than one element, at 1 MAC per output
  element (``mul``, ``mul_`` and ``addcmul``/``addcmul_``). These are the
  attention's gates: TDAM's channel and spatial gating, AW's ``K * (1 + A)``
  (or, in its tap-by-tap form, the per-tap scaling), TDAF's
  ``h * (g + 0.5)``, SE/CBAM gates, ConvNeXt's layer scale. A product with a
  scalar or a one-element tensor (FCOS's ``Scale``, ``x * 0.5``) is not
  counted.

Not counted: batch/group/layer norm, activations, pooling, resizing, soft-max,
additions and sums that are not part of a matrix product, indexing and
copies. (ptflops, which the TDAM paper used, also counts BN, ReLU and
pooling: ResNet-50 4.12 G there, 4.09 G here.)

Per-module attribution: each operator is charged to the innermost module
whose ``__call__`` is running (module forward hooks), named as in
``model.named_modules()``; a module's MACs include its sub-modules'. Code that
calls a sub-module's ``forward`` directly, or uses its weights functionally,
is charged to the caller. A module called several times (TDAM's re-run
convolutions, TDAF's stages once per flow) accumulates every call.

Nothing here imports an OpenMMLab package at import time; the config helpers
(:func:`build_model`, :func:`make_inputs`, :func:`config_complexity`) import
mmengine and the config's codebase when called.
"""
from __future__ import annotations

import contextlib
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ['ModelComplexity', 'build_model', 'config_complexity',
           'count_complexity', 'make_inputs', 'parse_shape',
           'standard_input_shape', 'COUNTED', 'NOT_COUNTED']

COUNTED = ('convolutions (any dim, grouped, transposed), mm/addmm/bmm/'
           'baddbmm (Linear, matmul, einsum contractions), scaled dot-product '
           'attention; element-wise products of two tensors that both have '
           '>1 element (mul, mul_, addcmul), 1 MAC per output element')
NOT_COUNTED = ('norms (BN/GN/LN), activations, pooling, resizing, softmax, '
               'plain additions/sums, biases, indexing and copies')

_SCOPES = ('mmpretrain', 'mmdet', 'mmpose', 'mmaction')


# --------------------------------------------------------------------------
# Element-wise products: formulas in FlopCounterMode's convention (FLOPs,
# = 2 per MAC), so that one product per output element is one MAC.
def _numel(shape: Any) -> int:
    return math.prod(shape) if isinstance(shape, torch.Size) else 1


def _product_flops(a: Any, b: Any, out_shape: Any) -> int:
    if not (isinstance(a, torch.Size) and isinstance(b, torch.Size)):
        return 0  # a Python number
    if _numel(a) <= 1 or _numel(b) <= 1:
        return 0  # a scalar factor
    return 2 * _numel(out_shape)


def _mul_flop(a, b, *args, out_shape=None, **kwargs) -> int:
    return _product_flops(a, b, out_shape)


def _addcmul_flop(self_shape, a, b, *args, out_shape=None, **kwargs) -> int:
    return _product_flops(a, b, out_shape)


def _elementwise_formulas() -> Dict[Any, Callable]:
    aten = torch.ops.aten
    return {aten.mul: _mul_flop, aten.mul_: _mul_flop,
            aten.addcmul: _addcmul_flop, aten.addcmul_: _addcmul_flop}


# --------------------------------------------------------------------------
@dataclass
class ModelComplexity:
    """MACs and parameters of one call of a model.

    Attributes:
        macs (int): Multiply-accumulates of the whole call.
        params (int): Parameters of the model (shared ones once).
        by_op (dict): MACs per ATen operator (``'convolution'``, ``'mul'``,
            ...; in-place variants under the same name).
        own_macs (dict): MACs charged to each module name itself (not to its
            sub-modules); ``''`` is the model, ``None`` anything run outside
            it.
        module_params (dict): Parameters per module name, sub-modules
            included.
        children (dict): Module name -> its direct children's names.
        input_shape (tuple): The input's shape, if known.
        device (str): Where it was counted (``'meta'`` or ``'cpu'``, ...).
        elementwise (bool): Whether element-wise products were counted.
    """
    macs: int
    params: int
    by_op: Dict[str, int]
    own_macs: Dict[Optional[str], int]
    module_params: Dict[str, int]
    children: Dict[str, List[str]]
    input_shape: Tuple[int, ...] = ()
    device: str = 'cpu'
    elementwise: bool = True
    notes: List[str] = field(default_factory=list)

    def module_macs(self, name: str) -> int:
        """MACs of module ``name`` and everything under it (``''``: all of
        the model)."""
        if name == '':
            return sum(v for k, v in self.own_macs.items() if k is not None)
        prefix = name + '.'
        return sum(v for k, v in self.own_macs.items()
                   if k is not None and (k == name or k.startswith(prefix)))

    def breakdown(self, depth: int = 2) -> List[dict]:
        """Rows of the module tree down to ``depth`` levels below the model.

        Each row is a dict with ``name`` (``''`` for the model), ``depth``,
        ``macs``, ``params`` and ``leaf``. Modules with neither MACs nor
        parameters are left out. A module shown above ``depth`` that runs
        operators itself (outside its sub-modules) gets an extra leaf row
        named ``'<name> (own ops)'``. The ``macs`` of the leaf rows add up to
        :attr:`macs` exactly.
        """
        if depth < 0:
            raise ValueError(f'depth must be >= 0, got {depth}')
        rows: List[dict] = []

        def shown(name: str) -> bool:
            return self.module_macs(name) > 0 or \
                self.module_params.get(name, 0) > 0

        def visit(name: str, level: int) -> None:
            kids = [c for c in self.children.get(name, []) if shown(c)] \
                if level < depth else []
            rows.append(dict(name=name, depth=level,
                             macs=self.module_macs(name),
                             params=self.module_params.get(name, 0),
                             leaf=not kids))
            if not kids:
                return
            own = self.own_macs.get(name, 0)
            if own:
                rows.append(dict(name=f'{name or "model"} (own ops)',
                                 depth=level + 1, macs=own, params=0,
                                 leaf=True))
            for kid in kids:
                visit(kid, level + 1)

        visit('', 0)
        outside = self.own_macs.get(None, 0)
        if outside:
            rows.append(dict(name='(outside the model)', depth=1,
                             macs=outside, params=0, leaf=True))
        return rows

    def table(self, depth: int = 2) -> str:
        """The breakdown as an aligned text table (MACs and parameters)."""
        rows = self.breakdown(depth)
        total = max(self.macs, 1)
        lines = [('module', 'params', 'MACs', '% MACs')]
        for r in rows:
            label = r['name'].rsplit('.', 1)[-1] if r['depth'] and \
                not r['name'].endswith('(own ops)') else (r['name'] or
                                                          'model')
            lines.append(('  ' * r['depth'] + label,
                          _human(r['params']) if r['params'] else '',
                          _human(r['macs']),
                          f'{100 * r["macs"] / total:.2f}'))
        widths = [max(len(line[i]) for line in lines) for i in range(4)]
        out = []
        for i, line in enumerate(lines):
            out.append('  '.join([line[0].ljust(widths[0])] +
                                 [c.rjust(w) for c, w in
                                  zip(line[1:], widths[1:])]).rstrip())
            if i == 0:
                out.append('  '.join('-' * w for w in widths))
        return '\n'.join(out)

    def to_dict(self, depth: int = 2) -> dict:
        """A JSON-serialisable summary (what ``get_flops.py --json``
        writes)."""
        return dict(
            macs=self.macs, flops=2 * self.macs, gmacs=self.macs / 1e9,
            params=self.params, mparams=self.params / 1e6,
            input_shape=list(self.input_shape), device=self.device,
            elementwise_products_counted=self.elementwise,
            counted=COUNTED if self.elementwise else COUNTED.split(
                '; element-wise')[0],
            not_counted=NOT_COUNTED, by_op=dict(self.by_op),
            modules=[dict(r) for r in self.breakdown(depth)],
            notes=list(self.notes))


def _human(value: float) -> str:
    for scale, unit in ((1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if abs(value) >= scale:
            return f'{value / scale:.3f} {unit}'
    return f'{value:.0f}  '


# --------------------------------------------------------------------------
def count_complexity(model: nn.Module, call: Callable[[], Any], *,
                     elementwise: bool = True,
                     input_shape: Sequence[int] = ()) -> ModelComplexity:
    """Count the MACs of ``call()`` (which should run ``model``) per module.

    The model is not switched to eval mode here; ``call`` runs under
    ``torch.no_grad()``.

    Args:
        model (nn.Module): The model whose modules name the breakdown.
        call (Callable[[], Any]): Runs the model once, e.g.
            ``lambda: model(x)``.
        elementwise (bool): Also count element-wise products of two
            tensors (see the module docstring). Defaults to True.
        input_shape (Sequence[int]): Recorded in the result. Defaults to ().

    Returns:
        ModelComplexity: The counts.

    Example:
        >>> conv = nn.Conv2d(3, 8, 3, bias=False)
        >>> x = torch.rand(1, 3, 6, 6)
        >>> count_complexity(conv, lambda: conv(x)).macs  # 8*16 * 3*9
        3456
    """
    from torch.nn.modules.module import (register_module_forward_hook,
                                         register_module_forward_pre_hook)
    from torch.utils.flop_counter import FlopCounterMode

    names = {}
    for name, module in model.named_modules():
        names.setdefault(module, name)
    stack: List[Optional[str]] = []
    own: Dict[Optional[str], int] = defaultdict(int)
    by_op: Dict[str, int] = defaultdict(int)

    class _Counter(FlopCounterMode):
        # FlopCounterMode decides which operators count and how much (its
        # registry of formulas, with ours added); this override of its
        # per-operator hook (torch >= 2.4) only charges each count to the
        # innermost running module instead of to every enclosing one.
        def _count_flops(self, func_packet, out, args, kwargs):
            formula = self.flop_registry.get(func_packet)
            if formula is not None:
                flops = formula(*args, **kwargs, out_val=out)
                if flops:
                    self.flop_counts['Global'][func_packet] += flops
                    own[stack[-1] if stack else None] += flops
                    # in-place or not is the kernel's choice (and can
                    # differ between devices): one name for both
                    by_op[str(func_packet).split('.')[-1].rstrip('_')] += \
                        flops
            return out

    def pre_hook(module, args):
        stack.append(names.get(module, stack[-1] if stack else None))

    def post_hook(module, args, output):
        if stack:
            stack.pop()

    counter = _Counter(display=False, custom_mapping=(
        _elementwise_formulas() if elementwise else None))
    handles = [register_module_forward_pre_hook(pre_hook),
               register_module_forward_hook(post_hook)]
    try:
        with torch.no_grad(), counter:
            call()
    finally:
        for h in handles:
            h.remove()
    total_flops = counter.get_total_flops()
    if total_flops != sum(own.values()):  # pragma: no cover - sanity check
        raise RuntimeError('per-module MACs do not add up to the total')

    params: Dict[str, int] = defaultdict(int)
    for pname, p in model.named_parameters():
        parts = pname.split('.')[:-1]
        params[''] += p.numel()
        for i in range(1, len(parts) + 1):
            params['.'.join(parts[:i])] += p.numel()
    children: Dict[str, List[str]] = defaultdict(list)
    for name in names.values():
        if name:
            children[name.rpartition('.')[0]].append(name)
    try:
        device = str(next(model.parameters()).device)
    except StopIteration:
        device = 'cpu'
    return ModelComplexity(
        macs=total_flops // 2, params=params[''],
        by_op={k: v // 2 for k, v in sorted(by_op.items())},
        own_macs={k: v // 2 for k, v in own.items()},
        module_params=dict(params), children=dict(children),
        input_shape=tuple(input_shape), device=device,
        elementwise=elementwise)


# --------------------------------------------------------------------------
# Configs: build the model, make an input, count.
def parse_shape(values: Sequence[int]) -> Tuple[int, ...]:
    """``--shape`` values as mmpretrain/mmdet's get_flops take them.

    One number ``S`` -> ``(S, S)``; two -> ``(H, W)``; three -> ``(C, H, W)``;
    four -> ``(C, T, H, W)`` (a video clip). :func:`make_inputs` adds the
    channel count and the batch (and clip) dimensions where missing.

    Example:
        >>> parse_shape([224]), parse_shape([3, 16, 112, 112])
        ((224, 224), (3, 16, 112, 112))
    """
    values = tuple(int(v) for v in values)
    if not 1 <= len(values) <= 4 or min(values) < 1:
        raise ValueError('shape must be 1 to 4 positive numbers (S | H W | '
                         f'C H W | C T H W), got {values}')
    return values * 2 if len(values) == 1 else values


def tdam_pools_early_tops(cfg) -> bool:
    """Whether ``cfg``'s backbone is a TDAM-ResNet that pools the early
    steps' tops at inference (``pool_early_tops``, default True): its count
    is then below the official computation order's, which
    ``model.backbone.pool_early_tops=False`` gives."""
    backbone = cfg.model.get('backbone') or {}
    return str(backbone.get('type', '')).split('.')[-1] == 'TDAMResNet' \
        and bool(backbone.get('pool_early_tops', True))


def _scope(cfg) -> str:
    scope = cfg.get('default_scope', None)
    if scope not in _SCOPES:
        raise ValueError(f'default_scope must be one of {_SCOPES}, got '
                         f'{scope!r}')
    return scope


def _find_transform(pipeline: Any, type_name: str) -> Optional[dict]:
    for t in pipeline or []:
        if isinstance(t, dict) and t.get('type', '').split('.')[-1] == \
                type_name:
            return t
    return None


def _eval_pipeline(cfg) -> list:
    """The validation pipeline (one view: a centre crop, one clip), else
    the test pipeline."""
    for key in ('val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset'):
            dataset = loader['dataset']
            while 'pipeline' not in dataset and 'dataset' in dataset:
                dataset = dataset['dataset']  # wrappers
            if dataset.get('pipeline'):
                return list(dataset['pipeline'])
    return list(cfg.get('test_pipeline', []) or [])


def _dataset_type(cfg) -> str:
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset'):
            return str(loader['dataset'].get('type', ''))
    return ''


def standard_input_shape(cfg) -> Tuple[Tuple[int, ...], str]:
    """The input shape a config's FLOPs are usually quoted at.

    * classification (mmpretrain): the evaluation crop (``CenterCrop``),
      else the evaluation ``Resize`` (TNet), else 224x224; CIFAR 32x32;
    * detection (mmdet): 1333x800, i.e. an 800x1333 image, padded as the
      config's data preprocessor pads it (``pad_size_divisor``);
    * pose (mmpose): the codec's input size (256x192 for these configs);
    * action recognition (mmaction): one view as the validation pipeline
      makes it: ``clip_len`` frames at its centre-crop size (``3 x T x H x
      W``).

    Returns:
        (shape, description): the shape for :func:`make_inputs` and a short
        text saying where it came from.
    """
    scope = _scope(cfg)
    pipeline = _eval_pipeline(cfg)
    if scope == 'mmpretrain':
        if 'cifar' in _dataset_type(cfg).lower():
            return (32, 32), 'CIFAR 32x32'
        crop = _find_transform(pipeline, 'CenterCrop')
        resize = _find_transform(pipeline, 'Resize')
        if crop:
            size, where = crop.get('crop_size', 224), 'evaluation crop'
        elif resize and isinstance(resize.get('scale'), (int, tuple, list)):
            size, where = resize['scale'], 'evaluation resize'
        else:
            size, where = 224, 'default'
        h, w = (size, size) if isinstance(size, int) else (size[1], size[0])
        return (h, w), f'{h}x{w} ({where})'
    if scope == 'mmdet':
        div = cfg.model.get('data_preprocessor', {}).get(
            'pad_size_divisor', 1) or 1
        h, w = (math.ceil(s / div) * div for s in (800, 1333))
        note = f', padded to {h}x{w}' if (h, w) != (800, 1333) else ''
        return (h, w), f'1333x800 image{note}'
    if scope == 'mmpose':
        codec = cfg.get('codec') or cfg.model.get('head', {}).get(
            'decoder', {})
        w, h = codec.get('input_size', (192, 256))
        return (h, w), f'{h}x{w} (codec input size)'
    # mmaction
    frames = _find_transform(pipeline, 'SampleFrames')
    t = frames.get('clip_len', 16) if frames else 16
    crop = _find_transform(pipeline, 'CenterCrop') or _find_transform(
        pipeline, 'ThreeCrop') or _find_transform(pipeline, 'TenCrop')
    size = crop.get('crop_size', 224) if crop else 224
    h, w = (size, size) if isinstance(size, int) else (size[1], size[0])
    return (3, t, h, w), f'one {t}-frame clip at {h}x{w}'


def build_model(cfg, device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` in eval mode, without loading any weights.

    The default scope is set from ``cfg.default_scope`` (the config's
    ``custom_imports`` were imported by ``Config.fromfile``). The model is
    built on the CPU (constructors may compute with tensors) and then moved
    to ``device``; on ``'meta'`` the parameters keep their shapes and drop
    their storage.
    """
    from mmengine.model import revert_sync_batchnorm

    from .config_model import build_from_config
    _scope(cfg)  # one of the four codebases
    model = revert_sync_batchnorm(build_from_config(cfg))
    return model.to(device).eval()


def make_inputs(cfg, model: nn.Module, shape: Sequence[int],
                device: str = 'cpu') -> Tuple[tuple, dict]:
    """Positional and keyword arguments of one ``model(...)`` call.

    * mmpretrain: ``model(x, mode='tensor')`` -> backbone, neck and head;
    * mmdet: ``model(x, [sample], mode='tensor')`` -> the raw head outputs
      (two-stage detectors: RPN, its proposals and the RoI head);
    * mmpose: ``model(x, None, mode='tensor')`` -> backbone, neck, head;
    * mmaction: ``model(x, mode='tensor', stage='head')`` with
      ``x: [1, 1, C, T, H, W]`` (Recognizer3D) or ``[1, T, C, H, W]``
      (Recognizer2D, T segments) -> backbone and classification head.

    ``shape`` is ``(H, W)``, ``(C, H, W)`` or, for a video, ``(C, T, H, W)``
    (``(H, W)`` then takes T from the config's test pipeline).
    """
    scope = _scope(cfg)
    shape = tuple(shape)
    gen = torch.Generator().manual_seed(0)

    def rand(*size: int) -> torch.Tensor:
        if device == 'meta':
            return torch.empty(size, device='meta')
        return torch.randn(size, generator=gen).to(device)

    if scope == 'mmaction':
        if len(shape) == 2:
            _, t, _, _ = standard_input_shape(cfg)[0]
            shape = (3, t) + shape
        elif len(shape) == 3:
            raise ValueError('a video shape is (H, W) or (C, T, H, W), got '
                             f'{shape}')
        c, t, h, w = shape
        if type(model).__name__.endswith('2D'):
            x = rand(1, t, c, h, w)
        else:
            x = rand(1, 1, c, t, h, w)
        return (x, ), dict(mode='tensor', stage='head')
    if len(shape) == 4:
        raise ValueError(f'{scope} models take (H, W) or (C, H, W), got '
                         f'{shape}')
    c, h, w = shape if len(shape) == 3 else (3, ) + shape
    x = rand(1, c, h, w)
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample
        sample = DetDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
            batch_input_shape=(h, w), scale_factor=(1.0, 1.0)))
        return (x, [sample]), dict(mode='tensor')
    if scope == 'mmpose':
        return (x, None), dict(mode='tensor')
    return (x, ), dict(mode='tensor')


def config_complexity(config: Any, shape: Optional[Sequence[int]] = None,
                      device: str = 'auto', elementwise: bool = True,
                      cfg_options: Optional[dict] = None
                      ) -> ModelComplexity:
    """MACs and parameters of a config's model at an input shape.

    Args:
        config: A config path or an ``mmengine.Config``.
        shape (Sequence[int], optional): See :func:`parse_shape`; defaults
            to :func:`standard_input_shape`.
        device (str): ``'auto'`` (default) counts on the ``'meta'`` device
            (shapes only, instant) and falls back to the CPU when the model
            cannot run there (data-dependent code: NMS, ``.item()``, custom
            kernels); or ``'meta'``, ``'cpu'``, ``'cuda'``.
        elementwise (bool): Count element-wise products. Defaults to True.
        cfg_options (dict, optional): Merged into the config first.

    Returns:
        ModelComplexity: with ``input_shape`` the full input tensor shape
        and ``notes`` saying where the shape came from and on which device
        it was counted.
    """
    from mmengine.config import Config

    from .config_model import load_config
    if isinstance(config, Config):
        cfg = config
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
    else:
        cfg = load_config(str(config), cfg_options)
    notes = []
    if shape is None:
        shape, where = standard_input_shape(cfg)
        notes.append(f'input: {where}')
    else:
        shape = parse_shape(shape)
    devices = ['meta', 'cpu'] if device == 'auto' else [device]
    error: Optional[BaseException] = None
    for dev in devices:
        try:
            model = build_model(cfg, dev)
            args, kwargs = make_inputs(cfg, model, shape, dev)
            with _fixed_proposals(model) as proposals:
                result = count_complexity(
                    model, lambda: model(*args, **kwargs),
                    elementwise=elementwise,
                    input_shape=tuple(args[0].shape))
        except Exception as exc:  # noqa: BLE001 - try the next device
            if dev == devices[-1]:
                raise
            error = exc
            continue
        if error is not None:
            notes.append(f'counted on {dev}: the model does not run on the '
                         f'meta device ({type(error).__name__}: '
                         f'{_first_line(error)})')
        if proposals:
            notes.append(f'RoI head counted on {proposals} proposals per '
                         'image (test_cfg.rpn.max_per_img)')
        result.device = dev
        result.notes = notes
        return result
    raise AssertionError('unreachable')  # pragma: no cover


@contextlib.contextmanager
def _fixed_proposals(model: nn.Module):
    """For a two-stage detector, make the RPN pass on exactly
    ``test_cfg.rpn.max_per_img`` proposals per image (yields that number;
    0 for any other model).

    With untrained weights and a random image, how many boxes survive the
    RPN's NMS is arbitrary, and the RoI head's MACs are proportional to it.
    While this is active, ``rpn_head.predict`` runs the RPN head itself (its
    convolutions are counted) and returns that many fixed boxes spread over
    the image instead of decoding and suppressing (no MACs either way);
    RoIAlign does not depend on where boxes are, only on how many.
    """
    rpn = getattr(model, 'rpn_head', None) if getattr(
        model, 'with_rpn', False) else None
    test_cfg = getattr(model, 'test_cfg', None) or {}
    rpn_cfg = test_cfg.get('rpn', None) if hasattr(test_cfg, 'get') else None
    if rpn is None or not rpn_cfg:
        yield 0
        return
    count = int(rpn_cfg.get('max_per_img', 1000))

    def predict(x, batch_data_samples, rescale=False):
        from mmengine.structures import InstanceData
        rpn(x)
        results = []
        for sample in batch_data_samples:
            h, w = sample.metainfo['img_shape']
            i = torch.arange(count, device=x[0].device, dtype=torch.float32)
            cx, cy = (i * 0.618034 % 1) * w, (i * 0.414214 % 1) * h
            half = 8 + (i % 5) * 24  # 16..208 px boxes: every FPN level
            boxes = torch.stack([(cx - half).clamp(min=0),
                                 (cy - half).clamp(min=0),
                                 (cx + half).clamp(max=w),
                                 (cy + half).clamp(max=h)], dim=1)
            results.append(InstanceData(
                bboxes=boxes, scores=torch.ones_like(i),
                labels=torch.zeros_like(i, dtype=torch.long)))
        return results

    rpn.predict = predict
    try:
        yield count
    finally:
        del rpn.predict


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return re.sub(r'\s+', ' ', text[0])[:160] if text else ''
