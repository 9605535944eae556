"""Relative-speed benchmark harness: time several models in one process.

Absolute timings on a shared 2-core machine drift by tens of percent from one
minute to the next, so this harness reports every case as a *ratio* to a named
baseline case timed in the same process, on the same input, with the repeats
interleaved (round-robin over the cases for each repeat) so that a change in
machine load hits all cases alike.

Pure PyTorch (MACs from :mod:`td_plugins.utils.flops`): no OpenMMLab import,
so a bench script can build any ``nn.Module`` (a ``td_plugins`` backbone, a
torchvision model, a bare layer).

What is measured, per case:

* **time**: wall time of one call (``time.perf_counter``, with
  ``torch.cuda.synchronize`` around it on CUDA), ``repeats`` samples after
  ``warmup`` untimed calls; reported as median, interquartile range, min/max.
  ``mode='forward'`` times ``model(input)`` under ``torch.inference_mode()``
  with the model in ``eval()``; ``mode='train'`` times forward plus
  ``backward()`` of the sum of every output tensor with the model in
  ``train()`` (gradients are set to ``None`` before each call, untimed).
* **ratio**: median time divided by the baseline's median (baseline: 1.0).
* **params**: number of parameters, ``sum(p.numel() for p in parameters())``.
* **peak mem**: memory one extra (untimed) call needs *above what was allocated
  just before it*, so weights and inputs are excluded and activations,
  workspaces and (in train mode) gradients are included. How it is taken
  depends on the device and is named in :attr:`Result.mem_method`:

  - ``cuda-allocator``: ``torch.cuda.max_memory_allocated()`` minus
    ``torch.cuda.memory_allocated()`` before the call, peak stats reset first.
    Exact for tensors from PyTorch's caching allocator.
  - ``cpu-tensors``: PyTorch has no CPU allocator statistics, so the call runs
    under ``torch.profiler`` with ``profile_memory=True`` and the peak of the
    running sum of CPU allocation/free events is taken. Counts tensor memory
    from PyTorch's CPU allocator only; libraries' private buffers (e.g. some
    oneDNN scratch space) and Python objects are not seen. Approximate.
  - ``rss-sampled``: fallback if the profiler route fails: the process's
    resident set size sampled every ~0.5 ms by a thread during the call, peak
    minus the value before the call. Coarse: the C allocator may reuse freed
    pages or keep them, so this can under- or over-state. Approximate.
  - ``none``: not measured (``measure_memory=False``) or nothing available.

  (``resource.getrusage(...).ru_maxrss`` is not used: it is the process's
  all-time high-water mark, which a warmed-up process has usually already
  passed, so its growth during one call is mostly 0.)

* **compiled**: with ``compile='on'`` or ``'both'`` each case is also (or
  only) timed through ``torch.compile`` of the same module (inductor by
  default). Its first call, which compiles (forward, and in train mode the
  backward too), is timed on its own as ``compile_s`` and is not one of the
  ``warmup`` calls. A compiled case's ratio is to the *compiled* baseline, an
  eager case's to the eager baseline; with ``'both'`` the eager and compiled
  cases share one interleaved timing loop. A recompilation during the timed
  calls is an error (it would be timed as a step).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from benchmarks.harness import Case, run_cases, to_markdown
    >>> cases = [
    ...     Case('linear', lambda: nn.Linear(64, 64),
    ...          lambda: torch.randn(8, 64)),
    ...     Case('mlp', lambda: nn.Sequential(nn.Linear(64, 256), nn.ReLU(),
    ...                                       nn.Linear(256, 64)),
    ...          lambda: torch.randn(8, 64)),
    ... ]
    >>> results = run_cases(cases, baseline='linear', warmup=1, repeats=3)
    >>> results[0].ratio
    1.0
    >>> '| mlp |' in to_markdown(results)
    True
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

__all__ = ['Case', 'Result', 'run_cases', 'to_markdown', 'write_markdown',
           'main', 'MALLOC_ENV', 'reexec_with_fixed_malloc', 'emit_report',
           'bench_parser', 'start_bench', 'allocator_note', 'COMPILE_CHOICES',
           'by_compile', 'tensors']

# glibc frees blocks above its (dynamic) mmap threshold back to the kernel, so
# an activation of tens of MB can be page-faulted in afresh on every call in
# one process and reused from the heap in the next: that alone moved
# ResNet-50's CPU time by tens of percent between processes in ad hoc runs.
# Fixing both thresholds (above the largest activation; glibc caps the mmap
# one at 32 MiB) keeps every block on the heap, the same way for all cases.
MALLOC_ENV = {'MALLOC_MMAP_THRESHOLD_': str(32 * 2**20),
              'MALLOC_TRIM_THRESHOLD_': str(2**30)}


def reexec_with_fixed_malloc() -> None:
    """Restart the running script with :data:`MALLOC_ENV` set, unless it is
    set already (glibc reads these at start-up only). Call it first thing in
    a bench script's ``main``."""
    if all(os.environ.get(k) == v for k, v in MALLOC_ENV.items()):
        return
    os.environ.update(MALLOC_ENV)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable] + sys.argv)

