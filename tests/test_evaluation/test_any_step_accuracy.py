"""TDAM's any-of-T IoU-filtered protocol (spec 1.6) and the metric."""
import pytest
import torch

from td_plugins.evaluation import AnyStepAccuracy
from td_plugins.evaluation.any_step import (
    any_step_correct,
    box_iou,
    cam_boxes,
    class_activation_maps,
    filter_steps_by_iou,
)


def test_box_iou():
    assert box_iou([0, 0, 9, 9], [0, 0, 9, 9]) == 1.0
    assert box_iou([0, 0, 9, 9], [10, 10, 19, 19]) == 0.0
    assert box_iou([0, 0, 9, 9], [5, 0, 14, 9]) == pytest.approx(50 / 150)


def test_simple_cam_box_is_the_largest_region_above_the_threshold():
    cam = torch.zeros(1, 8, 8)
    cam[0, 1:3, 1:3] = 1.0      # small blob
    cam[0, 4:8, 3:7] = 0.9      # larger blob
    box = cam_boxes(cam, (16, 16), threshold=0.5,
                    localisation='simple')[0].tolist()
    assert box[0] >= 5 and box[1] >= 7 and box[2] <= 14 and box[3] == 15
    flat = cam_boxes(torch.zeros(1, 4, 4), (8, 8),
                     localisation='simple')[0].tolist()
    assert flat == [0, 0, 7, 7]  # nothing above: the whole image


def test_cam_follows_the_class_weights():
    feats = torch.zeros(1, 2, 3, 3)
    feats[0, 0, 0, 0] = feats[0, 1, 2, 2] = 1.0
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert class_activation_maps(feats, w, torch.tensor([1]))[0, 2, 2] == 1
    assert class_activation_maps(feats, w, torch.tensor([1]))[0, 0, 0] == 0


def test_overlapping_steps_merge_into_the_more_confident_one():
    scores = torch.tensor([[0.6, 0.4, 0.0], [0.1, 0.1, 0.8]])
    same = torch.tensor([[0., 0, 9, 9], [1, 1, 9, 9]])
    apart = torch.tensor([[0., 0, 9, 9], [20, 20, 29, 29]])
    assert filter_steps_by_iou(scores, same).argmax(1).tolist() == [2, 2]
    assert filter_steps_by_iou(scores, apart).argmax(1).tolist() == [0, 2]
    assert any_step_correct(scores, 0, (1, )) == [True]
    assert any_step_correct(filter_steps_by_iou(scores, same), 0,
                            (1, 2)) == [False, True]


def _disc(center, radius, size=96):
    """A cone CAM at input resolution: its official box is the disc's."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size),
                            indexing='ij')
    dist = ((xx - center[0])**2 + (yy - center[1])**2).float().sqrt()
    return (radius - dist).clamp_min(0)


def _sample(label, final, steps, cams):
    return dict(gt_label=torch.tensor([label]), pred_score=torch.tensor(final),
                tdam_step_scores=torch.tensor(steps),
                tdam_step_cams=torch.stack(cams), tdam_input_size=(96, 96))


def test_metric_reports_both_accuracies():
    metric = AnyStepAccuracy(topk=(1, 2))
    distinct = [_disc((20, 20), 16), _disc((72, 72), 16)]
    same = [_disc((40, 40), 24), _disc((42, 40), 24)]
    metric.process({}, [
        # step 1 right, final wrong, different places: any-step counts it
        _sample(0, [0.2, 0.7, 0.1], [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]],
                distinct),
        # both right
        _sample(1, [0.1, 0.8, 0.1], [[0.1, 0.8, 0.1], [0.1, 0.8, 0.1]],
                distinct),
        # step 1 right but same place as a more confident wrong final step
        _sample(0, [0.04, 0.06, 0.9], [[0.6, 0.3, 0.1], [0.04, 0.06, 0.9]],
                same),
    ])
    out = metric.compute_metrics(metric.results)
    assert out['final_step/top1'] == pytest.approx(100 / 3)
    assert out['any_step_iou_filtered/top1'] == pytest.approx(200 / 3)
    assert out['final_step/top2'] == pytest.approx(200 / 3)
    assert set(out) == {'final_step/top1', 'final_step/top2',
                        'any_step_iou_filtered/top1',
                        'any_step_iou_filtered/top2'}


def test_metric_refuses_predictions_without_steps():
    metric = AnyStepAccuracy()
    with pytest.raises(KeyError, match='td_plugins.TDAMClassifier'):
        metric.process({}, [dict(gt_label=torch.tensor([0]),
                                 pred_score=torch.tensor([1.0]))])
    # boxes alone no longer do: the metric localises the CAMs itself
    with pytest.raises(KeyError,
                       match='needs tdam_step_cams, tdam_input_size in'):
        metric.process({}, [dict(gt_label=torch.tensor([0]),
                                 pred_score=torch.tensor([1.0]),
                                 tdam_step_scores=torch.ones(2, 1),
                                 tdam_step_boxes=torch.zeros(2, 4))])


@pytest.mark.parametrize('kwargs,match', [
    (dict(topk=(0, )), 'topk must be positive integers'),
    (dict(iou_thr=1.5), r'iou_thr must be in \[0, 1\]'),
    (dict(localisation='opencv'),
     r"localisation must be one of \('official', 'simple'\), got 'opencv'"),
    (dict(cam_threshold=1.0), r'cam_threshold must be in \[0, 1\)'),
])
def test_invalid_metric_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AnyStepAccuracy(**kwargs)


def test_metric_builds_from_mmpretrain_registry():
    from mmpretrain.registry import METRICS
    metric = METRICS.build(dict(type='td_plugins.AnyStepAccuracy'))
    assert isinstance(metric, AnyStepAccuracy)
