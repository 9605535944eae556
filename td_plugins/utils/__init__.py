"""Utilities: safe checkpoint loading, the launcher's config handling,
building a config's model for the tools, and SyncBN conversion of TDAF's
multi-flow BN."""
from .config_model import build_from_config, load_config
from .safe_checkpoint import (
    install_checkpoint_loader,
    mmengine_safe_globals,
    safe_torch_load,
    tdam_official_safe_globals,
)
from .sync_norm import convert_sync_multi_flow_bn, install_sync_norm

__all__ = ['build_from_config', 'convert_sync_multi_flow_bn',
           'install_checkpoint_loader', 'install_sync_norm', 'load_config',
           'mmengine_safe_globals', 'safe_torch_load',
           'tdam_official_safe_globals']