MODES = ('forward', 'train')
# run_cases(compile=...): which forms to time.
COMPILE_CHOICES = ('off', 'on', 'both')
_COMPILED_FORMS = {'off': (False,), 'on': (True,), 'both': (False, True)}
_MIB = float(1 << 20)


@dataclass
class Case:
    """One model to time.

    Args:
        name: Unique label; also what ``baseline`` refers to.
        build: Zero-argument callable returning the ``nn.Module``. Called
            once; the module is moved to the run's device.
        make_input: Zero-argument callable returning the input. Called once;
            the same input (moved to the device) is reused for every call. A
            ``tuple`` is unpacked as positional arguments, a ``dict`` as
            keyword arguments, anything else (a tensor, a list) is passed as
            the single argument.
        mode: ``'forward'`` (inference) or ``'train'`` (forward + backward).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> Case('conv', lambda: nn.Conv2d(3, 8, 3),
        ...      lambda: torch.randn(1, 3, 32, 32), mode='train').mode
        'train'
    """

    name: str
    build: Callable[[], nn.Module]
    make_input: Callable[[], Any]
    mode: str = 'forward'

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(
                f'name must be a non-empty str, got {self.name!r}')
        if self.mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {self.mode!r} '
                             f'(case {self.name!r})')


@dataclass(frozen=True)
class Result:
    """Timings and sizes of one :class:`Case`, from :func:`run_cases`.

    Times are in milliseconds. ``ratio`` is ``median_ms`` over the baseline's
    ``median_ms`` (exactly 1.0 for the baseline), both eager or both
    compiled (``compiled``; ``compile_s`` is the compiling first call's
    wall time in seconds). ``peak_mem_mib`` is ``None``
    when not measured; :attr:`mem_method` says what the number means (see the
    module docstring). The run-wide fields (``device`` ... ``torch_version``)
    are the same in every result of one run.

    Example:
        >>> r = Result('a', 'forward', 10, (1.0, 2.0, 3.0), 2.0, 1.5, 2.5,
        ...            1.0, 3.0, 1.0, True, None, 'none', 'cpu', 2, 1, 3,
        ...            torch.__version__)
        >>> r.spread_ms
        1.0
    """

    name: str
    mode: str
    params: int
    times_ms: tuple[float, ...]
    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    max_ms: float
    ratio: float
    is_baseline: bool
    peak_mem_mib: float | None
    mem_method: str
    device: str
    threads: int
    warmup: int
    repeats: int
    torch_version: str = field(default=torch.__version__)
    compiled: bool = False
    compile_s: float | None = None

    @property
    def spread_ms(self) -> float:
        """Interquartile range (q3 - q1) of the per-call times, in ms."""
        return self.q3_ms - self.q1_ms

    @property
    def label(self) -> str:
        """The case name, with `` [compiled]`` for a compiled result."""
        return self.name + (' [compiled]' if self.compiled else '')


# --------------------------------------------------------------------------
# helpers


