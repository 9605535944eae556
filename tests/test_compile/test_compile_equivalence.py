"""torch.compile (inductor, CPU) gives eager's outputs, gradients and buffer
updates for every class in td_plugins' registry, in train and eval mode.

The layers' cases run in ``make test``; the whole-model cases (backbones,
neck, head, classifiers) compile for tens of seconds each on 2 cores and are
marked ``compile``: ``pytest tests/test_compile -m compile`` (docs/compile.md
has the time).
"""
import pytest
import torch
from compile_cases import CASES, FAST, marked, pair, relative_error

from td_plugins.registry import MODELS

# ||compiled - eager|| / ||eager|| per tensor, float32: inductor reorders
# sums and fuses (no exact bitwise match is promised); MFBN2d's output and
# gradients measured about 1.2e-7 (docs/compile.md).
TOL = 1e-4


def test_every_registered_class_has_a_case():
    assert set(MODELS.module_dict) <= set(CASES)
    assert set(FAST) <= set(CASES)


def _check(name: str, train: bool) -> None:
    eager, compiled = pair(name, train)
    assert len(eager.outs) == len(compiled.outs) > 0, name
    for i, (a, b) in enumerate(zip(compiled.outs, eager.outs)):
        assert a.shape == b.shape and a.dtype == b.dtype, (name, i)
        assert relative_error(a, b) <= TOL, (name, 'output', i,
                                             relative_error(a, b))
    if train:
        assert compiled.grads.keys() == eager.grads.keys(), name
        assert eager.grads, f'{name}: no gradient at all'
        worst = max(eager.grads, key=lambda k: relative_error(
            compiled.grads[k], eager.grads[k]))
        err = relative_error(compiled.grads[worst], eager.grads[worst])
        assert err <= TOL, (name, 'gradient', worst, err)
    assert compiled.buffers.keys() == eager.buffers.keys(), name
    for key, b in eager.buffers.items():
        a = compiled.buffers[key]
        if b.is_floating_point():
            assert relative_error(a, b) <= TOL, (name, 'buffer', key)
        else:  # e.g. BN's num_batches_tracked
            assert torch.equal(a, b), (name, 'buffer', key)


@pytest.mark.parametrize('name', marked(sorted(CASES)))
def test_compiled_train_step_matches_eager(name):
    if name in ('TDAMResNet3d', 'TDAFResNet3d'):
        pytest.importorskip('mmaction.models')
    _check(name, train=True)


@pytest.mark.parametrize('name', marked(sorted(CASES)))
def test_compiled_eval_forward_matches_eager(name):
    if name in ('TDAMResNet3d', 'TDAFResNet3d'):
        pytest.importorskip('mmaction.models')
    _check(name, train=False)
