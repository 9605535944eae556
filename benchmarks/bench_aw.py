"""AW-ResNet-50 vs ResNet-50: time ratios, both AWConv2d forms and 'auto'.

Both backbones (no classifier), batch 8 at 224x224 on the CPU, inference and
training, timed side by side in one process (interleaved repeats). AW-ResNet-50
runs three times: with AWConv2d's default ``impl='auto'`` and with each form
forced, so the choice is visible. The issue's bar is >= 0.90x ResNet-50's
throughput (time ratio <= 1.11).

    python benchmarks/bench_aw.py [--repeats 10] [--warmup 2]
"""
import sys
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root
from benchmarks.harness import (Case, allocator_note,  # noqa: E402
                                bench_parser, emit_report, run_cases,
                                start_bench, to_markdown)

OUT = Path(__file__).resolve().parent / 'results' / 'aw.md'
BATCH, SIZE = 8, 224
IMPLS = ('auto', 'taps', 'reference')


def resnet50() -> nn.Module:
    from td_plugins.models.backbones import AWResNet
    # AWResNet without AW stages is torchvision's ResNet-50 body.
    return AWResNet(depth=50, aw_stages=())


def aw_resnet50(impl: str) -> nn.Module:
    from td_plugins.models.backbones import AWResNet
    return AWResNet(depth=50, aw_impl=impl)


def make_input() -> torch.Tensor:
    return torch.randn(BATCH, 3, SIZE, SIZE,
                       generator=torch.Generator().manual_seed(0))


def main() -> None:
    parser = bench_parser(__doc__, OUT)
    args, sections = start_bench(parser, 'benchmarks/bench_aw.py',
                                 __doc__)
    summary = ['## Throughput vs ResNet-50 (1 / time ratio; bar 0.90)\n',
               '| mode | ' + ' | '.join(f'AW-R50 {i}' for i in IMPLS) + ' |',
               '|---|' + '---:|' * len(IMPLS)]
    for mode in ('forward', 'train'):
        cases = [Case('resnet50', resnet50, make_input, mode=mode)] + [
            Case(f'aw-resnet50 ({impl})', partial(aw_resnet50, impl),
                 make_input, mode=mode) for impl in IMPLS]
        results = run_cases(cases, 'resnet50', warmup=args.warmup,
                            repeats=args.repeats, threads=args.threads,
                            measure_memory=False)
        sections.append(to_markdown(
            results, title=f'{mode}, batch {BATCH}, {SIZE}x{SIZE}'))
        summary.append(f'| {mode} | ' + ' | '.join(
            f'{1.0 / r.ratio:.3f}' for r in results[1:]) + ' |')
    emit_report('\n'.join(sections + summary +
                          ['', allocator_note(args.malloc) + '\n']), args.out)


if __name__ == '__main__':
    main()
