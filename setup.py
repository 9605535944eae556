"""Packaging of td_plugins. The pinned stack is installed by scripts/setup.sh."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
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
    zip_safe=False,
)
