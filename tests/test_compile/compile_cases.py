"""Shared by the compile tests: every registered class at a tiny size, run
eagerly and through ``torch.compile``, with its outputs and gradients.

The tiny instances and their steps are the bf16 test's
(``tests/test_models/test_bf16_autocast.py``, ``CASES``: name ->
``(module, step, expected dtypes)``), so a class added to the registry gets
its compile check with its bf16 case. The step's inputs are the tensors its
closure holds; each floating one becomes a leaf that requires grad, so the
input gradients are compared too. docs/compile.md describes the checks.

Run ``python tests/test_compile/compile_cases.py [NAME ...]`` to print each
class's graph breaks (``torch._dynamo.explain``), split into ours
(td_plugins) and upstream; with ``--errors NAME ...``, each class's training
step compiled and eager, every output and gradient's norm (over the largest
gradient norm) and its relative error, unfloored (docs/compile.md).
"""
import contextlib
import copy
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
import torch._inductor.config
import torch.nn as nn

TESTS = Path(__file__).resolve().parents[1]
for _path in (TESTS, TESTS.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from conftest import REPO, load_script  # noqa: E402

from benchmarks.harness import tensors  # noqa: E402

BF16 = load_script('tests/test_models/test_bf16_autocast.py')
CASES: Dict[str, Callable] = dict(BF16.CASES)
OURS = str(REPO / 'td_plugins')


def _float_case(case: Callable) -> Callable:
    """The bf16 case with its bf16 inputs in the default dtype."""
    def build():
        module, step, _ = case()
        for cell in step.__closure__ or ():
            value = cell.cell_contents
            if isinstance(value, torch.Tensor) and \
                    value.dtype == torch.bfloat16:
                cell.cell_contents = value.to(torch.get_default_dtype())
        return module, step, ()
    return build


CASES['TopDownAttention'] = _float_case(CASES['TopDownAttention'])
# Compiled in make test: the layers, whose compile takes seconds; the rest
# (whole models) are marked 'compile'.
FAST = ('ANAR', 'DownsampleFunction', 'HalfScaleResidualGate',
        'MFBN2d', 'MFBN3d', 'SyncMFBN', 'TNetLoss', 'TopDownAttention')


def marked(names: List[str]) -> list:
    """pytest params: a name outside FAST carries the 'compile' mark."""
    import pytest
    return [n if n in FAST else pytest.param(n, marks=pytest.mark.compile)
            for n in names]


def _closure_inputs(step: Callable) -> List[torch.Tensor]:
    """The floating tensors the step's closure holds (its inputs), as
    leaves that require grad."""
    found = []
    for cell in step.__closure__ or ():
        for t in tensors(cell.cell_contents):
            if t.is_floating_point() and t.is_leaf:
                found.append(t.requires_grad_(True))
    return found


def scalar_loss(outs: Any) -> torch.Tensor:
    """A scalar step output as it is; else ``sum_i mean(out_i * R_i)``, R_i
    fixed random (seed i). Not the mean square: behind a BN that is
    constant (about 1), so its input and bias gradients are rounding noise
    around 0 and no relative bound holds."""
    if isinstance(outs, torch.Tensor) and outs.dim() == 0:
        return outs
    parts = []
    for i, t in enumerate(t for t in tensors(outs) if t.is_floating_point()):
        gen = torch.Generator().manual_seed(i)
        r = torch.randn(t.shape, generator=gen, dtype=t.dtype)
        parts.append((t * r.to(t.device)).mean())
    return sum(parts)


class Run:
    """One step of a module: its outputs, loss, gradients and buffers."""

    def __init__(self, outs: Any, module: nn.Module,
                 inputs: List[torch.Tensor], train: bool) -> None:
        self.outs = [t.detach().clone() for t in tensors(outs)]
        self.grads: Dict[str, torch.Tensor] = {}
        if train:
            for name, p in module.named_parameters():
                if p.grad is not None:
                    self.grads[name] = p.grad.clone()
            for i, x in enumerate(inputs):
                if x.grad is not None:
                    self.grads[f'input{i}'] = x.grad.clone()
        self.buffers = {n: b.clone() for n, b in module.named_buffers()}


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def pair(name: str, train: bool, backend: str = 'inductor',
         fullgraph: bool = False, dtype: torch.dtype = torch.float64,
         dynamic: Optional[bool] = None) -> Tuple[Run, Run]:
    """The eager and the compiled run of one class's step.

    Both start from the same weights (a deep copy) and inputs, in train or
    eval mode, with the same seed before the step (inductor draws random
    numbers as eager does, ``fallback_random``); in train mode the loss is
    backpropagated. The case is built and run with ``dtype`` the default
    (float64: float32 rounding, amplified by ReLU masks flipping near 0,
    moved BagNet's gradients by up to 5e-3 of their norm; float64 2e-15).
    """
    with default_dtype(dtype):
        return _pair(name, train, backend, fullgraph, dynamic)


def _pair(name: str, train: bool, backend: str, fullgraph: bool,
          dynamic: Optional[bool]) -> Tuple[Run, Run]:
    torch.manual_seed(0)
    eager, step, _ = CASES[name]()
    inputs = _closure_inputs(step)
    twin = copy.deepcopy(eager)
    compiled = torch.compile(twin, backend=backend, fullgraph=fullgraph,
                             dynamic=dynamic)
    runs = []
    for module, call in ((eager, eager), (twin, compiled)):
        module.train(train)
        for x in inputs:
            x.grad = None
        torch.manual_seed(1)
        with torch.set_grad_enabled(train), \
                torch._inductor.config.patch(fallback_random=True):
            outs = step(call)
            if train:
                scalar_loss(outs).backward()
        runs.append(Run(outs, module, inputs, train))
    return runs[0], runs[1]


def relative_error(a: torch.Tensor, b: torch.Tensor,
                   floor: float = 0.0) -> float:
    """``||a - b|| / max(||b||, floor)`` in float64; ``||a - b||`` when
    that is 0."""
    a, b = a.double(), b.double()
    den = max(b.norm().item(), floor)
    num = (a - b).norm().item()
    return num / den if den > 0 else num


# Gradients and buffers below this fraction of their kind's largest norm
# are compared against it (assert_same).
FLOOR = 1e-6


def _is_lost_upstream(b: torch.Tensor) -> bool:
    """A 0-dim float64 buffer: torch 2.13's dynamo loses in-place updates
    of those (test_upstream_dynamo_0dim_float64_mutation), e.g. TNetLoss's
    EMA baseline when float64 is the default dtype."""
    return b.dim() == 0 and b.dtype == torch.float64


def assert_same(name: str, eager: Run, compiled: Run, tol: float,
                train: bool) -> None:
    """Fail unless the compiled run's outputs, (in train) gradients, and
    buffers each lie within ``tol`` relative error of the eager run's.

    Gradients and buffers far smaller than the largest of their kind (below
    ``FLOOR`` of it) are measured against ``FLOOR`` times that largest norm:
    a BN bias whose only path is into a training-mode BN has a zero
    gradient but for rounding, and a BN after a training-mode BN a zero
    running mean, and neither has a meaningful relative error. Integer
    buffers (``num_batches_tracked``) must be equal; 0-dim float64 ones are
    not compared (``_is_lost_upstream``).
    """
    assert len(eager.outs) == len(compiled.outs) > 0, name
    for i, (a, b) in enumerate(zip(compiled.outs, eager.outs)):
        assert a.shape == b.shape and a.dtype == b.dtype, (name, i)
        err = relative_error(a, b)
        assert err <= tol, (name, 'output', i, err)
    if train:
        assert compiled.grads.keys() == eager.grads.keys(), name
        assert eager.grads, f'{name}: no gradient at all'
        floor = FLOOR * max(g.double().norm().item()
                            for g in eager.grads.values())
        for key, b in eager.grads.items():
            err = relative_error(compiled.grads[key], b, floor)
            assert err <= tol, (name, 'gradient', key, err)
    assert compiled.buffers.keys() == eager.buffers.keys(), name
    floats = [b.double().norm().item() for b in eager.buffers.values()
              if b.is_floating_point()]
    floor = FLOOR * max(floats, default=0.0)
    for key, b in eager.buffers.items():
        a = compiled.buffers[key]
        if _is_lost_upstream(b):
            continue
        if b.is_floating_point():
            err = relative_error(a, b, floor)
            assert err <= tol, (name, 'buffer', key, err)
        else:
            assert torch.equal(a, b), (name, 'buffer', key)


def graph_breaks(name: str, train: bool = True) -> List[Tuple[str, str]]:
    """``(where, reason)`` per graph break of the class's step (dynamo only,
    no inductor), ``where`` the innermost frame's ``file:line``."""
    import torch._dynamo
    torch._dynamo.reset()
    torch.manual_seed(0)
    module, step, _ = CASES[name]()
    module.train(train)
    with torch.set_grad_enabled(train):
        info = torch._dynamo.explain(step)(module)
    out = []
    for br in info.break_reasons:
        frame = br.user_stack[-1] if br.user_stack else None
        where = f'{frame.filename}:{frame.lineno}' if frame else '?'
        out.append((where, br.reason.splitlines()[0][:200]))
    return out


def is_ours(where: str) -> bool:
    return where.startswith(OURS)


def ours(name: str) -> set:
    """``{(file, reason)}`` of the class's graph breaks in td_plugins'
    files, ``file`` relative to the repository (no line: lines move)."""
    return {(where.rsplit(':', 1)[0][len(str(REPO)) + 1:], reason)
            for where, reason in graph_breaks(name) if is_ours(where)}


def print_errors(name: str, dynamic: Optional[bool] = None) -> None:
    """Print the compiled-vs-eager relative error (no floor) of each output
    and gradient of the class's float64 training step, with each gradient's
    eager norm over the largest one."""
    eager, compiled = pair(name, True, dynamic=dynamic)
    for i, (a, b) in enumerate(zip(compiled.outs, eager.outs)):
        print(f'{name} output {i}: error {relative_error(a, b):.3g}')
    largest = max(g.double().norm().item() for g in eager.grads.values())
    print(f'{name}: largest gradient norm {largest:.3g}')
    for key, b in eager.grads.items():
        size = b.double().norm().item()
        print(f'    {key}: norm {size:.3g} ({size / largest:.3g} of the '
              f'largest), error {relative_error(compiled.grads[key], b):.3g}')


if __name__ == '__main__':
    args = sys.argv[1:]
    if args[:1] == ['--errors']:
        for n in args[1:]:
            print_errors(n, dynamic=False if n == 'TDAFResNet3d' else None)
        sys.exit(0)
    names = args or sorted(CASES)
    for n in names:
        breaks = graph_breaks(n)
        ours = [b for b in breaks if is_ours(b[0])]
        print(f'{n}: {len(breaks)} graph break(s), {len(ours)} in '
              'td_plugins')
        for where, reason in breaks:
            where = where.replace(str(REPO) + '/', '')
            print(f'    {where}: {reason}')
