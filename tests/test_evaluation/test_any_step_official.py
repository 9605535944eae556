"""TDAM's any-step protocol against a restatement of the official
``custom_utils.py`` (shantanuj/TDAM_Top_down_attention_module,
``training_and_usage_scripts/custom_utils.py``: ``heatmap_smoothing_or``,
``form_bboxes``, ``get_iou`` and ``filter_pred_with_iou``), on CAMs of a
TDAM classifier on real photos and on CAMs built for the edge cases.

The restatement below is written from the official code's behaviour (read
once against the fetched file; nothing is fetched here) and kept in the
official shapes: (x, y, w, h) boxes, one dictionary of per-step entries
per image, and the step's output tensors indexed (so stored entries are
views of them, as in the official code).
"""
from typing import List

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from td_plugins.evaluation import AnyStepAccuracy
from td_plugins.evaluation.any_step import (
    any_step_correct,
    cam_boxes,
    filter_steps_by_iou,
)

cv2 = pytest.importorskip('cv2')


# ---------------------------------------------------------------------------
# Restatement of the official functions
# ---------------------------------------------------------------------------
def heatmap_smoothing_or(heatmap: np.ndarray, resize_list=(224, 224)):
    """Resize; min-max to 0..155 as uint8; JET colours (BGR)."""
    heatmap = cv2.resize(heatmap, (resize_list[0], resize_list[1]))
    scaled = cv2.normalize(heatmap, None, alpha=0, beta=155,
                           norm_type=cv2.NORM_MINMAX, dtype=cv2.CV_8U)
    return cv2.applyColorMap(scaled, cv2.COLORMAP_JET)


def form_bboxes(smooth_heatmap: np.ndarray,
                threshold_ratio: float = 0.5) -> List[int]:
    """Grey; > int(ratio * 255); contours (mode 1, method 2); bounding
    rectangle of the first contour of most points above 15; else zeros."""
    grey = cv2.cvtColor(smooth_heatmap, cv2.COLOR_BGR2GRAY)
    _, binary = cv2.threshold(grey, int(threshold_ratio * 255), 255,
                              cv2.THRESH_BINARY)
    contours = cv2.findContours(binary, 1, 2)[-2]
    best, box = 0, [0, 0, 0, 0]
    for contour in contours:
        if len(contour) > 15 and len(contour) > best:
            best = len(contour)
            box = list(cv2.boundingRect(contour))
    return box


