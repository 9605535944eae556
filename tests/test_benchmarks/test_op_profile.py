"""Tests for benchmarks.harness.op_profile: small models, a few seconds."""
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import Case, op_profile  # noqa: E402


class WithSigmoid(nn.Module):
    """The baseline's linear layer, then a sigmoid the baseline lacks."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(256, 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(x))


def _inp() -> torch.Tensor:
    return torch.randn(2048, 256)


def _rows(text: str) -> dict:
    rows = {}
    for line in text.splitlines():
        if line.startswith('| `'):
            cells = [c.strip() for c in line.strip('|').split('|')]
            rows[cells[0].strip('`')] = cells[1:]
    return rows


@pytest.mark.parametrize('mode', ['forward', 'train'])
def test_an_op_only_the_method_runs_is_excess(mode):
    text = op_profile(Case('base', lambda: nn.Linear(256, 256), _inp, mode),
                      Case('method', WithSigmoid, _inp, mode), 1.0,
                      top=50, title='t')
    rows = _rows(text)
    base_ms, method_ms, ratio, excess = rows['aten::sigmoid']
    assert float(base_ms) == 0.0 and ratio == '-'
    assert float(method_ms) > 0 and float(excess) == pytest.approx(
        float(method_ms), abs=0.01)
    assert text.startswith('## t: method vs base')
    if mode == 'train':
        assert 'aten::sigmoid_backward' in rows
    # the shared op's excess is its method time minus 1.0 x its base time
    b, m, _, e = rows['aten::addmm']
    assert float(e) == pytest.approx(float(m) - float(b), abs=0.02)


def test_cases_of_two_modes_are_refused():
    with pytest.raises(ValueError, match='one mode'):
        op_profile(Case('a', lambda: nn.Linear(2, 2), _inp, 'forward'),
                   Case('b', lambda: nn.Linear(2, 2), _inp, 'train'), 1.0)
