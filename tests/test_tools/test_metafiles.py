"""configs/*/metafile.yml and model-index.yml (tools/misc/make_metafiles.py):
every zoo config listed, OpenMMLab's fields, parameters of the built model,
the paper's numbers marked as such, and the entries the generator writes."""
import functools

import pytest
import yaml
from conftest import REPO, load_script
from mmengine.config import Config

METHODS = ('tdam', 'tdaf', 'aw', 'tnet')


@functools.lru_cache(maxsize=None)
def _generator():
    return load_script('tools/misc/make_metafiles.py')


def _methods_with_configs():
    return [m for m in METHODS if any((REPO / 'configs' / m).glob('*.py'))]


@functools.lru_cache(maxsize=None)
def _metafile(method: str) -> dict:
    path = REPO / 'configs' / method / 'metafile.yml'
    assert path.is_file(), f'{path} missing: run tools/misc/make_metafiles.py'
    return yaml.safe_load(path.read_text())


def _models():
    return {m['Name']: m for method in _methods_with_configs()
            for m in _metafile(method)['Models']}


@pytest.mark.parametrize('method', _methods_with_configs())
def test_every_config_is_listed(method):
    """All of configs/<method>/*.py (not _base_/, demo/), and nothing
    else."""
    meta = _metafile(method)
    configs = {p.relative_to(REPO).as_posix()
               for p in (REPO / 'configs' / method).glob('*.py')}
    configs |= {p for p in _generator().EXTRA_CONFIGS.get(method, ())
                if (REPO / p).is_file()}
    listed = [m['Config'] for m in meta['Models']]
    assert sorted(listed) == sorted(configs), (
        'metafile out of date: run tools/misc/make_metafiles.py')
    assert not any('/_base_/' in c or '/demo/' in c for c in listed)


@pytest.mark.parametrize('method', _methods_with_configs())
def test_openmmlab_fields(method):
    meta = _metafile(method)
    (collection, ) = meta['Collections']
    assert collection['Paper']['URL'].startswith('https://arxiv.org/abs/')
    assert collection['Paper']['Title']
    if 'README' in collection:
        assert (REPO / collection['README']).is_file()
    for model in meta['Models']:
        assert model['Name'] == model['Config'].rsplit('/', 1)[1][:-3]
        assert model['In Collection'] == collection['Name']
        assert (REPO / model['Config']).is_file()
        md = model['Metadata']
        assert isinstance(md['Parameters'], int) and md['Parameters'] > 0
        assert isinstance(md['FLOPs'], int) and md['FLOPs'] > 0
        assert md['FLOPs Input Shape'].startswith('1x')
        assert md['Training Data']
        assert 'Weights' not in model  # no td_plugins-trained weights
        for result in model.get('Results', []):
            assert set(result) == {'Task', 'Dataset', 'Metrics', 'Source'}
            assert result['Source'].startswith('paper: ')
            assert all(isinstance(v, float) for v in
                       result['Metrics'].values())
        if 'Results' in model:
            assert 'paper' in model['Results Source']


def test_names_are_unique_and_model_index_imports_every_metafile():
    names = [m['Name'] for method in _methods_with_configs()
             for m in _metafile(method)['Models']]
    assert len(names) == len(set(names))
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    assert index['Import'] == [f'configs/{m}/metafile.yml'
                               for m in _methods_with_configs()]
    for path in index['Import']:
        assert (REPO / path).is_file()


def test_paper_table_names_existing_configs():
    """A typo in the generator's table would silently drop a result."""
    models = _models()
    for name in _generator().PAPER_RESULTS:
        config_exists = any((REPO / 'configs' / m / f'{name}.py').is_file()
                            for m in METHODS) or any(
            p.endswith(f'/{name}.py') for ps in
            _generator().EXTRA_CONFIGS.values() for p in ps)
        assert config_exists, name
        assert 'Results' in models[name], name


def test_paper_numbers_where_the_paper_has_them():
    models = _models()

    def top1(name):
        return models[name]['Results'][0]['Metrics']['Top 1 Accuracy']

    assert top1('tdam-joint-t2m1_resnet50_8xb64_in1k') == 78.96
    assert top1('aw-resnet50_8xb32_in1k') == 76.62  # 100 - 23.38 error
    assert top1('tdaf-r50-anar3-3f_8xb32_in1k') == 78.4
    assert models['fcos_tdaf-r101_fpn_gn-head_ms-640-800-2x_coco'][
        'Results'][0]['Metrics']['box AP'] == 42.0
    # settings the paper has no number for: no Results
    for name in ('tdam-joint-t2m2_resnet18_8xb64_in1k',
                 'tdaf-r50-anar5-4f_8xb32_in1k',
                 'faster-rcnn_tdaf-r50_fpn_1x_coco'):
        assert 'Results' not in models[name], name
    if 'tnet-bagnet77_4xb16_in1k' in models:  # 3 locations at test
        assert top1('tnet-bagnet77_4xb16_in1k') == 74.41


@pytest.mark.parametrize('name', [
    'aw-resnet50_8xb32_in1k',
    'fcos_tdaf-r50-anar5_fpn_gn-head_ms-640-800-2x_coco',
    'td-hm_tdam-r50_8xb64-210e_coco-256x192',
])
def test_parameters_match_the_built_model(name):
    from td_plugins.utils.dummy_inputs import build_model
    entry = _models()[name]
    model = build_model(Config.fromfile(str(REPO / entry['Config'])),
                        'meta')
    assert entry['Metadata']['Parameters'] == sum(
        p.numel() for p in model.parameters())


@pytest.mark.parametrize('method,name', [
    ('aw', 'aw-resnet50_8xb16_cifar100'),
    ('tdam', 'tdam-joint-t2m1_resnet50_8xb64_in1k'),
])
def test_generator_writes_the_committed_entry(method, name):
    """Two cheap configs, recomputed (FLOPs included): the committed
    metafile is what the generator writes today."""
    gen = _generator()
    entry = gen.model_entry(REPO / 'configs' / method / f'{name}.py', REPO,
                            method)
    assert entry == _models()[name]
    if name.startswith('tdam-joint-t2m1_resnet50'):
        md = entry['Metadata']
        assert 4.55e9 <= md['FLOPs All Tops Computed'] <= 4.59e9
        assert md['Parameters'] == 27_645_992


def test_tnet_locations():
    tnet_locations = _generator().tnet_locations
    assert tnet_locations(dict(type='ImageClassifier')) is None
    assert tnet_locations(dict(type='td_plugins.TNet', num_levels=2,
                               locations_per_level=[3])) == 3
    assert tnet_locations(dict(type='td_plugins.TNet', num_levels=3,
                               locations_per_level=[2, 1])) == 4
    assert tnet_locations(dict(
        type='td_plugins.TNet', num_levels=3, locations_per_level=[2, 1],
        test_cfg=dict(locations_per_level=[2, 2]))) == 6
    assert tnet_locations(dict(type='td_plugins.TNet', num_levels=2,
                               locations_per_level=[3],
                               test_cfg=dict(num_levels=1))) == 0
