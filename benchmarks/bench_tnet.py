"""TNet vs its feature extractor on the whole image: time, peak memory, MACs.

Papadopoulos, Korus and Memon (NeurIPS 2021), section 5.2 and Table 3: TNet
on fMoW at 896x896 (EfficientNet-B0 at a base resolution of 224, 3 levels,
2 then 1 locations per grid = 4 attended locations) is 2.59x faster than
EfficientNet-B0 run on the full 896x896 image. Two pairs, each side by side
in one process (interleaved repeats, inference, CPU):

* ``fmow``: ``configs/tnet/tnet-efficientnet-b0_fmow-896-ft.py`` (its own
  test settings: 3 levels, locations (2, 1)) vs mmpretrain's EfficientNet-B0
  classifier (62 classes) on the 896x896 image;
* ``imagenet``: ``configs/tnet/tnet-bagnet77_4xb16_in1k.py`` evaluated with
  1 location (2 levels) vs ``configs/tnet/bagnet77_4xb16_in1k.py`` (BagNet-77
  on the 224x224 image).

Both models of a pair get the same images and return class scores (tensor
mode). MACs per image come from ``td_plugins.utils.flops`` on the same
call, so every crop's backbone run is counted. The issue's bar: TNet >= 2.5x
faster than EfficientNet-B0 at 896.

With ``--compile both`` (the default) both models of a pair also run
through ``torch.compile`` (inductor) in the same interleaved loop; the
summary has one row per form (eager vs eager, compiled vs compiled).

    python benchmarks/bench_tnet.py [--part fmow|imagenet|all] [--batch 2]
        [--compile off|on|both]
"""
import sys
from functools import partial
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # repo root
from benchmarks.harness import (  # noqa: E402
    Case,
    allocator_note,
    bench_parser,
    by_compile,
    count_macs,
    emit_report,
    run_cases,
    start_bench,
    to_markdown,
)

OUT = Path(__file__).resolve().parent / 'results' / 'tnet.md'
BAR = 2.5
PAPER_SPEEDUP = 2.59


class ScoresOnly(nn.Module):
    """A classifier's tensor-mode call (class scores only), so the harness
    can time and count it like any module."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x, mode='tensor')
        return out[-1] if isinstance(out, (tuple, list)) else out


def from_config(config: str, model_options: Optional[dict] = None
                ) -> nn.Module:
    """The config's model in eval mode, without pretrained weights."""
    from td_plugins.utils import build_from_config, load_config
    cfg = load_config(str(REPO / config), {
        f'model.{k}': v for k, v in (model_options or {}).items()})
    return ScoresOnly(build_from_config(cfg)).eval()


def efficientnet_b0(num_classes: int = 62) -> nn.Module:
    """mmpretrain's EfficientNet-B0 classifier, as the TNet configs build
    the backbone (Keras-like BN), run on the whole image."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    return ScoresOnly(MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='EfficientNet', arch='b0',
                      norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=1280)))).eval()


def images(batch: int, size: int) -> torch.Tensor:
    return torch.rand(batch, 3, size, size,
                      generator=torch.Generator().manual_seed(0)) * 2 - 1


# pair: (size, [(name, builder)], what is compared)
PAIRS = {
    'fmow': (896, [
        ('efficientnet-b0 @896', efficientnet_b0),
        ('tnet-efficientnet-b0 @896, 4 locations',
         partial(from_config,
                 'configs/tnet/tnet-efficientnet-b0_fmow-896-ft.py')),
    ]),
    'imagenet': (224, [
        ('bagnet-77 @224', partial(from_config,
                                   'configs/tnet/bagnet77_4xb16_in1k.py')),
        ('tnet-bagnet-77 @224, 1 location',
         partial(from_config,
                 'configs/tnet/tnet-bagnet77_4xb16_in1k.py',
                 dict(test_cfg=dict(num_levels=2,
                                    locations_per_level=[1])))),
    ]),
}


def macs_per_image(build: Any, inp: torch.Tensor) -> float:
    return count_macs(build(), inp) / inp.shape[0]


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = bench_parser(__doc__, OUT, compile_default='both')
    parser.add_argument('--part', choices=('fmow', 'imagenet', 'all'),
                        default='all')
    parser.add_argument('--batch', type=int, default=2)
    args, sections = start_bench(parser, 'benchmarks/bench_tnet.py',
                                 __doc__)
    parts = list(PAIRS) if args.part == 'all' else [args.part]
    summary = ['## Summary\n',
               '| pair | form | GMAC / image (base, TNet) | speed-up (base '
               'time / TNet time) | peak memory ratio |',
               '|---|---|---|---:|---:|']
    for part in parts:
        size, models = PAIRS[part]
        make = partial(images, args.batch, size)
        cases = [Case(name, build, make, mode='forward')
                 for name, build in models]
        results = run_cases(cases, models[0][0], warmup=args.warmup,
                            repeats=args.repeats, threads=args.threads,
                            measure_memory=True, compile=args.compile)
        sections.append(to_markdown(
            results, title=f'{part}: batch {args.batch}, {size}x{size}, '
            f'inference'))
        macs = [macs_per_image(build, make()) / 1e9 for _, build in models]
        for form, rs in by_compile(results).items():
            peaks = (rs[0].peak_mem_mib, rs[1].peak_mem_mib)
            mem = peaks[1] / peaks[0] if all(peaks) else float('nan')
            summary.append(
                f'| {part} | {form} | {macs[0]:.2f}, {macs[1]:.2f} | '
                f'{1.0 / rs[1].ratio:.2f}x | {mem:.2f} |')
    summary.append(f'\nBar (fmow): >= {BAR}x; the paper reports '
                   f'{PAPER_SPEEDUP}x.')
    emit_report('\n'.join(sections + summary +
                          ['', allocator_note(args.malloc) + '\n']), args.out)


if __name__ == '__main__':
    main()
