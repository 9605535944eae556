"""The TNet configs: exact parameter counts (both counting conventions) and
multiply-accumulates per number of locations (spec 4.5, paper Tables 1-2).

MACs are counted with torch.utils.flop_counter on the meta device (shapes
only, no arithmetic), conv and linear layers, as the paper's "FLOPs"."""
import pytest
import torch
from mmengine.config import Config
from test_baselines import REPO, _build
from torch.utils.flop_counter import FlopCounterMode

from td_plugins.models.classifiers.tnet import parameter_counts

CFG = REPO / 'configs' / 'tnet'


def _macs(fn) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return counter.get_total_flops() / 2e9


@pytest.mark.parametrize('name,params,keras', [
    ('tnet-bagnet77_4xb16_in1k.py', 21_859_949, 21_859_949),
    ('bagnet77_4xb16_in1k.py', 20_546_664, 20_546_664),
    ('tnet-efficientnet-b0_fmow-448.py', 4_517_575, 4_559_591),
    ('tnet-efficientnet-b0_fmow-896-ft.py', 4_517_575, 4_559_591),
    ('tnet-efficientnet-b0_cub-448.py', 5_516_434, 5_558_450),
])
def test_parameter_counts(name, params, keras):
    counts = parameter_counts(_build(Config.fromfile(CFG / name)))
    assert counts['parameters'] == params
    assert counts['keras'] == keras
    assert counts['bn_statistics'] == keras - params


def test_tnet_imagenet_parts():
    model = _build(Config.fromfile(CFG / 'tnet-bagnet77_4xb16_in1k.py'))
    n = {name: sum(p.numel() for p in getattr(model, name).parameters())
         for name in ('backbone', 'location_module', 'positional_module',
                      'fc')}
    assert n == dict(backbone=20_033_664, location_module=788_485,
                     positional_module=524_800, fc=513_000)
    assert model.test_num_levels == 2
    assert model.test_locations_per_level == (3, )


def test_fmow_parts_and_its_fine_tune_settings():
    model = _build(Config.fromfile(CFG / 'tnet-efficientnet-b0_fmow-448.py'))
    sizes = {name: parameter_counts(getattr(model, name))['keras']
             for name in ('backbone', 'location_module', 'positional_module',
                          'fc')}
    # EN-B0 with its 62-class head: 4,049,564 + 79,422 = 4,128,986 (the
    # official count of the baseline).
    assert sizes['backbone'] + sizes['fc'] == 4_128_986
    assert sizes['location_module'] == 19_725
    assert sizes['positional_module'] == 410_880
    ft = Config.fromfile(CFG / 'tnet-efficientnet-b0_fmow-896-ft.py')
    assert ft.load_from.endswith('tnet-efficientnet-b0_fmow-448/epoch_40.pth')
    ft_model = _build(ft)
    assert (ft_model.num_levels, ft_model.locations_per_level) == (3, (2, 1))
    assert ft_model.loss_module.perfeat_cap == 2
    assert ft_model.loss_module.lambda_c == 0.05


def test_imagenet_macs_grow_linearly_with_the_locations():
    """Table 1: 3.63 / 5.43 / 7.24 / 10.84 G for 1 / 2 / 3 / 5 locations;
    BagNet-77 is 1.80 G per 77 px crop and 18.42 G at 224 px."""
    model = _build(Config.fromfile(CFG / 'tnet-bagnet77_4xb16_in1k.py'))
    model = model.eval().to('meta')
    x = torch.empty(1, 3, 224, 224, device='meta')
    crop = _macs(lambda: model.extract_feat(
        torch.empty(1, 3, 77, 77, device='meta')))
    assert round(crop, 2) == 1.80
    macs = [_macs(lambda: model.traverse(x, num_levels=1))] + [
        _macs(lambda: model.traverse(x, num_levels=2,
                                     locations_per_level=[k]))
        for k in range(1, 6)]
    steps = [b - a for a, b in zip(macs[1:], macs[2:])]
    assert max(steps) - min(steps) < 1e-9      # linear in the locations
    assert steps[0] == pytest.approx(crop + 512 * 1024 / 1e9)
    for k, paper in [(1, 3.63), (2, 5.43), (3, 7.24), (5, 10.84)]:
        assert round(macs[k], 2) == paper, (k, macs[k])
    # 0 locations: 1.80 G; the paper's 1.82 also counts the location module
    # (0.02 G: 25 * 1538 * 512).
    assert round(macs[0], 2) == 1.80
    assert macs[1] - macs[0] - steps[0] == pytest.approx(
        (25 * (1538 * 512 + 512) + 6) / 1e9, rel=1e-3)
    baseline = _build(Config.fromfile(CFG / 'bagnet77_4xb16_in1k.py'))
    baseline = baseline.eval().to('meta')
    assert round(_macs(lambda: baseline(
        torch.empty(1, 3, 224, 224, device='meta'))), 2) == 18.42


def test_fmow_macs_grow_linearly_with_the_locations():
    """Table 2: 0.39 G per 224 px crop; 4 locations at 896 px (3 levels)
    1.94 G, 6 locations 2.71 G (within 0.02 G: the paper counts EN-B0 at
    0.39 G; mmpretrain's is 0.385 G)."""
    model = _build(Config.fromfile(CFG / 'tnet-efficientnet-b0_fmow-448.py'))
    model = model.eval().to('meta')
    x = torch.empty(1, 3, 448, 448, device='meta')
    macs = [_macs(lambda: model.traverse(x, num_levels=1))] + [
        _macs(lambda: model.traverse(x, num_levels=2,
                                     locations_per_level=[k]))
        for k in (1, 2, 3)]
    steps = [b - a for a, b in zip(macs[1:], macs[2:])]
    assert max(steps) - min(steps) < 1e-9
    for got, paper in zip(macs, (0.39, 0.77, 1.16, 1.55)):
        assert got == pytest.approx(paper, abs=0.02)
    big = torch.empty(1, 3, 896, 896, device='meta')
    four = _macs(lambda: model.traverse(big, num_levels=3,
                                        locations_per_level=[2, 1]))
    six = _macs(lambda: model.traverse(big, num_levels=3,
                                       locations_per_level=[2, 2]))
    assert four == pytest.approx(1.94, abs=0.02)
    assert six == pytest.approx(2.71, abs=0.02)
    assert six - four == pytest.approx(2 * steps[0])


def test_cub_two_learning_rates_and_test_locations():
    cfg = Config.fromfile(CFG / 'tnet-efficientnet-b0_cub-448.py')
    assert cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {
        'backbone': dict(lr_mult=0.1)}
    model = _build(cfg)
    assert model.feature_weighting is not None
    assert model.locations_per_level == (5, )
    assert model.test_locations_per_level == (3, )
    from mmengine.optim import build_optim_wrapper
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lrs = {}
    for group in wrapper.optimizer.param_groups:
        lr = round(group['lr'], 10)
        lrs[lr] = lrs.get(lr, 0) + sum(p.numel() for p in group['params'])
    backbone = sum(p.numel() for p in model.backbone.parameters())
    total = sum(p.numel() for p in model.parameters())
    assert lrs == {1e-4: backbone, 1e-3: total - backbone}
