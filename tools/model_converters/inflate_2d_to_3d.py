"""Inflate a 2D backbone checkpoint into its 3D form, I3D-style, offline.

Carreira and Zisserman's inflation (I3D, CVPR 2017): each 2D kernel
``[O, I, h, w]`` is repeated over time to ``[O, I, t, h, w]`` and divided by
``t``, so that a clip that is constant in time gives, per frame, the 2D
network's response on that frame; norms and other tensors are copied.

=========================  ==============================================
2D source                  3D target (``--target``, default by source)
=========================  ==============================================
``td_plugins.TDAMResNet``  ``td_plugins.TDAMResNet3d`` (``tdam``)
``td_plugins.TDAFResNet``  ``td_plugins.TDAFResNet3d`` (``tdaf``)
plain ResNet               mmaction2's ``ResNet3d`` (``resnet``)
=========================  ==============================================

(also any plain torchvision/mmpretrain ResNet into ``tdam`` or ``tdaf``).
The ResNet part, TDAM's attention convs and its per-step norms are
inflated by the backbones' own code: ``init_weights`` of a ``ResNet3d``
built with ``pretrained=<2D file>, pretrained2d=True`` (mmaction2's
``inflate_weights``, which :class:`TDAMResNet3d` extends with the TD
modules and per-step norms, copying step-0 norms where the source has
none; docs/tdam.md and ``tdam_resnet3d.py``). What no backbone
inflates is done here: TDAF's ANARs (``r2dns.*``, Pang et al., AAAI 2021,
section 3.2), whose 3D form has cubic kernels, through the same
``_inflate_conv_params`` / ``_inflate_bn_params`` helpers. A transposed
convolution with temporal stride ``s`` gives each output frame ``t / s``
taps of its kernel, not ``t``, so its inflated kernel is divided by
``t / s`` (the ANARs' 4x4x4 stride-2 up-sampling: by 2), which keeps the
constant-clip property.

The constant-clip equality is exact for frames whose temporal receptive
field lies inside the clip: zero temporal padding changes the border
frames (as in any I3D network), and TDAF's flows see the clip at half the
frame rate.

    python tools/model_converters/inflate_2d_to_3d.py tdaf_r50.pth \\
        tdaf_r50_3d.pth [--target tdaf] [--config CONFIG] \\
        [--backbone-args conv1_kernel=(3,7,7) inflate=(1,1,1,1)]

The 3D backbone's arguments come from ``--config`` (its ``model.backbone``),
then ``--backbone-args``; TDAM's ``td_mode``, ``num_steps``,
``feedback_distance``, ``reduction``, ``td_blocks`` and TDAF's ``num_flows``
and ``anar`` default to what the 2D checkpoint holds. The report lists the
3D keys filled from the 2D checkpoint, the new ones (with those initialised
from step-0 norms), the missing plain-ResNet ones (refused unless
``--allow-missing``) and the unused 2D keys. The output is
``{'state_dict': backbone.*, 'meta'}``: ``load_from`` of a ``Recognizer3D``
config, or the backbone's ``pretrained`` with ``pretrained2d=False``.
"""
import argparse
import re
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from resnet_to_td import (  # noqa: E402
    ConversionReport,
    detect_format,
    infer_depth,
    load_source,
    save_converted,
    to_torchvision_keys,
)

__all__ = ['TARGETS', 'build_3d', 'infer_2d_args', 'inflate', 'main']

TARGETS = ('tdam', 'tdaf', 'resnet')
_NAMES = {'tdam': 'TDAMResNet3d', 'tdaf': 'TDAFResNet3d',
          'resnet': 'ResNet3d'}
# What the methods add to a plain ResNet3d (not "missing" when absent).
_ADDED = re.compile(r'(^r2dns\.|\.td\.|\.bn\d_\d+\.)')
_STEP_NORM = re.compile(r'^(.*)\.bn(\d)_\d+\.(\w+)$')
_ANAR_DEPTH = {0: 3, 1: 5, 2: 7}  # down convs -> ANAR depth


def source_kind(state: Mapping[str, torch.Tensor]) -> str:
    """``'tdam'``, ``'tdaf'`` or ``'resnet'`` from the 2D keys."""
    if any('.td.' in k for k in state):
        return 'tdam'
    if any(k.startswith('r2dns.') for k in state):
        return 'tdaf'
    return 'resnet'


