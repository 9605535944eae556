"""Heads of td_plugins (registered in td_plugins.registry.MODELS)."""
from ...utils.codebases import import_if_available

__all__ = []

if import_if_available('td_plugins.models.heads.tdaf_heatmap_head', 'mmpose',
                       ['TDAFHeatmapHead']):
    from .tdaf_heatmap_head import TDAFHeatmapHead
    __all__ += ['TDAFHeatmapHead']
