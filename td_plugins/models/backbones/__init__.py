"""Backbones of td_plugins (registered in td_plugins.registry.MODELS).

Those built on a codebase's class (mmaction2's ResNet3d, mmpretrain's
ConvNeXt and MobileNetV3) are registered as factories that import the
codebase on first use.
"""
from ...utils.codebases import import_if_available
from .aw_resnet import AWResNet
from .bagnet import BagNet
from .tdaf_resnet import TDAFResNet
from .tdam_convnext import TDAMConvNeXt, tdam_convnext_class
from .tdam_mobilenet_v3 import TDAMMobileNetV3, tdam_mobilenet_v3_class
from .tdam_resnet import TDAMResNet
from .tdam_resnet3d import (TDAMResNet3d, td_block3d_classes,
                            tdam_resnet3d_class)

__all__ = ['AWResNet', 'TDAFResNet', 'TDAMConvNeXt',
           'TDAMMobileNetV3', 'TDAMResNet', 'TDAMResNet3d',
           'tdam_convnext_class',
           'tdam_mobilenet_v3_class', 'tdam_resnet3d_class',
           'td_block3d_classes', 'BagNet']

if import_if_available('td_plugins.models.backbones.tdaf_resnet3d', 'mmaction',
                       ['TDAFResNet3d']):
    from .tdaf_resnet3d import TDAFResNet3d
    __all__ += ['TDAFResNet3d']
