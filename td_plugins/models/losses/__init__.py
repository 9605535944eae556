"""Losses of td_plugins (registered in td_plugins.registry.MODELS)."""
from .tnet_loss import TNetLoss

__all__ = ['TNetLoss']
