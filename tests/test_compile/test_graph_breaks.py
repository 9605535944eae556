"""No graph break in td_plugins' own code beyond the listed ones, per
registered class (``torch._dynamo.explain`` of its training step). The
layers run in ``make test``, the whole models under ``-m compile``;
``python tests/test_compile/compile_cases.py`` prints every break with its
line (docs/compile.md, "Graph breaks")."""
import pytest
from compile_cases import CASES, marked, ours

# (file, dynamo's reason): known breaks, each with its row in
# docs/compile.md. None now (run_flows' sort, the last one, went in dec04da).
KNOWN: set = set()


@pytest.mark.parametrize('name', marked(sorted(CASES)))
def test_no_new_graph_break_in_our_code(name):
    if name in ('TDAMResNet3d', 'TDAFResNet3d'):
        pytest.importorskip('mmaction.models')
    found = ours(name)
    assert found <= KNOWN, f'{name}: new graph breaks {found - KNOWN}'
