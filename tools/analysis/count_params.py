"""Parameter counts of configs' models, as a markdown table.

For each config: all parameters, the backbone's, and those under any
``r2dns.`` module (what TDAF adds). Models are built on the CPU from the
config (no weights are loaded).

Usage: python tools/analysis/count_params.py CONFIG [CONFIG ...]
"""
import argparse
import importlib

from mmengine.config import Config
from mmengine.registry import init_default_scope


def count(config: str) -> dict:
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    registry = importlib.import_module(f'{cfg.default_scope}.registry')
    model = registry.MODELS.build(cfg.model)
    named = dict(model.named_parameters())
    return dict(
        total=sum(p.numel() for p in named.values()),
        backbone=sum(p.numel() for k, p in named.items()
                     if k.startswith('backbone.')),
        tdaf=sum(p.numel() for k, p in named.items() if '.r2dns.' in k))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+')
    args = parser.parse_args()
    print('| config | total | backbone | of which TDAF (r2dns) |')
    print('|---|---:|---:|---:|')
    for config in args.configs:
        c = count(config)
        print(f'| `{config}` | {c["total"]:,} | {c["backbone"]:,} | '
              f'{c["tdaf"]:,} |')


if __name__ == '__main__':
    main()
