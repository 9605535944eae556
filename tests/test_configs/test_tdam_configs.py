"""The TDAM ImageNet configs exist under the issue's names and build models
with the official parameter counts (1000 classes, classifier included)."""
import pytest
from mmengine.config import Config
from test_baselines import REPO, _build, _n_params


@pytest.mark.parametrize('name,expected', [
    ('tdam-joint-t2m1_resnet50_8xb64_in1k.py', 27_645_992),
    ('tdam-top-t2m1_resnet50_8xb64_in1k.py', 27_056_168),
    ('tdam-top-t2m3_resnet50_8xb64_in1k.py', 27_789_352),
    ('tdam-joint-t2m1_resnet101_8xb64_in1k.py', 46_754_856),
    ('tdam-joint-t2m1-l4_resnet101_8xb64_in1k.py', 45_937_704),
    ('tdam-joint-t2m2_resnet18_8xb64_in1k.py', 11_828_776),
    ('tdam-joint-t2m2_resnet34_8xb64_in1k.py', 22_074_152),
])
def test_imagenet_config_parameter_count(name, expected):
    cfg = Config.fromfile(REPO / 'configs' / 'tdam' / name)
    assert cfg.model.head.num_classes == 1000
    assert _n_params(_build(cfg)) == expected


def test_imagenet_recipe_follows_the_official_script():
    cfg = Config.fromfile(
        REPO / 'configs/tdam/tdam-joint-t2m1_resnet50_8xb64_in1k.py')
    assert cfg.train_dataloader.batch_size == 64
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.nesterov, opt.weight_decay) == (
        'SGD', 0.4, True, 2e-5)
    assert cfg.optim_wrapper.paramwise_cfg.flat_decay_mult == 0.0
    assert cfg.train_cfg.max_epochs == 160  # 150 cosine + 10 cool-down
    assert cfg.model.head.loss.label_smooth_val == 0.1
    types = [e['type'] for e in cfg.val_evaluator]
    assert types == ['Accuracy', 'td_plugins.AnyStepAccuracy']


@pytest.mark.parametrize('path,expected', [
    # Hara's 3D-ResNet-50 baseline (47,018,576) + the same TD parameters as
    # the 2D ResNet-50 (all 1x1x1): 2,088,960.
    ('tdam-resnet3d50_8xb8-16x1x1-100e_kinetics400-rgb.py', 49_107_536),
    ('tdam-joint-t2m1_convnext-tiny_32xb128_in1k.py', 31_105_096),
])
def test_other_tdam_config_parameter_counts(path, expected):
    cfg = Config.fromfile(REPO / 'configs' / 'tdam' / path)
    assert _n_params(_build(cfg)) == expected
