"""scripts/setup.sh (idempotent) and the mmaction2 drn fix it applies."""
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUGGY_INIT = """# Copyright (c) OpenMMLab. All rights reserved.
from .bsn import BSN, TEM
from .drn.drn import DRN
from .tcanet import TCANet

__all__ = ['TEM', 'PEM', 'BSN', 'BMN', 'TCANet', 'DRN']
"""


def _fake_mmaction(root: Path) -> Path:
    loc = root / 'mmaction' / 'models' / 'localizers'
    loc.mkdir(parents=True)
    for pkg in (root / 'mmaction', root / 'mmaction' / 'models'):
        (pkg / '__init__.py').write_text('')
    (loc / '__init__.py').write_text(BUGGY_INIT)
    (loc / 'bsn.py').write_text('BSN = TEM = object\n')
    (loc / 'tcanet.py').write_text('TCANet = object\n')
    return loc / '__init__.py'


def _patch(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / 'scripts' / 'patch_mmaction_drn.py')],
        env={'PYTHONPATH': str(root)}, capture_output=True, text=True,
        check=True)


def test_drn_patch_makes_the_import_tolerant(tmp_path):
    init = _fake_mmaction(tmp_path)
    check = [sys.executable, '-c',
             'import mmaction.models.localizers as m; print(m.DRN, m.TCANet)']
    broken = subprocess.run(check, env={'PYTHONPATH': str(tmp_path)},
                            capture_output=True, text=True)
    assert "No module named 'mmaction.models.localizers.drn'" in broken.stderr
    assert 'made the missing drn import tolerant' in _patch(tmp_path).stdout
    assert 'mmaction2 #2714' in init.read_text()
    fixed = subprocess.run(check, env={'PYTHONPATH': str(tmp_path)},
                           capture_output=True, text=True, check=True)
    assert fixed.stdout.split() == ['None', "<class", "'object'>"]
    assert "'DRN'" not in init.read_text()
    # Idempotent.
    before = init.read_text()
    assert 'already patched' in _patch(tmp_path).stdout
    assert init.read_text() == before


def test_drn_patch_leaves_a_complete_release_alone(tmp_path):
    init = _fake_mmaction(tmp_path)
    drn = init.parent / 'drn'
    drn.mkdir()
    (drn / '__init__.py').write_text('')
    (drn / 'drn.py').write_text('DRN = object\n')
    assert 'nothing to do' in _patch(tmp_path).stdout
    assert init.read_text() == BUGGY_INIT


@pytest.mark.skipif(not (REPO / '.venv' / 'bin' / 'python').exists(),
                    reason='needs the .venv that `make setup` creates')
def test_second_setup_run_does_nothing_quickly():
    start = time.monotonic()
    proc = subprocess.run(['bash', str(REPO / 'scripts' / 'setup.sh')],
                          capture_output=True, text=True, check=True)
    elapsed = time.monotonic() - start
    steps = [line for line in proc.stdout.splitlines()
             if re.match(r'\[setup +\d+\]', line)]
    assert len(steps) >= 10
    assert all(line.endswith('already done') for line in steps), steps
    # the mmcv ops choice is said, and what the installed build has
    assert re.search(r'^\[setup\] mmcv ops: (cpu|cuda) \(', proc.stdout, re.M)
    assert re.search(r'^\[setup\] mmcv ops installed: (CPU only|compiled with '
                     r'CUDA \d+\.\d+)', proc.stdout, re.M), proc.stdout
    assert elapsed < 90, elapsed
