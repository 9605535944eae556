"""Load a config and build (part of) its model in the config's own scope."""
import importlib
from typing import Any, Optional

import torch.nn as nn

__all__ = ['load_config', 'build_from_config']


def load_config(path: str, cfg_options: Optional[dict] = None) -> Any:
    """``Config.fromfile(path)`` plus ``cfg_options``; it needs a ``model``."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise ValueError(f'config {path} has no `model`')
    return cfg


def build_from_config(cfg: Any, part: Optional[str] = None,
                      with_preprocessor: bool = False) -> nn.Module:
    """Build ``cfg.model`` (or ``cfg.model.<part>``) in the config's scope.

    Args:
        cfg (mmengine.Config): A loaded config.
        part (str, optional): A sub-config of ``model``, e.g. ``'backbone'``.
        with_preprocessor (bool): Add the config's ``data_preprocessor``.

    Example:
        >>> cfg = load_config('configs/tdam/demo/tdam-r18_cls_demo.py')
        >>> type(build_from_config(cfg, part='backbone')).__name__
        'TDAMResNet'
    """
    from mmengine.registry import init_default_scope
    scope = cfg.get('default_scope', None) or 'mmengine'
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model_cfg = cfg.model.copy()
    if part is not None:
        if part not in model_cfg:
            raise ValueError(f'part must name a sub-config of model '
                             f'({sorted(model_cfg)}), got {part!r}')
        return registry.build(model_cfg[part])
    if with_preprocessor and cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return registry.build(model_cfg)
