"""Load mmengine checkpoints with ``torch.load(weights_only=True)``.

Allow-lists exactly the types mmengine writes, only while it loads (see
docs/training.md, "Loading checkpoints weights-only").
"""
import argparse
import functools
import os.path as osp
import pickle
from typing import Any, Callable, List, Optional, Sequence

import torch

__all__ = ['install_checkpoint_loader', 'mmengine_safe_globals',
           'safe_torch_load', 'tdam_official_safe_globals']

_INSTALLED_FLAG = '_td_plugins_allow_listed'


def _numpy_globals() -> List[Any]:
    """The numpy callables and classes that pickled arrays and scalars use."""
    import numpy as np
    found: List[Any] = [np.ndarray, np.dtype]
    for mod_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            mod = __import__(mod_name, fromlist=['_reconstruct'])
        except ImportError:
            continue
        for name in ('_reconstruct', 'scalar'):
            fn = getattr(mod, name, None)
            if fn is not None:
                found.append((fn, f'{mod_name}.{name}'))
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [cls for name, cls in sorted(vars(dtypes).items())
                  if name.endswith('DType') and isinstance(cls, type)]
    return found


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``builtins.getattr`` returning only public ``HistoryBuffer`` methods."""
    from mmengine.logging.history_buffer import HistoryBuffer
    attr = vars(HistoryBuffer).get(name) if obj is HistoryBuffer else None
    if name.startswith('_') or not callable(attr):
        raise pickle.UnpicklingError(
            f'refused getattr({obj!r}, {name!r}) while loading a checkpoint: '
            'only public HistoryBuffer methods may be looked up')
    return getattr(HistoryBuffer, name)


@functools.lru_cache(maxsize=1)
def mmengine_safe_globals() -> tuple:
    """Everything beyond tensors that an mmengine training checkpoint holds.

    Returns:
        tuple: Entries for :func:`torch.serialization.safe_globals`.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    return tuple([HistoryBuffer] + _numpy_globals() +
                 [(_history_buffer_getattr, 'builtins.getattr')])


def tdam_official_safe_globals() -> tuple:
    """What the official TDAM scripts pickle beyond tensors and containers.

    Returns:
        tuple: Entries for ``safe_torch_load(..., extra_globals=...)``.
    """
    return (argparse.Namespace, )


def _allow_list(extra_globals: Sequence = ()) -> Any:
    """Context in which torch.load accepts what mmengine writes."""
    return torch.serialization.safe_globals(
        list(mmengine_safe_globals()) + list(extra_globals))


def safe_torch_load(file: Any, map_location: Any = 'cpu',
                    extra_globals: Sequence = ()) -> Any:
    """``torch.load`` with ``weights_only=True`` and mmengine's allow-list.

    Args:
        file: A path or a file-like object.
        map_location: As in :func:`torch.load`. Defaults to ``'cpu'``.
        extra_globals (Sequence): More entries to allow for this load only.

    Returns:
        The loaded object (``pickle.UnpicklingError`` if it needs more).

    Example:
        >>> import io, torch
        >>> buf = io.BytesIO(); torch.save({'w': torch.ones(2)}, buf)
        >>> _ = buf.seek(0)
        >>> safe_torch_load(buf)['w'].shape
        torch.Size([2])
    """
    try:
        with _allow_list(extra_globals):
            return torch.load(file, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(
            _refusal(file, err, extra_globals)) from None


def _refusal(file: Any, err: Exception, extra_globals: Sequence = ()) -> str:
    text = str(err)
    marker = 'WeightsUnpickler error:'
    reason = text[text.index(marker) + len(marker):] if marker in text \
        else text
    reason = reason.strip().split('\n')[0]
    allowed = ('the tensors, numpy values and HistoryBuffer objects that '
               'mmengine writes')
    if extra_globals:
        allowed += ' and ' + ', '.join(
            f'{g.__module__}.{g.__qualname__}' if isinstance(g, type)
            else str(g) for g in extra_globals)
    return (f'td_plugins refused to load checkpoint {file!s}: {reason} '
            f'It needs more than {allowed}, so unpickling it could run code '
            'from the file. Nothing in it was run.')


def _load_local(filename: str, map_location: Optional[Any]) -> Any:
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


def _allow_listed(loader: Callable) -> Callable:
    """Run another scheme's loader with the allow-list active."""

    @functools.wraps(loader)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with _allow_list():
            return loader(*args, **kwargs)

    setattr(wrapped, _INSTALLED_FLAG, True)
    return wrapped


def install_checkpoint_loader() -> bool:
    """Make mmengine load checkpoints weights-only with the allow-list.

    Returns:
        bool: Whether the loaders are (now) allow-listed.
    """
    if not hasattr(torch.serialization, 'safe_globals'):
        return False
    try:
        from mmengine.runner.checkpoint import CheckpointLoader
    except ImportError:
        return False
    local = CheckpointLoader._schemes.get('')
    if local is not None and getattr(local, _INSTALLED_FLAG, False):
        return True
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if prefix and not getattr(loader, _INSTALLED_FLAG, False):
            CheckpointLoader._schemes[prefix] = _allow_listed(loader)
    setattr(_load_local, _INSTALLED_FLAG, True)
    CheckpointLoader.register_scheme(prefixes='', loader=_load_local,
                                     force=True)
    return True
