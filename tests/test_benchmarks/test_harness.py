"""Tests for benchmarks/harness.py: tiny models only, a few seconds in all."""
import sys
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