def get_iou(bb1: List[float], bb2: List[float]) -> float:
    """pycocotools' ``iou`` of two (x, y, w, h) boxes, not crowd."""
    w = min(bb1[0] + bb1[2], bb2[0] + bb2[2]) - max(bb1[0], bb2[0])
    h = min(bb1[1] + bb1[3], bb2[1] + bb2[3]) - max(bb1[1], bb2[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (bb1[2] * bb1[3] + bb2[2] * bb2[3] - w * h)


def official_boxes(cams: torch.Tensor, image_res: int) -> List[List[int]]:
    return [form_bboxes(heatmap_smoothing_or(c.numpy(), (image_res,
                                                           image_res)),
                        threshold_ratio=0.15) for c in cams]


def filter_pred_with_iou(bboxes_over_t: List[List[List[int]]],
                         logits_over_t: torch.Tensor,
                         iou_thresh: float = 0.5) -> torch.Tensor:
    """The official loop over steps and images, boxes and logits given.

    Args:
        bboxes_over_t: [T][B] (x, y, w, h) boxes (``official_boxes``).
        logits_over_t: (T, B, C) each step's logits.

    Returns:
        (T, B, C) the filtered logits.
    """
    entries = {}
    for t in range(len(logits_over_t)):
        prediction_all = logits_over_t[t].clone()
        pred_prob = F.softmax(prediction_all, 1).topk(1)[0][:, 0]
        for i, bbox in enumerate(bboxes_over_t[t]):
            if i not in entries:
                entries[i] = dict(out=[prediction_all[i]], bbox=[bbox],
                                  prob=[pred_prob[i]])
                continue
            e = entries[i]
            for j in range(len(e['bbox'])):
                if get_iou(e['bbox'][j], bbox) > iou_thresh:
                    if pred_prob[i] > e['prob'][j]:
                        e['prob'][j] = pred_prob[i]
                        e['out'][j] = prediction_all[i]
                        e['bbox'][j] = bbox
                    else:  # in place: views stored above follow
                        pred_prob[i] = e['prob'][j]
                        prediction_all[i] = e['out'][j]
                        bbox = e['bbox'][j]
            e['prob'].append(pred_prob[i])
            e['out'].append(prediction_all[i])
            e['bbox'].append(bbox)
    return torch.stack([torch.stack(entries[i]['out'])
                        for i in sorted(entries)], 1)


def xywh_to_xyxy(box: List[int]) -> List[int]:
    return [box[0], box[1], box[0] + box[2] - 1, box[1] + box[3] - 1]


def old_filter(scores: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """td_plugins' filter before issue 13: pairwise, boxes never move."""
    from td_plugins.evaluation.any_step import box_iou
    scores = scores.clone()
    for t in range(1, len(scores)):
        for s in range(t):
            if box_iou(boxes[t].tolist(), boxes[s].tolist()) > 0.5:
                keep = t if scores[t].max() > scores[s].max() else s
                scores[t] = scores[s] = scores[keep].clone()
    return scores


def check_against_official(cams: torch.Tensor, scores: torch.Tensor,
                           res: int) -> dict:
    """cams (B, T, h, w), scores (B, T, C) softmax. Asserts td_plugins'
    boxes and filtered scores equal the restatement's; counts where the
    old behaviour (simple localisation, old filter) differs."""
    logits = scores.log().transpose(0, 1)
    bboxes = [official_boxes(c, res) for c in cams.transpose(0, 1)]
    official = F.softmax(filter_pred_with_iou(bboxes, logits),
                         2).transpose(0, 1)
    counts = dict(boxes=0, empty=0, boxes_differ=0, filtered_differ=0)
    for b in range(len(cams)):
        ours = cam_boxes(cams[b], (res, res))
        expected = [xywh_to_xyxy(x) for x in official_boxes(cams[b], res)]
        assert ours.tolist() == expected
        filtered = filter_steps_by_iou(scores[b], ours)
        torch.testing.assert_close(filtered, official[b], rtol=1e-5,
                                   atol=1e-6)
        old_boxes = cam_boxes(cams[b], (res, res), localisation='simple')
        counts['boxes'] += len(ours)
        counts['empty'] += int((ours[:, 2] < ours[:, 0]).sum())
        counts['boxes_differ'] += int((ours != old_boxes).any(1).sum())
        counts['filtered_differ'] += int(not torch.equal(
            old_filter(scores[b], old_boxes), filtered))
    return counts


# ---------------------------------------------------------------------------
# Real CAMs: a seeded TDAM-ResNet-18 classifier on ants/bees photos
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def real_predictions(shared_data):
    from mmengine.registry import init_default_scope
    from PIL import Image

    from td_plugins.models.classifiers import TDAMClassifier
    init_default_scope('mmpretrain')
    root = shared_data / 'hymenoptera'
    lines = (root / 'val.txt').read_text().split('\n')
    files = [ln.split()[0] for ln in lines if ln.strip()]
    files = files[:4] + files[-4:]  # ants and bees
    mean = torch.tensor([123.675, 116.28, 103.53])[:, None, None]
    std = torch.tensor([58.395, 57.12, 57.375])[:, None, None]
    images = []
    for name in files:
        img = Image.open(root / 'val' / name).convert('RGB')
        img = np.asarray(img.resize((224, 224)), dtype=np.float32)
        images.append((torch.from_numpy(img.copy()).permute(2, 0, 1) - mean)
                      / std)
    torch.manual_seed(0)
    model = TDAMClassifier(
        backbone=dict(type='td_plugins.TDAMResNet', depth=18, num_steps=3),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=2,
                  in_channels=512)).eval()
    with torch.no_grad():
        samples = model.predict(torch.stack(images))
    labels = [0 if name.startswith('ants') else 1 for name in files]
    return samples, labels


def test_protocol_matches_official_on_real_cams(real_predictions):
    samples, _ = real_predictions
    cams = torch.stack([s.tdam_step_cams for s in samples])
    scores = torch.stack([s.tdam_step_scores for s in samples])
    assert cams.shape == (8, 3, 7, 7)
    assert all(s.tdam_input_size == (224, 224) for s in samples)
    for steps in (2, 3):
        counts = check_against_official(cams[:, :steps], scores[:, :steps],
                                        224)
        # the old simplification localises differently on these CAMs
        assert counts['boxes_differ'] > 0, counts
        print(f'T={steps} at 224: {counts}')
    # the same CAMs localised at 64 x 64 leave some steps without a
    # contour of more than 15 points: the official empty box
    counts = check_against_official(cams, scores, 64)
    assert counts['empty'] > 0, counts
    print(f'T=3 at 64: {counts}')


def test_metric_is_the_official_protocol_on_real_cams(real_predictions):
    samples, labels = real_predictions
    metric = AnyStepAccuracy(topk=(1, ))
    dicts = []
    for sample, label in zip(samples, labels):
        sample.set_gt_label(label)
        dicts.append(sample.to_dict())
    metric.process({}, dicts)
    cams = torch.stack([s.tdam_step_cams for s in samples]).transpose(0, 1)
    logits = torch.stack([s.tdam_step_scores for s in samples]).log()
    official = filter_pred_with_iou([official_boxes(c, 224) for c in cams],
                                    logits.transpose(0, 1))
    expected = [any_step_correct(official[:, b], label, (1, ))[0]
                for b, label in enumerate(labels)]
    assert [r[1][0] for r in metric.results] == expected
    # the classifier's own boxes are the official ones too
    for sample in samples:
        assert sample.tdam_step_boxes.tolist() == [
            xywh_to_xyxy(b) for b in official_boxes(sample.tdam_step_cams,
                                                    224)]


# ---------------------------------------------------------------------------
# Built CAMs: the edge cases
# ---------------------------------------------------------------------------
def _cone(center, radius, size=96):
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size),
                            indexing='ij')
    dist = ((xx - center[0])**2 + (yy - center[1])**2).float().sqrt()
    return (radius - dist).clamp_min(0)


