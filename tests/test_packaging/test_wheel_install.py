"""td_plugins as an installed package (docs/packaging.md).

Builds the sdist and the wheel from a copy of the checkout, installs the
wheel (not editable) into a fresh virtual environment that reuses this
interpreter's OpenMMLab stack, and from a folder outside the repository:
trains a user config whose ``_base_`` is ``td_plugins::...`` with the
package's own ``.mim/tools/train.py`` and with ``mim train td_plugins``,
tests the checkpoint with ``mim test td_plugins`` and lists the model zoo
with ``mim search td_plugins``. A second environment checks that an
editable install links ``td_plugins/.mim`` to the checkout.

Skipped without ``build`` (python -m build), openmim or mmpretrain; about
three minutes on two busy cores.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest

pytest.importorskip('build', reason='needs `build` (requirements/mim.txt)')
pytest.importorskip('mim', reason='needs openmim (requirements/mim.txt)')
pytest.importorskip('mmpretrain', reason='needs the OpenMMLab stack')

REPO = Path(__file__).resolve().parents[2]
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')
# The fastest base with a td_plugins backbone among the demo configs: the
# TDAM-ResNet-18 classifier (2 iterations and a validation in 15-38 s on
# two busy cores, against 37-69 s for make demo's FCOS TDAF-R18).
BASE = 'td_plugins::tdam/demo/tdam-r18_cls_demo.py'
USER_CONFIG = """\
_base_ = '{base}'
data_root = '{data}/cls/'
model = dict(backbone=dict(depth=34))
_loader = dict(batch_size=4, num_workers=0, persistent_workers=False,
               dataset=dict(data_root=data_root))
