"""Convert an official TDAM ResNet checkpoint to td_plugins' layout.

The official TDAM repository (Jaiswal, Fernando and Tan, ECCV 2022) releases
timm-based ``TD_ResNet`` checkpoints (docs/tdam.md, "Official checkpoints").
Their keys are torchvision/timm ResNet keys plus, in every TD block,

* ``RA_block.Ug_top_mlp.0.weight``, ``RA_block.Ug_bottom_mlp.0.weight`` and
  ``RA_block.Ug_mlp.0.weight`` (TDjoint), or ``RA_block.Ug_mlp.0.weight``
  and ``RA_block.Ug_mlp.2.weight`` (TDtop);
* per-step BNs ``bn1_1``, ``bn2_1``, ``bn3_1`` ... (the same names here).

``td_plugins.TDAMResNet`` names the attention ``td.top_fc``,
``td.bottom_fc`` and ``td.fuse``. The output is an mmpretrain checkpoint:
``backbone.*`` for the ResNet and ``head.fc.*`` for the classifier, usable as
``load_from`` of an ``ImageClassifier`` with ``td_plugins.TDAMResNet`` and a
``LinearClsHead``, or, via ``init_cfg=dict(type='Pretrained',
checkpoint=..., prefix='backbone.')``, as a detector's backbone weights.

    python tools/model_converters/tdam_official_to_td_plugins.py \\
        official.pth.tar out.pth [--ema]

Which weights. timm's ``CheckpointSaver`` stores the model under
``state_dict`` and, when trained with ``--model-ema``, the EMA copy under
``state_dict_ema``; the legacy ``main_train.py`` stores it under ``model``.
As timm's ``load_state_dict(use_ema=False)``, ``state_dict`` (else
``model``) is taken; ``--ema`` takes ``state_dict_ema`` and refuses a file
without one.

The input is read with ``torch.load(weights_only=True)`` and an allow-list
of exactly what the official savers pickle beyond tensors (their
``argparse.Namespace`` under ``args``; see
:func:`td_plugins.utils.tdam_official_safe_globals`); a checkpoint that
needs anything else (a planted ``os.system``, a custom class) is refused
with ``pickle.UnpicklingError`` before any of it runs.
"""
import argparse
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

import torch

from td_plugins.utils import safe_torch_load, tdam_official_safe_globals

__all__ = ['convert', 'load_official_checkpoint', 'main']

# Where the weights sit, in timm's load_state_dict order (use_ema=False).
_WRAPPERS = ('state_dict', 'model')


def load_official_checkpoint(path: Any) -> Any:
    """Read an official TDAM checkpoint weights-only.

    Args:
        path: A path or file-like object, as saved by timm's
            ``CheckpointSaver`` or the legacy ``main_train.py``.

    Returns:
        The loaded object (a dict).

    Raises:
        pickle.UnpicklingError: If the file pickles more than the official
            savers do (nothing in it has run).
    """
    return safe_torch_load(path, map_location='cpu',
                           extra_globals=tdam_official_safe_globals())


def _unwrap(checkpoint: Mapping,
            use_ema: bool = False) -> Dict[str, torch.Tensor]:
    if not isinstance(use_ema, bool):
        raise TypeError(f'use_ema must be True or False, got {use_ema!r}')
    if use_ema:
        if not isinstance(checkpoint.get('state_dict_ema'), Mapping):
            raise KeyError(
                'use_ema=True but the checkpoint has no state_dict_ema '
                f'(its keys: {sorted(map(str, checkpoint))}); it was not '
                'trained with --model-ema, convert without --ema')
        checkpoint = checkpoint['state_dict_ema']
    else:
        for key in _WRAPPERS:
            if isinstance(checkpoint.get(key), Mapping):
                checkpoint = checkpoint[key]
                break
    state = OrderedDict()
    for key, value in checkpoint.items():
        if not isinstance(value, torch.Tensor):
            continue
        state[key[len('module.'):] if key.startswith('module.') else key] = \
            value
    return state


def _attention_key(block: str, rest: str, joint: bool) -> str:
    """Map ``RA_block.<rest>`` of one block to ``td.<name>``."""
    table = ({'Ug_top_mlp.0.weight': 'top_fc.weight',
              'Ug_bottom_mlp.0.weight': 'bottom_fc.weight',
              'Ug_mlp.0.weight': 'fuse.weight'} if joint else
             {'Ug_mlp.0.weight': 'top_fc.weight',
              'Ug_mlp.2.weight': 'fuse.weight'})
    if rest not in table:
        raise KeyError(f'{block}.RA_block.{rest}: not a key of the official '
                       f'{"joint" if joint else "top"} TD module')
    return f'{block}.td.{table[rest]}'


def convert(checkpoint: Mapping,
            use_ema: bool = False) -> Dict[str, torch.Tensor]:
    """Official TD-ResNet state dict (or checkpoint) -> mmpretrain keys.

    Args:
        checkpoint (Mapping): The loaded official file: a state dict, or a
            dict holding one under ``state_dict`` (timm's saver) or
            ``model`` (legacy ``main_train.py``); ``module.`` prefixes are
            removed.
        use_ema (bool): Take ``state_dict_ema`` instead (refused if the
            checkpoint has none). Defaults to False, as timm's loader.

    Returns:
        dict: ``backbone.*`` and ``head.fc.*`` tensors.

    Example:
        >>> import torch
        >>> sd = {'layer3.0.RA_block.Ug_mlp.0.weight': torch.zeros(64, 1024,
        ...                                                        1, 1),
        ...       'layer3.0.RA_block.Ug_mlp.2.weight': torch.zeros(256, 64,
        ...                                                        1, 1),
        ...       'fc.weight': torch.zeros(1000, 2048)}
        >>> sorted(convert(sd))
        ['backbone.layer3.0.td.fuse.weight', \
'backbone.layer3.0.td.top_fc.weight', 'head.fc.weight']
    """
    state = _unwrap(checkpoint, use_ema)
    joint_blocks = {k.split('.RA_block.')[0] for k in state
                    if '.RA_block.Ug_top_mlp.' in k}
    out: Dict[str, torch.Tensor] = OrderedDict()
    for key, value in state.items():
        match = re.fullmatch(r'(layer\d+\.\d+)\.RA_block\.(.+)', key)
        if match:
            block, rest = match.groups()
            new = _attention_key(block, rest, block in joint_blocks)
            out['backbone.' + new] = value
        elif key.startswith('fc.'):
            out['head.' + key] = value
        else:
            out['backbone.' + key] = value
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official TDAM checkpoint')
    parser.add_argument('dst', help='output .pth (mmpretrain layout)')
    parser.add_argument('--ema', action='store_true',
                        help='convert state_dict_ema (the --model-ema '
                        'weights) instead of state_dict')
    args = parser.parse_args(argv)
    checkpoint = load_official_checkpoint(args.src)
    state = convert(checkpoint, use_ema=args.ema)
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': state,
                'meta': {'converted_from': Path(args.src).name,
                         'weights': 'state_dict_ema' if args.ema
                         else 'state_dict'}}, args.dst)
    n_td = sum('.td.' in k for k in state)
    print(f'wrote {args.dst}: {len(state)} tensors ({n_td} attention '
          f'weights)')


if __name__ == '__main__':
    main()
