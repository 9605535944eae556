"""Runner parts of td_plugins: hooks and parameter schedulers (registered in
td_plugins.registry.HOOKS / PARAM_SCHEDULERS)."""
from .dist_bn import DistBNReduceHook, distribute_bn_stats
from .timm_schedule import TimmCosineLR, timm_cosine_lr

__all__ = ['DistBNReduceHook', 'TimmCosineLR', 'distribute_bn_stats',
           'timm_cosine_lr']
