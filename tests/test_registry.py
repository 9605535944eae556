"""td_plugins.registry: scope prefix, locations, inner builds, codebases."""
import importlib
import subprocess
import sys
import textwrap

import pytest
import torch.nn as nn
from mmengine.registry import DefaultScope, init_default_scope

import td_plugins
from td_plugins.models.layers import DownsampleFunction
from td_plugins.registry import MODELS, SCOPE, build_module

CODEBASE_SCOPES = ('mmdet', 'mmpose', 'mmaction', 'mmpretrain')


class _InnerBuildProbe(nn.Module):
    """A composite that builds an unprefixed sub-module of ours."""

    def __init__(self, scoped: bool = True) -> None:
        super().__init__()
        cfg = dict(type='DownsampleFunction', mode='linear')
        self.dsf = build_module(cfg) if scoped else MODELS.build(cfg)


@pytest.fixture
def probe_registered():
    MODELS.register_module(name='_InnerBuildProbe', module=_InnerBuildProbe)
    yield
    MODELS._module_dict.pop('_InnerBuildProbe')


@pytest.fixture
def scoped():
    """Restore the default scope the test changed."""
    before = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(before)


def test_registry_is_a_scoped_child_of_mmengine():
    from mmengine.registry import MODELS as ROOT
    assert MODELS.scope == SCOPE == 'td_plugins'
    assert MODELS.parent is ROOT
    assert ROOT._children['td_plugins'] is MODELS
    assert 'td_plugins.models' in MODELS._locations
    assert td_plugins.MODELS is MODELS


@pytest.mark.parametrize('scope', CODEBASE_SCOPES)
def test_prefixed_type_builds_under_each_codebase_scope(scope, scoped):
    pytest.importorskip(scope)
    init_default_scope(scope)
    codebase_models = importlib.import_module(f'{scope}.registry').MODELS
    module = codebase_models.build(
        dict(type='td_plugins.DownsampleFunction', dims=3))
    assert isinstance(module, DownsampleFunction) and module.dims == 3
    # Unprefixed names belong to the codebase, never to us.
    with pytest.raises(KeyError, match='not in the'):
        codebase_models.build(dict(type='DownsampleFunction'))


@pytest.mark.parametrize('scope', CODEBASE_SCOPES)
def test_inner_builds_are_scope_proof(scope, scoped, probe_registered):
    pytest.importorskip(scope)
    init_default_scope(scope)
    codebase_models = importlib.import_module(f'{scope}.registry').MODELS
    probe = codebase_models.build(dict(type='td_plugins._InnerBuildProbe'))
    assert isinstance(probe.dsf, DownsampleFunction)
    assert probe.dsf.mode == 'linear'
    assert DefaultScope.get_current_instance().scope_name == scope
    # Without build_module the inner build is re-routed to the codebase.
    with pytest.raises(KeyError, match=f'not in the {scope}::model'):
        codebase_models.build(
            dict(type='td_plugins._InnerBuildProbe', scoped=False))


def test_build_module_passes_modules_and_none_through():
    dsf = DownsampleFunction()
    assert build_module(dsf) is dsf
    assert build_module(None) is None
    with pytest.raises(TypeError, match='"type"'):
        build_module(dict(dims=2))


def test_duplicate_registration_is_refused():
    with pytest.raises(KeyError, match='already registered'):
        MODELS.register_module(name='DownsampleFunction',
                               module=DownsampleFunction)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)


def test_fresh_interpreter_builds_without_custom_imports():
    pytest.importorskip('mmdet')
    proc = _run("""
        import sys
        from mmengine.registry import init_default_scope
        init_default_scope('mmdet')
        from mmdet.registry import MODELS
        assert 'td_plugins' not in sys.modules
        m = MODELS.build(dict(type='td_plugins.DownsampleFunction'))
        assert type(m).__module__.startswith('td_plugins.'), type(m)
        assert 'td_plugins.models' in sys.modules
        print('BUILT', type(m).__name__)
    """)
    assert proc.returncode == 0, proc.stderr
    assert 'BUILT DownsampleFunction' in proc.stdout


def test_import_needs_no_codebase():
    """`import td_plugins` with mmdet/mmpose/mmaction/mmpretrain hidden."""
    proc = _run("""
        import sys
        BLOCKED = ('mmdet', 'mmpose', 'mmaction', 'mmpretrain')
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in BLOCKED:
                    raise ImportError(f'blocked for this test: {name}')
        sys.meta_path.insert(0, Block())
        import td_plugins
        from td_plugins.registry import MODELS
        m = MODELS.build(dict(type='DownsampleFunction'))
        assert not [k for k in sys.modules if k.split('.')[0] in BLOCKED]
        print('OK', type(m).__name__)
    """)
    assert proc.returncode == 0, proc.stderr
    assert 'OK DownsampleFunction' in proc.stdout
