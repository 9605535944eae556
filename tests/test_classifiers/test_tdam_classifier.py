"""TDAMClassifier: per-step predictions next to ImageClassifier's own."""
import pytest
import torch
from mmengine.registry import init_default_scope

from td_plugins.models.classifiers import TDAMClassifier


def _cfg(**kwargs):
    cfg = dict(backbone=dict(type='td_plugins.TDAMResNet', depth=18,
                             num_steps=3),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=4,
                         in_channels=512))
    cfg.update(kwargs)
    return cfg


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmpretrain')


def test_step_fields_and_standard_prediction():
    model = TDAMClassifier(**_cfg()).eval()
    x = torch.rand(2, 3, 72, 56)
    with torch.no_grad():
        out = model.predict(x)
        final = torch.softmax(model.head.fc(model.extract_feat(x)[-1]), 1)
    assert out[0].tdam_step_scores.shape == (3, 4)
    assert out[0].tdam_step_boxes.shape == (3, 4)
    # the last step is the network's normal output
    torch.testing.assert_close(out[1].tdam_step_scores[-1], final[1])
    torch.testing.assert_close(out[1].pred_score, final[1])
    boxes = out[0].tdam_step_boxes
    assert (boxes[:, 2] <= 55).all() and (boxes[:, 3] <= 71).all()


def test_training_loss_is_the_image_classifiers():
    from mmpretrain.structures import DataSample
    model = TDAMClassifier(**_cfg()).train()
    samples = [DataSample().set_gt_label(i) for i in (0, 3)]
    losses = model.loss(torch.rand(2, 3, 64, 64), samples)
    assert set(losses) == {'loss'} and losses['loss'] > 0


def test_step_predictions_need_a_tdam_backbone_and_linear_head():
    with pytest.raises(ValueError, match='forward_steps'):
        TDAMClassifier(**_cfg(backbone=dict(type='ResNet', depth=18)))
    plain = TDAMClassifier(step_predictions=False,
                           **_cfg(backbone=dict(type='ResNet', depth=18)))
    assert not plain.step_predictions
    with pytest.raises(ValueError, match='cam_threshold must be in'):
        TDAMClassifier(cam_threshold=1.0, **_cfg())


def test_step_predictions_need_the_last_stage_only():
    backbone = dict(type='td_plugins.TDAMResNet', depth=18,
                    out_indices=(2, 3))
    with pytest.raises(ValueError, match=r'out_indices=\(3, \)'):
        TDAMClassifier(**_cfg(backbone=backbone))
