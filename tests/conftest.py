"""Shared fixtures: the repository root, demo data on demand and
../shared/data."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / 'shared' / 'data'


def load_script(relative_path: str):
    """Import a repository script (tools/ is no package) from its path."""
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def demo_data() -> Path:
    """data/demo, generated on first use (idempotent, seed 0)."""
    out = REPO / 'data' / 'demo'
    load_script('tools/misc/make_demo_data.py').make_demo_data(str(out),
                                                               seed=0)
    return out


@pytest.fixture(scope='session')
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f'real datasets not available: {SHARED_DATA} does not '
                    'exist (it sits beside the repository on CI and '
                    'developer machines only)')
    return SHARED_DATA


def run_tool(*args: str, timeout: int = 900, env: dict = None,
             ) -> subprocess.CompletedProcess:
    """Run a repository script with this interpreter from the repo root."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    cmd = [str(a) for a in args]
    if cmd[0].endswith('.py'):
        cmd = [sys.executable] + cmd
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-6000:]
        raise AssertionError(f'{" ".join(cmd)} failed '
                             f'({proc.returncode}):\n{tail}')
    return proc


@pytest.fixture
def moment_top_calls(monkeypatch: pytest.MonkeyPatch) -> list:
    """A list that grows by one at each moment-top call of a TDAM block
    (``tdam_blocks.pooled_conv_bn``, which still runs as before)."""
    from td_plugins.models.layers import tdam_blocks
    from td_plugins.models.layers.tdam_moments import pooled_conv_bn
    calls: list = []

    def counted(*args):
        calls.append(1)
        return pooled_conv_bn(*args)
    monkeypatch.setattr(tdam_blocks, 'pooled_conv_bn', counted)
    return calls
