"""TDAM's any-step accuracy (Jaiswal et al., ECCV 2022, section 4.1)."""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from ..registry import METRICS
from .any_step import (
    any_step_correct,
    cam_boxes,
    check_localisation,
    filter_steps_by_iou,
)

__all__ = ['AnyStepAccuracy']


@METRICS.register_module()
class AnyStepAccuracy(BaseMetric):
    """Standard final-step top-k and TDAM's any-of-T IoU-filtered top-k.

    Args:
        topk (Sequence[int]): Defaults to (1, 5).
        iou_thr (float): Merge above this IoU. Defaults to 0.5.
        localisation (str): ``'official'`` (default) or ``'simple'``.
        cam_threshold (float): Official ``threshold_ratio``. Defaults to 0.15.
        collect_device, prefix: As ``BaseMetric``; prefix ``'tdam'``.

    Example:
        >>> metric = AnyStepAccuracy(topk=(1, ))
        >>> cams = torch.zeros(2, 7, 7)  # each step's CAM, layer4's size
        >>> cams[0, 1, 1] = cams[1, 5, 5] = 1.0  # two places
        >>> metric.process({}, [dict(
        ...     gt_label=torch.tensor([1]), pred_score=torch.tensor([.6, .4]),
        ...     tdam_step_scores=torch.tensor([[0.3, 0.7], [0.6, 0.4]]),
        ...     tdam_step_cams=cams, tdam_input_size=(64, 64))])
        >>> metric.compute_metrics(metric.results)
        {'final_step/top1': 0.0, 'any_step_iou_filtered/top1': 100.0}
    """

    def __init__(self, topk: Sequence[int] = (1, 5), iou_thr: float = 0.5,
                 localisation: str = 'official', cam_threshold: float = 0.15,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'tdam') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not topk or not all(isinstance(k, int) and k >= 1 for k in topk):
            raise ValueError(f'topk must be positive integers, got {topk!r}')
        if not 0.0 <= iou_thr <= 1.0:
            raise ValueError(f'iou_thr must be in [0, 1], got {iou_thr!r}')
        check_localisation(localisation)
        if not 0.0 <= cam_threshold < 1.0:
            raise ValueError(f'cam_threshold must be in [0, 1), got '
                             f'{cam_threshold!r}')
        self.topk = tuple(topk)
        self.iou_thr = iou_thr
        self.localisation = localisation
        self.cam_threshold = cam_threshold

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            missing = [k for k in ('tdam_step_scores', 'tdam_step_cams',
                                   'tdam_input_size') if k not in sample]
            if missing:
                raise KeyError(
                    f'AnyStepAccuracy needs {", ".join(missing)} in the '
                    f'predictions: '
                    f'use model=dict(type="td_plugins.TDAMClassifier", ...) '
                    f'with a TDAM backbone')
            label = int(torch.as_tensor(sample['gt_label']).flatten()[0])
            final = torch.as_tensor(sample['pred_score']).cpu()[None]
            boxes = cam_boxes(torch.as_tensor(sample['tdam_step_cams']),
                              tuple(sample['tdam_input_size']),
                              self.cam_threshold, self.localisation)
            steps = filter_steps_by_iou(
                torch.as_tensor(sample['tdam_step_scores']).cpu(), boxes,
                self.iou_thr)
            self.results.append(
                (any_step_correct(final, label, self.topk),
                 any_step_correct(steps, label, self.topk)))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        n = max(len(results), 1)
        out = {}
        for i, k in enumerate(self.topk):
            out[f'final_step/top{k}'] = 100.0 * sum(
                r[0][i] for r in results) / n
        for i, k in enumerate(self.topk):
            out[f'any_step_iou_filtered/top{k}'] = 100.0 * sum(
                r[1][i] for r in results) / n
        return out
