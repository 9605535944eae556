"""Tests for benchmarks/harness.py: tiny models only, a few seconds in all."""
import collections
import sys
from functools import partial
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import harness  # noqa: E402
from benchmarks.harness import (  # noqa: E402  # noqa: E402
    Case,
    main,
    run_cases,
    to_markdown,
    write_markdown,
)


def _conv_stack(times: int) -> nn.Module:
    conv = nn.Conv2d(8, 8, 3, padding=1)
    return nn.Sequential(*([conv] * times))  # same conv, applied `times` times


def _img() -> torch.Tensor:
    return torch.randn(1, 8, 16, 16)


class Recorder(nn.Module):
    """Wraps a module and appends (name, training, inference_mode) per call."""

    def __init__(self, name: str, log: list, inner: nn.Module) -> None:
        super().__init__()
        self.name, self.log, self.inner = name, log, inner

    def forward(self, x):
        self.log.append((self.name, self.training,
                         torch.is_inference_mode_enabled()))
        return self.inner(x)


def _recorded_cases(log: list, mode: str = 'forward') -> list:
    return [Case(n, (lambda n=n: Recorder(n, log, nn.Linear(4, 4))),
                 lambda: torch.randn(2, 4), mode=mode) for n in 'abc']


def test_ratios_params_and_stats():
    cases = [
        Case('linear', lambda: nn.Linear(16, 16), lambda: torch.randn(4, 16)),
        Case('conv1', lambda: _conv_stack(1), _img),
        Case('conv8', lambda: _conv_stack(8), _img),
    ]
    results = run_cases(cases, baseline='conv1', warmup=2, repeats=7)
    by = {r.name: r for r in results}
    assert [r.name for r in results] == ['linear', 'conv1', 'conv8']
    assert by['conv1'].ratio == 1.0 and by['conv1'].is_baseline
    assert not by['conv8'].is_baseline
    assert by['conv8'].ratio > 1
    assert by['linear'].params == 16 * 16 + 16
    assert by['conv8'].params == by['conv1'].params == 8 * 8 * 9 + 8  # shared
    for r in results:
        assert len(r.times_ms) == 7 and r.repeats == 7 and r.warmup == 2
        assert r.min_ms <= r.q1_ms <= r.median_ms <= r.q3_ms <= r.max_ms
        assert r.device == 'cpu' and r.threads >= 1
        assert r.mem_method in ('cpu-tensors', 'rss-sampled')
        assert r.peak_mem_mib is not None and r.peak_mem_mib >= 0


def test_order_warmup_then_round_robin_then_memory():
    log: list = []
    run_cases(_recorded_cases(log), baseline='a', warmup=2, repeats=3)
    names = [n for n, _, _ in log]
    warm = ['a', 'a', 'b', 'b', 'c', 'c']
    assert names == warm + ['a', 'b', 'c'] * 3 + ['a', 'b', 'c']
    log.clear()
    run_cases(_recorded_cases(log), baseline='b', warmup=0, repeats=4,
              measure_memory=False)
    assert [n for n, _, _ in log] == ['a', 'b', 'c'] * 4


def test_forward_mode_is_eval_and_inference():
    log: list = []
    results = run_cases(_recorded_cases(log), 'a', warmup=1, repeats=2)
    assert log and all(not training and inference for _, training, inference
                       in log)
    assert all(r.mode == 'forward' for r in results)


def test_train_mode_gives_gradients():
    log: list = []
    built = {}

    def build():
        built['m'] = nn.Sequential(nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8))
        return Recorder('t', log, built['m'])

    results = run_cases([Case('t', build, _img, mode='train')], 't',
                        warmup=1, repeats=2)
    assert results[0].mode == 'train'
    assert all(training and not inference for _, training, inference in log)
    for p in built['m'].parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_train_mode_sums_tuple_outputs_and_tuple_inputs():
    class TwoInTwoOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x, y):
            return (self.a(x), {'b': self.b(y)})

    built = {}

    def build():
        built['m'] = TwoInTwoOut()
        return built['m']

    run_cases([Case('two', build, lambda: (torch.randn(2, 4),
                                           torch.randn(3, 4)), mode='train')],
              'two', warmup=0, repeats=1)
    assert built['m'].a.weight.grad is not None
    assert built['m'].b.weight.grad is not None


def test_train_mode_without_grad_output_raises():
    case = Case('argmax', lambda: _Argmax(), lambda: torch.randn(2, 4),
                mode='train')
    with pytest.raises(RuntimeError, match='argmax'):
        run_cases([case], 'argmax', warmup=0, repeats=1)


class _Argmax(nn.Module):
    def forward(self, x):
        return x.argmax(-1)


