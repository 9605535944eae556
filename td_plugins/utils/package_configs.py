"""``td_plugins::`` base configs: inherit the package's configs from anywhere.

mmengine 0.10.7 resolves ``_base_ = 'pkg::rel/path.py'`` only for the
packages in its table ``mmengine.config.utils.MODULE2PACKAGE`` (alias
``PKG2PROJECT``), as ``<installed package>/.mim/configs/rel/path.py``
(``Config._get_cfg_path``), and it stamps ``_scope_='pkg'`` on every
top-level dict with a ``type`` that such a base defines and that no deeper
base already scoped. :func:`install_package_configs`, called by
``import td_plugins``:

1. resolves ``td_plugins::rel/path.py`` to ``.mim/configs/rel/path.py``
   beside the imported ``td_plugins`` package: a copy in a wheel install,
   links to the checkout in an editable one (``setup.py``), or the
   checkout's ``configs/`` when it has no ``.mim`` yet. mmengine's own
   lookup (``get_installed_path``) would miss an editable install, whose
   distribution lives in site-packages and its code in the checkout;
2. gives such a base no scope, so it is parsed exactly like a base given
   by its file path. The ``_scope_='td_plugins'`` mmengine would stamp is
   right for ``mmdet::`` bases, not for ours: our configs are mmdet /
   mmpose / mmaction2 / mmpretrain configs, and e.g. a loop or a model
   built in the ``td_plugins`` scope looks ``FCOS`` or ``CrossEntropyLoss``
   up in our registry;
3. adds ``'td_plugins'`` to that table, so mmengine's helpers that check
   it (``mmengine.hub.get_config('td_plugins::...')``) accept the name.

mmengine parses ``_base_`` before ``custom_imports``, so this works only in
processes that import ``td_plugins`` before loading the config: our
``tools/train.py`` and ``tools/test.py`` (also as ``mim train/test
td_plugins``, which run the package's ``.mim/tools`` copies). See
docs/packaging.md for the codebases' own scripts.
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
