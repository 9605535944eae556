"""td_plugins.utils.codebases: a codebase module is imported when its
codebase is installed; otherwise its names build to an ImportError naming
the package."""
import pytest
from mmengine.registry import Registry

from td_plugins.utils import codebases


def test_available_refuses_unknown_codebase():
    with pytest.raises(ValueError, match=r"codebase must be one of "
                       r"\['mmaction', 'mmdet', 'mmpose', 'mmpretrain'\]"):
        codebases.available('mmdetection')


def test_installed_codebase_imports_the_module():
    module = codebases.import_if_available(
        'td_plugins.models.necks.aw_fpn', 'mmdet', ['AWFPN'])
    assert module.AWFPN.__qualname__ == 'AWFPN'  # module level, not <locals>


def test_missing_codebase_registers_builders_that_name_the_package(
        monkeypatch):
    monkeypatch.setattr(codebases, 'available', lambda name: False)
    registry = Registry('test codebases')
    out = codebases.import_if_available(
        'td_plugins.no_such_module', 'mmaction', ['TDAFResNet3d'], registry)
    assert out is None
    with pytest.raises(ImportError, match=r'td_plugins.TDAFResNet3d '
                       r'subclasses mmaction.*pip install mmaction2'):
        registry.build(dict(type='TDAFResNet3d', depth=50))
