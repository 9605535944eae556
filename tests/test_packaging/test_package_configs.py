"""``_base_ = 'td_plugins::...'`` (td_plugins.utils.package_configs): what
``import td_plugins`` makes mmengine's config parser do. Parsing only."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.config.utils import MODULE2PACKAGE

import td_plugins  # noqa: F401  (installs the resolver)
from td_plugins.utils.package_configs import (
    install_package_configs,
    package_config_path,
)

REPO = Path(__file__).resolve().parents[2]
BASE = 'tdaf/demo/fcos_tdaf-r18_demo.py'


def _scopes(node, found=None) -> set:
    found = set() if found is None else found
    if isinstance(node, dict):
        if '_scope_' in node:
            found.add(node['_scope_'])
        for value in node.values():
            _scopes(value, found)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _scopes(value, found)
    return found


def test_resolves_to_the_package_configs():
    path = Path(package_config_path(f'td_plugins::{BASE}'))
    assert path.resolve() == (REPO / 'configs' / BASE).resolve()
    assert MODULE2PACKAGE['td_plugins'] == 'td_plugins'


def test_missing_config_names_the_file():
    with pytest.raises(FileNotFoundError, match='no_such.py'):
        package_config_path('td_plugins::tdaf/no_such.py')
    with pytest.raises(ValueError):
        package_config_path('mmdet::x/y.py')


def test_base_parses_like_a_path_base(tmp_path):
    """Overrides apply, and no dict gets ``_scope_='td_plugins'`` (which
    would send the loop and the datasets to our registry): the result is
    that of the same base given by its file path."""
    override = 'model = dict(backbone=dict(depth=34))\n'
    pkg = tmp_path / 'pkg.py'
    pkg.write_text(f"_base_ = 'td_plugins::{BASE}'\n{override}")
    by_path = tmp_path / 'by_path.py'
    by_path.write_text(f"_base_ = '{REPO / 'configs' / BASE}'\n{override}")
    cfg = Config.fromfile(str(pkg))
    assert cfg.model.backbone.depth == 34
    assert cfg.model.backbone.type == 'td_plugins.TDAFResNet'
    assert 'td_plugins' not in _scopes(cfg.to_dict())
    assert cfg.to_dict() == Config.fromfile(str(by_path)).to_dict()


def test_install_is_idempotent(tmp_path):
    install_package_configs()
    install_package_configs()
    (tmp_path / 'c.py').write_text(f"_base_ = 'td_plugins::{BASE}'\n")
    assert Config.fromfile(str(tmp_path / 'c.py')).default_scope == 'mmdet'
