"""mmengine's ``compile`` config key through tools/train.py: the TDAM demo
classifier trains 2 iterations with its train_step compiled (inductor), and
its losses are the eager run's (same seed, same images)."""
import json
import math
from pathlib import Path

import pytest
from conftest import run_tool

COMPILED = 'configs/tdam/demo/tdam-r18_cls_compile_demo.py'
EAGER = 'configs/tdam/demo/tdam-r18_cls_demo.py'
ITERS = 2
OPTIONS = [f'train_cfg.max_iters={ITERS}', 'train_dataloader.batch_size=2',
           'train_dataloader.num_workers=0',
           'train_dataloader.persistent_workers=False',
           'train_dataloader.dataset.indices=[0,40]',
           f'default_hooks.checkpoint.interval={ITERS}',
           'default_hooks.logger.interval=1', 'log_processor.window_size=1',
           'randomness.seed=0', 'randomness.deterministic=True']


def _losses(work_dir: Path):
    (scalars, ) = Path(work_dir).glob('*/vis_data/scalars.json')
    rows = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [r['loss'] for r in rows if 'loss' in r]


def _train(config: str, work_dir: Path) -> str:
    proc = run_tool('tools/train.py', config, '--work-dir', work_dir,
                    '--no-validate', '--cfg-options', *OPTIONS)
    (log, ) = Path(work_dir).glob('*/*.log')
    return proc.stdout + proc.stderr + log.read_text()


def test_compile_key_is_set_only_in_the_compile_config():
    from mmengine.config import Config
    assert Config.fromfile(COMPILED).compile == dict(backend='inductor')
    assert 'compile' not in Config.fromfile(EAGER)


@pytest.mark.compile
def test_train_with_compile_key_matches_eager(demo_data, tmp_path):
    text = _train(COMPILED, tmp_path / 'compiled')
    assert 'Model has been "compiled"' in text
    compiled = _losses(tmp_path / 'compiled')
    assert (tmp_path / 'compiled' / f'iter_{ITERS}.pth').is_file()
    eager_text = _train(EAGER, tmp_path / 'eager')
    assert 'Model has been "compiled"' not in eager_text
    eager = _losses(tmp_path / 'eager')
    assert len(compiled) == len(eager) == ITERS
    assert all(math.isfinite(x) for x in compiled)
    # The second loss follows one optimiser step on compiled gradients.
    assert compiled == pytest.approx(eager, rel=1e-3)
