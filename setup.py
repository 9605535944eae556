"""Packaging of td_plugins. The pinned stack is installed by scripts/setup.sh.

Like the OpenMMLab codebases, the package carries its configs, tools and
model index as ``td_plugins/.mim/{configs,tools,model-index.yml}``, where
``mim`` and mmengine's ``td_plugins::`` base configs look for them
(docs/packaging.md):

* a wheel, and so ``pip install .``, gets copies (``build_py`` below);
* an sdist gets copies too, so a wheel built from it has them;
* an editable install (``pip install -e .``, ``setup.py develop``) gets
  symlinks to the repository's folders, so edits show at once.
"""
import os
import os.path as osp
import re
import shutil
from typing import List

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop
from setuptools.command.sdist import sdist

HERE = osp.dirname(osp.abspath(__file__))
# What goes into td_plugins/.mim, as paths relative to the repository root.
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')
MIM_IGNORE = shutil.ignore_patterns('__pycache__', '*.pyc', '*.pyo')


def read_requirements(name: str) -> List[str]:
    lines = []
    with open(osp.join(HERE, 'requirements', name)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                lines.append(line)
    return lines


def read_version() -> str:
    with open(osp.join(HERE, 'td_plugins', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def _remove(path: str) -> None:
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def _mim_sources() -> str:
    """The folder holding ``configs``, ``tools`` and ``model-index.yml``.

    The repository root in a checkout; in an unpacked sdist, which carries
    only the package's ``.mim`` copy, that copy.
    """
    if all(osp.exists(osp.join(HERE, item)) for item in MIM_ITEMS):
        return HERE
    packed = osp.join(HERE, 'td_plugins', '.mim')
    if all(osp.exists(osp.join(packed, item)) for item in MIM_ITEMS):
        return packed
    raise FileNotFoundError(
        f'none of {HERE} and {packed} holds all of {MIM_ITEMS}')


def copy_mim_files(dest: str) -> None:
    """Write real copies of the configs, tools and model index to ``dest``."""
    src = _mim_sources()
    if osp.realpath(src) == osp.realpath(dest):
        return
    os.makedirs(dest, exist_ok=True)
    for item in MIM_ITEMS:
        target = osp.join(dest, item)
        _remove(target)
        if osp.isdir(osp.join(src, item)):
            shutil.copytree(osp.join(src, item), target, ignore=MIM_IGNORE)
        else:
            shutil.copy2(osp.join(src, item), target)


def link_mim_files() -> None:
    """Point ``td_plugins/.mim/*`` at the repository's folders (editable)."""
    dest = osp.join(HERE, 'td_plugins', '.mim')
    os.makedirs(dest, exist_ok=True)
    for item in MIM_ITEMS:
        target = osp.join(dest, item)
        _remove(target)
        # Relative links, so the checkout can be moved.
        os.symlink(osp.join('..', '..', item), target)


class BuildPyWithMim(build_py):
    """``build_py`` that also puts the ``.mim`` files into the package."""

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False):
            # PEP 660 editable install: the package is imported from the
            # checkout, so the links go there.
            link_mim_files()
        else:
            copy_mim_files(osp.join(self.build_lib, 'td_plugins', '.mim'))


class DevelopWithMim(develop):
    """``setup.py develop`` (legacy editable install) with ``.mim`` links."""

    def run(self) -> None:
        link_mim_files()
        super().run()


class SdistWithMim(sdist):
    """``sdist`` whose package carries copies of the ``.mim`` files."""

    def make_release_tree(self, base_dir: str, files: List[str]) -> None:
        super().make_release_tree(base_dir, files)
        copy_mim_files(osp.join(base_dir, 'td_plugins', '.mim'))


setup(
    name='td_plugins',
    version=read_version(),
    description='Top-down attention methods (TDAM, TDAF, AW-convolution, '
    'TNet) as plugins for mmdet, mmpose, mmaction2 and mmpretrain',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['td_plugins', 'td_plugins.*']),
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'codebases': read_requirements('codebases.txt'),
        'tests': read_requirements('tests.txt'),
    },
    cmdclass={
        'build_py': BuildPyWithMim,
        'develop': DevelopWithMim,
        'sdist': SdistWithMim,
    },
    zip_safe=False,
)
