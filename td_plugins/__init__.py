"""td_plugins: top-down attention (TDAM, TDAF, AW, TNet) for OpenMMLab 2.x.

Use with ``custom_imports = dict(imports=['td_plugins'])`` and
``type='td_plugins.<ClassName>'`` (docs/architecture.md, "The registry").
"""
from .utils.safe_checkpoint import install_checkpoint_loader
from .version import __version__

install_checkpoint_loader()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .registry import MODELS  # noqa: E402
from .utils.sync_norm import install_sync_norm  # noqa: E402

install_sync_norm()

from .utils.package_configs import install_package_configs  # noqa: E402

install_package_configs()

__all__ = ['MODELS', '__version__']
