"""The AW configs build models with the parameter counts of spec 3.4."""
import pytest
from mmengine.config import Config

from test_baselines import REPO, _build, _n_params


@pytest.mark.parametrize('name,expected', [
    ('aw-resnet50_8xb32_in1k.py', 25_722_240),
    ('aw-se-resnet50_8xb32_in1k.py', 28_253_232),
    ('aw-resnet50_8xb16_cifar100.py', 23_870_460),
    ('aw-cbam-maxpool-resnet50_8xb32_in1k.py', 28_253_232),
    ('aw-resnet101_8xb32_in1k.py', 44_862_880),
])
def test_aw_config_parameter_count(name, expected):
    cfg = Config.fromfile(REPO / 'configs' / 'aw' / name)
    assert _n_params(_build(cfg)) == expected
