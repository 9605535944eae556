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


CONVNEXT = dict(type='td_plugins.TDAMConvNeXt',
                arch=dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128]),
                num_steps=2, layer_scale_init_value=1.0)


@pytest.mark.parametrize('backbone,in_channels', [
    (dict(CONVNEXT, gap_before_final_norm=False), 128),
    (dict(type='td_plugins.TDAMMobileNetV3', arch='small', num_steps=2),
     576),
])
def test_convnext_and_mobilenet_v3_step_fields(backbone, in_channels):
    """Both other TDAM hosts give per-step scores, boxes and CAMs once they
    output their last feature map (issue 13.5)."""
    torch.manual_seed(0)
    model = TDAMClassifier(**_cfg(backbone=backbone, head=dict(
        type='LinearClsHead', num_classes=4,
        in_channels=in_channels))).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = model.predict(x)
        feats = model.extract_feat(x)[-1]
        final = torch.softmax(model.head.fc(feats), 1)
        steps = model.backbone.forward_steps(x)
    assert len(steps) == 2 and steps[-1][-1].dim() == 4
    assert out[0].tdam_step_scores.shape == (2, 4)
    assert out[0].tdam_step_boxes.shape == (2, 4)
    assert out[0].tdam_step_cams.shape[0] == 2
    torch.testing.assert_close(out[1].tdam_step_scores[-1], final[1])
    torch.testing.assert_close(out[1].pred_score, final[1])
    # step 1's map differs from step 2's (the attention acts; randomly
    # initialised MobileNetV3 maps are tiny, so relative to their size)
    first, last = steps[0][-1], steps[1][-1]
    assert (first - last).abs().max() > 1e-3 * last.abs().max()


def test_pooled_or_nonlinear_outputs_are_refused_at_build():
    # mmpretrain ConvNeXt's default pools before its final norm: no map
    with pytest.raises(ValueError, match='gap_before_final_norm=False'):
        TDAMClassifier(**_cfg(backbone=CONVNEXT, head=dict(
            type='LinearClsHead', num_classes=4, in_channels=128)))
    # mmpretrain MobileNetV3's StackedLinearClsHead has no CAM
    with pytest.raises(ValueError, match='needs a head with a linear fc'):
        TDAMClassifier(**_cfg(
            backbone=dict(type='td_plugins.TDAMMobileNetV3', arch='small'),
            head=dict(type='StackedLinearClsHead', num_classes=4,
                      in_channels=576, mid_channels=[32])))
    with pytest.raises(ValueError, match=r'out_indices=\(12, \) for '
                                         r'TDAMMobileNetV3'):
        TDAMClassifier(**_cfg(
            backbone=dict(type='td_plugins.TDAMMobileNetV3', arch='small',
                          out_indices=(11, 12)),
            head=dict(type='LinearClsHead', num_classes=4,
                      in_channels=576)))
    # step_predictions=False: the plain ImageClassifier, any of these
    plain = TDAMClassifier(step_predictions=False, **_cfg(
        backbone=CONVNEXT, neck=None,
        head=dict(type='LinearClsHead', num_classes=4, in_channels=128)))
    with torch.no_grad():
        assert plain.eval().predict(torch.rand(1, 3, 32, 32))[0] \
            .pred_score.shape == (4, )
