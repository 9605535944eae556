"""Print, for every shipped config, what it assumes of a GPU run: the GPUs and
images per GPU of its total batch (``auto_scale_lr.base_batch_size``), what
``--amp`` does to it, and how its backbone's BN behaves across GPUs.

docs/training.md carries this table; tests/test_tools/test_gpu_table.py
checks that it is this tool's output.

Usage: python tools/misc/gpu_table.py [--configs DIR]
"""
import argparse
import sys
from pathlib import Path
from typing import Any, List

from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = ('demo', 'real', '_base_')


def shipped_configs(root: Path) -> List[Path]:
    """Every config under ``root`` except the demo, real-data and base ones."""
    return sorted(p for p in root.rglob('*.py')
                  if not set(p.relative_to(root).parts[:-1]) & set(SKIP_DIRS))


def _has_bn(backbone: dict, scope: str) -> bool:
    import torch.nn as nn
    from mmengine.registry import MODELS, DefaultScope
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(backbone)
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm)
               for m in model.modules())


def _hooks(cfg: Config) -> List[str]:
    return [str(h.get('type', '')).split('.')[-1]
            for h in cfg.get('custom_hooks', None) or []]


def normalisation(cfg: Config) -> str:
    """How the backbone's BN behaves across GPUs, read from the config."""
    model = cfg.model
    backbone = model.get('backbone') or model.get('feature_extractor') or {}
    norm_cfg = backbone.get('norm_cfg') or {}
    frozen = backbone.get('norm_eval', False)
    hooks = _hooks(cfg)
    if cfg.get('sync_bn'):
        kind = (f"pretrained BN statistics frozen, the attention's norms "
                f"synchronised (`sync_bn='{cfg.sync_bn}'`)" if frozen else
                f"all BN synchronised (`sync_bn='{cfg.sync_bn}'`)")
    elif frozen and norm_cfg.get('requires_grad') is False:
        kind = 'backbone BN frozen (statistics and affines)'
    elif frozen:
        kind = 'backbone BN statistics frozen, affines trained'
    elif backbone and not _has_bn(backbone, cfg.get('default_scope')):
        return 'no BN'
    else:
        kind = 'BN per GPU'
    if 'DistBNReduceHook' in hooks:
        kind += ', running statistics averaged over GPUs every epoch'
    if 'SyncBuffersHook' in hooks:
        kind += ', buffers synchronised before validation'
    return kind


def amp(cfg: Config) -> str:
    kind = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if kind == 'AmpOptimWrapper':
        return 'AMP already'
    return 'adds AMP' if kind == 'OptimWrapper' else f'refused ({kind})'


def row(path: Path, root: Path) -> str:
    cfg = Config.fromfile(str(path))
    per_gpu = cfg.train_dataloader.batch_size
    total: Any = (cfg.get('auto_scale_lr') or {}).get('base_batch_size')
    gpus = f'{total // per_gpu} × {per_gpu}' if total else f'? × {per_gpu}'
    return (f'| `{path.relative_to(root.parent)}` | {gpus} = {total} | '
            f'{amp(cfg)} | {normalisation(cfg)} |')


def table(root: Path) -> str:
    import td_plugins  # noqa: F401  (registers the scope's modules)
    lines = ['| config | GPUs × images = total batch | `--amp` | '
             'BN across GPUs |', '|---|---|---|---|']
    lines += [row(p, root) for p in shipped_configs(root)]
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', default=str(REPO / 'configs'),
                        help='config folder (default: the repo\'s)')
    args = parser.parse_args(argv)
    print(table(Path(args.configs).resolve()))


if __name__ == '__main__':
    sys.exit(main())
