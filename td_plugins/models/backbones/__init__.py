"""Backbones of td_plugins (registered in td_plugins.registry.MODELS)."""
from .tdaf_resnet import TDAFResNet
from .tdam_resnet import TDAMResNet
from .tdaf_resnet3d import TDAFResNet3d, tdaf_resnet3d_class

__all__ = ['TDAMResNet', 'TDAFResNet', 'TDAFResNet3d', 'tdaf_resnet3d_class']