train_dataloader = _loader
val_dataloader = _loader
test_dataloader = _loader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
"""


def _run(cmd: List[str], cwd: Path, timeout: int = 600,
         env: Optional[Dict[str, str]] = None) -> str:
    """Run ``cmd``; return stdout + stderr, failing with its tail."""
    full_env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    full_env.update(PYTHONUNBUFFERED='1', PYTHONWARNINGS='ignore',
                    **(env or {}))
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(map(str, cmd))} failed ({proc.returncode}):\n'
            f'{out[-6000:]}')
    return out


def _copy_checkout(dest: Path) -> Path:
    """Copy the files git tracks or would track (not build outputs)."""
    if shutil.which('git') is None or not (REPO / '.git').exists():
        pytest.skip('needs a git checkout of the repository')
    listed = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others',
         '--exclude-standard'], cwd=REPO, capture_output=True, check=True)
    for name in listed.stdout.decode().split('\0'):
        src = REPO / name
        if not name or not src.is_file():  # deleted in the work tree
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name)
    return dest


def _make_venv(path: Path) -> Path:
    """A venv that sees this interpreter's site-packages through a .pth.

    Its own site-packages comes first on ``sys.path``, so what is installed
    into it shadows this environment's (editable) td_plugins; the .pth
    adds the stack's folders as plain paths, whose own .pth files (such as
    the editable td_plugins' finder) are not run.
    """
    _run([sys.executable, '-m', 'venv', '--without-pip', path],
         cwd=path.parent)
    python = path / 'bin' / 'python'
    site = _run([python, '-c', 'import sysconfig; '
                 'print(sysconfig.get_paths()["purelib"])'],
                cwd=path).strip()
    stack = {sysconfig.get_paths()['purelib'],
             sysconfig.get_paths()['platlib']}
    Path(site, 'td_stack.pth').write_text('\n'.join(sorted(stack)) + '\n')
    return python


@pytest.fixture(scope='module')
def built(tmp_path_factory) -> Dict[str, Path]:
    """The sdist and the wheel, built from a copy of the checkout."""
    root = tmp_path_factory.mktemp('pkg')
    src = _copy_checkout(root / 'src')
    _run([sys.executable, '-m', 'build', '--no-isolation', '--outdir',
          root / 'dist', src], cwd=root)
    (wheel, ) = (root / 'dist').glob('td_plugins-*.whl')
    (sdist, ) = (root / 'dist').glob('td_plugins-*.tar.gz')
    return dict(root=root, src=src, wheel=wheel, sdist=sdist)


@pytest.fixture(scope='module')
def installed(built) -> Dict[str, Path]:
    """The wheel installed into a fresh venv; a user folder with demo data."""
    root = built['root']
    python = _make_venv(root / 'venv')
    _run([python, '-m', 'pip', 'install', '--no-deps', '--no-index',
          '--ignore-installed', built['wheel']], cwd=root)
    user = root / 'user'
    user.mkdir()
    pkg = Path(_run([python, '-c', 'import os, td_plugins; '
                     'print(os.path.dirname(td_plugins.__file__))'],
                    cwd=user).strip().splitlines()[-1])
    data = user / 'data'
    _run([python, pkg / '.mim' / 'tools' / 'misc' / 'make_demo_data.py',
          '--out', data, '--only', 'cls', '--scale', '0.05'], cwd=user)
    config = user / 'my_classifier.py'
    config.write_text(USER_CONFIG.format(base=BASE, data=data))
    return dict(python=python, pkg=pkg, user=user, config=config)


def test_wheel_and_sdist_contents(built):
    """Both carry the package with .mim (configs, tools, model index) and
    nothing from tests/, work_dirs/ or data/."""
    wheel = zipfile.ZipFile(built['wheel']).namelist()
    with tarfile.open(built['sdist']) as tar:
        top = tar.getnames()[0].split('/')[0]
        sdist = [n.split('/', 1)[1] for n in tar.getnames() if '/' in n]
    configs = {p.relative_to(REPO).as_posix()
               for p in (REPO / 'configs').rglob('*')
               if p.is_file() and p.suffix in ('.py', '.yml')}
    assert configs
    for names in (wheel, sdist):
        packed = {n[len('td_plugins/.mim/'):] for n in names
                  if n.startswith('td_plugins/.mim/')}
        assert configs <= packed, sorted(configs - packed)[:5]
        assert 'model-index.yml' in packed
        assert {'tools/train.py', 'tools/test.py',
                'tools/misc/make_demo_data.py'} <= packed
        assert 'td_plugins/__init__.py' in names
        assert not [n for n in names if n.split('/')[0] in (
            'tests', 'work_dirs', 'data') or '__pycache__' in n]
    assert top.startswith('td_plugins-')
    assert {'setup.py', 'README.md', 'requirements/runtime.txt'} <= set(sdist)


def test_installed_wheel_is_imported(installed):
    """The venv imports the wheel, not this environment's td_plugins, and
    mmengine and mim find the copied (not linked) configs."""
    out = _run([installed['python'], '-c', (
        'import os, td_plugins\n'
        'from mmengine.utils import get_installed_path\n'
        'from mmengine.config import Config\n'
        'p = get_installed_path("td_plugins")\n'
        'assert os.path.samefile(p, os.path.dirname(td_plugins.__file__))\n'
        'assert not os.path.islink(os.path.join(p, ".mim", "configs"))\n'
        'cfg = Config.fromfile("my_classifier.py")\n'
        'print(td_plugins.__file__, cfg.model.backbone.type,\n'
        '      cfg.model.backbone.depth, cfg.train_cfg.get("_scope_"))\n')],
        cwd=installed['user'])
    file, backbone, depth, scope = out.strip().splitlines()[-1].split()
    assert Path(file).parent == installed['pkg']
    assert not Path(file).is_relative_to(REPO)
    assert (backbone, depth, scope) == ('td_plugins.TDAMResNet', '34', 'None')


def test_train_and_test_outside_the_repository(installed):
    """Our launcher and mim train 2 iterations of a config with a
    td_plugins:: base; mim test evaluates the checkpoint."""
    python, user, config = (installed['python'], installed['user'],
                            installed['config'])
    train = installed['pkg'] / '.mim' / 'tools' / 'train.py'
    out = _run([python, train, config, '--work-dir', user / 'wd_launcher'],
               cwd=user)
    assert 'Iter(train) [2/2]' in out and 'accuracy/top1' in out
    assert (user / 'wd_launcher' / 'iter_2.pth').is_file()

    out = _run([python, '-m', 'mim', 'train', 'td_plugins', config.name,
                '--work-dir', user / 'wd_mim'], cwd=user)
    assert f'{train} {config.name}' in out
    assert 'Iter(train) [2/2]' in out
    ckpt = user / 'wd_mim' / 'iter_2.pth'
    assert ckpt.is_file()

    out = _run([python, '-m', 'mim', 'test', 'td_plugins', config.name,
                '--checkpoint', ckpt, '--work-dir', user / 'wd_test'],
               cwd=user)
    assert 'accuracy/top1' in out
    assert (user / 'wd_test' / 'test_metrics.json').is_file()


def test_mim_search(installed):
    """mim search lists every model of the metafiles with its parameters
    and FLOPs."""
    import yaml
    expected = []
    for meta in yaml.safe_load(
            (REPO / 'model-index.yml').read_text())['Import']:
        expected += [m['Name'] for m in
                     yaml.safe_load((REPO / meta).read_text())['Models']]
    out = _run([installed['python'], '-m', 'mim', 'search', 'td_plugins',
                '--field', 'parameters', 'flops', 'flops_input_shape',
                '--display-width', '200'], cwd=installed['user'],
               env=dict(PAGER='cat'))
    listed = [line.split(': ', 1)[1] for line in out.splitlines()
              if line.startswith('config id: ')]
    assert sorted(listed) == sorted(expected)
    for key in ('parameters', 'flops', 'flops_input_shape'):
        assert out.count(f'\n{key} ') == len(expected), key


def test_editable_install_links_the_checkout(built, tmp_path):
    """``pip install -e`` (as make setup runs it) links td_plugins/.mim to
    the checkout's folders, and td_plugins:: bases resolve there."""
    src = built['src']
    python = _make_venv(tmp_path / 'venv')
    _run([python, '-m', 'pip', 'install', '--no-build-isolation',
          '--no-deps', '--no-index', '--ignore-installed', '-e', src],
         cwd=tmp_path)
    for item in MIM_ITEMS:
        link = src / 'td_plugins' / '.mim' / item
        assert link.is_symlink() and link.resolve() == (src / item).resolve()
    (tmp_path / 'my_classifier.py').write_text(
        f"_base_ = '{BASE}'\nmodel = dict(backbone=dict(depth=34))\n")
    out = _run([python, '-c', (
        'import os, td_plugins\n'
        'from mmengine.config import Config\n'
        'from td_plugins.utils.package_configs import package_config_path\n'
        f'path = package_config_path("{BASE}")\n'
        'cfg = Config.fromfile("my_classifier.py")\n'
        'assert cfg.model.backbone.depth == 34\n'
        'print(os.path.dirname(td_plugins.__file__), path)\n')],
        cwd=tmp_path)
    pkg, path = out.strip().splitlines()[-1].split()
    assert Path(pkg) == src / 'td_plugins'
    assert Path(path).resolve() == (
        src / 'configs' / 'tdam' / 'demo' / 'tdam-r18_cls_demo.py')
