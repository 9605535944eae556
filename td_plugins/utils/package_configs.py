"""``td_plugins::`` base configs: inherit the package's configs from anywhere.

Resolved beside the imported package and parsed unscoped, for processes
that import td_plugins first (docs/packaging.md, "Inherit a td_plugins
config from your own folder").
"""
import os.path as osp
from typing import Callable, Optional, Tuple

__all__ = ['PACKAGE', 'package_config_path', 'install_package_configs']

PACKAGE = 'td_plugins'
_MARK = '_td_plugins_package_configs'


def package_config_path(cfg_path: str) -> str:
    """The file of ``'td_plugins::<path under configs/>'``."""
    prefix = PACKAGE + '::'
    if not cfg_path.startswith(prefix):
        raise ValueError(f'expected {prefix}<path under configs/>, got '
                         f'{cfg_path!r}')
    import td_plugins
    package = osp.dirname(osp.abspath(td_plugins.__file__))
    root = osp.join(package, '.mim', 'configs')
    if not osp.isdir(root):
        # A checkout imported without (re)installing: its own configs/.
        checkout = osp.join(osp.dirname(package), 'configs')
        if osp.isdir(checkout):
            root = checkout
    path = osp.join(root, cfg_path[len(prefix):])
    if not osp.isfile(path):
        hint = ('' if osp.isdir(root) else
                f' ({root} is missing: install td_plugins with pip, see '
                'docs/packaging.md)')
        raise FileNotFoundError(f'{cfg_path}: no file {path}{hint}')
    return path


def _with_package_configs(get_cfg_path: Callable) -> Callable:
    """Wrap ``Config._get_cfg_path`` to resolve our bases, unscoped."""

    def _get_cfg_path(cfg_path: str,
                      filename: str) -> Tuple[str, Optional[str]]:
        if cfg_path.startswith(PACKAGE + '::'):
            return package_config_path(cfg_path), None
        return get_cfg_path(cfg_path, filename)

    setattr(_get_cfg_path, _MARK, True)
    _get_cfg_path.__wrapped__ = get_cfg_path  # type: ignore[attr-defined]
    _get_cfg_path.__doc__ = get_cfg_path.__doc__
    return _get_cfg_path


def install_package_configs() -> None:
    """Make ``_base_ = 'td_plugins::...'`` resolve; safe to call again."""
    from mmengine.config import utils as config_utils
    from mmengine.config.config import Config

    config_utils.MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    current = Config._get_cfg_path
    if not getattr(current, _MARK, False):
        Config._get_cfg_path = staticmethod(_with_package_configs(current))
