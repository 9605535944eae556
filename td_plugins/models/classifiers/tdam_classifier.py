"""``td_plugins.TDAMClassifier``: mmpretrain's ``ImageClassifier`` that also
predicts TDAM's per-step outputs for the paper's evaluation protocol.

Jaiswal, Fernando and Tan, "TDAM" (ECCV 2022), section 4; official
``validate_over_iou``. The per-step fields, the backbones it takes and the
settings it refuses: docs/tdam.md, "Evaluation".
"""
from typing import Any, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.models.necks import GlobalAveragePooling

from ...evaluation.any_step import cam_boxes, class_activation_maps
from ...registry import MODELS

__all__ = ['TDAMClassifier']


def _last_output_index(backbone: nn.Module) -> int:
    """Index of the backbone's last stage (``out_indices`` numbering)."""
    layers = getattr(backbone, 'layers', None)
    if isinstance(layers, Sequence) and layers and \
            all(isinstance(n, str) for n in layers):
        return len(layers) - 1
    return int(getattr(backbone, 'num_stages', 4)) - 1


@MODELS.register_module()
class TDAMClassifier(ImageClassifier):
    """ImageClassifier with TDAM per-step predictions.

    Args:
        step_predictions (bool): Add the per-step fields at prediction
            time. Defaults to True.
        cam_threshold (float): The official ``threshold_ratio`` of
            the ``tdam_step_boxes``. Defaults to 0.15.
        **kwargs: ``ImageClassifier`` arguments.

    Example:
        >>> model = TDAMClassifier(
        ...     backbone=dict(type='td_plugins.TDAMResNet', depth=18),
        ...     neck=dict(type='GlobalAveragePooling'),
        ...     head=dict(type='LinearClsHead', num_classes=3,
        ...               in_channels=512)).eval()
        >>> out = model.predict(torch.rand(1, 3, 64, 64))[0]
        >>> out.tdam_step_scores.shape, out.tdam_step_boxes.shape
        (torch.Size([2, 3]), torch.Size([2, 4]))
    """

    def __init__(self, step_predictions: bool = True,
                 cam_threshold: float = 0.15, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= cam_threshold < 1.0:
            raise ValueError(f'cam_threshold must be in [0, 1), got '
                             f'{cam_threshold!r}')
        self.step_predictions = step_predictions
        self.cam_threshold = cam_threshold
        if step_predictions:
            if not hasattr(self.backbone, 'forward_steps'):
                raise ValueError(
                    f'step_predictions needs a backbone with '
                    f'forward_steps (td_plugins.TDAMResNet, '
                    f'TDAMConvNeXt, TDAMMobileNetV3), got '
                    f'{type(self.backbone).__name__}; set '
                    f'step_predictions=False to use it as a plain '
                    f'ImageClassifier')
            last = _last_output_index(self.backbone)
            out_indices = getattr(self.backbone, 'out_indices', [last])
            if list(out_indices) != [last]:
                raise ValueError(
                    f'step_predictions needs the backbone to output the '
                    f'last stage only (out_indices=({last}, ) for '
                    f'{type(self.backbone).__name__}), got '
                    f'{out_indices!r}')
            if getattr(self.backbone, 'gap_before_final_norm', False):
                raise ValueError(
                    f'step_predictions needs the last feature map for '
                    f'its CAMs, but {type(self.backbone).__name__} '
                    f'pools it (gap_before_final_norm=True, mmpretrain\'s '
                    f'ConvNeXt default); set backbone '
                    f'gap_before_final_norm=False with '
                    f'neck=GlobalAveragePooling, or '
                    f'step_predictions=False')
            if self.with_neck and not isinstance(self.neck,
                                                 GlobalAveragePooling):
                raise ValueError(
                    f'step_predictions needs neck=GlobalAveragePooling '
                    f'(or none), got {type(self.neck).__name__}')
            if not isinstance(getattr(self.head, 'fc', None), nn.Linear):
                raise ValueError(
                    f'step_predictions needs a head with a linear fc '
                    f'(e.g. LinearClsHead; the CAMs are its weights '
                    f'over the last map), got '
                    f'{type(self.head).__name__}; use LinearClsHead, or '
                    f'step_predictions=False')

    @torch.no_grad()
    def _step_fields(self, steps: List[torch.Tensor],
                     size: Tuple[int, int]) -> tuple:
        """Scores (B, T, classes), boxes (B, T, 4), CAMs (B, T, h, w)."""
        fc = self.head.fc
        scores, boxes, all_cams = [], [], []
        for feats in steps:
            if feats.dim() != 4:  # refused at build; guard other hosts
                raise ValueError(
                    f'step_predictions needs 4-D (B, C, H, W) feature '
                    f'maps from the backbone, got {tuple(feats.shape)}')
            probs = torch.softmax(fc(feats.mean(dim=(2, 3))), dim=1)
            cams = class_activation_maps(feats, fc.weight,
                                         probs.argmax(dim=1))
            scores.append(probs)
            boxes.append(cam_boxes(cams, size, self.cam_threshold))
            all_cams.append(cams.float().cpu())
        return (torch.stack(scores, 1), torch.stack(boxes, 1),
                torch.stack(all_cams, 1))

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[List] = None,
                **kwargs: Any) -> List:
        if not self.step_predictions:
            return super().predict(inputs, data_samples, **kwargs)
        # One backbone pass serves both: the last step's output is what
        # forward() returns, so the standard prediction comes from it.
        steps = [out if isinstance(out, (tuple, list)) else (out, )
                 for out in self.backbone.forward_steps(inputs)]
        feats = self.neck(steps[-1]) if self.with_neck else steps[-1]
        samples = self.head.predict(feats, data_samples, **kwargs)
        size = tuple(inputs.shape[2:])
        scores, boxes, cams = self._step_fields([s[-1] for s in steps],
                                                size)
        for i, sample in enumerate(samples):
            sample.set_field(scores[i].cpu(), 'tdam_step_scores')
            sample.set_field(boxes[i], 'tdam_step_boxes')
            sample.set_field(cams[i], 'tdam_step_cams')
            sample.set_metainfo(dict(tdam_input_size=size))
        return samples
