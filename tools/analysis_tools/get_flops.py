"""Parameters and multiply-accumulates of a config's model, per module.

Usage::

    python tools/analysis_tools/get_flops.py CONFIG [--shape 224 224]
        [--depth 2] [--json out.json] [--device auto|meta|cpu|cuda]
        [--no-elementwise] [--cfg-options key=value ...]

Builds the config's model (mmpretrain, mmdet, mmpose or mmaction2; no
weights, no dataset), runs it once on a random input of ``--shape`` (``S`` |
``H W`` | ``C H W`` | ``C T H W``; default: the task's usual size) and
prints the parameters, the MACs (FLOPs = 2 x MACs) by operator and a
per-module table ``--depth`` levels deep. What is counted, the inputs per
task, TDAM's inference count and why not the codebases' own get_flops.py:
docs/flops.md.
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
