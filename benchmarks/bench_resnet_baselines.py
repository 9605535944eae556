"""Example bench: torchvision ResNet-18 (baseline) vs ResNet-34 vs ResNet-50.

Copy this file for a method issue: replace CASES (same input for every case),
BASELINE, TITLE and the output name. Run from the repo root:

    python benchmarks/bench_resnet_baselines.py [--repeats 20] [--threads 2]
        [--compile off|on|both]

Each model runs eagerly and through torch.compile (``--compile both``, the
default here): each form's ratios are to its own baseline.
"""
import sys
from pathlib import Path

import torch
from torchvision.models import resnet18, resnet34, resnet50

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root
from benchmarks.harness import Case, main  # noqa: E402


def make_input() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 128, 128, generator=gen)


CASES = [
    Case('resnet18', lambda: resnet18(weights=None), make_input),
    Case('resnet34', lambda: resnet34(weights=None), make_input),
    Case('resnet50', lambda: resnet50(weights=None), make_input),
]
BASELINE = 'resnet18'
TITLE = 'torchvision ResNets, forward, input (2, 3, 128, 128)'
OUT = Path(__file__).resolve().parent / 'results' / 'resnet_baselines.md'

if __name__ == '__main__':
    main(CASES, BASELINE, title=TITLE, default_out=OUT,
         compile_default='both')
