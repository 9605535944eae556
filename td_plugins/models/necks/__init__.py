"""Necks of td_plugins (registered in td_plugins.registry.MODELS)."""
from .aw_fpn import AW_FPN_ATTENTIONS, AWFPN, aw_fpn_class

__all__ = ['AWFPN', 'AW_FPN_ATTENTIONS', 'aw_fpn_class']
