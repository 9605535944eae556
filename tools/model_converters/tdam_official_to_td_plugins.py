"""Convert an official TDAM ResNet checkpoint to td_plugins' layout.

The official TDAM repository (Jaiswal, Fernando and Tan, ECCV 2022) releases
timm-based ``TD_ResNet`` checkpoints (``shared/spec/methods.md`` sections 1.1,
1.2). Their keys are torchvision/timm ResNet keys plus, in every TD block,

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
        official.pth.tar out.pth

The input is read with ``torch.load(weights_only=True)``; a checkpoint that
needs arbitrary unpickling is refused rather than executed.
"""
import argparse
import re
from collections import OrderedDict
from pathlib import Path
from typing import Dict, Mapping

import torch

__all__ = ['convert', 'main']

_WRAPPERS = ('state_dict_ema', 'state_dict', 'model')


def _unwrap(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    for key in _WRAPPERS:
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
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


def convert(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """Official TD-ResNet state dict (or checkpoint) -> mmpretrain keys.

    Args:
        checkpoint (Mapping): The loaded official file: a state dict, or a
            dict holding one under ``state_dict_ema``/``state_dict``/
            ``model``; ``module.`` prefixes are removed.

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
    state = _unwrap(checkpoint)
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official TDAM checkpoint')
    parser.add_argument('dst', help='output .pth (mmpretrain layout)')
    args = parser.parse_args(argv)
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    state = convert(checkpoint)
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': state,
                'meta': {'converted_from': Path(args.src).name}}, args.dst)
    n_td = sum('.td.' in k for k in state)
    print(f'wrote {args.dst}: {len(state)} tensors ({n_td} attention '
          f'weights)')


if __name__ == '__main__':
    main()