def _to_device(obj: Any, device: torch.device) -> Any:
    """Move every tensor in ``obj`` (nested tuple/list/dict) to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, tuple):
        return tuple(_to_device(o, device) for o in obj)
    if isinstance(obj, list):
        return [_to_device(o, device) for o in obj]
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


def _call(model: Callable[..., Any], inp: Any) -> Any:
    if isinstance(inp, tuple):
        return model(*inp)
    if isinstance(inp, dict):
        return model(**inp)
    return model(inp)


def tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Yield every tensor inside a nested output (tuple/list/dict), a dict's
    in the order of its sorted keys (the same order for equal dicts)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from tensors(o)
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from tensors(obj[k])


def _train_loss(out: Any, name: str) -> torch.Tensor:
    parts = [t.sum() for t in tensors(out) if t.requires_grad]
    if not parts:
        raise RuntimeError(f"case {name!r} in mode 'train' returned no tensor "
                           'that requires grad, so there is nothing to '
                           'backpropagate')
    return sum(parts[1:], parts[0])


class _Prepared:
    """A built case: the module, its input and one untimed-setup/step pair.

    With ``compiled`` the calls go through ``torch.compile(model,
    **compile_kwargs)``; ``share`` reuses another prepared case's module and
    input (the eager twin of a compiled case), so both time the same weights.
    """

    def __init__(self, case: Case, device: torch.device,
                 compiled: bool = False,
                 compile_kwargs: dict | None = None,
                 share: _Prepared | None = None) -> None:
        self.case = case
        self.compiled = compiled
        self.compile_s: float | None = None
        if share is None:
            self.model = case.build().to(device)
            self.input = _to_device(case.make_input(), device)
        else:
            self.model, self.input = share.model, share.input
        self.params = sum(p.numel() for p in self.model.parameters())
        if case.mode == 'train':
            self.model.train()
        else:
            self.model.eval()
        self.fn: Callable[..., Any] = (
            torch.compile(self.model, **(compile_kwargs or {})) if compiled
            else self.model)

    def context(self):
        """Grad mode for one call (entered outside the timed region)."""
        if self.case.mode == 'train':
            return torch.enable_grad()
        return torch.inference_mode()

    def prepare(self) -> None:
        """Untimed setup before each call: drop last call's gradients."""
        if self.case.mode == 'train':
            self.model.zero_grad(set_to_none=True)

    def step(self) -> None:
        """One call; the output is dropped on return."""
        out = _call(self.fn, self.input)
        if self.case.mode == 'train':
            _train_loss(out, self.case.name).backward()


def op_profile(base: Case, method: Case, mac_ratio: float, calls: int = 3,
               top: int = 15, title: str | None = None) -> str:
    """Self CPU time per op, ``method`` vs ``base``, as a Markdown table.

    Each case is built, run twice untimed, then ``calls`` times under
    ``torch.profiler``; an op's excess is its time in ``method`` minus
    ``mac_ratio`` times its time in ``base``: what it costs beyond the MACs.

    Args:
        base, method (Case): The baseline and the method, in one mode.
        mac_ratio (float): The method's MACs over the baseline's.
        calls (int): Profiled calls per case, averaged. Defaults to 3.
        top (int): Rows kept, the largest excesses first. Defaults to 15.
        title (str, optional): The section title.
    """
    from torch.profiler import ProfilerActivity, profile
    if base.mode != method.mode:
        raise ValueError(f'op_profile: both cases must have one mode, got '
                         f'{base.mode!r} and {method.mode!r}')
    per_op: dict[str, dict[str, float]] = {}
    wall: dict[str, float] = {}
    names = (base.name, method.name)
    for case in (base, method):
        prep = _Prepared(case, torch.device('cpu'))
        for _ in range(2):
            prep.prepare()
            with prep.context():
                prep.step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            for _ in range(calls):
                prep.prepare()
                with prep.context():
                    prep.step()
            wall[case.name] = (time.perf_counter() - t0) * 1e3 / calls
        for ev in prof.key_averages():
            per_op.setdefault(ev.key, {})[case.name] = \
                ev.self_cpu_time_total / 1e3 / calls
        del prep
    b_name, m_name = names

    def excess(op: str) -> float:
        row = per_op[op]
        return row.get(m_name, 0.0) - mac_ratio * row.get(b_name, 0.0)

    ops = sorted(per_op, key=lambda op: -abs(excess(op)))
    gap = wall[m_name] - mac_ratio * wall[b_name]
    lines = [f'## {title or f"Per-op profile, {base.mode}"}: {m_name} vs '
             f'{b_name}\n',
             f'| op | {b_name} ms | {m_name} ms | ratio | '
             f'excess ms (method - {mac_ratio:.3f} x base) |',
             '|---|---:|---:|---:|---:|']
    for op in ops[:top]:
        b, t = per_op[op].get(b_name, 0.0), per_op[op].get(m_name, 0.0)
        ratio = f'{t / b:.2f}' if b else '-'
        lines.append(f'| `{op}` | {b:.2f} | {t:.2f} | {ratio} | '
                     f'{excess(op):+.2f} |')
    sums = {n: sum(r.get(n, 0.0) for r in per_op.values()) for n in names}
    lines += [
        f'| all ops (self time, summed over threads) | {sums[b_name]:.2f} | '
        f'{sums[m_name]:.2f} | {sums[m_name] / sums[b_name]:.2f} | '
        f'{sums[m_name] - mac_ratio * sums[b_name]:+.2f} |',
        f'| wall time of one call | {wall[b_name]:.2f} | {wall[m_name]:.2f} '
        f'| {wall[m_name] / wall[b_name]:.2f} | {gap:+.2f} |',
        '',
        'Self CPU time per operator under `torch.profiler` (the profiler '
        f'slows small ops), one call averaged over {calls}; the excess '
        'column is what each op costs beyond the MAC ratio times its '
        'baseline time, the rows sorted by its size; the wall row\'s excess '
        'is the time - MAC gap of this call.\n']
    return '\n'.join(lines)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _cuda_peak_mib(prep: _Prepared, device: torch.device) -> float:
    _sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    with prep.context():
        prep.step()
    _sync(device)
    return max(0, torch.cuda.max_memory_allocated(device) - before) / _MIB