def infer_2d_args(state: Mapping[str, torch.Tensor], kind: str) -> dict:
    """Structural arguments the 3D backbone needs to take every 2D tensor:
    depth, and TDAM's / TDAF's settings where the checkpoint has them."""
    args: Dict[str, Any] = {'depth': infer_depth(list(state))}
    if kind == 'tdaf':
        mean = state.get('bn1.running_mean')
        if mean is not None and mean.dim() == 2:
            args['num_flows'] = mean.shape[0]
        downs = {m.group(1) for k in state for m in
                 [re.match(r'r2dns\.anars\.0\.downs\.(\d+)\.', k)] if m}
        if any(k.startswith('r2dns.anars.0.') for k in state):
            args['anar'] = _ANAR_DEPTH[len(downs)]
    elif kind == 'tdam':
        blocks: List[List[int]] = [[], [], [], []]
        steps, convs = 1, set()
        for key in state:
            match = re.match(r'layer(\d)\.(\d+)\.td\.', key)
            if match:
                ids = blocks[int(match.group(1)) - 1]
                if int(match.group(2)) not in ids:
                    ids.append(int(match.group(2)))
            match = re.match(r'layer\d\.\d+\.bn(\d)_(\d+)\.', key)
            if match:
                convs.add(int(match.group(1)))
                steps = max(steps, int(match.group(2)) + 1)
        args['td_blocks'] = [sorted(ids) for ids in blocks]
        args['td_mode'] = 'joint' if any('.td.bottom_fc.' in k
                                         for k in state) else 'top'
        # m = number of convs re-run per step (their per-step norms); with
        # m = 0 there are none and T is not in the checkpoint.
        args['feedback_distance'] = len(convs)
        if convs:
            args['num_steps'] = steps
        top = next(v for k, v in state.items() if '.td.top_fc.' in k)
        args['reduction'] = top.shape[1] // top.shape[0]
    return args


def build_3d(target: str, args: dict) -> nn.Module:
    """The 3D backbone class of ``target`` built with ``args``."""
    if target == 'tdam':
        from td_plugins.models.backbones import TDAMResNet3d as cls
    elif target == 'tdaf':
        from td_plugins.models.backbones import TDAFResNet3d as cls
    elif target == 'resnet':
        from mmaction.models.backbones.resnet3d import ResNet3d as cls
    else:
        raise ValueError(f'target must be one of {TARGETS}, got {target!r}')
    return cls(**args)


