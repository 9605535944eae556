"""AWConv2d (its three exact forms) vs nn.Conv2d, on ResNet-50's bottleneck
3x3 convolutions.

For each stage's 3x3 conv of ResNet-50 at 224x224, batch 8 (64 channels at
56x56, 128 at 28x28, 256 at 14x14, 512 at 7x7), times the plain convolution
and the AW-convolution in each form: per tap ('taps'), all taps in one matrix
product then col2im ('fold') and the literal reference (per-sample kernels
through one grouped convolution), side by side in one process, inference and
training. 'auto' picks among them by output size and stride. This is the
layer-level half of the AW
benchmark; AW-ResNet-50 vs ResNet-50 comes with the backbone.

    python benchmarks/bench_aw_conv.py [--repeats 10] [--warmup 2]
"""
import sys
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root
from benchmarks.harness import (  # noqa: E402
    Case,
    allocator_note,
    bench_parser,
    emit_report,
    run_cases,
    start_bench,
    to_markdown,
)

OUT = Path(__file__).resolve().parent / 'results' / 'aw_conv.md'
BATCH = 8
SHAPES = [(64, 56), (128, 28), (256, 14), (512, 7)]
FORMS = ('taps', 'fold', 'reference')


def build(kind: str, channels: int) -> nn.Module:
    if kind == 'conv':
        return nn.Conv2d(channels, channels, 3, padding=1, bias=False)
    from td_plugins.models.layers import AWConv2d
    return AWConv2d(channels, channels, 3, padding=1, bias=False,
                    impl=kind[len('aw-'):])


def make_input(channels: int, size: int) -> torch.Tensor:
    return torch.randn(BATCH, channels, size, size,
                       generator=torch.Generator().manual_seed(0))


def main() -> None:
    parser = bench_parser(__doc__, OUT)
    args, sections = start_bench(parser, 'benchmarks/bench_aw_conv.py',
                                 __doc__)
    summary = ['## Time ratios vs nn.Conv2d\n',
               '| mode | channels @ size | ' +
               ' | '.join(f'AW {k}' for k in FORMS) + ' |',
               '|---|---|' + '---:|' * len(FORMS)]
    for mode in ('forward', 'train'):
        for channels, size in SHAPES:
            cases = [Case(kind, partial(build, kind, channels),
                          partial(make_input, channels, size), mode=mode)
                     for kind in ('conv', ) + tuple(f'aw-{k}' for k in FORMS)]
            results = run_cases(cases, 'conv', warmup=args.warmup,
                                repeats=args.repeats, threads=args.threads,
                                measure_memory=False)
            sections.append(to_markdown(
                results, title=f'{mode}, {channels} channels at '
                f'{size}x{size}, batch {BATCH}'))
            summary.append(f'| {mode} | {channels} @ {size} | ' + ' | '.join(
                f'{r.ratio:.2f}' for r in results[1:]) + ' |')
    emit_report('\n'.join(sections + summary +
                          ['', allocator_note(args.malloc) + '\n']), args.out)


if __name__ == '__main__':
    main()
