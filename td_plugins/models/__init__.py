"""Models of td_plugins; importing this registers every class.

This is the ``locations`` entry of :data:`td_plugins.registry.MODELS`, so
mmengine imports it by itself the first time a ``td_plugins.X`` name is
looked up. Modules that subclass a codebase (mmdet, mmpose, mmaction2,
mmpretrain) import that codebase lazily, so importing this needs only torch,
mmengine and mmcv.
"""
from ..registry import MODELS
from . import backbones, classifiers, heads, necks  # noqa: F401
from .layers import DownsampleFunction

# Pure layers stay free of OpenMMLab imports; they are registered here.
MODELS.register_module(module=DownsampleFunction)

__all__ = ['DownsampleFunction']
