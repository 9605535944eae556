"""The one registry of td_plugins.

``MODELS`` is a child of mmengine's root model registry with its own scope,
``td_plugins``, and declared ``locations``. A config therefore reaches every
class of this package as ``type='td_plugins.<ClassName>'`` from any default
scope (``mmdet``, ``mmpose``, ``mmaction``, ``mmpretrain``), and mmengine
imports :mod:`td_plugins.models` on its own the first time such a name is
looked up, even without ``custom_imports``.

Classes are registered here only, under names that no OpenMMLab codebase
uses, and never with ``force=True``.

Inner builds: mmengine's ``build_from_cfg`` re-routes every build to the
registry of the *current default scope*, so a sub-module of this package
built from an unprefixed config (``dict(type='DownsampleFunction')``) would
be looked up in mmdet's registry inside mmdet; :func:`build_module` pins the
scope to ``td_plugins`` for such a build. No module of the package builds
one today: composite modules construct their td_plugins sub-modules
directly; the config-dict builds are TNet's feature extractor, data
preprocessor and loss (mmpretrain's registry, on purpose: their configs name
mmpretrain classes), norms through mmcv's ``build_norm_layer`` (root
registry, any scope), and what the codebases' base classes build.
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
    """A registry under mmengine's root ``parent`` with our scope, which
    imports ``location`` the first time one of its names is looked up."""
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
    """Build a sub-module of one of our modules, whatever the default scope.

    Args:
        cfg (dict | nn.Module | None): A config with ``type`` (a name in this
            package, a prefixed name such as ``'mmdet.ResNet'``, or an mmcv
            brick that lives in the root registry), an already built module
            (returned as it is) or ``None`` (returned as it is).
        default_args (dict, optional): Arguments used where ``cfg`` has none.
            Defaults to None.

    Returns:
        The built module, ``cfg`` itself when it was a module, or ``None``.

    Example:
        >>> from td_plugins.registry import build_module
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
