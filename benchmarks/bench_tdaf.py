"""TDAF-ResNet-50 (ANAR-3, 3 flows) vs ResNet-50: time and MAC ratios.

Both backbones (no classifier), batch 8 at 224x224, inference and training,
timed side by side in one process (interleaved repeats), next to each
model's multiply-accumulates. If the TDAF implementation wastes nothing
beyond its extra arithmetic, its time ratio tracks its MAC ratio. TDAF runs
once per ``--flow-parallel`` mode (a stage's flows one after another, or
concurrently in threads: ``TDAFResNet(flow_parallel=...)``); a batch-1
inference section gives the latency, and ``--profile`` adds a per-op
profile of the gap between TDAF-R50 and ResNet-50. With ``--compile both``
(the default) the models are also timed through ``torch.compile`` (in a
loop of their own; compiled, the flows run serially, so only the serial
TDAF is compiled); the pieces are timed eagerly only.

Two things about the CPU are controlled, the same way for both models:

* **Memory layout.** Both models run in each of ``contiguous`` (NCHW, the
  PyTorch default) and ``channels_last`` (NHWC, the layout oneDNN's CPU
  convolutions work in natively); each layout gets its own rows.
* **The allocator.** glibc returns freed blocks above its (dynamic) mmap
  threshold to the kernel, so a 25 MB activation can be page-faulted in
  afresh on every call in one process and reused from the heap in the next:
  that alone moved ResNet-50's time by tens of percent between processes
  in ad hoc runs, which drowns the differences this benchmark is for. By
  default the script re-executes itself with ``MALLOC_MMAP_THRESHOLD_`` and
  ``MALLOC_TRIM_THRESHOLD_`` fixed (``--malloc default`` keeps glibc's own).

    python benchmarks/bench_tdaf.py [--repeats 10] [--warmup 2]
        [--layouts contiguous channels_last] [--malloc fixed|default]
        [--flow_parallel serial threads] [--compile off|on|both]
        [--latency_repeats 20] [--profile]
"""
import sys
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root
from benchmarks.harness import (  # noqa: E402
    Case,
    allocator_note,
    bench_parser,
    by_compile,
    count_macs,
    emit_report,
    op_profile,
    run_cases,
    start_bench,
    to_markdown,
)

OUT = Path(__file__).resolve().parent / 'results' / 'tdaf.md'
BATCH, SIZE = 8, 224
BASE, TDAF = 'resnet50', 'tdaf-r50-anar3-3f'
LAYOUTS = {'contiguous': torch.contiguous_format,
           'channels_last': torch.channels_last}


