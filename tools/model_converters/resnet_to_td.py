"""Convert a torchvision or mmpretrain ResNet checkpoint into a TDAM, TDAF or
AW backbone checkpoint, with a report of exactly which keys changed hands.

The three backbones keep torchvision's ResNet parameter names
(``conv1``, ``bn1``, ``layer3.0.conv2.weight``, ...) and add their own:

* ``tdam`` -> ``td_plugins.TDAMResNet`` (Jaiswal et al., ECCV 2022; spec
  section 1): ``layerK.i.td.*`` and the per-step norms ``layerK.i.bnN_t``,
  which are initialised from their step-0 norm ``bnN``
  (:meth:`TDAMResNet.copy_step0_norms`), so the re-run convolutions are
  normalised like the first pass;
* ``tdaf`` -> ``td_plugins.TDAFResNet`` (Pang et al., AAAI 2021; spec
  section 2): ``r2dns.*`` (the ANARs); every BN is a multi-flow BN, which
  takes a plain BN's statistics into each flow. With ``zero_init_anar``
  (default) the converted network computes what the source ResNet computes;
* ``aw`` -> ``td_plugins.AWResNet`` (Zhu et al., ICANN 2021; docs/aw.md):
  the AW attention branch ``layerK.i.conv2.attn_*`` (and ``se.*`` /
  ``cbam.*`` with ``attention=...``); the shared kernel stays
  ``conv2.weight``.

Sources: torchvision (``conv1.weight``, ``layer1.0.bn1.weight``, ``fc.*``;
also timm's ResNets) and mmpretrain/mmdet checkpoints (``backbone.*``, and
``head.fc.*`` for a classifier); a ``state_dict``/``model`` wrapper and
``module.`` prefixes are removed, and ``normN`` is read as ``bnN`` (norm
names some codebases write). mmpretrain 1.2's ``ResNet`` itself writes the
torchvision names under ``backbone.``. Deep-stem variants (ResNetV1c/d,
``stem.*``) have no place in these backbones and are refused.

    python tools/model_converters/resnet_to_td.py resnet50.pth td.pth \\
        --target tdam --depth 50 [--src-format auto] [--prefix backbone.] \\
        [--keep-head] [--backbone-args td_mode=top num_steps=3]

Why a tool: loading the plain checkpoint through ``init_cfg`` also works
(the load report lists the new keys as missing), but it cannot initialise
TDAM's per-step norms from the loaded step-0 norms before training starts
(``step_norms_from_step0`` does that at init; this tool writes it into the
file), it does not say which source keys went unused, and an mmpretrain
classifier's ``head.fc`` needs renaming for ``load_from``.

The output is an mmpretrain-style checkpoint ``{'state_dict', 'meta'}``:
the whole target backbone (new keys with their initial values) under
``--prefix`` (default ``backbone.``) and, with ``--keep-head``, the source
classifier as ``head.fc.*``, so it serves as ``load_from`` of an
``ImageClassifier`` / detector config, or ``init_cfg=dict(type='Pretrained',
checkpoint=..., prefix='backbone.')`` of a backbone. The source is read
weights-only (``td_plugins.utils.safe_torch_load``).
"""
import argparse
import json
import re
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn

__all__ = ['TARGETS', 'ConversionReport', 'convert', 'infer_depth',
           'load_source', 'main', 'to_torchvision_keys']

# --target -> registered backbone
TARGETS = {'tdam': 'TDAMResNet', 'tdaf': 'TDAFResNet', 'aw': 'AWResNet'}
SRC_FORMATS = ('auto', 'torchvision', 'mmpretrain')
_WRAPPERS = ('state_dict', 'model', 'state_dict_ema')
_STEP_NORM = re.compile(r'^(.*\.bn\d)_\d+\.(\w+)$')


