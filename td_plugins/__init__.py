"""td_plugins: top-down attention methods (TDAM, TDAF, AW-convolution, TNet)
as plugins for mmdet, mmpose, mmaction2 and mmpretrain.

Use a module from any OpenMMLab 2.x config with::

    custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)
    model = dict(backbone=dict(type='td_plugins.<ClassName>', ...))

Importing the package also installs weights-only checkpoint loading
(:mod:`.utils.safe_checkpoint`), multi-flow SyncBN conversion
(:mod:`.utils.sync_norm`) and ``td_plugins::`` base configs
(:mod:`.utils.package_configs`); see docs/training.md and docs/packaging.md.
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
