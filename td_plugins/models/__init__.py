"""Models of td_plugins; importing this registers every class.

This is the ``locations`` entry of :data:`td_plugins.registry.MODELS`, so
mmengine imports it by itself the first time a ``td_plugins.X`` name is
looked up. Modules that subclass a codebase (mmdet, mmpose, mmaction2,
mmpretrain) import that codebase lazily, so importing this needs only torch,
mmengine and mmcv.
"""
from ..registry import MODELS
from . import backbones, classifiers, heads, losses, necks  # noqa: F401
from .layers import (
    ANAR,
    AWConv2d,
    DownsampleFunction,
    HalfScaleResidualGate,
    MultiFlowBatchNorm2d,
    MultiFlowBatchNorm3d,
    SyncMultiFlowBatchNorm,
    TopDownAttention,
)

# Pure layers stay free of OpenMMLab imports; they are registered here.
MODELS.register_module(module=DownsampleFunction)
MODELS.register_module(module=ANAR)
MODELS.register_module(module=HalfScaleResidualGate)
MODELS.register_module(module=TopDownAttention)
# AW-convolution as an mmcv conv layer:
# conv_cfg=dict(type='td_plugins.AWConv').
MODELS.register_module(name='AWConv', module=AWConv2d)
# Multi-flow BN as mmcv norm layers: norm_cfg=dict(type='td_plugins.MFBN2d').
MODELS.register_module(name='MFBN2d', module=MultiFlowBatchNorm2d)
MODELS.register_module(name='MFBN3d', module=MultiFlowBatchNorm3d)
# Its synchronised form (what sync_bn converts MFBN into), any input rank.
MODELS.register_module(name='SyncMFBN', module=SyncMultiFlowBatchNorm)

__all__ = ['ANAR', 'AWConv2d', 'DownsampleFunction', 'HalfScaleResidualGate',
           'MultiFlowBatchNorm2d', 'MultiFlowBatchNorm3d',
           'SyncMultiFlowBatchNorm', 'TopDownAttention']