@dataclass
class ConversionReport:
    """Which keys changed hands (target keys without the output prefix).

    Attributes:
        filled: Target keys whose values come from the source.
        new: Target keys the source does not have (what the method adds:
            attention modules, per-step norms, ANARs), in state-dict order.
        derived: The subset of ``new`` initialised from a filled key
            (TDAM's per-step norms from their step-0 norm): new -> source.
        missing: Plain-ResNet keys of the target the source lacks (an
            incomplete source); a conversion with any is refused unless
            ``allow_missing``.
        unused: Source keys (as in the file) with no place in the output.
        head: Source keys written as ``head.fc.*`` (``keep_head``).
    """
    target: str
    depth: int
    src_format: str
    filled: List[str] = field(default_factory=list)
    new: List[str] = field(default_factory=list)
    derived: Dict[str, str] = field(default_factory=dict)
    missing: List[str] = field(default_factory=list)
    unused: List[str] = field(default_factory=list)
    head: List[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self, verbose: bool = False) -> str:
        """Human-readable report. Keys are grouped with their block/module
        indices as ``*`` (``layer*.*.td.fuse.weight  x8``) unless
        ``verbose``, which lists every key."""
        lines = [f'ResNet-{self.depth} ({self.src_format} layout) -> '
                 f'{self.target}: {len(self.filled)} keys filled, '
                 f'{len(self.new)} new ({len(self.derived)} of them '
                 f'initialised from step-0 norms), {len(self.missing)} '
                 f'missing, {len(self.unused)} source keys unused'
                 + (f', {len(self.head)} written as head.fc' if self.head
                    else '')]
        for title, keys in (('new', self.new), ('missing', self.missing),
                            ('unused', self.unused)):
            if not keys:
                continue
            lines.append(f'{title}:')
            if verbose:
                lines += [f'  {k}' + (f'  <- {self.derived[k]}'
                                      if k in self.derived else '')
                          for k in keys]
                continue
            groups: Dict[str, int] = OrderedDict()
            for key in keys:
                pattern = re.sub(r'(^|\.)\d+(?=\.)', r'\1*',
                                 re.sub(r'^layer\d', 'layer*', key))
                groups[pattern] = groups.get(pattern, 0) + 1
            lines += [f'  {p}  x{n}' for p, n in groups.items()]
        return '\n'.join(lines)


def load_source(path: str) -> Dict[str, torch.Tensor]:
    """A checkpoint's tensors, weights-only, unwrapped, no ``module.``."""
    from td_plugins.utils import safe_torch_load
    return unwrap(safe_torch_load(path))


def unwrap(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """The state dict inside ``checkpoint`` (tensors only)."""
    for key in _WRAPPERS:
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            checkpoint = checkpoint[key]
            break
    return OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in checkpoint.items() if isinstance(v, torch.Tensor))


def detect_format(state: Mapping[str, torch.Tensor]) -> str:
    """``'mmpretrain'`` when the keys carry ``backbone.``, else
    ``'torchvision'``."""
    return 'mmpretrain' if any(k.startswith('backbone.') for k in state) \
        else 'torchvision'


def _bn_names(key: str) -> str:
    return re.sub(r'(^|\.)norm(\d)\.', r'\1bn\2.', key)


def to_torchvision_keys(state: Mapping[str, torch.Tensor], src_format: str
                        ) -> Tuple[Dict[str, Tuple[str, torch.Tensor]],
                                   List[str]]:
    """Source keys in torchvision's ResNet layout.

    Returns:
        tuple: ``{torchvision key: (source key, tensor)}`` (``fc.*`` for
        the classifier) and the source keys that are no ResNet's (an mmdet
        neck, a data preprocessor, ...).
    """
    if src_format not in ('torchvision', 'mmpretrain'):
        raise ValueError(f'src_format must be one of {SRC_FORMATS}, got '
                         f'{src_format!r}')
    mapped: Dict[str, Tuple[str, torch.Tensor]] = OrderedDict()
    foreign: List[str] = []
    for key, value in state.items():
        if src_format == 'mmpretrain':
            if key.startswith('backbone.'):
                name = key[len('backbone.'):]
            elif key.startswith('head.fc.'):
                name = key[len('head.'):]
            else:
                foreign.append(key)
                continue
        else:
            name = key
        if name.startswith('stem.'):
            raise ValueError(
                f'{key}: a deep-stem ResNet (ResNetV1c/V1d) cannot be '
                f'converted; the TDAM/TDAF/AW backbones have the plain '
                f'7x7 stem (conv1, bn1)')
        mapped[_bn_names(name)] = (key, value)
    return mapped, foreign


def infer_depth(keys: Sequence[str]) -> int:
    """ResNet depth from torchvision keys (blocks per stage, conv3)."""
    from td_plugins.models.backbones.resnet_common import RESNET_ARCH
    blocks = [0, 0, 0, 0]
    for key in keys:
        match = re.match(r'layer([1-4])\.(\d+)\.', key)
        if match:
            stage, index = int(match.group(1)) - 1, int(match.group(2))
            blocks[stage] = max(blocks[stage], index + 1)
    kind = 'Bottleneck' if any('.conv3.' in k for k in keys) \
        else 'BasicBlock'
    for depth, (block, layers) in RESNET_ARCH.items():
        if block == kind and tuple(layers) == tuple(blocks):
            return depth
    raise ValueError(f'cannot infer the ResNet depth: {kind}s per stage '
                     f'{blocks} match none of {tuple(RESNET_ARCH)}; pass '
                     f'--depth')


