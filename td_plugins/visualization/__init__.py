"""Drawing the attention of td_plugins models (needs OpenCV)."""
from .attention import (
    AWRecorder,
    attention_panels,
    aw_group,
    collect_maps,
    detect_methods,
    tdam_maps,
)
from .drawing import (
    Panel,
    add_title,
    colour_overlay,
    overlay_panel,
    panel_row,
    stack_rows,
)
from .inputs import prepare_input, spatial_map, tensor_data_samples
from .tdaf import recorded_masks, tdaf_maps
from .tnet import (
    LEVEL_COLOURS,
    draw_regions,
    is_tnet,
    level_colour,
    tnet_panels,
)

__all__ = [
    'AWRecorder', 'LEVEL_COLOURS', 'Panel', 'add_title', 'attention_panels',
    'aw_group', 'collect_maps', 'colour_overlay', 'detect_methods',
    'draw_regions', 'is_tnet', 'level_colour', 'overlay_panel', 'panel_row',
    'prepare_input', 'recorded_masks', 'spatial_map', 'stack_rows',
    'tdaf_maps', 'tdam_maps', 'tensor_data_samples', 'tnet_panels'
]
