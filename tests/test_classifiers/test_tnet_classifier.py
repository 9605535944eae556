"""td_plugins.TNet on a tiny backbone: modes, attended regions, MACs,
test-time locations, gradients and refused settings (spec 4.2-4.6)."""
import copy

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from td_plugins.models.classifiers import TNet
from td_plugins.registry import MODELS

# ResNet_CIFAR with 8 base channels at a 32-pixel base resolution: stage 3
# (32 ch, 8 x 8) at rows/columns 1, 4, 7 is the 3 x 3 grid; stage 4 (64 ch)
# is pooled into the feature.
TINY = dict(
    backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=8,
                  base_channels=8, out_indices=(2, 3)),
    num_classes=4, feat_dim=64, grid_size=3, overlap=0.5, base_resolution=32,
    grid_index=0, feature_index=1, grid_slice=(1, None, 3), pos_dim=24,
    num_levels=2, locations_per_level=[2])


def _model(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return TNet(**{**TINY, **kwargs})


def _samples(labels):
    from mmpretrain.structures import DataSample
    return [DataSample().set_gt_label(y) for y in labels]


def test_three_modes():
    model = _model()
    x = torch.rand(2, 3, 64, 64)
    losses = model(x, _samples([0, 3]), mode='loss')
    assert sorted(k for k in losses if k.startswith('loss')) == [
        'loss_ce', 'loss_perfeat_ce', 'loss_perfeat_reinforce',
        'loss_reinforce']
    assert all(torch.isfinite(v).all() for v in losses.values())
    model.eval()
    assert model(x, mode='tensor').shape == (2, 4)
    preds = model(x, _samples([0, 3]), mode='predict')
    assert len(preds) == 2
    p = preds[0]
    assert p.pred_score.shape == (4, ) and p.pred_label.shape == (1, )
    assert p.gt_label.item() == 0
    assert p.tnet_boxes.shape == (2, 4) and p.tnet_levels.tolist() == [1, 1]
    assert p.tnet_probs.shape == (2, )
    assert torch.allclose(p.pred_score.sum(), torch.tensor(1.0))


def test_regions_are_the_top_k_cells_in_image_pixels():
    model = _model().eval()
    x = torch.rand(3, 3, 64, 64)
    pred = model.predict(x)
    with torch.no_grad():
        grid, feat = model.extract_feat(
            torch.nn.functional.interpolate(x, size=(32, 32),
                                            mode='bilinear'))
        probs = model.location_module(grid, feat)
    # 64 px, 3 x 3 cells of 32 px at stride 16, no padding.
    for i, sample in enumerate(pred):
        cells = probs[i].topk(2).indices.sort().values.tolist()
        boxes = [[16 * (c % 3), 16 * (c // 3), 16 * (c % 3) + 32,
                  16 * (c // 3) + 32] for c in cells]
        assert sample.tnet_boxes.tolist() == boxes
        torch.testing.assert_close(sample.tnet_probs, probs[i, cells])


def test_three_levels_nest_and_the_padding_is_cut_from_the_boxes():
    # 70 px, overlap 0.45: cells of 32 px, stride 19, 1 px of padding.
    model = _model(overlap=0.45, num_levels=3, locations_per_level=[2, 2],
                   input_size=70).eval()
    pred = model.predict(torch.rand(2, 3, 70, 70))
    for sample in pred:
        boxes, levels = sample.tnet_boxes, sample.tnet_levels
        assert levels.tolist() == [1, 1, 2, 2, 2, 2]
        assert (boxes >= 0).all() and (boxes <= 70).all()
        for child in range(4):
            parent = boxes[child // 2]
            box = boxes[2 + child]
            assert (box[:2] >= parent[:2]).all() and \
                (box[2:] <= parent[2:]).all()
        sides = boxes[:, 2:] - boxes[:, :2]
        # Level 1: 32 px (31 at the padded first row/column); level 2: 14
        # (32 * 0.45 = 14.4) minus padding where it applies.
        assert ((sides[:2] == 32) | (sides[:2] == 31)).all()
        assert (sides[2:] <= 14).all() and (sides[2:] >= 12).all()


def test_macs_grow_linearly_with_the_locations():
    model = _model().eval().to('meta')
    x = torch.empty(1, 3, 64, 64, device='meta')

    def macs(fn) -> int:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            fn()
        return counter.get_total_flops() // 2

    base = torch.empty(1, 3, 32, 32, device='meta')
    backbone = macs(lambda: model.extract_feat(base))
    positional = macs(lambda: model.positional_module(
        torch.empty(1, 64, device='meta'), torch.empty(1, 3, device='meta')))
    fc = macs(lambda: model.fc(torch.empty(1, 64, device='meta')))

    def location(k: int) -> int:     # one run on k grids
        return macs(lambda: model.location_module(
            torch.empty(k, 32, 3, 3, device='meta'),
            torch.empty(k, 64, device='meta')))

    per_crop = backbone + positional
    assert macs(lambda: model.traverse(x, num_levels=1)) == per_crop + fc
    for k in range(1, 10):
        total = macs(lambda: model.traverse(x, num_levels=2,
                                            locations_per_level=[k]))
        assert total == (1 + k) * per_crop + location(1) + fc, k
    # Three levels: 1 + 2 + 2 * 3 crops; the location module on 1 grid,
    # then on 2.
    total = macs(lambda: model.traverse(x, num_levels=3,
                                        locations_per_level=[2, 3]))
    assert total == 9 * per_crop + location(1) + location(2) + fc


def test_evaluation_with_fewer_or_more_locations_than_training():
    x = torch.rand(2, 3, 64, 64)
    for test_cfg, n_regions in [
            (dict(locations_per_level=[1]), 1),
            (dict(locations_per_level=[5]), 5),
            (dict(num_levels=1), 0),
            (dict(num_levels=3, locations_per_level=[2, 1]), 4)]:
        model = _model(test_cfg=test_cfg).eval()
        pred = model.predict(x)
        assert pred[0].tnet_boxes.shape == (n_regions, 4), test_cfg
        assert pred[0].pred_score.shape == (4, )
    # Training keeps its own setting; set_traversal changes the test one.
    model = _model(test_cfg=dict(locations_per_level=[5]))
    assert model.locations_per_level == (2, )
    model.set_traversal(locations_per_level=[9])
    assert model.eval().predict(x)[0].tnet_boxes.shape == (9, 4)
    with pytest.raises(ValueError, match=r'test_cfg.locations_per_level '
                       r'entries must be integers in \[1, 9\]'):
        model.set_traversal(locations_per_level=[10])


def test_every_parameter_gets_a_gradient():
    """Location module through REINFORCE only; the rest through CE only."""
    for kwargs in (dict(), dict(location_variant='se',
                                positional_variant='add',
                                feature_weighting=True, dropout=0.2)):
        model = _model(**kwargs)
        x = torch.rand(4, 3, 64, 64)
        losses = model.loss(x, _samples([0, 1, 2, 3]))
        ce = losses['loss_ce'] + losses['loss_perfeat_ce']
        rf = losses['loss_reinforce'] + losses['loss_perfeat_reinforce']
        names = [n for n, _ in model.named_parameters()]
        params = [p for _, p in model.named_parameters()]
        g_ce = torch.autograd.grad(ce, params, retain_graph=True,
                                   allow_unused=True)
        g_rf = torch.autograd.grad(rf, params, allow_unused=True)
        for name, a, b in zip(names, g_ce, g_rf):
            if name.startswith('location_module.'):
                assert a is None, name
                assert b is not None and b.abs().sum() > 0, name
            else:
                assert b is None, name
                assert a is not None and a.abs().sum() > 0, name


def test_monte_carlo_samples_tile_the_batch():
    x = torch.rand(2, 3, 64, 64)
    tiled = _model(num_samples=2)
    plain = _model()
    plain.load_state_dict(tiled.state_dict())
    a = tiled.loss(x, _samples([1, 2]))
    b = plain.loss(torch.cat([x, x]), _samples([1, 2, 1, 2]))
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_sampling_selection_and_deep_copies_with_a_hooked_grid():
    # The grid from a sub-module through a hook: stage 3's last block.
    model = _model(grid_index='layer3.1', backbone=dict(
        TINY['backbone'], out_indices=(3, )), feature_index=0,
        selection='sample', test_cfg=dict(selection='sample'))
    losses = model.loss(torch.rand(2, 3, 64, 64), _samples([0, 1]))
    assert torch.isfinite(sum(v for k, v in losses.items() if 'loss' in k))
    clone = copy.deepcopy(model).eval()
    pred = clone.predict(torch.rand(2, 3, 64, 64))
    assert pred[0].tnet_boxes.shape == (2, 4)
    assert '_tnet_grid_output' not in clone.backbone.layer3[1].__dict__


def test_registered_and_checkpoint_carries_the_baseline():
    model = MODELS.build(dict(type='td_plugins.TNet', **TINY))
    assert type(model).__name__ == 'TNet'
    model.loss(torch.rand(2, 3, 64, 64), _samples([0, 1]))
    state = model.state_dict()
    assert 'loss_module.baseline' in state
    assert state['loss_module.baseline'].item() != 0.5


@pytest.mark.parametrize('kwargs,match', [
    (dict(overlap=1.2), r'overlap must be a number in the open interval'),
    (dict(grid_size=1), 'grid_size must be an integer >= 2'),
    (dict(locations_per_level=[10]), r'entries must be integers in \[1, 9\]'),
    (dict(num_levels=3), r'must have num_levels - 1 = 2 entries'),
    (dict(num_levels=3, locations_per_level=[2, 2], input_size=24,
          min_crop_size=8), r'input too small for num_levels=3: a 24x24 '
     r'input gives 12x12 crops at level 1'),
    (dict(grid_slice=(0, None, 2)), r'it must be \[K, C, 3, 3\] for '
     r'grid_size=3'),
    (dict(grid_slice=(0, None, 0)), 'grid_slice must be'),
    (dict(feat_dim=128), r'feat_dim \(128\) must equal the width'),
    (dict(feature_index=5), 'returns too few outputs'),
    (dict(grid_index='layer9'), "grid_index 'layer9' names no sub-module"),
    (dict(selection='greedy'), r"selection must be one of \('topk', "
     r"'sample'\)"),
    (dict(test_cfg=dict(locations=[2])), 'test_cfg accepts the keys'),
    (dict(test_cfg=dict(locations_per_level=[12])),
     r'test_cfg.locations_per_level entries must be integers in \[1, 9\]'),
    (dict(test_cfg=dict(num_levels=3)),
     'test_num_levels=3 needs test_locations_per_level'),
    (dict(num_samples=0), 'num_samples must be an integer >= 1'),
    (dict(dropout=1.0), r'dropout must be a rate in \[0, 1\)'),
    (dict(location_variant='mlp'), 'location_variant must be one of'),
    (dict(positional_variant='sum'), 'positional_variant must be one of'),
    (dict(loss=dict(type='CrossEntropyLoss')),
     'loss must build a td_plugins.TNetLoss'),
    (dict(base_resolution=0), 'base_resolution must be a positive int'),
])
def test_invalid_settings_are_refused_at_build_time(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _model(**kwargs)


def test_input_too_small_at_run_time_is_refused():
    model = _model(num_levels=3, locations_per_level=[1, 1],
                   min_crop_size=4).eval()
    assert model.predict(torch.rand(1, 3, 16, 16))[0].tnet_boxes.shape == \
        (2, 4)
    with pytest.raises(ValueError, match='input too small for num_levels=3'):
        model.predict(torch.rand(1, 3, 12, 12))
