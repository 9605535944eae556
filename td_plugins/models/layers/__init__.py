"""Pure-PyTorch layers, one idea per file, free of OpenMMLab imports.

Backbones, necks, heads and classifiers compose these; the registered names
are added in :mod:`td_plugins.models`.
"""
from .downsample import DownsampleFunction

__all__ = ['DownsampleFunction']