def _cpu_tensor_peak_mib(prep: _Prepared) -> float:
    """Peak CPU tensor bytes above the pre-call level, from profiler events.

    Relies on ``profile.profiler.kineto_results`` (not a public API); the
    caller falls back to RSS sampling if it is missing or fails.
    """
    from torch.profiler import ProfilerActivity, profile

    # Kineto logs "profiler_start/stop" lines to stderr at its default level;
    # 6 silences them. Only a default: a value the user set is kept.
    os.environ.setdefault('KINETO_LOG_LEVEL', '6')
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        with prep.context():
            prep.step()
    events = [e for e in p.profiler.kineto_results.events()
              if e.name() == '[memory]'
              and e.device_type() == torch.autograd.DeviceType.CPU]
    if not events:
        raise RuntimeError('profiler recorded no CPU memory events')
    events.sort(key=lambda e: e.start_ns())
    cur = peak = 0
    for e in events:
        cur += e.nbytes()
        peak = max(peak, cur)
    return peak / _MIB


def _rss_reader() -> Callable[[], int] | None:
    """Return a function giving the current RSS in bytes, or None."""
    try:
        import psutil  # type: ignore[import-not-found]
        proc = psutil.Process()
        return lambda: proc.memory_info().rss
    except ImportError:
        pass
    if os.path.exists('/proc/self/statm'):
        page = os.sysconf('SC_PAGE_SIZE')

        def read() -> int:
            with open('/proc/self/statm') as f:
                return int(f.read().split()[1]) * page
        return read
    return None


def _rss_peak_mib(prep: _Prepared) -> float | None:
    """Peak RSS growth during one call, sampled by a thread (approximate)."""
    read = _rss_reader()
    if read is None:
        return None
    gc.collect()
    before = read()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], read())
            time.sleep(0.0005)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        with prep.context():
            prep.step()
    finally:
        done.set()
        t.join()
    peak[0] = max(peak[0], read())
    return max(0, peak[0] - before) / _MIB


def _peak_mem(prep: _Prepared,
              device: torch.device) -> tuple[float | None, str]:
    prep.prepare()
    if device.type == 'cuda':
        return _cuda_peak_mib(prep, device), 'cuda-allocator'
    if device.type == 'cpu':
        try:
            return _cpu_tensor_peak_mib(prep), 'cpu-tensors'
        except Exception:  # private profiler API moved: use the fallback
            prep.prepare()
            mib = _rss_peak_mib(prep)
            return mib, ('rss-sampled' if mib is not None else 'none')
    return None, 'none'


