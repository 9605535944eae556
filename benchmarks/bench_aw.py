"""AW-ResNet-50 vs ResNet-50: time ratios, both AWConv2d forms and 'auto'.

Both backbones (no classifier), batch 8 at 224x224 on the CPU, inference and
training, timed side by side in one process (interleaved repeats). AW-ResNet-50
runs three times: with AWConv2d's default ``impl='auto'`` and with each form
forced, so the choice is visible. The issue's bar is >= 0.90x ResNet-50's
throughput (time ratio <= 1.11).

    python benchmarks/bench_aw.py [--repeats 10] [--warmup 2]
"""
import argparse
import sys
from functools import partial
from pathlib import Path
from typing import List

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root
from benchmarks.harness import (MALLOC_ENV, Case, emit_report,  # noqa: E402
                                reexec_with_fixed_malloc, run_cases,
                                to_markdown)

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
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--malloc', choices=('fixed', 'default'),
                        default='fixed')
    parser.add_argument('--out', default=str(OUT))
    args = parser.parse_args()
    if args.malloc == 'fixed':
        reexec_with_fixed_malloc()
    torch.manual_seed(0)
    command = (f'python benchmarks/bench_aw.py --repeats {args.repeats} '
               f'--warmup {args.warmup} --malloc {args.malloc}')
    sections: List[str] = [f'# {__doc__.splitlines()[0]}\n',
                           f'Command: `{command}`\n']
    summary = ['## Throughput vs ResNet-50 (1 / time ratio; bar 0.90)\n',
               '| mode | ' + ' | '.join(f'AW-R50 {i}' for i in IMPLS) + ' |',
               '|---|' + '---:|' * len(IMPLS)]
    for mode in ('forward', 'train'):
        cases = [Case('resnet50', resnet50, make_input, mode=mode)] + [
            Case(f'aw-resnet50 ({impl})', partial(aw_resnet50, impl),
                 make_input, mode=mode) for impl in IMPLS]
        results = run_cases(cases, 'resnet50', warmup=args.warmup,
                            repeats=args.repeats, measure_memory=False)
        sections.append(to_markdown(
            results, title=f'{mode}, batch {BATCH}, {SIZE}x{SIZE}'))
        summary.append(f'| {mode} | ' + ' | '.join(
            f'{1.0 / r.ratio:.3f}' for r in results[1:]) + ' |')
    malloc = ('glibc default' if args.malloc == 'default' else ', '.join(
        f'{k}={v}' for k, v in MALLOC_ENV.items()))
    emit_report('\n'.join(sections + summary +
                          ['', f'Allocator: {malloc}.\n']), args.out)


if __name__ == '__main__':
    main()