def _plain_resnet_keys(depth: int) -> set:
    """State-dict keys of torchvision's ResNet-depth without ``fc`` (built
    on the meta device: names only)."""
    from torchvision.models import resnet as tv

    from td_plugins.models.backbones.resnet_common import RESNET_ARCH
    block, layers = RESNET_ARCH[depth]
    with torch.device('meta'):
        net = tv.ResNet(getattr(tv, block), list(layers))
    return {k for k in net.state_dict() if not k.startswith('fc.')}


def build_target(target: str, depth: int,
                 backbone_args: Optional[dict] = None) -> nn.Module:
    """The target backbone, built through the td_plugins registry."""
    if target not in TARGETS:
        raise ValueError(f'target must be one of {tuple(TARGETS)}, got '
                         f'{target!r}')
    from td_plugins.registry import MODELS
    # Scoped type: whatever default scope is current (mmpretrain, mmdet).
    return MODELS.build(dict(type=f'td_plugins.{TARGETS[target]}',
                             depth=depth, **(backbone_args or {})))


def _fits(src: torch.Tensor, dst: torch.Tensor) -> bool:
    """Equal shapes, or a plain BN statistic for a multi-flow BN (which
    has one leading flows axis more)."""
    return src.shape == dst.shape or (
        src.dim() + 1 == dst.dim() and src.shape == dst.shape[1:])


