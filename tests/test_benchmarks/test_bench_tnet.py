"""bench_tnet.py builds what it says it times, and counts every crop."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import bench_tnet  # noqa: E402


def test_imagenet_pair_macs_are_the_papers():
    """BagNet-77 on the 224 image (18.42 G) vs TNet with 1 location: two
    BagNet-77 passes at 77x77 plus the location module (paper: 3.63 G)."""
    size, models = bench_tnet.PAIRS['imagenet']
    inp = bench_tnet.images(1, size)
    macs = [bench_tnet.macs_per_image(build, inp) / 1e9
            for _, build in models]
    assert macs[0] == pytest.approx(18.42, abs=0.01)
    assert macs[1] == pytest.approx(3.63, abs=0.01)


def test_fmow_pair_runs_the_configured_traversal():
    size, models = bench_tnet.PAIRS['fmow']
    assert size == 896
    tnet = models[1][1]().model
    assert tnet.num_levels == 3 and list(tnet.locations_per_level) == [2, 1]
    base = models[0][1]().model
    assert type(base.backbone).__name__ == 'EfficientNet'
    assert base.head.fc.out_features == 62
