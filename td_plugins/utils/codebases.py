"""Modules that subclass an OpenMMLab codebase, imported only when it is there.

A module such as ``td_plugins/models/necks/aw_fpn.py`` imports mmdet at its
top and defines its classes at module level, registered in
:data:`td_plugins.registry.MODELS`. Its package imports it through
:func:`import_if_available`, so ``import td_plugins`` works without the
codebase; the class names are then registered as builders that fail with
the package to install (docs/architecture.md, "Codebase modules").
"""
import importlib
import importlib.util
from typing import Any, Dict, Optional, Sequence

__all__ = ['available', 'import_if_available']

# The distribution to install for each import name.
DISTRIBUTIONS = {'mmdet': 'mmdet', 'mmpose': 'mmpose',
                 'mmaction': 'mmaction2', 'mmpretrain': 'mmpretrain'}


def available(codebase: str) -> bool:
    """Whether ``codebase`` (an import name, e.g. ``'mmdet'``) is installed.

    Example:
        >>> available('mmdet')  # installed by ``make setup``
        True
    """
    if codebase not in DISTRIBUTIONS:
        raise ValueError(f'codebase must be one of {sorted(DISTRIBUTIONS)}, '
                         f'got {codebase!r}')
    try:
        return importlib.util.find_spec(codebase) is not None
    except (ImportError, ValueError):
        return False


def import_if_available(module: str, codebase: str, names: Sequence[str],
                        registry: Optional[Any] = None) -> Optional[Any]:
    """Import ``module`` when ``codebase`` is installed, else register each
    of ``names`` as a builder that raises an ``ImportError`` naming it.

    Args:
        module (str): Absolute module name that defines and registers
            ``names`` (e.g. ``'td_plugins.models.necks.aw_fpn'``).
        codebase (str): Import name of the codebase it subclasses, one of
            ``mmdet``, ``mmpose``, ``mmaction``, ``mmpretrain``.
        names (Sequence[str]): The registry names the module defines.
        registry (Registry, optional): Where ``names`` live; defaults to
            :data:`td_plugins.registry.MODELS`.

    Returns:
        The imported module, or None when the codebase is missing.
    """
    if available(codebase):
        return importlib.import_module(module)
    if registry is None:
        from ..registry import MODELS as registry
    for name in names:
        registry.register_module(name=name, module=_missing(name, codebase))
    return None


def _missing(name: str, codebase: str):
    def build(*args: Any, **kwargs: Dict[str, Any]) -> None:
        raise ImportError(
            f'td_plugins.{name} subclasses {codebase}, which is not '
            f'installed: pip install {DISTRIBUTIONS[codebase]} (or '
            f'`make setup`)')
    build.__name__ = name
    return build
