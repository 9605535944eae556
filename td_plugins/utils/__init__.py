"""Utilities: safe checkpoint loading, the launcher's config handling and
building a config's model for the tools."""
from .config_model import build_from_config, load_config
from .safe_checkpoint import (install_checkpoint_loader,
                              mmengine_safe_globals, safe_torch_load)

__all__ = ['build_from_config', 'install_checkpoint_loader', 'load_config',
           'mmengine_safe_globals', 'safe_torch_load']
