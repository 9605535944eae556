"""Backbones of td_plugins (registered in td_plugins.registry.MODELS).

Those built on a codebase's class (mmaction2's ResNet3d, mmpretrain's
ConvNeXt and MobileNetV3) are registered as factories that import the
codebase on first use.
"""
from .aw_resnet import AWResNet
from .bagnet import BagNet
from .tdaf_resnet import TDAFResNet
from .tdaf_resnet3d import TDAFResNet3d, tdaf_resnet3d_class
from .tdam_convnext import TDAMConvNeXt, tdam_convnext_class
from .tdam_mobilenet_v3 import TDAMMobileNetV3, tdam_mobilenet_v3_class
from .tdam_resnet import TDAMResNet
from .tdam_resnet3d import (TDAMResNet3d, td_block3d_classes,
                            tdam_resnet3d_class)

__all__ = ['AWResNet', 'TDAFResNet', 'TDAFResNet3d', 'TDAMConvNeXt',
           'TDAMMobileNetV3', 'TDAMResNet', 'TDAMResNet3d',
           'tdaf_resnet3d_class', 'tdam_convnext_class',
           'tdam_mobilenet_v3_class', 'tdam_resnet3d_class',
           'td_block3d_classes', 'BagNet']
