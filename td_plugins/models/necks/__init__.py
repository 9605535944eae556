"""Necks of td_plugins (registered in td_plugins.registry.MODELS)."""
from ...utils.codebases import import_if_available
from .aw_fpn_args import AW_FPN_ATTENTIONS

__all__ = ['AW_FPN_ATTENTIONS']

if import_if_available('td_plugins.models.necks.aw_fpn', 'mmdet', ['AWFPN']):
    from .aw_fpn import AWFPN
    __all__ += ['AWFPN']
