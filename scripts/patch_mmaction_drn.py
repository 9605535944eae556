"""Make ``import mmaction.models`` work with PyPI's mmaction2 1.2.0.

Upstream bug: the folder ``mmaction/models/localizers/drn/`` has no
``__init__.py`` in the mmaction2 repository, so neither the 1.2.0 wheel nor
its sdist contains it, while ``mmaction/models/localizers/__init__.py``
imports ``from .drn.drn import DRN``; ``import mmaction.models`` then fails
with ``ModuleNotFoundError: No module named 'mmaction.models.localizers.drn'``
(open-mmlab/mmaction2 issue #2714, open since 2023-10).

This script rewrites that one import in the installed package so that a
missing ``drn`` subpackage is tolerated: every other model of mmaction2 loads,
and only the DRN temporal-grounding localizer is unavailable (as it is in the
release anyway). Idempotent: exits 0 when the file is already patched or when
the installed release does not have the bug.
"""
import importlib.util
import re
import sys
from pathlib import Path

MARKER = '# td_plugins: mmaction2 #2714'
IMPORT = re.compile(r'^from \.drn\.drn import DRN[^\n]*$', re.M)


def main() -> int:
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        print('mmaction2 is not installed', file=sys.stderr)
        return 1
    pkg = Path(list(spec.submodule_search_locations)[0])
    init = pkg / 'models' / 'localizers' / '__init__.py'
    text = init.read_text()
    if MARKER in text:
        print(f'{init}: already patched')
        return 0
    if (pkg / 'models' / 'localizers' / 'drn' / 'drn.py').is_file() or \
            not IMPORT.search(text):
        print(f'{init}: drn is importable, nothing to do')
        return 0
    patched = IMPORT.sub(
        f'try:  {MARKER}: drn/ is missing from the PyPI release\n'
        '    from .drn.drn import DRN\n'
        'except ModuleNotFoundError:\n'
        '    DRN = None', text, count=1)
    patched = patched.replace("'DRN', ", '').replace(", 'DRN'", '')
    init.write_text(patched)
    print(f'{init}: made the missing drn import tolerant (mmaction2 #2714)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
