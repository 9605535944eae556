"""Utilities: safe checkpoint loading and the launcher's config handling."""
from .safe_checkpoint import (install_checkpoint_loader,
                              mmengine_safe_globals, safe_torch_load)

__all__ = ['install_checkpoint_loader', 'mmengine_safe_globals',
           'safe_torch_load']