def test_markdown_has_header_and_every_case(tmp_path):
    log: list = []
    results = run_cases(_recorded_cases(log), 'b', warmup=0, repeats=2)
    md = to_markdown(results, title='tiny')
    lines = md.splitlines()
    header = next(ln for ln in lines if ln.startswith('| case |'))
    for col in ('params (M)', 'median ms', 'spread', 'ratio vs b', 'peak mem'):
        assert col in header
    assert lines[lines.index(header) + 1].startswith('| --- |')
    for name in 'abc':
        assert any(ln.startswith(f'| {name} |') for ln in lines)
    assert '(baseline)' in md and '## tiny' in md
    assert torch.__version__ in md and 'repeats 2' in md
    out = write_markdown(results, tmp_path / 'sub' / 'r.md', title='tiny')
    assert out.read_text() == md


def test_cpu_memory_falls_back_to_rss(monkeypatch):
    def broken(prep):
        raise AttributeError('no kineto_results')

    monkeypatch.setattr(harness, '_cpu_tensor_peak_mib', broken)
    results = run_cases(_recorded_cases([]), 'a', warmup=0, repeats=1)
    for r in results:
        assert r.mem_method in ('rss-sampled', 'none')
        if r.mem_method == 'rss-sampled':
            assert r.peak_mem_mib >= 0


def test_threads_set_and_restored():
    before = torch.get_num_threads()
    results = run_cases(_recorded_cases([]), 'a', warmup=0, repeats=1,
                        threads=1, measure_memory=False)
    assert results[0].threads == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize('kwargs, word', [
    (dict(baseline='nope'), 'baseline'),
    (dict(repeats=0), 'repeats'),
    (dict(warmup=-1), 'warmup'),
    (dict(threads=0), 'threads'),
    (dict(device='not-a-device'), 'device'),
])
def test_argument_validation(kwargs, word):
    args = dict(cases=_recorded_cases([]), baseline='a')
    args.update(kwargs)
    with pytest.raises(ValueError, match=word) as info:
        run_cases(**args)
    if word == 'baseline':  # lists the valid names
        assert "'a'" in str(info.value) and "'c'" in str(info.value)


def test_validation_duplicates_empty_and_mode():
    log: list = []
    built = []
    cases = _recorded_cases(log)
    dup = cases + [Case('a', lambda: built.append(1) or nn.Linear(4, 4),
                        lambda: torch.randn(2, 4))]
    with pytest.raises(ValueError, match='cases'):
        run_cases(dup, 'a')
    assert not log and not built  # validated before anything was built
    with pytest.raises(ValueError, match='cases'):
        run_cases([], 'a')
    with pytest.raises(ValueError, match='mode'):
        Case('x', lambda: nn.Linear(1, 1), lambda: torch.ones(1), mode='eval')


def test_main_cli(tmp_path, capsys):
    out = tmp_path / 'res.md'
    results = main(_recorded_cases([]), 'c',
                   ['--repeats', '2', '--warmup', '0', '--threads', '1',
                    '--out', str(out), '--no-memory'], title='cli')
    assert [r.repeats for r in results] == [2, 2, 2]
    printed = capsys.readouterr().out
    assert printed == out.read_text()
    assert '| c |' in printed and 'n/a' in printed
    with pytest.raises(SystemExit):  # argparse error for a bad baseline
        main(_recorded_cases([]), 'zzz', ['--repeats', '1'])


def test_denormals_are_flushed_during_a_run_only():
    tiny = torch.tensor([1e-39])  # a float32 denormal
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(float((x * tiny)[0]))  # 0 when flushed
            return x

    run_cases([Case('p', Probe, lambda: torch.ones(1))], 'p', warmup=0,
              repeats=1, measure_memory=False)
    assert seen and all(v == 0.0 for v in seen)
    assert float(torch.ones(1) * tiny) != 0.0  # switched off again


def test_fixed_malloc_reexec_is_a_no_op_once_set(monkeypatch):
    for key, value in harness.MALLOC_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(harness.os, 'execv', lambda *a: pytest.fail('exec'))
    harness.reexec_with_fixed_malloc()  # returns without exec


def test_emit_report_prints_and_writes(tmp_path, capsys):
    path = harness.emit_report('# title\n', tmp_path / 'sub' / 'r.md')
    assert path.read_text() == '# title\n'
    assert '# title' in capsys.readouterr().out


def test_bench_parser_and_allocator_note():
    args = harness.bench_parser('title\nmore', '/tmp/x.md').parse_args([])
    assert (args.repeats, args.warmup, args.malloc, args.out) == (
        10, 2, 'fixed', '/tmp/x.md')
    assert harness.allocator_note('default') == 'Allocator: glibc default.'
    assert 'MALLOC_MMAP_THRESHOLD_=' in harness.allocator_note('fixed')


# --------------------------------------------------------------------------
# compile='on' / 'both' (backend 'eager' keeps these fast: the harness's
# bookkeeping is under test, not inductor)

