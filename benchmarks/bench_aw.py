"""AW-ResNet-50 vs ResNet-50 and AW-FPN vs FPN: time ratios, every AWConv2d
form beside 'auto'.

Backbones: both without classifier, batch 8 at 224x224. Necks: mmdet's FPN as
Faster R-CNN configures it (256 channels, 5 outputs) and td_plugins.AWFPN
alone, on ResNet-50 features of one 800x800 image (C2-C5: 256@200, 512@100,
1024@50, 2048@25). Each pair runs on the CPU, inference and training, timed
side by side in one process (interleaved repeats); the AW model runs with
AWConv2d's default ``impl='auto'`` and with each form forced, so the choice
and the speed-up over the literal per-sample-kernel form ('reference') are
visible. The issue's bar is >= 0.90x the plain model's throughput (time ratio
<= 1.11).

With ``--compile both`` (the default) every model also runs through
``torch.compile`` (inductor) in the same interleaved loop, and the summary
has one row per form: eager vs eager, compiled vs compiled.

    python benchmarks/bench_aw.py [--part backbone|fpn|all] [--repeats 10]
        [--compile off|on|both] [--impls auto gemm ...]

``--impls`` times only the named forms (default: all), e.g. to keep a
compiled run short.
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

OUT = Path(__file__).resolve().parent / 'results' / 'aw.md'
BATCH, SIZE = 8, 224
IMPLS = ('auto', 'taps', 'fold', 'reference', 'gemm')
FPN_CHANNELS = (256, 512, 1024, 2048)
FPN_IMAGE = 800


def resnet50() -> nn.Module:
    from td_plugins.models.backbones import AWResNet
    # AWResNet without AW stages is torchvision's ResNet-50 body.
    return AWResNet(depth=50, aw_stages=())


def aw_resnet50(impl: str) -> nn.Module:
    from td_plugins.models.backbones import AWResNet
    return AWResNet(depth=50, aw_impl=impl)


def fpn() -> nn.Module:
    from mmdet.models.necks import FPN
    return FPN(in_channels=list(FPN_CHANNELS), out_channels=256, num_outs=5)


def aw_fpn(impl: str) -> nn.Module:
    from td_plugins.models.necks import AWFPN
    return AWFPN(in_channels=list(FPN_CHANNELS), out_channels=256,
                 num_outs=5, aw_impl=impl)


def make_features() -> list:
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(1, c, FPN_IMAGE // 4 // 2**i, FPN_IMAGE // 4 // 2**i,
                        generator=gen) for i, c in enumerate(FPN_CHANNELS)]


def make_input() -> torch.Tensor:
    return torch.randn(BATCH, 3, SIZE, SIZE,
                       generator=torch.Generator().manual_seed(0))


PARTS = {
    # part: (baseline name, baseline builder, AW name, AW builder, input,
    #        what the input is)
    'backbone': ('resnet50', resnet50, 'aw-resnet50', aw_resnet50,
                 make_input, f'batch {BATCH}, {SIZE}x{SIZE}'),
    'fpn': ('fpn', fpn, 'aw-fpn', aw_fpn, make_features,
            f'ResNet-50 features of one {FPN_IMAGE}x{FPN_IMAGE} image'),
}


def main() -> None:
    parser = bench_parser(__doc__, OUT, compile_default='both')
    parser.add_argument('--part', choices=('backbone', 'fpn', 'all'),
                        default='all', help='what to time (default: all)')
    parser.add_argument('--impls', nargs='+', choices=IMPLS, default=IMPLS,
                        help='the AWConv2d forms to time (default: all)')
    args, sections = start_bench(parser, 'benchmarks/bench_aw.py',
                                 __doc__)
    parts = list(PARTS) if args.part == 'all' else [args.part]
    impls = [i for i in IMPLS if i in args.impls]
    summary = ['## Throughput vs the plain model (1 / time ratio; bar '
               '0.90)\n',
               '| model | mode | form | ' + ' | '.join(impls) + ' |',
               '|---|---|---|' + '---:|' * len(impls)]
    for part in parts:
        base, build_base, name, build_aw, make, what = PARTS[part]
        for mode in ('forward', 'train'):
            cases = [Case(base, build_base, make, mode=mode)] + [
                Case(f'{name} ({impl})', partial(build_aw, impl), make,
                     mode=mode) for impl in impls]
            results = run_cases(cases, base, warmup=args.warmup,
                                repeats=args.repeats, threads=args.threads,
                                measure_memory=False, compile=args.compile)
            sections.append(to_markdown(results, title=f'{mode}, {what}'))
            for form, rs in by_compile(results).items():
                summary.append(
                    f'| {name} vs {base} | {mode} | {form} | ' + ' | '.join(
                        f'{1.0 / r.ratio:.3f}' for r in rs[1:]) + ' |')
    emit_report('\n'.join(sections + summary +
                          ['', allocator_note(args.malloc) + '\n']), args.out)


if __name__ == '__main__':
    main()
