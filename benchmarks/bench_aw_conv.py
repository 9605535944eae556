"""AWConv2d (its exact forms) vs nn.Conv2d, on ResNet-50's bottleneck
3x3 convolutions.

For each stage's 3x3 conv of ResNet-50 at 224x224, batch 8 (64 channels at
56x56, 128 at 28x28, 256 at 14x14, 512 at 7x7), times the plain convolution
and the AW-convolution in each form: per tap ('taps'), all taps in one matrix
product then col2im ('fold'), the literal reference (per-sample kernels
through one grouped convolution), the stacked-tap GEMM with its eager
shift-scale-sum ('gemm') and with the sum compiled by inductor ('gemm-
fused', set_gemm_fusion('compile') around the layer), and 'auto', side by
side in one process, inference and training. With ``--compile on|both`` each
case also runs through torch.compile of the whole layer (ratios to the
compiled nn.Conv2d). This is the layer-level half of the AW benchmark;
AW-ResNet-50 vs ResNet-50 is benchmarks/bench_aw.py.

    python benchmarks/bench_aw_conv.py [--repeats 10] [--warmup 2]
        [--compile off|on|both] [--sizes 56 28 14 7]
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
    by_compile,
    emit_report,
    run_cases,
    start_bench,
    to_markdown,
)

OUT = Path(__file__).resolve().parent / 'results' / 'aw_conv.md'
BATCH = 8
SHAPES = [(64, 56), (128, 28), (256, 14), (512, 7)]
FORMS = ('taps', 'fold', 'reference', 'gemm', 'gemm-fused', 'auto')


class FusedSum(nn.Module):
    """The layer with ``set_gemm_fusion('compile')`` around its forward."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from td_plugins.models.layers.aw_gemm import set_gemm_fusion
        set_gemm_fusion('compile')
        try:
            return self.conv(x)
        finally:
            set_gemm_fusion('eager')


def build(kind: str, channels: int) -> nn.Module:
    if kind == 'conv':
        return nn.Conv2d(channels, channels, 3, padding=1, bias=False)
    from td_plugins.models.layers import AWConv2d
    impl = kind[len('aw-'):]
    conv = AWConv2d(channels, channels, 3, padding=1, bias=False,
                    impl=impl.split('-')[0])
    return FusedSum(conv) if impl.endswith('-fused') else conv


def make_input(channels: int, size: int) -> torch.Tensor:
    return torch.randn(BATCH, channels, size, size,
                       generator=torch.Generator().manual_seed(0))


def main() -> None:
    parser = bench_parser(__doc__, OUT, compile_default='off')
    parser.add_argument('--sizes', type=int, nargs='+',
                        choices=[s for _, s in SHAPES],
                        default=[s for _, s in SHAPES],
                        help='which of the four shapes, by map size')
    args, sections = start_bench(parser, 'benchmarks/bench_aw_conv.py',
                                 __doc__)
    summary = ['## Time ratios vs nn.Conv2d\n',
               '| mode | form | channels @ size | ' +
               ' | '.join(f'AW {k}' for k in FORMS) + ' |',
               '|---|---|---|' + '---:|' * len(FORMS)]
    for mode in ('forward', 'train'):
        for channels, size in SHAPES:
            if size not in args.sizes:
                continue
            cases = [Case(kind, partial(build, kind, channels),
                          partial(make_input, channels, size), mode=mode)
                     for kind in ('conv', ) + tuple(f'aw-{k}' for k in FORMS)]
            results = run_cases(cases, 'conv', warmup=args.warmup,
                                repeats=args.repeats, threads=args.threads,
                                measure_memory=False, compile=args.compile)
            sections.append(to_markdown(
                results, title=f'{mode}, {channels} channels at '
                f'{size}x{size}, batch {BATCH}'))
            for form, rs in by_compile(results).items():
                summary.append(
                    f'| {mode} | {form} | {channels} @ {size} | ' +
                    ' | '.join(f'{r.ratio:.2f}' for r in rs[1:]) + ' |')
    emit_report('\n'.join(sections + summary +
                          ['', allocator_note(args.malloc) + '\n']), args.out)


if __name__ == '__main__':
    main()
