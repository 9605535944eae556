"""Heads of td_plugins (registered in td_plugins.registry.MODELS)."""
from .tdaf_heatmap_head import TDAFHeatmapHead, tdaf_heatmap_head_class

__all__ = ['TDAFHeatmapHead', 'tdaf_heatmap_head_class']