def test_official_threshold_is_about_0_24_of_the_cam_range():
    # JET then grey: scaled levels 0..36 of 0..155 fall at or below
    # int(0.15 * 255) = 38, levels 37..155 above it
    levels = np.arange(156, dtype=np.uint8)[None]
    grey = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET),
                        cv2.COLOR_BGR2GRAY)[0]
    assert int(0.15 * 255) == 38
    assert (grey[:37] <= 38).all() and (grey[37:] > 38).all()
    # a cone at input resolution: the box is that of the pixels at or
    # above 36.5 / 155 (about 0.235) of the CAM range
    cam = _cone((48, 48), 40)
    box = cam_boxes(cam[None], (96, 96))[0].tolist()
    assert box == xywh_to_xyxy(official_boxes(cam[None], 96)[0])
    norm = (cam / cam.max()).numpy()
    ys, xs = np.nonzero(norm * 155 >= 36.5)
    assert box == [xs.min(), ys.min(), xs.max(), ys.max()]
    assert 1 - (box[2] - box[0]) / 2 / 40 == pytest.approx(0.24, abs=0.015)
    simple = cam_boxes(cam[None], (96, 96), localisation='simple')[0]
    ys, xs = np.nonzero(norm > 0.15)
    assert simple.tolist() == [xs.min(), ys.min(), xs.max(), ys.max()]
    assert simple[2] - simple[0] > box[2] - box[0]


def test_official_box_is_the_contour_with_most_points():
    # a wide axis-aligned rectangle has 4 contour points (CHAIN_APPROX_
    # SIMPLE); a smaller disc has many: the disc's box wins, while the
    # simple localisation keeps the larger area
    cam = _cone((24, 24), 14) / 14
    cam[50:90, 10:90] = 1.0
    box = cam_boxes(cam[None], (96, 96))[0].tolist()
    assert box == xywh_to_xyxy(official_boxes(cam[None], 96)[0])
    assert box[2] < 40 and box[3] < 40
    simple = cam_boxes(cam[None], (96, 96), localisation='simple')[0]
    assert simple.tolist() == [10, 50, 89, 89]
    # of two discs, the one whose contour has more points
    two = torch.maximum(_cone((20, 20), 12), _cone((64, 64), 30) * 12 / 30)
    box = cam_boxes(two[None], (96, 96))[0].tolist()
    assert box == xywh_to_xyxy(official_boxes(two[None], 96)[0])
    assert box[0] > 40


