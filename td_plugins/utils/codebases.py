"""Codebase modules imported only when installed (docs/architecture.md)."""
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
    """Import ``module`` if ``codebase`` is installed, else stub its ``names``.

    Each stub in ``registry`` (default ``MODELS``) raises an ``ImportError``
    naming ``codebase``. Returns the module, or None.
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
