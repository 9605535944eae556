"""Load a config and build (part of) its model in the config's own scope.

One place for what the analysis, visualisation, export and benchmark tools
all do before they look at a model: read the config (its ``custom_imports``
are imported by ``Config.fromfile``), merge ``--cfg-options``, and build
``model`` (or a sub-config such as ``model.backbone``) through the registry
of the codebase named by ``default_scope``, so unprefixed stock names
(``FPN``, ``LinearClsHead``) resolve as they do in that codebase's runner.

mmengine and the codebase are imported when called, not by ``import
td_plugins``.
"""
import importlib
from typing import Any, Optional

import torch.nn as nn

__all__ = ['load_config', 'build_from_config']


def load_config(path: str, cfg_options: Optional[dict] = None) -> Any:
    """``mmengine.Config.fromfile(path)`` with ``cfg_options`` merged.

    Args:
        path (str): The config file.
        cfg_options (dict, optional): ``key.sub=value`` overrides, as
            ``--cfg-options`` gives them. Defaults to None.

    Returns:
        mmengine.Config: The config; it must define ``model``.
    """
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
        cfg (mmengine.Config): A loaded config (see :func:`load_config`).
        part (str, optional): A sub-config of ``model`` to build instead of
            the whole model, e.g. ``'backbone'``. Defaults to None.
        with_preprocessor (bool): Give the model the config's top-level
            ``data_preprocessor`` when the model config has none, as
            mmengine's ``Runner`` does. Defaults to False.

    Returns:
        nn.Module: The module as constructed (no weights loaded, no
        ``init_weights``), in training mode as modules start.

    Example:
        >>> from td_plugins.utils import build_from_config, load_config
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
