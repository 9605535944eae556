"""The demo datasets of ``tools/misc/make_demo_data.py``, one module each:
:mod:`.det` (mmdet), :mod:`.kpt` (mmpose), :mod:`.action` (mmaction2) and
:mod:`.cls` (mmpretrain), with what they share in :mod:`.common` and the
orchestration in :mod:`.build`."""
from . import action, build, cls, common, det, kpt
from .action import build_action
from .cls import build_cls
from .det import build_coco_det
from .kpt import build_coco_kpt

__all__ = ['action', 'build', 'build_action', 'build_cls', 'build_coco_det',
           'build_coco_kpt', 'cls', 'common', 'det', 'kpt']
