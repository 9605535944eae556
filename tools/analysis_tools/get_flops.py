"""Parameters and multiply-accumulates of a config's model, per module.

Usage::

    python tools/analysis_tools/get_flops.py CONFIG [--shape 224 224]
        [--depth 2] [--json out.json] [--device auto|meta|cpu|cuda]
        [--no-elementwise] [--cfg-options key=value ...]

Works for the mmpretrain, mmdet, mmpose and mmaction2 configs of this
repository (and stock ones): the model is built from the config (no weights
are loaded, no dataset is needed) and run once on a random input of the
given shape:

* classifiers: ``model(x, mode='tensor')`` (backbone, neck, head);
* detectors: ``model(x, [sample], mode='tensor')``, the raw head outputs
  (two-stage: the RoI head on ``test_cfg.rpn.max_per_img`` proposals);
* pose estimators: ``model(x, None, mode='tensor')`` (backbone, neck, head);
* recognizers: ``model(x, mode='tensor', stage='head')``, ``x`` one clip
  ``[1, 1, C, T, H, W]`` (``--shape 3 16 112 112``).

``--shape``: ``S`` | ``H W`` | ``C H W`` | ``C T H W`` (a video clip; with
``H W`` the frame count comes from the config). Without ``--shape``, the
task's usual size: 224x224 classification (the config's evaluation crop;
CIFAR 32x32), a 1333x800 image for detection (padded as the config pads),
256x192 pose, one validation clip for video.

What is counted (MACs; FLOPs = 2 x MACs): every convolution and matrix
product that executes (PyTorch's ``FlopCounterMode``), plus every
element-wise product of two tensors at one MAC per element; not counted:
norms, activations, pooling, resizing, additions, biases. See
:mod:`td_plugins.utils.flops` for the exact list; the model and its input
come from :mod:`td_plugins.utils.dummy_inputs`.

Why not the stock ``get_flops.py`` of mmpretrain / mmdet / mmpose /
mmaction2: they all call ``mmengine.analysis.get_model_complexity_info``,
which traces the model with ``torch.jit.trace`` and counts the traced
operators it has formulas for (convolutions, matrix products/einsum, norms,
some pooling and upsampling). Measured on this repository's models:

* it skips element-wise products (logged as "Unsupported operator aten::mul
  / aten::addcmul_"), which is where the attention's arithmetic is: TDAM's
  channel and spatial gates, AW-convolution's per-sample weighting
  ``K * (1 + A)`` (304 ``mul`` and 128 ``addcmul_`` calls skipped in
  AW-ResNet-50), TDAF's ANAR gates ``h * (g + 0.5)``;
* it counts BN and pooling, so ResNet-50 reads 4.11 G against the
  convolution + fc convention (4.09 G) the TDAM/TNet papers quote;
* the tools patch ``forward`` to make the model traceable and so count
  less than the model runs: mmpretrain's and mmaction2's count
  ``extract_feat`` (no classification head), and mmdet's needs a dataset
  (it takes an image from the val dataloader);
* tracing is slow (AW-ResNet-50: 45 s on 2 CPU cores); here the count runs
  on the ``meta`` device (shapes only, about a second) and falls back to the
  CPU when a model cannot (NMS, RoIAlign, ``.item()``).

Per-module table: ``--depth N`` levels of the module tree below the model;
each operator is charged to the innermost module running it, and a module
running operators outside its sub-modules gets an "(own ops)" row (TDAM's
gates in each block), so the leaf rows add up to the total.

Note for TDAM ResNets: in evaluation mode the default
``pool_early_tops=True`` computes the early steps' tops on the pooled map
(the same function), so TDAM-R50 runs 4.10 G at inference; the official
order counted by the paper (4.55 G here, 4.59 G with ptflops' BN/ReLU) is
``--cfg-options model.backbone.pool_early_tops=False``.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from td_plugins.utils import load_config  # noqa: E402
from td_plugins.utils.dummy_inputs import config_complexity  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Parameters and MACs of a config\'s model, per module '
        '(no dataset, no weights).')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+', default=None,
                        help='input size: S | H W | C H W | C T H W '
                        '(default: the task\'s usual size)')
    parser.add_argument('--depth', type=int, default=2,
                        help='levels of the module tree in the table '
                        '(0: the model only; default 2)')
    parser.add_argument('--json', default=None, metavar='OUT.json',
                        help='also write the counts and the breakdown here')
    parser.add_argument('--device', default='auto',
                        choices=['auto', 'meta', 'cpu', 'cuda'],
                        help='auto (default): meta, else the CPU')
    parser.add_argument('--no-elementwise', action='store_true',
                        help='do not count element-wise products (only '
                        'convolutions and matrix products)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (key=value)')
    args = parser.parse_args(argv)
    if args.depth < 0:
        parser.error(f'--depth must be >= 0, got {args.depth}')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    result = config_complexity(cfg, shape=args.shape, device=args.device,
                               elementwise=not args.no_elementwise)
    summary = result.to_dict(args.depth)
    summary['config'] = args.config
    shape = 'x'.join(str(s) for s in result.input_shape)
    line = '=' * 60
    print(line)
    print(f'Config:      {args.config}')
    print(f'Input shape: {shape}')
    print(f'Counted on:  {result.device}')
    print(f'Params:      {result.params / 1e6:.3f} M ({result.params:,})')
    print(f'MACs:        {result.macs / 1e9:.3f} G ({result.macs:,}); '
          f'FLOPs = 2 x MACs')
    print('By operator: ' + ', '.join(
        f'{op} {macs / 1e9:.4f} G' for op, macs in result.by_op.items()))
    print(f'Counted:     {summary["counted"]}')
    print(f'Not counted: {summary["not_counted"]}')
    notes = list(result.notes)
    if result.full_count_options:
        options = ' '.join(f'{k}={v}'
                           for k, v in result.full_count_options.items())
        notes.append('TDAM pools the early steps\' tops at inference (same '
                     'outputs); the official order the paper counts: '
                     f'--cfg-options {options}')
    for note in notes:
        print(f'Note:        {note}')
    print(line)
    print(result.table(args.depth))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2) + '\n')
        print(f'wrote {args.json}')
    return summary


if __name__ == '__main__':
    main()