def convert(state: Mapping[str, torch.Tensor], target: str,
            depth: Optional[int] = None, src_format: str = 'auto',
            backbone_args: Optional[dict] = None, keep_head: bool = False,
            prefix: str = 'backbone.', allow_missing: bool = False,
            seed: int = 0
            ) -> Tuple[Dict[str, torch.Tensor], ConversionReport,
                       nn.Module]:
    """Convert a ResNet state dict into a ``target`` backbone's.

    Args:
        state (Mapping): The source state dict (see :func:`unwrap`).
        target (str): ``'tdam'``, ``'tdaf'`` or ``'aw'``.
        depth (int, optional): ResNet depth; inferred from the source when
            None. Defaults to None.
        src_format (str): ``'auto'``, ``'torchvision'`` or ``'mmpretrain'``.
            Defaults to ``'auto'``.
        backbone_args (dict, optional): Further arguments of the target
            backbone (``td_mode``, ``num_flows``, ``attention`` ...).
        keep_head (bool): Write the source's ``fc`` as ``head.fc.*``
            (converting a classifier); otherwise it is reported unused.
            Defaults to False.
        prefix (str): Prefix of the backbone keys in the output.
            Defaults to ``'backbone.'``.
        allow_missing (bool): Accept a source that lacks some plain-ResNet
            keys of the target (they keep their initial values and are
            reported as ``missing``). Defaults to False.
        seed (int): Seed of the new parameters' initialisation.
            Defaults to 0.

    Returns:
        tuple: The output state dict, the :class:`ConversionReport`, and
        the target backbone with the converted weights loaded.

    Example:
        >>> import torchvision
        >>> sd = torchvision.models.resnet18().state_dict()
        >>> out, report, _ = convert(sd, 'tdaf', backbone_args=dict(
        ...     num_flows=2))
        >>> report.unused, {k.split('.')[0] for k in report.new}
        (['fc.weight', 'fc.bias'], {'r2dns'})
    """
    if src_format == 'auto':
        src_format = detect_format(state)
    mapped, foreign = to_torchvision_keys(state, src_format)
    if depth is None:
        depth = infer_depth(list(mapped))
    torch.manual_seed(seed)
    model = build_target(target, depth, backbone_args)
    own = model.state_dict()
    report = ConversionReport(target=TARGETS[target], depth=depth,
                              src_format=src_format)
    head = {k: v for k, v in mapped.items() if k.startswith('fc.')}
    body = {k: v for k, v in mapped.items() if not k.startswith('fc.')}
    wrong = [f'{src} {tuple(t.shape)} -> {k} {tuple(own[k].shape)}'
             for k, (src, t) in body.items()
             if k in own and not _fits(t, own[k])]
    if wrong:
        raise ValueError(
            f'shapes do not match a {TARGETS[target]} of depth {depth} '
            f'(wrong --depth or --backbone-args?): ' + '; '.join(wrong[:5])
            + (f' ... ({len(wrong)} in all)' if len(wrong) > 5 else ''))
    load = OrderedDict((k, t) for k, (_, t) in body.items() if k in own)
    result = model.load_state_dict(load, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    report.filled = list(load)
    plain = _plain_resnet_keys(depth)
    for key in own:
        if key in load:
            continue
        (report.missing if key in plain else report.new).append(key)
    report.unused = foreign + [src for k, (src, _) in body.items()
                               if k not in own]
    if keep_head:
        report.head = [src for src, _ in head.values()]
    else:
        report.unused += [src for src, _ in head.values()]
    if report.missing and not allow_missing:
        raise ValueError(
            f'the source lacks {len(report.missing)} keys of a plain '
            f'ResNet-{depth} (e.g. {report.missing[:3]}); pass '
            f'allow_missing (--allow-missing) to keep their initial values')
    unused_body = [k for k in report.unused if k not in foreign and
                   not _is_head(k)]
    if unused_body:
        raise ValueError(
            f'{len(unused_body)} ResNet keys of the source have no place in '
            f'{TARGETS[target]}-{depth} (e.g. {unused_body[:3]}); is '
            f'--depth right?')
    if target == 'tdam':
        report.derived = _init_step_norms(model, report.new)
    out: Dict[str, torch.Tensor] = OrderedDict(
        (prefix + k, v) for k, v in model.state_dict().items())
    if keep_head:
        for k, (_, t) in head.items():
            out['head.' + k] = t
    return out, report, model


def _is_head(key: str) -> bool:
    return key.startswith('fc.') or key.startswith('head.fc.')


def _init_step_norms(model: nn.Module, new: List[str]) -> Dict[str, str]:
    """TDAM: per-step norms that the source did not fill start as copies
    of their step-0 norm; returns ``{per-step key: step-0 key}``."""
    new_set = set(new)
    step_keys = [k for k in new if _STEP_NORM.match(k)]
    everything = [k for k in model.state_dict() if _STEP_NORM.match(k)]
    if step_keys and len(step_keys) == len(everything):
        model.copy_step0_norms()  # the backbone's own helper
    else:  # some came from the source (a TDAM checkpoint): copy the rest
        own = model.state_dict()
        with torch.no_grad():
            for key in step_keys:
                own[key].copy_(own[_STEP_NORM.sub(r'\1.\2', key)])
    derived = {k: _STEP_NORM.sub(r'\1.\2', k) for k in step_keys}
    assert set(derived) <= new_set
    return derived


def main(argv: Optional[Sequence[str]] = None) -> ConversionReport:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='torchvision or mmpretrain checkpoint')
    parser.add_argument('dst', help='output .pth (mmpretrain layout)')
    parser.add_argument('--target', required=True, choices=tuple(TARGETS))
    parser.add_argument('--depth', type=int, default=None,
                        help='ResNet depth (default: from the source)')
    parser.add_argument('--src-format', default='auto', choices=SRC_FORMATS)
    parser.add_argument('--prefix', default='backbone.',
                        help="output key prefix of the backbone ('' for a "
                        "bare backbone state dict)")
    parser.add_argument('--keep-head', action='store_true',
                        help='write the source fc as head.fc.* (classifier)')
    parser.add_argument('--backbone-args', nargs='+', action=DictAction,
                        help='target backbone arguments, KEY=VALUE')
    parser.add_argument('--allow-missing', action='store_true')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--verbose', action='store_true',
                        help='list every key in the report')
    parser.add_argument('--report-json', default=None,
                        help='also write the report as JSON here')
    args = parser.parse_args(argv)
    state = load_source(args.src)
    out, report, model = convert(
        state, args.target, depth=args.depth, src_format=args.src_format,
        backbone_args=dict(args.backbone_args or {}),
        keep_head=args.keep_head, prefix=args.prefix,
        allow_missing=args.allow_missing, seed=args.seed)
    backbone = dict(type=f'td_plugins.{TARGETS[args.target]}',
                    depth=report.depth, **(args.backbone_args or {}))
    save_converted(out, report, args, 'resnet_to_td', backbone)
    return report


def save_converted(state: Mapping[str, torch.Tensor],
                   report: ConversionReport, args: argparse.Namespace,
                   converter: str, backbone: Any) -> None:
    """Write ``{'state_dict', 'meta'}`` to ``args.dst`` (the report and the
    backbone in ``meta``), print the report and, with ``--report-json``,
    write it as JSON too. Shared with ``inflate_2d_to_3d.py``."""
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': state,
                'meta': {'converted_from': Path(args.src).name,
                         'converter': converter, 'backbone': backbone,
                         'report': report.to_dict()}}, args.dst)
    print(report.summary(args.verbose))
    print(f'wrote {args.dst}: {len(state)} tensors, backbone {backbone}')
    if args.report_json:
        Path(args.report_json).write_text(json.dumps(report.to_dict(),
                                                     indent=1))


if __name__ == '__main__':
    main()