class _Recorder:
    """Wraps a model's ``_inflate_conv_params`` / ``_inflate_bn_params``
    (instance attributes, so the class is untouched) and records which 3D
    keys each call filled from which 2D keys."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.names = {id(m): n for n, m in model.named_modules()}
        self.filled: Dict[str, str] = OrderedDict()  # 3D key -> 2D key
        self.conv = self._wrap(type(model)._inflate_conv_params)
        self.bn = self._wrap(type(model)._inflate_bn_params)

    def _wrap(self, helper):
        def recorded(module3d: nn.Module, state: Dict[str, torch.Tensor],
                     name2d: str, taken: List[str]) -> None:
            before = len(taken)
            helper(module3d, state, name2d, taken)
            name3d = self.names[id(module3d)]
            for key2d in taken[before:]:
                self.filled[f'{name3d}.{key2d[len(name2d) + 1:]}'] = key2d
        return recorded

    def __enter__(self) -> '_Recorder':
        self.model._inflate_conv_params = self.conv
        self.model._inflate_bn_params = self.bn
        return self

    def __exit__(self, *exc: Any) -> None:
        del self.model._inflate_conv_params
        del self.model._inflate_bn_params


def _inflate_anars(model: nn.Module, state: Dict[str, torch.Tensor],
                   rec: _Recorder) -> None:
    """TDAF: the 2D ANARs' convs, transposed convs and norms into the 3D
    ANARs (see the module docstring for the transposed convs)."""
    from td_plugins.models.layers import MultiFlowBatchNorm
    taken: List[str] = []
    for name, module in model.r2dns.named_modules():
        key = f'r2dns.{name}'
        if isinstance(module, (nn.Conv3d, nn.ConvTranspose3d)):
            weight = state.get(f'{key}.weight')
            shape = module.weight.shape
            if weight is None or weight.shape != shape[:2] + shape[3:]:
                continue
            rec.conv(module, state, key, taken)
            if isinstance(module, nn.ConvTranspose3d):
                with torch.no_grad():  # divide by t / s, not t
                    module.weight.mul_(module.stride[0])
        elif isinstance(module, (MultiFlowBatchNorm, nn.BatchNorm3d)):
            if all(f'{key}.{p}' in state and
                   state[f'{key}.{p}'].shape == v.shape
                   for p, v in module.named_parameters()):
                rec.bn(module, state, key, taken)


def _structural(kind: str, target: str, inferred: dict) -> dict:
    """The inferred 2D settings that apply to ``target``."""
    keep = {'depth'}
    if kind == target == 'tdaf':
        keep |= {'num_flows', 'anar'}
    if kind == target == 'tdam':
        keep |= {'td_blocks', 'td_mode', 'num_steps', 'feedback_distance',
                 'reduction'}
    return {k: v for k, v in inferred.items() if k in keep}


def inflate(state: Mapping[str, torch.Tensor], target: Optional[str] = None,
            backbone_args: Optional[dict] = None, src_format: str = 'auto',
            prefix: str = 'backbone.', allow_missing: bool = False,
            seed: int = 0
            ) -> Tuple[Dict[str, torch.Tensor], ConversionReport,
                       nn.Module]:
    """Inflate a 2D state dict into a 3D backbone.

    Args:
        state (Mapping): The 2D state dict (torchvision or ``backbone.``
            layout; a classifier's ``fc`` is reported unused).
        target (str, optional): ``'tdam'``, ``'tdaf'`` or ``'resnet'``;
            None takes the source's kind.
        backbone_args (dict, optional): 3D backbone arguments; they override
            those inferred from the 2D checkpoint.
        src_format (str): ``'auto'``, ``'torchvision'`` or ``'mmpretrain'``.
        prefix (str): Output key prefix. Defaults to ``'backbone.'``.
        allow_missing (bool): Accept plain-ResNet3d keys the source cannot
            fill. Defaults to False.
        seed (int): Seed of the new parameters' init. Defaults to 0.

    Returns:
        tuple: Output state dict, :class:`ConversionReport` (``filled``:
        3D keys; ``unused``: 2D keys), and the inflated backbone.
    """
    if src_format == 'auto':
        src_format = detect_format(state)
    mapped, foreign = to_torchvision_keys(state, src_format)
    state2d = OrderedDict((k, t) for k, (_, t) in mapped.items())
    origin = {k: src for k, (src, _) in mapped.items()}
    kind = source_kind(state2d)
    target = target or kind
    if target not in TARGETS:
        raise ValueError(f'target must be one of {TARGETS}, got {target!r}')
    if kind == 'tdaf' and target != 'tdaf' or \
            kind == 'tdam' and target != 'tdam':
        raise ValueError(f'a 2D {_NAMES[kind][:-2]} checkpoint inflates '
                         f'into target {kind!r}, got {target!r}')
    args = _structural(kind, target, infer_2d_args(state2d, kind))
    args.update(backbone_args or {})
    for key in ('pretrained', 'pretrained2d', 'type'):
        args.pop(key, None)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / 'weights2d.pth')
        torch.save(dict(state2d), path)
        model = build_3d(target, dict(args, pretrained=path,
                                      pretrained2d=True))
        with _Recorder(model) as rec:
            model.init_weights()  # the backbones' own inflation
            if target == 'tdaf':
                _inflate_anars(model, state2d, rec)
        model.pretrained = None
    own = list(model.state_dict())
    report = ConversionReport(target=type(model).__name__,
                              depth=args.get('depth', 50),
                              src_format=src_format)
    report.filled = [k for k in own if k in rec.filled]
    used = set(rec.filled.values())
    for key in own:
        if key in rec.filled:
            continue
        (report.new if _ADDED.search(key) else report.missing).append(key)
    report.unused = foreign + [origin[k] for k in state2d if k not in used]
    if report.missing and not allow_missing:
        raise ValueError(
            f'{len(report.missing)} keys of the 3D ResNet were not filled '
            f'from the 2D checkpoint (e.g. {report.missing[:3]}; wrong depth '
            f'or shapes?); pass allow_missing (--allow-missing) to keep '
            f'their initial values')
    report.derived = OrderedDict(
        (k, _STEP_NORM.sub(r'\1.conv\2.bn.\3', k)) for k in report.new
        if _STEP_NORM.match(k))
    out = OrderedDict((prefix + k, v) for k, v in model.state_dict().items())
    return out, report, model


def _config_backbone(config: str) -> Tuple[Optional[str], dict]:
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    backbone = dict(cfg.model.backbone)
    kind = str(backbone.pop('type', ''))
    target = next((t for t, n in _NAMES.items() if kind.endswith(n)), None)
    if target is None:
        raise ValueError(f'{config}: model.backbone.type {kind!r} is none '
                         f'of {tuple(_NAMES.values())}')
    return target, backbone


def main(argv: Optional[Sequence[str]] = None) -> ConversionReport:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='2D checkpoint (torchvision or '
                        'backbone.* layout)')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('--target', choices=TARGETS, default=None,
                        help='3D backbone (default: the source kind, or '
                        "the --config's)")
    parser.add_argument('--config', default=None,
                        help='take the 3D backbone settings from this '
                        "config's model.backbone")
    parser.add_argument('--backbone-args', nargs='+', action=DictAction,
                        help='3D backbone arguments, KEY=VALUE')
    parser.add_argument('--src-format', default='auto',
                        choices=('auto', 'torchvision', 'mmpretrain'))
    parser.add_argument('--prefix', default='backbone.')
    parser.add_argument('--allow-missing', action='store_true')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--verbose', action='store_true')
    parser.add_argument('--report-json', default=None)
    args = parser.parse_args(argv)
    from mmengine.logging import MMLogger

    import td_plugins  # noqa: F401 (safe checkpoint loader, registry)
    # mmaction's inflation logs every loaded file and tensor at INFO.
    MMLogger.get_instance('td_plugins_inflate', log_level='WARNING')
    target, backbone = args.target, {}
    if args.config:
        cfg_target, backbone = _config_backbone(args.config)
        target = target or cfg_target
    backbone.update(args.backbone_args or {})
    out, report, model = inflate(
        load_source(args.src), target, backbone, src_format=args.src_format,
        prefix=args.prefix, allow_missing=args.allow_missing,
        seed=args.seed)
    save_converted(out, report, args, 'inflate_2d_to_3d',
                   type(model).__name__)
    return report


if __name__ == '__main__':
    main()