def test_no_contour_keeps_both_predictions():
    # rectangles only (4 points each) and a flat CAM: no contour of more
    # than 15 points, the official [0, 0, 0, 0], IoU 0
    rect = torch.zeros(96, 96)
    rect[2:90, 4:92] = 1.0
    flat = torch.ones(96, 96)
    cams = torch.stack([rect, flat])
    assert official_boxes(cams, 96) == [[0, 0, 0, 0], [0, 0, 0, 0]]
    boxes = cam_boxes(cams, (96, 96))
    assert boxes.tolist() == [[0, 0, -1, -1], [0, 0, -1, -1]]
    scores = torch.tensor([[0.7, 0.3], [0.1, 0.9]])
    kept = filter_steps_by_iou(scores, boxes)
    torch.testing.assert_close(kept, scores)  # both kept
    official = F.softmax(filter_pred_with_iou(
        [official_boxes(c[None], 96) for c in cams], scores[:, None].log()),
        2)
    torch.testing.assert_close(kept, official[:, 0])
    # the simple localisation's whole-image boxes merge them
    simple = cam_boxes(cams, (96, 96), localisation='simple')
    assert simple[1].tolist() == [0, 0, 95, 95]
    assert filter_steps_by_iou(scores, simple).argmax(1).tolist() == [1, 1]


def _filter_both(scores, boxes):
    """td_plugins' filter and the restatement's on given (x1, y1, x2, y2)
    boxes of one image."""
    ours = filter_steps_by_iou(scores, boxes)
    xywh = [[[int(v[0]), int(v[1]), int(v[2] - v[0] + 1),
              int(v[3] - v[1] + 1)]] for v in boxes]
    official = filter_pred_with_iou(xywh, scores[:, None].log())
    return ours, F.softmax(official[:, 0], 1)


def test_t3_new_box_replaces_the_matched_one():
    # step 2 beats step 1 on the same object and takes its place, box
    # included; step 3 overlaps step 2's box, not step 1's
    boxes = torch.tensor([[0., 0, 9, 9], [2, 0, 11, 9], [5, 0, 14, 9]])
    scores = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1],
                           [0.1, 0.1, 0.8]])
    ours, official = _filter_both(scores, boxes)
    torch.testing.assert_close(ours, official)
    assert ours.argmax(1).tolist() == [2, 2, 2]
    # before: step 1's entry kept step 1's box, so step 3 missed it
    assert old_filter(scores, boxes).argmax(1).tolist() == [1, 2, 2]
    assert any_step_correct(ours, 1, (1, )) == [False]
    assert any_step_correct(old_filter(scores, boxes), 1, (1, )) == [True]


def test_t3_entries_replaced_in_a_step_follow_its_later_merges():
    # step 3 beats entry 1 (takes it over) then loses to entry 2: the
    # official views make entry 1 entry 2's prediction too
    boxes = torch.tensor([[0., 0, 9, 9], [6, 0, 15, 9], [3, 0, 12, 9]])
    scores = torch.tensor([[0.5, 0.3, 0.2], [0.05, 0.9, 0.05],
                           [0.2, 0.1, 0.7]])
    ours, official = _filter_both(scores, boxes)
    torch.testing.assert_close(ours, official)
    assert ours.argmax(1).tolist() == [1, 1, 1]


def test_metric_localisation_option_names_the_simplification():
    # a confident wrong step without a contour (a flat CAM) beside a right
    # one: the official empty box keeps both, the simple whole-image box
    # merges them into the wrong one
    rect = torch.zeros(96, 96)
    rect[2:90, 4:92] = 1.0
    sample = dict(gt_label=torch.tensor([0]),
                  pred_score=torch.tensor([0.1, 0.9]),
                  tdam_step_scores=torch.tensor([[0.7, 0.3], [0.1, 0.9]]),
                  tdam_step_cams=torch.stack([rect, torch.ones(96, 96)]),
                  tdam_input_size=(96, 96))
    results = {}
    for localisation in ('official', 'simple'):
        metric = AnyStepAccuracy(topk=(1, ), localisation=localisation)
        metric.process({}, [sample])
        results[localisation] = metric.compute_metrics(metric.results)[
            'any_step_iou_filtered/top1']
    assert results == {'official': 100.0, 'simple': 0.0}


@pytest.mark.parametrize('kwargs,match', [
    (dict(localisation='contours'),
     r"localisation must be one of \('official', 'simple'\), "
     r"got 'contours'"),
    (dict(threshold=1.5), r'threshold must be in \[0, 1\), got 1.5'),
])
def test_cam_boxes_refuses_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cam_boxes(torch.zeros(1, 7, 7), (32, 32), **kwargs)
