"""TDAM's per-step evaluation protocol, as plain functions.

Jaiswal, Fernando and Tan, "TDAM" (ECCV 2022), section 4.1 ("we consider
only predictions with unique localization maps (having an IOU < 0.5)") and
the official ``validate_over_iou`` / ``custom_utils.filter_pred_with_iou`` /
``accuracy_over_iou_filtered`` (``shared/spec/methods.md`` section 1.6):

1. For t = 1..T the network is run with layer4's TD blocks stopped after
   step t, giving one class-score vector per step.
2. Each step's prediction is localised with the class activation map (CAM)
   of its top-1 class (:func:`cam_boxes`).
3. For t >= 2, step t is compared in turn with each entry kept so far;
   on IoU > 0.5 the more confident of the two (top-1 probability; the
   earlier entry on a tie) takes both places, box included
   (:func:`filter_steps_by_iou`).
4. An image counts as correct at top-k if *any* step's (filtered)
   prediction is correct at top-k.

This "any-of-T distinct-localisation" accuracy is what the paper's TD
numbers report; the baselines' numbers are standard single-prediction
accuracy, so td_plugins reports both, each named for what it is.

Localisation ``'official'`` (``heatmap_smoothing_or`` + ``form_bboxes``
with ``threshold_ratio=0.15``): the raw CAM is resized to the input size
(``cv2.resize``, bilinear), min-max scaled to the integers 0..155, coloured
with ``COLORMAP_JET``, converted to grey and kept where the grey level
exceeds ``int(0.15 * 255) = 38``: scaled levels 37..155, i.e. at least
about 0.235 of the CAM range, not 0.15. Contours are found with
``RETR_LIST`` and ``CHAIN_APPROX_SIMPLE``; the box is the bounding
rectangle of the first contour with the most points among those with more
than 15 points, and an empty box ``[0, 0, 0, 0]`` (x, y, w, h) when there
is none, which overlaps nothing. Localisation ``'simple'`` is td_plugins'
earlier simplification: the min-max normalised CAM above 0.15, the largest
8-connected component, the whole image when nothing is above.

Boxes are ``(x1, y1, x2, y2)`` inclusive pixels, i.e. the official
``(x, y, w, h)`` as ``(x, y, x + w - 1, y + h - 1)``; the empty box is
``(0, 0, -1, -1)``.
"""
from functools import lru_cache
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ['LOCALISATIONS', 'class_activation_maps', 'cam_boxes',
           'box_iou', 'filter_steps_by_iou', 'any_step_correct']

#: Valid values of the ``localisation`` arguments.
LOCALISATIONS = ('official', 'simple')


def check_localisation(localisation: str) -> None:
    """Refuse an unknown ``localisation`` with its valid values."""
    if localisation not in LOCALISATIONS:
        raise ValueError(f'localisation must be one of {LOCALISATIONS}, '
                         f'got {localisation!r}')


def class_activation_maps(features: torch.Tensor, fc_weight: torch.Tensor,
                          classes: torch.Tensor) -> torch.Tensor:
    """CAM of ``classes``: ``sum_c w[class, c] * f[c]``, shape (B, h, w).

    The official ``getCAM_batch`` with ``normalize=False``.

    Args:
        features (Tensor): Last feature maps, (B, C, h, w).
        fc_weight (Tensor): Linear classifier weight, (num_classes, C).
        classes (Tensor): One class index per image, (B, ).
    """
    return torch.einsum('bchw,bc->bhw', features, fc_weight[classes])


@lru_cache(maxsize=None)
def _kept_levels(threshold_ratio: float) -> np.ndarray:
    """Which of the 0..255 scaled levels survive JET -> grey -> threshold.

    Both conversions act pixel by pixel, so they are applied once to the
    256 levels and then looked up.
    """
    import cv2
    levels = np.arange(256, dtype=np.uint8)[None]
    grey = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET),
                        cv2.COLOR_BGR2GRAY)[0]
    return grey > int(threshold_ratio * 255)