def _quartiles(xs: Sequence[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q1, _, q3 = statistics.quantiles(xs, n=4, method='inclusive')
    return q1, q3


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _validate(cases: Sequence[Case], baseline: str, warmup: int, repeats: int,
              device: str, threads: int | None) -> torch.device:
    if not cases:
        raise ValueError('cases must not be empty')
    names = [c.name for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f'cases: duplicate case names {dupes}')
    if baseline not in names:
        raise ValueError(f'baseline {baseline!r} is not a case name; valid '
                         f'names: {names}')
    if not _is_int(repeats) or repeats < 1:
        raise ValueError(f'repeats must be an int >= 1, got {repeats!r}')
    if not _is_int(warmup) or warmup < 0:
        raise ValueError(f'warmup must be an int >= 0, got {warmup!r}')
    if threads is not None and (not _is_int(threads) or threads < 1):
        raise ValueError(
            f'threads must be None or an int >= 1, got {threads!r}')
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(
            f'device {device!r} is not a torch device: {e}') from e
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(
            f'device {device!r} requested but CUDA is not available')
    if dev.type not in ('cpu', 'cuda'):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    return dev


# --------------------------------------------------------------------------
# public API


def count_macs(model: nn.Module, inp: Any, mode: str = 'forward') -> int:
    """Multiply-accumulates of one call, as ``get_flops.py`` counts them.

    :func:`td_plugins.utils.flops.count_complexity`: convolutions, matrix
    products and element-wise products of two tensors (the attention's
    gates); not norms, activations or pooling. ``mode='train'`` counts
    forward + backward.

    Example:
        >>> import torch
        >>> count_macs(nn.Conv2d(3, 8, 3, bias=False), torch.rand(1, 3, 6, 6))
        3456
    """
    from td_plugins.utils.flops import count_complexity
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    train = mode == 'train'
    model.train(train)

    def call() -> None:
        if train:
            _train_loss(_call(model, inp), 'count_macs').backward()
        else:
            _call(model, inp)
    macs = count_complexity(model, call, grad=train).macs
    model.zero_grad(set_to_none=True)
    return macs


def run_cases(cases: Sequence[Case], baseline: str, warmup: int = 3,
              repeats: int = 10, device: str = 'cpu',
              threads: int | None = None,
              measure_memory: bool = True,
              flush_denormal: bool = True,
              compile: str = 'off',
              compile_kwargs: dict | None = None) -> list[Result]:
    """Time ``cases`` side by side and return one :class:`Result` per case.

    Order of work: every model is built (and its input made) once; each case
    gets ``warmup`` untimed calls; then ``repeats`` rounds, each round calling
    every case once in the given order (interleaved, so load drift is shared);
    finally, if ``measure_memory``, one extra untimed call per case measures
    its peak memory. Python's garbage collector is paused while timing.

    Args:
        cases: The cases, names unique. Results come back in this order.
        baseline: Name of the case whose median is the ratio's denominator.
        warmup: Untimed calls per case before timing (>= 0).
        repeats: Timed calls per case (>= 1).
        device: ``'cpu'`` or ``'cuda'`` / ``'cuda:N'``.
        threads: If given, ``torch.set_num_threads(threads)`` for the run
            (restored afterwards); the count used is recorded either way.
        measure_memory: Whether to make the extra peak-memory call.
        flush_denormal: Flush denormal floats to zero on the CPU during the
            run (``torch.set_flush_denormal``; switched off again after).
            A freshly initialised network repeating one step without an
            optimiser keeps producing denormal gradients, which x86 CPUs
            process far more slowly; in ad hoc runs the first train steps
            were several times slower, by chance more or less for each
            model. Real training leaves that regime after a few updates;
            GPUs flush by default.
        compile: ``'off'`` (eager only), ``'on'`` (``torch.compile`` only)
            or ``'both'`` (each case eager and compiled, on the same module
            and input, in one interleaved loop).
        compile_kwargs: Keyword arguments of ``torch.compile`` (default:
            none, i.e. inductor).

    Returns:
        A list of :class:`Result`: the eager results in the order of
        ``cases``, then (``'on'`` / ``'both'``) the compiled ones in the same
        order; :func:`by_compile` splits them.

    Raises:
        ValueError: An argument is invalid; the message names it.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> x = lambda: torch.ones(2, 4)
        >>> cases = [Case('one', lambda: nn.Linear(4, 4), x),
        ...          Case('two', lambda: nn.Linear(4, 8), x)]
        >>> [r.name for r in run_cases(cases, 'one', warmup=0, repeats=2)]
        ['one', 'two']
    """
    dev = _validate(cases, baseline, warmup, repeats, device, threads)
    if compile not in COMPILE_CHOICES:
        raise ValueError(f'compile must be one of {COMPILE_CHOICES}, got '
                         f'{compile!r}')
    if compile_kwargs is not None and not isinstance(compile_kwargs, dict):
        raise ValueError(f'compile_kwargs must be None or a dict, got '
                         f'{compile_kwargs!r}')
    forms = _COMPILED_FORMS[compile]
    if True in forms:
        from torch import _dynamo
        # Fresh caches; every case may add an entry for one code object
        # (e.g. a ResNet's forward in several variants), so lift the
        # per-code limit above which dynamo would silently run eagerly.
        _dynamo.reset()
        dynamo_patch = _dynamo.config.patch(
            recompile_limit=max(64, 4 * len(cases)))
    else:
        dynamo_patch = contextlib.nullcontext()
    stack = contextlib.ExitStack()
    if flush_denormal:
        torch.set_flush_denormal(True)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    gc_was_enabled = gc.isenabled()
    try:
        stack.enter_context(dynamo_patch)
        used_threads = torch.get_num_threads()
        preps: list[_Prepared] = []
        for compiled in forms:
            for j, c in enumerate(cases):
                twin = preps[j] if compiled and len(forms) == 2 else None
                preps.append(_Prepared(c, dev, compiled, compile_kwargs,
                                       share=twin))

        for prep in preps:
            if prep.compiled:  # the compiling call, timed on its own
                prep.prepare()
                t0 = time.perf_counter()
                with prep.context():
                    prep.step()
                _sync(dev)
                prep.compile_s = time.perf_counter() - t0
            for _ in range(warmup):
                prep.prepare()
                with prep.context():
                    prep.step()
        _sync(dev)

        times: list[list[float]] = [[] for _ in preps]
        gc.collect()
        gc.disable()
        with _no_recompile(True in forms):
            for _ in range(repeats):
                for i, prep in enumerate(preps):
                    prep.prepare()
                    with prep.context():
                        _sync(dev)
                        t0 = time.perf_counter()
                        prep.step()
                        _sync(dev)
                        t1 = time.perf_counter()
                    times[i].append((t1 - t0) * 1e3)
        if gc_was_enabled:
            gc.enable()

        mems: list[tuple[float | None, str]] = [
            _peak_mem(p, dev) if measure_memory else (None, 'none')
            for p in preps]
    finally:
        if gc_was_enabled:
            gc.enable()
        if threads is not None:
            torch.set_num_threads(old_threads)
        if flush_denormal:
            torch.set_flush_denormal(False)
        stack.close()

    base_medians = {
        p.compiled: statistics.median(ts) for p, ts in zip(preps, times)
        if p.case.name == baseline}
    results = []
    for prep, ts, (mem, method) in zip(preps, times, mems):
        med = statistics.median(ts)
        q1, q3 = _quartiles(ts)
        is_base = prep.case.name == baseline
        base_median = base_medians[prep.compiled]
        ratio = 1.0 if is_base else (med / base_median if base_median > 0
                                     else float('nan'))
        results.append(Result(
            name=prep.case.name, mode=prep.case.mode, params=prep.params,
            times_ms=tuple(ts), median_ms=med, q1_ms=q1, q3_ms=q3,
            min_ms=min(ts), max_ms=max(ts), ratio=ratio, is_baseline=is_base,
            peak_mem_mib=mem, mem_method=method, device=str(dev),
            threads=used_threads, warmup=warmup, repeats=repeats,
            torch_version=torch.__version__, compiled=prep.compiled,
            compile_s=prep.compile_s))
    return results


@contextlib.contextmanager
def _no_recompile(active: bool) -> Iterator[None]:
    """Make a dynamo recompilation an error (while the calls are timed)."""
    if not active:
        yield
        return
    from torch import _dynamo
    with _dynamo.config.patch(error_on_recompile=True):
        yield


def by_compile(results: Sequence[Result]) -> dict[str, list[Result]]:
    """Split :func:`run_cases` results into ``{'eager': [...], 'compiled':
    [...]}`` (the keys present in ``results``, case order kept).

    Example:
        >>> import torch
        >>> rs = run_cases([Case('a', lambda: nn.Linear(2, 2),
        ...                      lambda: torch.ones(1, 2))], 'a', 0, 1,
        ...                measure_memory=False)
        >>> list(by_compile(rs))
        ['eager']
    """
    out: dict[str, list[Result]] = {}
    for r in results:
        out.setdefault('compiled' if r.compiled else 'eager', []).append(r)
    return out


def _machine(device: str) -> str:
    if device.startswith('cuda') and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _fmt_params(n: int) -> str:
    m = n / 1e6
    return f'{m:.2f}' if m >= 0.01 else f'{m:.2g}'


_MEM_NOTES = {
    'cuda-allocator': 'CUDA memory allocated during one call above the '
                      'pre-call level (torch.cuda.max_memory_allocated)',
    'cpu-tensors': 'CPU tensor memory allocated during one call above the '
                   'pre-call level (torch.profiler memory events; tensors '
                   'only, approximate)',
    'rss-sampled': 'peak RSS growth during one call, sampled every ~0.5 ms '
                   '(approximate)',
    'none': 'not measured',
}


def to_markdown(results: Sequence[Result], title: str | None = None) -> str:
    """Render results as a Markdown table plus a line describing the run.

    Columns: case, mode, params (M), median ms, spread (interquartile range
    and min-max, ms), ratio vs the baseline, peak mem (MiB).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> rs = run_cases([Case('a', lambda: nn.Linear(2, 2),
        ...                      lambda: torch.ones(1, 2))], 'a', 0, 1)
        >>> print(to_markdown(rs).splitlines()[0][:47])
        | case | mode | params (M) | median ms | spread
    """
    if not results:
        raise ValueError('results must not be empty')
    base = next((r.name for r in results if r.is_baseline), '?')
    r0 = results[0]
    lines = []
    if title:
        lines += [f'## {title}', '']
    any_compiled = any(r.compiled for r in results)
    lines += [
        f'| case | mode | params (M) | median ms | spread ms (IQR; min-max) '
        f'| ratio vs {base} | peak mem (MiB) |'
        + (' compile s |' if any_compiled else ''),
        '| --- | --- | ---: | ---: | ---: | ---: | ---: |'
        + (' ---: |' if any_compiled else ''),
    ]
    for r in results:
        mem = '' if r.peak_mem_mib is None else f'{r.peak_mem_mib:.1f}'
        ratio = f'{r.ratio:.2f}' + (' (baseline)' if r.is_baseline else '')
        line = (
            f'| {r.label} | {r.mode} | {_fmt_params(r.params)} '
            f'| {r.median_ms:.2f} '
            f'| {r.q1_ms:.2f}-{r.q3_ms:.2f}; {r.min_ms:.2f}-{r.max_ms:.2f} '
            f'| {ratio} | {mem or "n/a"} |')
        if any_compiled:
            line += (f' {r.compile_s:.1f} |' if r.compile_s is not None
                     else ' |')
        lines.append(line)
    methods = sorted({r.mem_method for r in results})
    compiled_note = (
        ' A [compiled] case runs through torch.compile and its ratio is to '
        'the compiled baseline; compile s is its first (compiling) call, '
        'not timed as a step.' if any_compiled else '')
    lines += [
        '',
        f'torch {r0.torch_version}, Python {platform.python_version()}, '
        f'device {r0.device} ({_machine(r0.device)}), '
        f'{r0.threads} intra-op thread(s), warmup {r0.warmup}, '
        f'repeats {r0.repeats} (interleaved round-robin). '
        f'Compare ratios, not absolute times.' + compiled_note,
        '',
        'Peak mem: ' + '; '.join(_MEM_NOTES.get(m, m) for m in methods) + '.',
    ]
    return '\n'.join(lines) + '\n'


def write_markdown(results: Sequence[Result], path: str | os.PathLike,
                   title: str | None = None) -> Path:
    """Write :func:`to_markdown` output to ``path`` (parents created).

    Example:
        >>> write_markdown(results, 'results/x.md')  # doctest: +SKIP
        PosixPath('results/x.md')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_markdown(results, title=title))
    return path


def bench_parser(doc: str, default_out: str | os.PathLike,
                 compile_default: str | None = None
                 ) -> argparse.ArgumentParser:
    """The flags every per-method bench script takes: ``--repeats`` (10),
    ``--warmup`` (2), ``--threads``, ``--malloc fixed|default`` and
    ``--out``; with ``compile_default`` (``'off'``, ``'on'`` or ``'both'``)
    also ``--compile``, which the script passes on as
    ``run_cases(..., compile=args.compile)``. A script adds its own flags
    before :func:`start_bench`."""
    parser = argparse.ArgumentParser(description=doc.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--malloc', choices=('fixed', 'default'),
                        default='fixed')
    parser.add_argument('--out', default=str(default_out))
    if compile_default is not None:
        if compile_default not in COMPILE_CHOICES:
            raise ValueError(f'compile_default must be None or one of '
                             f'{COMPILE_CHOICES}, got {compile_default!r}')
        parser.add_argument(
            '--compile', choices=COMPILE_CHOICES, default=compile_default,
            help='time eager (off), torch.compile (on) or both side by '
                 'side (default: %(default)s)')
    return parser


def start_bench(parser: argparse.ArgumentParser, script: str, doc: str,
                extra: Sequence[str] = ()) -> tuple[argparse.Namespace,
                                                    list[str]]:
    """Parse the flags, restart with fixed malloc thresholds if asked, seed
    torch, and return the arguments and the report's first lines: the title
    (``doc``'s first line) and the command that reproduces it (``extra``
    names the script's own flags to include)."""
    args = parser.parse_args()
    if args.malloc == 'fixed':
        reexec_with_fixed_malloc()
    torch.manual_seed(0)
    flags = [f'--repeats {args.repeats}', f'--warmup {args.warmup}']
    if getattr(args, 'compile', None) is not None:
        flags.append(f'--compile {args.compile}')
    if args.threads is not None:
        flags.append(f'--threads {args.threads}')
    for name in extra:
        value = getattr(args, name)
        value = ' '.join(value) if isinstance(value, (list, tuple)) else value
        flags.append(f'--{name} {value}')
    flags.append(f'--malloc {args.malloc}')
    command = f'python {script} {" ".join(flags)}'
    return args, [f'# {doc.splitlines()[0]}\n', f'Command: `{command}`\n']


def allocator_note(malloc: str) -> str:
    """The report line saying which allocator settings the run used."""
    if malloc == 'default':
        return 'Allocator: glibc default.'
    return 'Allocator: ' + ', '.join(
        f'{k}={v}' for k, v in MALLOC_ENV.items()) + '.'


def emit_report(text: str, out: str | os.PathLike) -> Path:
    """Print a bench script's markdown report and write it to ``out``."""
    print(text)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f'wrote {path}', file=sys.stderr)
    return path


def main(cases: Sequence[Case], baseline: str,
         argv: Sequence[str] | None = None, *, title: str | None = None,
         default_out: str | os.PathLike | None = None,
         compile_default: str = 'off') -> list[Result]:
    """Command-line entry for a bench script: parse flags, run, print, write.

    Flags: ``--repeats`` (10), ``--warmup`` (3), ``--device`` (cpu),
    ``--threads`` (torch's default), ``--out PATH`` (``default_out``; the
    table is always printed), ``--no-memory``, ``--compile off|on|both``
    (``compile_default``).

    Example:
        >>> if __name__ == '__main__':  # doctest: +SKIP
        ...     main(CASES, baseline='resnet18', default_out='results/x.md')
    """
    parser = argparse.ArgumentParser(description=title or 'benchmark')
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--out', default=default_out,
                        help='Markdown file to write (default: %(default)s)')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the extra peak-memory call')
    parser.add_argument('--compile', choices=COMPILE_CHOICES,
                        default=compile_default,
                        help='eager, torch.compile or both (default: '
                             '%(default)s)')
    args = parser.parse_args(argv)
    try:
        results = run_cases(cases, baseline, warmup=args.warmup,
                            repeats=args.repeats, device=args.device,
                            threads=args.threads,
                            measure_memory=not args.no_memory,
                            compile=args.compile)
    except ValueError as e:
        parser.error(str(e))
    print(to_markdown(results, title=title), end='')
    if args.out:
        path = write_markdown(results, args.out, title=title)
        print(f'\nwrote {path}', file=sys.stderr)
    return results
