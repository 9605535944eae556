"""``make demo``: train FCOS with a TDAF backbone on the demo data, evaluate.

Steps, each printed as it runs:

1. generate ``data/demo`` (deterministic, seed 0; skipped when up to date);
2. evaluate the *untrained* detector (the same seed, so the same initial
   weights that training starts from) with COCO bbox mAP, keeping all its
   boxes (score_thr 0);
3. train it with ``tools/train.py`` on the CPU, and plot its loss curves
   (``loss_curves.png``, tools/analysis_tools/plot_logs.py);
4. evaluate the final checkpoint with ``tools/test.py``;
5. draw the trained model's attention on a val image with
   tools/visualization/vis_attention.py (for TDAF the ANAR mask of every
   gated stage and flow): ``attention/attention.png`` plus one PNG per
   panel in ``attention/``;
6. print both results side by side and where the logs, checkpoints,
   metrics and picture are (``work_dirs/demo/``).

The default config is FCOS with TDAF-ResNet-18 (ANAR-3, 3 recursive flows),
``configs/tdaf/demo/fcos_tdaf-r18_demo.py``; ``--config`` runs another (for
a config without a TDAF backbone the picture is skipped).

Usage: python tools/misc/run_demo.py [--config CFG] [--work-dir DIR]
       [--cfg-options k=v ...]
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = 'configs/tdaf/demo/fcos_tdaf-r18_demo.py'
KEYS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75')


def _step(msg: str) -> None:
    print(f'\n[demo] {msg}', flush=True)


def _make_data() -> None:
    _run(['tools/misc/make_demo_data.py', '--out', str(REPO / 'data' / 'demo'),
          '--seed', '0'])


def _load_config(config: str, options: List[str]):
    """The config with ``--cfg-options``-style ``k=v`` overrides merged."""
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(str(REPO / config))
    if options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--o', *options]).o)
    return cfg


def _has_tdaf(config: str) -> bool:
    from mmengine.config import Config
    return 'td_plugins.TDAF' in str(Config.fromfile(str(REPO / config)).model)


def _anar_contrast(config: str, checkpoint: str, work_dir: Path,
                   options: List[str], tag: str) -> Dict[str, dict]:
    """Per flow, the mean ANAR mask inside vs outside the val images' boxes
    (tools/analysis_tools/anar_contrast.py); {} without a TDAF backbone."""
    if not _has_tdaf(config):
        return {}
    out = work_dir / f'anar_contrast_{tag}.json'
    _run(['tools/analysis_tools/anar_contrast.py', config, '--out', str(out),
          '--work-dir', str(work_dir / f'contrast_{tag}')]
         + (['--checkpoint', checkpoint] if checkpoint else [])
         + (['--cfg-options', *options] if options else []))
    return json.loads(out.read_text())['per_flow']


def _draw_detections(config: str, checkpoint: str, work_dir: Path) -> str:
    """The trained detector's best boxes (as many as objects) beside the
    ground truth on 4 val images (mmdet's DetLocalVisualizer,
    tools/visualization/draw_detections.py)."""
    out = work_dir / 'detections'
    _run(['tools/visualization/draw_detections.py', config, checkpoint,
          '--out-dir', str(out), '--num-images', '4', '--per-object'])
    paths = [str(p) for p in sorted(out.glob('*.png'))]
    print(f'[demo] detections (ground truth left; right, the detector\'s N '
          f'best boxes for N objects, with their scores): {", ".join(paths)}')
    return str(out)


def _evaluate_untrained(config: str, work_dir: Path,
                        options: List[str]) -> Dict[str, float]:
    from mmengine.runner import Runner

    import td_plugins  # noqa: F401
    cfg = _load_config(config, options)
    cfg.work_dir = str(work_dir / 'untrained')
    # An untrained detector may score no box above score_thr, and mmdet's
    # CocoMetric then reports nothing at all; keep every box so that the
    # untrained model gets a real (and its best possible) mAP.
    if 'score_thr' in cfg.model.get('test_cfg', {}):
        cfg.model.test_cfg.score_thr = 0.0
    runner = Runner.from_cfg(cfg)
    # What runner.train() does first: the model's own weight initialisation.
    runner.model.init_weights()
    return dict(runner.test())


def _draw_attention(config: str, checkpoint: str, work_dir: Path) -> str:
    from mmengine.config import Config
    if 'td_plugins.' not in str(Config.fromfile(str(REPO / config)).model):
        print(f'[demo] {config} has no td_plugins attention to draw, '
              'skipped')
        return ''
    image = sorted((REPO / 'data/demo/coco_det/val').glob('*.jpg'))[0]
    out = work_dir / 'attention'
    _run(['tools/visualization/vis_attention.py', str(image), config,
          '--checkpoint', checkpoint, '--out-dir', str(out)])
    return str(out / 'attention.png')


def _plot_losses(work_dir: Path) -> str:
    """Loss curves of the training run just made in ``work_dir``."""
    out = work_dir / 'loss_curves.png'
    try:
        _run(['tools/analysis_tools/plot_logs.py', str(work_dir), '--out',
              str(out)])
    except subprocess.CalledProcessError:  # e.g. too few iterations logged
        print('[demo] no loss curves (see the error above); continuing')
        return ''
    return str(out)


def _run(cmd: List[str]) -> None:
    print('[demo] $ ' + ' '.join(cmd), flush=True)
    subprocess.run([sys.executable] + cmd, cwd=REPO, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='k=v overrides for training and evaluation')
    args = parser.parse_args()
    work_dir = (REPO / args.work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    options = list(args.cfg_options)
    start = time.time()

    _step('1/5 demo data (tools/misc/make_demo_data.py)')
    _make_data()

    _step('2/5 evaluating the untrained model')
    before = _evaluate_untrained(args.config, work_dir, options)
    contrast_before = _anar_contrast(args.config, '', work_dir, options,
                                     'untrained')

    _step('3/5 training on the CPU')
    extra = ['--cfg-options', *options] if options else []
    _run(['tools/train.py', args.config, '--work-dir', str(work_dir),
          '--no-validate', *extra])
    last = (work_dir / 'last_checkpoint').read_text().strip()
    curves = _plot_losses(work_dir)

    _step('4/5 evaluating the trained model')
    metrics_file = work_dir / 'trained_metrics.json'
    _run(['tools/test.py', args.config, last, '--work-dir', str(work_dir),
          '--metrics-out', str(metrics_file), *extra])
    after = json.loads(metrics_file.read_text())

    _step('5/5 attention maps and detections')
    contrast_after = _anar_contrast(args.config, last, work_dir, options,
                                    'trained')
    picture = _draw_attention(args.config, last, work_dir)
    detections = _draw_detections(args.config, last, work_dir)

    summary = dict(config=args.config, checkpoint=last, attention=picture,
                   detections=detections,
                   minutes=round((time.time() - start) / 60, 2),
                   untrained={k: before.get(k) for k in KEYS},
                   trained={k: after.get(k) for k in KEYS},
                   anar_contrast=dict(untrained=contrast_before,
                                      trained=contrast_after))
    (work_dir / 'summary.json').write_text(json.dumps(summary, indent=2))
    print('\n[demo] COCO bbox results on the demo val set '
          f'({summary["minutes"]} min in all)')
    print(f'  {"metric":<20}{"untrained":>10}{"trained":>10}')
    for key in KEYS:
        print(f'  {key:<20}{before.get(key, float("nan")):>10.3f}'
              f'{after.get(key, float("nan")):>10.3f}')
    if contrast_after:
        print('[demo] mean ANAR mask inside vs outside the ground-truth '
              'boxes, per flow (mean over the gated stages)')
        print(f'  {"flow":<6}{"untrained":>22}{"trained":>22}')
        for flow, a in contrast_after.items():
            b = contrast_before[flow]
            print(f'  {flow:<6}' + ''.join(
                f'{r["inside"]:>8.3f} {r["outside"]:.3f} {r["contrast"]:+.3f}'
                for r in (b, a)))
    print(f'[demo] checkpoint: {last}')
    if picture:
        print(f'[demo] attention maps: {picture}')
    if curves:
        print(f'[demo] loss curves: {curves}')
    print(f'[demo] logs, metrics and summary.json: {work_dir}')


if __name__ == '__main__':
    main()