def _official_box(cam: np.ndarray, size: Tuple[int, int],
                  threshold_ratio: float) -> List[int]:
    import cv2
    cam = cv2.resize(np.ascontiguousarray(cam, dtype=np.float32),
                     (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    levels = cv2.normalize(cam, None, alpha=0, beta=155,
                           norm_type=cv2.NORM_MINMAX, dtype=cv2.CV_8U)
    mask = _kept_levels(threshold_ratio)[levels].astype(np.uint8)
    contours = cv2.findContours(mask, cv2.RETR_LIST,
                                cv2.CHAIN_APPROX_SIMPLE)[-2]
    sizes = [len(c) for c in contours]
    if not sizes or max(sizes) <= 15:
        return [0, 0, -1, -1]
    x, y, w, h = cv2.boundingRect(contours[int(np.argmax(sizes))])
    return [x, y, x + w - 1, y + h - 1]


def _simple_box(cam: torch.Tensor, size: Tuple[int, int],
                threshold_ratio: float) -> List[int]:
    import cv2
    cam = F.interpolate(cam[None, None].float(), size=size, mode='bilinear',
                        align_corners=False)[0, 0]
    norm = (cam - cam.min()) / (cam.max() - cam.min()).clamp_min(1e-12)
    mask = (norm > threshold_ratio).cpu().numpy().astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, 8)
    if n <= 1:
        return [0, 0, size[1] - 1, size[0] - 1]
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = stats[best, :4]
    return [int(x), int(y), int(x + w - 1), int(y + h - 1)]


def cam_boxes(cams: torch.Tensor, size: Tuple[int, int],
              threshold: float = 0.15,
              localisation: str = 'official') -> torch.Tensor:
    """Box of each CAM at the input size (see the module docstring).

    Args:
        cams (Tensor): Raw CAMs, (B, h, w).
        size (tuple[int, int]): Input (height, width) to resize them to.
        threshold (float): The official ``threshold_ratio`` (grey level
            ``int(threshold * 255)``) or, for ``'simple'``, the fraction of
            the CAM range. Defaults to 0.15.
        localisation (str): ``'official'`` or ``'simple'``. Defaults to
            ``'official'``.

    Returns:
        Tensor: (B, 4) inclusive ``(x1, y1, x2, y2)``; ``(0, 0, -1, -1)``
        when the official localisation finds no contour.
    """
    check_localisation(localisation)
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f'threshold must be in [0, 1), got {threshold!r}')
    size = (int(size[0]), int(size[1]))
    cams = cams.detach().float().cpu()
    if localisation == 'official':
        boxes = [_official_box(c.numpy(), size, threshold) for c in cams]
    else:
        boxes = [_simple_box(c, size, threshold) for c in cams]
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two inclusive pixel boxes ``(x1, y1, x2, y2)``; 0 when they
    do not overlap or either is empty (as pycocotools' ``iou``, which the
    official ``get_iou`` calls on ``(x, y, w, h)`` boxes)."""
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area = ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) +
            (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter)
    return float(inter / area)


def filter_steps_by_iou(scores: torch.Tensor, boxes: torch.Tensor,
                        iou_thr: float = 0.5) -> torch.Tensor:
    """Step 3 of the protocol for one image (official
    ``filter_pred_with_iou``).

    Step t is compared with entries 0..t-1 in order, each time with its
    current score and box. On IoU > ``iou_thr`` with entry j: if step t is
    more confident, entry j becomes step t (score *and* box, so later steps
    meet step t's box there); otherwise step t becomes entry j and goes on
    with j's box. Entries that step t replaced keep following its score
    through the rest of its comparisons: the official code stores views of
    the step's output tensor, which a later merge in the same step
    overwrites in place.

    Args:
        scores (Tensor): Class probabilities per step, (T, num_classes).
        boxes (Tensor): CAM box per step, (T, 4).
        iou_thr (float): Boxes overlapping more than this are one object.
            Defaults to 0.5.

    Returns:
        Tensor: The filtered scores, (T, num_classes).

    Example:
        >>> s = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
        >>> b = torch.tensor([[0., 0, 9, 9], [0, 0, 9, 9]])
        >>> filter_steps_by_iou(s, b).argmax(1).tolist()  # same object
        [0, 0]
    """
    kept_scores = [scores[0].clone()]
    kept_boxes = [boxes[0].tolist()]
    for t in range(1, len(scores)):
        score, box = scores[t].clone(), boxes[t].tolist()
        replaced = []
        for j in range(t):
            if box_iou(kept_boxes[j], box) <= iou_thr:
                continue
            if score.max() > kept_scores[j].max():
                kept_boxes[j] = box
                replaced.append(j)
            else:
                score, box = kept_scores[j].clone(), kept_boxes[j]
        for j in replaced:
            kept_scores[j] = score.clone()
        kept_scores.append(score)
        kept_boxes.append(box)
    return torch.stack(kept_scores)


def any_step_correct(scores: torch.Tensor, label: int,
                     topk: Sequence[int]) -> List[bool]:
    """Whether any step's top-k contains ``label``, for each k."""
    out = []
    for k in topk:
        top = scores.topk(min(k, scores.shape[1]), dim=1).indices
        out.append(bool((top == label).any()))
    return out