class ResNet50Features(nn.Module):
    """torchvision ResNet-50 up to layer4 (what a detector's backbone is)."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import resnet50
        net = resnet50()
        self.body = nn.Sequential(*list(net.children())[:-2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def tdaf_r50(flow_parallel: str = 'serial') -> nn.Module:
    from td_plugins.models.backbones import TDAFResNet
    return TDAFResNet(depth=50, num_flows=3, anar=3, out_indices=(3, ),
                      zero_init_anar=False, flow_parallel=flow_parallel)


BUILDERS: Dict[str, Callable[[], nn.Module]] = {BASE: ResNet50Features,
                                                TDAF: tdaf_r50}


def tdaf_name(flow_parallel: str) -> str:
    """The case name of TDAF-R50 with ``flow_parallel``."""
    return TDAF if flow_parallel == 'serial' else \
        f'{TDAF}, {flow_parallel}'


def make_input(layout: str = 'contiguous',
               batch: int = BATCH) -> torch.Tensor:
    x = torch.randn(batch, 3, SIZE, SIZE,
                    generator=torch.Generator().manual_seed(0))
    return x.contiguous(memory_format=LAYOUTS[layout])


def build(name: str, layout: str = 'contiguous',
          flow_parallel: str = 'serial') -> nn.Module:
    model = tdaf_r50(flow_parallel) if name == TDAF else BUILDERS[name]()
    return model.to(memory_format=LAYOUTS[layout])


def model_cases(layout: str, mode: str, modes: List[str],
                batch: int = BATCH) -> List[Case]:
    """ResNet-50, then TDAF-R50 once per flow_parallel mode."""
    inp = partial(make_input, layout, batch)
    return [Case(BASE, partial(build, BASE, layout), inp, mode=mode)] + [
        Case(tdaf_name(m), partial(build, TDAF, layout, m), inp, mode=mode)
        for m in modes]


class Piece(nn.Module):
    """One stage (or one ANAR and its gate) of the plain ResNet-50, run alone
    on one of the shapes TDAF runs it on. Its inputs are leaves that require
    grad, as inside the network; their ``.grad`` is dropped on every call so
    nothing accumulates."""

    def __init__(self, body: nn.Module, gated: bool = False) -> None:
        super().__init__()
        self.body = body
        self.gated = gated
        if gated:
            from td_plugins.models.layers import HalfScaleResidualGate
            self.gate = HalfScaleResidualGate(0.5)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        for x in xs:
            x.grad = None
        if not self.gated:
            return self.body(*xs)
        a, h = xs
        g = self.body(a, out_size=h.shape[2:])
        # In inference TDAF gates in place; the zero-initialised ANAR gives
        # g + 0.5 = 1 exactly, so the reused input is left as it was.
        return self.gate(h, g, inplace=not torch.is_grad_enabled())


def tdaf_shapes() -> List[tuple]:
    """(piece, input shapes) of every stage and ANAR call TDAF-R50 makes on
    the benchmark input, recorded with hooks."""
    model = tdaf_r50().eval()
    calls: List[tuple] = []
    # R2DNS walks a stage block by block (the flow goes to each), so a
    # stage's input is its first block's.
    named = [('stem', model.conv1)] + [
        (f'layer{i + 1}', s[0]) for i, s in enumerate(model.stages)]
    for name, module in named:
        module.register_forward_pre_hook(
            lambda m, args, name=name: calls.append(
                (name, (tuple(args[0].shape), ))))
    for i, anar in enumerate(model.r2dns.anars):
        anar.register_forward_pre_hook(
            lambda m, args, kwargs, i=i: calls.append(
                (f'anar{i + 1}', (tuple(args[0].shape),
                                  (BATCH, model.stage_channels[i],
                                   *kwargs['out_size'])))),
            with_kwargs=True)
    with torch.no_grad():
        model(make_input())
    return calls


def build_piece(name: str, layout: str) -> nn.Module:
    from torchvision.models import resnet50
    net = resnet50()
    if name == 'stem':
        body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    elif name.startswith('layer'):
        body = getattr(net, name)
    else:
        from td_plugins.models.layers import ANAR
        channels = 256 * 2**(int(name[4:]) - 1)
        return Piece(ANAR(channels, depth=3), gated=True).to(
            memory_format=LAYOUTS[layout])
    return Piece(body).to(memory_format=LAYOUTS[layout])


def make_piece_input(shapes: tuple, layout: str) -> tuple:
    gen = torch.Generator().manual_seed(0)
    return tuple(
        torch.randn(s, generator=gen).contiguous(
            memory_format=LAYOUTS[layout]).requires_grad_() for s in shapes)


def tdaf_op_profile(layout: str, mode: str, flow_parallel: str,
                    mac_ratio: float) -> str:
    """:func:`benchmarks.harness.op_profile` of TDAF-R50 vs ResNet-50."""
    inp = partial(make_input, layout)
    return op_profile(
        Case(BASE, partial(build, BASE, layout), inp, mode=mode),
        Case(tdaf_name(flow_parallel),
             partial(build, TDAF, layout, flow_parallel), inp, mode=mode),
        mac_ratio, title=f'Per-op profile, {mode}, batch {BATCH}, {layout}')


def main() -> None:
    parser = bench_parser(__doc__, OUT, compile_default='both')
    parser.add_argument('--layouts', nargs='+', choices=tuple(LAYOUTS),
                        default=list(LAYOUTS))
    parser.add_argument('--flow_parallel', '--flow-parallel', nargs='+',
                        choices=('serial', 'threads'),
                        default=['serial', 'threads'])
    parser.add_argument('--latency_repeats', '--latency-repeats', type=int,
                        default=20)
    parser.add_argument('--profile', action='store_true')
    args, sections = start_bench(
        parser, 'benchmarks/bench_tdaf.py', __doc__,
        extra=('layouts', 'flow_parallel', 'latency_repeats'))
    if args.profile:
        sections[1] = sections[1].replace('`\n', ' --profile`\n')
    modes = list(args.flow_parallel)
    # Compiled, every mode runs the serial graph: time it once.
    form_modes = {'eager': modes, 'compiled': modes[:1] if 'serial' not in
                  modes else ['serial']}
    summary: List[str] = []
    latency: List[str] = []
    profiles: List[str] = []
    piece_shapes = tdaf_shapes()
    for mode in ('forward', 'train'):
        macs = {name: count_macs(b(), make_input(), mode)
                for name, b in BUILDERS.items()}
        mac_ratio = macs[TDAF] / macs[BASE]
        for layout in args.layouts:
            cases = model_cases(layout, mode, modes)
            compiled = model_cases(layout, mode, form_modes['compiled'])
            pieces = [Case(f'{name}, input {shapes[0][2]}x{shapes[0][3]}',
                           partial(build_piece, name, layout),
                           partial(make_piece_input, shapes, layout),
                           mode=mode) for name, shapes in piece_shapes]
            # The pieces run eagerly only (compiling each would take
            # minutes); compiled models get their own interleaved loop.
            results = []
            if args.compile != 'on':
                results += run_cases(
                    cases + pieces, BASE, warmup=args.warmup,
                    repeats=args.repeats, threads=args.threads,
                    measure_memory=False)
            if args.compile != 'off':
                results += run_cases(
                    compiled, BASE, warmup=args.warmup,
                    repeats=args.repeats, threads=args.threads,
                    measure_memory=False, compile='on')
            for form, rs in by_compile(results).items():
                n = 1 + len(form_modes[form])
                models, piece_results = rs[:n], rs[n:]
                title = (f'{"inference" if mode == "forward" else "training"}'
                         f', batch {BATCH}, {SIZE}x{SIZE}, {layout}, {form}')
                sections.append(to_markdown(models, title=title))
                if piece_results:
                    sections.append(to_markdown(
                        models[:1] + piece_results,
                        title=f'{title}: the plain stages and the '
                        f'ANARs alone, on the shapes TDAF runs them on'))
                piece_ratio = sum(r.ratio for r in piece_results)
                pieces_cols = (f'{piece_ratio:.3f} | {{:+.3f}}'
                               if piece_results else '- | -')
                base_ips = BATCH / models[0].median_ms * 1e3
                for fp, r in zip(form_modes[form], models[1:]):
                    summary.append(
                        f'| {mode} | {layout} | {form} | {fp} | '
                        f'{macs[BASE] / 1e9:.2f} | {macs[TDAF] / 1e9:.2f} | '
                        f'{mac_ratio:.3f} | {r.ratio:.3f} | '
                        f'{r.ratio - mac_ratio:+.3f} | '
                        f'{pieces_cols.format(r.ratio - piece_ratio)} | '
                        f'{base_ips:.1f} | {BATCH / r.median_ms * 1e3:.1f} |')
            if args.profile:
                for fp in modes:
                    profiles.append(
                        tdaf_op_profile(layout, mode, fp, mac_ratio))
    for layout in args.layouts:
        results = []
        for form, flag in (('eager', 'off'), ('compiled', 'on')):
            if args.compile in (flag, 'both'):
                results += run_cases(
                    model_cases(layout, 'forward', form_modes[form],
                                batch=1), BASE, warmup=args.warmup,
                    repeats=args.latency_repeats, threads=args.threads,
                    measure_memory=False, compile=flag)
        for form, rs in by_compile(results).items():
            sections.append(to_markdown(
                rs, title=f'latency: inference, batch 1, {SIZE}x{SIZE}, '
                f'{layout}, {form}'))
            for fp, r in zip(form_modes[form], rs[1:]):
                latency.append(f'| {layout} | {form} | {fp} | '
                               f'{rs[0].median_ms:.1f} | {r.median_ms:.1f} | '
                               f'{r.ratio:.3f} |')
    table = ['## Time ratio vs MAC ratio (TDAF-R50 / R50)\n',
             '| mode | layout | form | flows | R50 GMACs | TDAF-R50 GMACs | '
             'MAC ratio | time ratio | time - MAC | pieces ratio | '
             'time - pieces | R50 img/s | TDAF img/s |',
             '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
             *summary,
             '\nMACs: convolutions, matrix products and element-wise '
             'products counted by `td_plugins.utils.flops` for the whole '
             'batch (training: forward + backward).',
             'flows: `serial` runs a stage\'s flows one after another, '
             '`threads` runs the smaller flows in worker threads beside the '
             'largest (`TDAFResNet(flow_parallel=...)`). img/s: batch '
             f'{BATCH} over the median time (throughput).',
             'Pieces ratio: the sum of the medians of the plain ResNet-50 '
             'stages and of the ANAR+gate, each run alone on the input shape '
             'TDAF-R50 gives it (one row per call TDAF makes), over the '
             'ResNet-50 median: the time TDAF would take if it cost nothing '
             'beyond the kernels it calls. time - pieces is what the R2DNS '
             'wrapper itself adds (flow loop, multi-flow BN, DSF).',
             '\n## Batch-1 latency (inference)\n',
             '| layout | form | flows | R50 ms | TDAF-R50 ms | ratio |',
             '|---|---|---|---:|---:|---:|', *latency, '',
             allocator_note(args.malloc) + '\n']
    emit_report('\n'.join(sections + profiles + table), args.out)


if __name__ == '__main__':
    main()
