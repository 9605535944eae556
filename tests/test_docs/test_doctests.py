"""Every docstring example under td_plugins/ runs as a doctest.

One case per object with examples (id: its qualified name). A module that
imports a codebase which is not installed is skipped with that reason; CI
installs them all, so there nothing is skipped.
"""
import doctest
import importlib
import pkgutil
from typing import List, Tuple

import pytest
from mmengine.registry import DefaultScope

import td_plugins
from td_plugins.utils.codebases import DISTRIBUTIONS, available

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names() -> List[str]:
    names = [td_plugins.__name__]
    # A package that fails to import is listed too: _collect imports it
    # again, to skip it (missing codebase) or to fail with the error.
    for info in pkgutil.walk_packages(td_plugins.__path__,
                                      prefix=td_plugins.__name__ + '.',
                                      onerror=names.append):
        names.append(info.name)
    return sorted(set(names))


def _collect() -> List[Tuple[str, object]]:
    """(id, doctest.DocTest or skip reason) for each example found."""
    cases = []
    finder = doctest.DocTestFinder(exclude_empty=True)
    for name in _module_names():
        try:
            module = importlib.import_module(name)
        except ImportError as err:
            root = (getattr(err, 'name', None) or '').split('.')[0]
            missing = [c for c in DISTRIBUTIONS if c == root or (
                c in str(err) and not available(c))]
            if missing:
                cases.append((name, f'{name} needs {missing[0]}, which is '
                                    f'not installed'))
                continue
            raise
        for test in finder.find(module, name):
            if test.examples:
                cases.append((test.name, test))
    return cases


CASES = _collect()


def test_examples_are_found():
    assert sum(not isinstance(c, str) for _, c in CASES) > 0


@pytest.mark.parametrize('case', [c for _, c in CASES],
                         ids=[i for i, _ in CASES])
def test_doctest(case):
    if isinstance(case, str):
        pytest.skip(case)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report: List[str] = []
    case.globs = dict(case.globs)  # a fresh namespace for each run
    # As in a fresh session: no default scope left by earlier tests.
    scopes = DefaultScope._instance_dict.copy()
    DefaultScope._instance_dict.clear()
    try:
        result = runner.run(case, out=report.append, clear_globs=True)
    finally:
        DefaultScope._instance_dict.clear()
        DefaultScope._instance_dict.update(scopes)
    text = ''.join(report)
    missing = [c for c in DISTRIBUTIONS if not available(c) and (
        c in text or any(c in ex.source for ex in case.examples))]
    if result.failed and missing:
        pytest.skip(f'{case.name} needs {missing[0]}, which is not '
                    f'installed')
    if result.failed:
        pytest.fail(f'{result.failed} of {result.attempted} examples of '
                    f'{case.name} failed:\n' + text,
                    pytrace=False)
