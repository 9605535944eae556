"""Backbones of td_plugins (registered in td_plugins.registry.MODELS)."""
from .tdaf_resnet import TDAFResNet

__all__ = ['TDAFResNet']
