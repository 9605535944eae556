"""Prepare a training checkpoint for a model zoo (mmdet's ``publish_model``).

    python tools/model_converters/publish_model.py IN_FILE OUT_FILE \\
        [--save-keys meta state_dict]

As mmdet 3.x's ``tools/model_converters/publish_model.py``: only the keys in
``--save-keys`` (default ``meta`` and ``state_dict``) are kept, so the
optimizer state, ``param_schedulers``, ``message_hub`` (and anything else the
runner wrote, e.g. ``ema_state_dict``) are dropped, and the file is saved as
``<OUT_FILE without .pth>-<first 8 hex digits of its sha256>.pth``, the
naming OpenMMLab model zoos use so that a download can be checked.

Differences from mmdet's script:

* the input is read with ``torch.load(weights_only=True)`` and the
  allow-list of :mod:`td_plugins.utils.safe_checkpoint` (mmengine's own
  objects only), so a checkpoint that would run code while unpickling is
  refused, not executed;
* ``meta['td_plugins_version']`` records the td_plugins version (beside
  mmengine's ``mmengine_version``);
* the written file is re-read with plain ``torch.load(weights_only=True)``
  (no allow-list) before it is named: a published checkpoint must load in a
  stock torch >= 2.6 without extra globals, and one that does not is
  refused with the reason;
* the sha256 is computed in Python (no ``sha256sum``/``mv`` subprocesses)
  and the file is saved in torch's default (zip) format.
"""
import argparse
import hashlib
import os
import pickle
from pathlib import Path
from typing import Any, Dict, Sequence

import torch

__all__ = ['DEFAULT_SAVE_KEYS', 'strip_checkpoint', 'process_checkpoint',
           'sha256_file', 'main']

DEFAULT_SAVE_KEYS = ('meta', 'state_dict')


def strip_checkpoint(checkpoint: Dict[str, Any],
                     save_keys: Sequence[str] = DEFAULT_SAVE_KEYS
                     ) -> Dict[str, Any]:
    """Keep only ``save_keys`` of a checkpoint dict and stamp the version.

    Args:
        checkpoint (dict): A loaded checkpoint (as mmengine's runner writes:
            ``meta``, ``state_dict``, ``optimizer``, ``param_schedulers``,
            ``message_hub``, ...).
        save_keys (Sequence[str]): Keys to keep. Defaults to
            ``('meta', 'state_dict')``.

    Returns:
        dict: A new dict with the kept keys (``meta`` copied, with
        ``td_plugins_version`` added when ``meta`` is kept).

    Raises:
        ValueError: If ``checkpoint`` is not a dict or has no
            ``state_dict``.

    Example:
        >>> import torch
        >>> ckpt = dict(meta=dict(epoch=1), state_dict={'w': torch.ones(1)},
        ...             optimizer={}, message_hub={})
        >>> sorted(strip_checkpoint(ckpt))
        ['meta', 'state_dict']
    """
    if not isinstance(checkpoint, dict):
        raise ValueError('checkpoint must be a dict as mmengine writes, got '
                         f'{type(checkpoint).__name__}')
    if 'state_dict' not in checkpoint:
        raise ValueError('checkpoint has no "state_dict" key (keys: '
                         f'{sorted(checkpoint)}); is it a runner checkpoint?')
    from td_plugins.version import __version__
    out = {k: checkpoint[k] for k in checkpoint if k in save_keys}
    if 'meta' in save_keys:
        meta = dict(checkpoint.get('meta') or {})
        meta['td_plugins_version'] = __version__
        out['meta'] = meta
    return out


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def process_checkpoint(in_file: str, out_file: str,
                       save_keys: Sequence[str] = DEFAULT_SAVE_KEYS) -> Path:
    """Strip ``in_file`` and save it as ``<out stem>-<sha256[:8]>.pth``.

    Args:
        in_file (str): The runner's checkpoint.
        out_file (str): Where to write; ``.pth`` is dropped from the name
            before the hash is appended.
        save_keys (Sequence[str]): Keys to keep. Defaults to
            ``('meta', 'state_dict')``.

    Returns:
        Path: The published file.

    Raises:
        pickle.UnpicklingError: If ``in_file`` needs more than tensors and
            mmengine's objects to load, or the stripped checkpoint does not
            load with plain ``torch.load(weights_only=True)``.

    Example:
        >>> process_checkpoint('work_dirs/x/iter_300.pth',
        ...                    'zoo/fcos_tdaf-r18.pth')  # doctest: +SKIP
        PosixPath('zoo/fcos_tdaf-r18-1a2b3c4d.pth')
    """
    from td_plugins.utils.safe_checkpoint import safe_torch_load
    checkpoint = strip_checkpoint(safe_torch_load(in_file), save_keys)
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.name[:-4] if out.name.endswith('.pth') else out.name
    tmp = out.with_name(f'.{stem}.publishing')
    try:
        torch.save(checkpoint, tmp)
        try:
            torch.load(tmp, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError as err:
            raise pickle.UnpicklingError(
                'the stripped checkpoint does not load with '
                'torch.load(weights_only=True); something under the kept '
                f'keys {sorted(checkpoint)} holds a non-tensor object: '
                f'{str(err).splitlines()[0]}') from None
        final = out.with_name(f'{stem}-{sha256_file(str(tmp))[:8]}.pth')
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def main(argv: Sequence[str] = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('in_file', help='input checkpoint filename')
    parser.add_argument('out_file', help='output checkpoint filename')
    parser.add_argument('--save-keys', nargs='+', type=str,
                        default=list(DEFAULT_SAVE_KEYS),
                        help='keys to keep in the published checkpoint')
    args = parser.parse_args(argv)
    final = process_checkpoint(args.in_file, args.out_file, args.save_keys)
    print(f'published {final}')
    return final


if __name__ == '__main__':
    main()
