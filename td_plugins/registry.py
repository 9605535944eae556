"""The one registry of td_plugins: ``MODELS``, scope ``td_plugins``, a child
of mmengine's root (docs/architecture.md, "The registry").
"""
from typing import Any, Optional, Union

import torch.nn as nn
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

__all__ = ['HOOKS', 'METRICS', 'MODELS', 'PARAM_SCHEDULERS', 'SCOPE',
           'TRANSFORMS', 'build_module']

SCOPE = 'td_plugins'

def _child(name: str, parent: Registry, location: str) -> Registry:
    """A child of root ``parent`` in our scope, importing ``location``."""
    return Registry(name, parent=parent, scope=SCOPE, locations=[location])


MODELS = _child('model', MMENGINE_MODELS, 'td_plugins.models')
# Evaluation metrics (``type='td_plugins.AnyStepAccuracy'`` in an evaluator).
METRICS = _child('metric', MMENGINE_METRICS, 'td_plugins.evaluation')
# Data transforms (``type='td_plugins.FivePointCrop'`` in a pipeline).
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, 'td_plugins.datasets')
# Runner hooks (``custom_hooks=[dict(type='td_plugins.DistBNReduceHook')]``)
# and parameter schedulers (``type='td_plugins.TimmCosineLR'``).
HOOKS = _child('hook', MMENGINE_HOOKS, 'td_plugins.engine')
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS,
                          'td_plugins.engine')


def build_module(cfg: Union[dict, nn.Module, None],
                 default_args: Optional[dict] = None) -> Optional[Any]:
    """Build ``cfg`` in the ``td_plugins`` scope, whatever the default scope.

    Example:
        >>> from mmengine.registry import init_default_scope
        >>> init_default_scope('mmdet')
        >>> dsf = build_module(dict(type='DownsampleFunction', dims=2))
        >>> type(dsf).__name__
        'DownsampleFunction'
    """
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(
            f'cfg must be a dict with a "type" key, an nn.Module or None, '
            f'got {cfg!r}')
    with MODELS.switch_scope_and_registry(SCOPE) as registry:
        return registry.build(cfg, default_args=default_args)
