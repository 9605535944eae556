"""A config's model with a dummy input of the task's usual size, and its MACs.

Used by ``get_flops.py``, ``benchmark.py`` and ``make_metafiles.py``;
docs/flops.md, "The dummy input".
"""
import contextlib
import inspect
import math
import re
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

import torch
from torch import nn

from .flops import ModelComplexity, count_complexity

__all__ = ['build_model', 'config_complexity', 'det_data_samples',
           'fixed_proposals', 'full_count_options', 'make_inputs',
           'parse_shape', 'standard_input_shape']

_SCOPES = ('mmpretrain', 'mmdet', 'mmpose', 'mmaction')


def parse_shape(values: Sequence[int]) -> Tuple[int, ...]:
    """``--shape``: ``S`` or ``(H, W)``, ``(C, H, W)``, ``(C, T, H, W)``.

    Example:
        >>> parse_shape([224]), parse_shape([3, 16, 112, 112])
        ((224, 224), (3, 16, 112, 112))
    """
    values = tuple(int(v) for v in values)
    if not 1 <= len(values) <= 4 or min(values) < 1:
        raise ValueError('shape must be 1 to 4 positive numbers (S | H W | '
                         f'C H W | C T H W), got {values}')
    return values * 2 if len(values) == 1 else values


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
    """The validation pipeline, else the test pipeline."""
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
    """``(shape, description)``: the shape FLOPs are usually quoted at.

    Classification: the evaluation crop (CIFAR 32x32); detection: 1333x800,
    padded; pose: the codec's input size; video: one validation clip.
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


def full_count_options(model: nn.Module) -> Dict[str, bool]:
    """``{'model.<name>.pool_early_tops': False}`` per module skipping work.

    Example:
        >>> full_count_options(nn.Sequential(nn.Conv2d(3, 8, 1)))
        {}
    """
    options = {}
    for name, child in model.named_children():
        takes = 'pool_early_tops' in inspect.signature(
            type(child).__init__).parameters
        if takes and any(getattr(m, 'pool_early_tops', False) is True
                         for m in child.modules()):
            options[f'model.{name}.pool_early_tops'] = False
    return options


def build_model(cfg, device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` in eval mode on ``device``, without weights."""
    from mmengine.model import revert_sync_batchnorm

    from .config_model import build_from_config
    _scope(cfg)  # one of the four codebases
    model = revert_sync_batchnorm(build_from_config(cfg))
    return model.to(device).eval()


def make_inputs(cfg, model: nn.Module, shape: Sequence[int],
                device: str = 'cpu') -> Tuple[tuple, dict]:
    """Positional and keyword arguments of one ``model(..., mode='tensor')``.

    ``shape`` is ``(H, W)``, ``(C, H, W)`` or, for a video, ``(C, T, H, W)``.
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
        return (x, det_data_samples(1, (h, w))), dict(mode='tensor')
    if scope == 'mmpose':
        return (x, None), dict(mode='tensor')
    return (x, ), dict(mode='tensor')


def det_data_samples(batch: int, img_shape: Sequence[int],
                     pad_shape: Optional[Sequence[int]] = None) -> list:
    """``batch`` mmdet data samples for a ``mode='tensor'`` forward.

    Args:
        batch (int): Number of samples.
        img_shape (Sequence[int]): ``(h, w)`` of the image.
        pad_shape (Sequence[int], optional): ``(H, W)`` after padding.
            Defaults to ``img_shape``.
    """
    from mmdet.structures import DetDataSample
    shape = tuple(int(s) for s in img_shape)
    padded = tuple(int(s) for s in pad_shape) if pad_shape else shape
    meta = dict(img_shape=shape, ori_shape=shape, pad_shape=padded,
                batch_input_shape=padded, scale_factor=(1.0, 1.0))
    return [DetDataSample(metainfo=dict(meta)) for _ in range(batch)]


def config_complexity(config: Any, shape: Optional[Sequence[int]] = None,
                      device: str = 'auto', elementwise: bool = True,
                      cfg_options: Optional[dict] = None
                      ) -> ModelComplexity:
    """MACs and parameters (``ModelComplexity``) of a config's model.

    Args:
        config: A config path or an ``mmengine.Config``.
        shape (Sequence[int], optional): See :func:`parse_shape`; defaults
            to :func:`standard_input_shape`.
        device (str): ``'auto'`` (default: ``'meta'``, else the CPU),
            ``'meta'``, ``'cpu'`` or ``'cuda'``.
        elementwise (bool): Count element-wise products. Defaults to True.
        cfg_options (dict, optional): Merged into the config first.
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
            with fixed_proposals(model) as proposals:
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
        result.full_count_options = full_count_options(model)
        return result
    raise AssertionError('unreachable')  # pragma: no cover


@contextlib.contextmanager
def fixed_proposals(model: nn.Module) -> Iterator[int]:
    """Make a two-stage detector's RPN pass ``max_per_img`` fixed proposals.

    Yields:
        int: The number of proposals per image; 0 for any other model.

    Example:
        >>> with fixed_proposals(nn.Identity()) as count:
        ...     count
        0
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
