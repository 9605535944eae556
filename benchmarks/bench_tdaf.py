"""TDAF-ResNet-50 (ANAR-3, 3 flows) vs ResNet-50: time and MAC ratios.

Both backbones (no classifier), batch 8 at 224x224, inference and training,
timed side by side in one process (interleaved repeats), next to each
model's multiply-accumulates. If the TDAF implementation wastes nothing
beyond its extra arithmetic, its time ratio tracks its MAC ratio.

    python benchmarks/bench_tdaf.py [--repeats 5] [--warmup 2] [--out FILE]
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root
from benchmarks.harness import Case, count_macs, run_cases, to_markdown  # noqa

OUT = Path(__file__).resolve().parent / 'results' / 'tdaf.md'
BATCH, SIZE = 8, 224


class ResNet50Features(nn.Module):
    """torchvision ResNet-50 up to layer4 (what a detector's backbone is)."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import resnet50
        net = resnet50()
        self.body = nn.Sequential(*list(net.children())[:-2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def tdaf_r50() -> nn.Module:
    from td_plugins.models.backbones import TDAFResNet
    return TDAFResNet(depth=50, num_flows=3, anar=3, out_indices=(3, ),
                      zero_init_anar=False)


def make_input() -> torch.Tensor:
    return torch.randn(BATCH, 3, SIZE, SIZE,
                       generator=torch.Generator().manual_seed(0))


BUILDERS = {'resnet50': ResNet50Features, 'tdaf-r50-anar3-3f': tdaf_r50}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--out', default=str(OUT))
    args = parser.parse_args()
    torch.manual_seed(0)
    sections = [f'# {__doc__.splitlines()[0]}\n',
                f'Command: `python benchmarks/bench_tdaf.py --repeats '
                f'{args.repeats} --warmup {args.warmup}`\n']
    summary = []
    for mode in ('forward', 'train'):
        macs = {name: count_macs(build(), make_input(), mode)
                for name, build in BUILDERS.items()}
        cases = [Case(name, build, make_input, mode=mode)
                 for name, build in BUILDERS.items()]
        results = run_cases(cases, 'resnet50', warmup=args.warmup,
                            repeats=args.repeats, threads=args.threads,
                            measure_memory=False)
        title = (f'{"inference" if mode == "forward" else "training"}, '
                 f'batch {BATCH}, {SIZE}x{SIZE}')
        sections.append(to_markdown(results, title=title))
        mac_ratio = macs['tdaf-r50-anar3-3f'] / macs['resnet50']
        time_ratio = results[1].ratio
        summary.append(
            f'| {mode} | {macs["resnet50"] / 1e9:.2f} | '
            f'{macs["tdaf-r50-anar3-3f"] / 1e9:.2f} | {mac_ratio:.3f} | '
            f'{time_ratio:.3f} | {time_ratio - mac_ratio:+.3f} |')
    table = ['## Time ratio vs MAC ratio (TDAF-R50 / R50)\n',
             '| mode | R50 GMACs | TDAF-R50 GMACs | MAC ratio | time ratio '
             '| difference |', '|---|---:|---:|---:|---:|---:|', *summary,
             '\nMACs: convolutions and matrix products counted by '
             '`torch.utils.flop_counter` for the whole batch (training: '
             'forward + backward).\n']
    text = '\n'.join(sections + table)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f'wrote {args.out}', file=sys.stderr)


if __name__ == '__main__':
    main()