_FAST = dict(backend='eager')
_CALLS: collections.Counter = collections.Counter()


@torch.compiler.disable
def _count(name: str) -> None:
    """Not traced: a traced append to a list would guard on its length and
    recompile on every call."""
    _CALLS[name] += 1


class Counted(nn.Module):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name, self.inner = name, nn.Linear(4, 4)

    def forward(self, x):
        _count(self.name)
        return self.inner(x)


def test_compile_both_pairs_eager_and_compiled_on_one_module():
    _CALLS.clear()
    built = []

    def build(n):
        built.append(n)
        return Counted(n)

    cases = [Case(n, partial(build, n), lambda: torch.randn(2, 4),
                  mode='train') for n in 'abc']
    results = run_cases(cases, 'b', warmup=1, repeats=2,
                        measure_memory=False, compile='both',
                        compile_kwargs=_FAST)
    assert [r.label for r in results] == [
        'a', 'b', 'c', 'a [compiled]', 'b [compiled]', 'c [compiled]']
    split = harness.by_compile(results)
    assert [r.name for r in split['eager']] == ['a', 'b', 'c']
    assert [r.name for r in split['compiled']] == ['a', 'b', 'c']
    for form in split.values():  # each form's ratio is to its own baseline
        assert [r.is_baseline for r in form] == [False, True, False]
        assert form[1].ratio == 1.0
        assert form[0].ratio == pytest.approx(
            form[0].median_ms / form[1].median_ms)
    assert all(r.compile_s is None for r in split['eager'])
    assert all(r.compile_s > 0 for r in split['compiled'])
    # shared modules: 3 built, each called by its eager and compiled case;
    # per case: 1 compiling call (compiled only) + 1 warmup + 2 timed
    assert built == ['a', 'b', 'c']
    assert _CALLS == {n: 1 + 2 * (1 + 2) for n in 'abc'}


def test_compile_on_times_compiled_only():
    cases = [Case(n, partial(Counted, n), lambda: torch.randn(2, 4))
             for n in 'abc']
    results = run_cases(cases, 'a', warmup=0, repeats=1,
                        measure_memory=False, compile='on',
                        compile_kwargs=_FAST)
    assert [r.label for r in results] == [
        'a [compiled]', 'b [compiled]', 'c [compiled]']
    assert results[0].is_baseline and results[0].ratio == 1.0
    md = to_markdown(results)
    assert 'compile s |' in md and '| a [compiled] |' in md
    eager_md = to_markdown(run_cases(_recorded_cases([]), 'a', warmup=0,
                                     repeats=1, measure_memory=False))
    assert 'compile s' not in eager_md and '[compiled]' not in eager_md


def test_compiled_case_gives_the_eager_gradients():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(8, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    inp = _img()
    net.train()
    net(inp).sum().backward()
    eager = [p.grad.clone() for p in net.parameters()]
    built = {}

    def build():
        built['m'] = net
        return net

    run_cases([Case('n', build, lambda: inp, mode='train')], 'n', warmup=0,
              repeats=1, measure_memory=False, compile='on',
              compile_kwargs=dict(backend='aot_eager'))
    for p, g in zip(built['m'].parameters(), eager):
        torch.testing.assert_close(p.grad, g)


class _Counting(nn.Module):
    """Branches on a Python counter: dynamo recompiles on every call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * self.calls


def test_a_recompilation_while_timing_is_an_error():
    case = Case('count', _Counting, lambda: torch.ones(2))
    with pytest.raises(Exception, match='[Rr]ecompil'):
        run_cases([case], 'count', warmup=0, repeats=2,
                  measure_memory=False, compile='on', compile_kwargs=_FAST)


@pytest.mark.parametrize('kwargs, word', [
    (dict(compile='yes'), 'compile'),
    (dict(compile='on', compile_kwargs='inductor'), 'compile_kwargs'),
])
def test_compile_argument_validation(kwargs, word):
    with pytest.raises(ValueError, match=word) as info:
        run_cases(_recorded_cases([]), 'a', **kwargs)
    if word == 'compile':
        assert "'both'" in str(info.value)


def test_bench_parser_compile_flag_is_opt_in():
    plain = harness.bench_parser('t', '/tmp/x.md').parse_args([])
    assert not hasattr(plain, 'compile')
    parser = harness.bench_parser('t', '/tmp/x.md', compile_default='both')
    assert parser.parse_args([]).compile == 'both'
    assert parser.parse_args(['--compile', 'off']).compile == 'off'
    with pytest.raises(SystemExit):
        parser.parse_args(['--compile', 'maybe'])
    with pytest.raises(ValueError, match='compile_default'):
        harness.bench_parser('t', '/tmp/x.md', compile_default='yes')
