"""Backbones of td_plugins (registered in td_plugins.registry.MODELS).

Those built on a codebase's class (mmaction2's ResNet3d, mmpretrain's
ConvNeXt and MobileNetV3) are imported only when the codebase is installed
(:func:`td_plugins.utils.codebases.import_if_available`).
"""
from ...utils.codebases import import_if_available
from .aw_resnet import AWResNet
from .bagnet import BagNet
from .tdaf_resnet import TDAFResNet
from .tdam_resnet import TDAMResNet

__all__ = ['AWResNet', 'TDAFResNet', 'TDAMResNet', 'BagNet']

if import_if_available('td_plugins.models.backbones.tdam_resnet3d', 'mmaction',
                       ['TDAMResNet3d']):
    from .tdam_resnet3d import TDAMResNet3d
    __all__ += ['TDAMResNet3d']
if import_if_available('td_plugins.models.backbones.tdam_convnext',
                       'mmpretrain', ['TDAMConvNeXt']):
    from .tdam_convnext import TDAMConvNeXt
    __all__ += ['TDAMConvNeXt']
if import_if_available('td_plugins.models.backbones.tdam_mobilenet_v3',
                       'mmpretrain', ['TDAMMobileNetV3']):
    from .tdam_mobilenet_v3 import TDAMMobileNetV3
    __all__ += ['TDAMMobileNetV3']

if import_if_available('td_plugins.models.backbones.tdaf_resnet3d', 'mmaction',
                       ['TDAFResNet3d']):
    from .tdaf_resnet3d import TDAFResNet3d
    __all__ += ['TDAFResNet3d']
