"""td_plugins: top-down attention methods (TDAM, TDAF, AW-convolution, TNet)
as plugins for mmdet, mmpose, mmaction2 and mmpretrain.

Use a module from any OpenMMLab 2.x config with::

    custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)
    model = dict(backbone=dict(type='td_plugins.<ClassName>', ...))

Importing the package also makes mmengine load checkpoints with
``torch.load(weights_only=True)`` and an allow-list of exactly the types
mmengine writes (see :mod:`td_plugins.utils.safe_checkpoint`), and makes
mmengine's ``convert_sync_batchnorm`` (the Runner's ``sync_bn``) and torch's
``nn.SyncBatchNorm.convert_sync_batchnorm`` turn TDAF's multi-flow BN into
its synchronised form instead of a one-flow ``nn.SyncBatchNorm`` (see
:mod:`td_plugins.utils.sync_norm`), and lets configs inherit the installed
package's configs as ``_base_ = 'td_plugins::<path under configs/>'`` (see
:mod:`td_plugins.utils.package_configs` and docs/packaging.md).
"""
from .utils.safe_checkpoint import install_checkpoint_loader
from .version import __version__

install_checkpoint_loader()

from .registry import MODELS  # noqa: E402
from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .utils.sync_norm import install_sync_norm  # noqa: E402

install_sync_norm()

from .utils.package_configs import install_package_configs  # noqa: E402

install_package_configs()

__all__ = ['MODELS', '__version__']
