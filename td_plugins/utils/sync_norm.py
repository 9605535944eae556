"""Make SyncBN conversion keep TDAF's multi-flow BN multi-flow.

Pang et al., "TDAF" (AAAI 2021), eq. 4: a multi-flow BN keeps one set of
statistics per flow. mmengine's ``convert_sync_batchnorm`` (what the Runner
runs for a config's ``sync_bn``) and torch's
``nn.SyncBatchNorm.convert_sync_batchnorm`` turn every ``_BatchNorm`` into
``nn.SyncBatchNorm``, which would silently give a multi-flow BN one flow
(and ``(num_flows, C)`` buffers it cannot use). :func:`install_sync_norm`
(called by ``import td_plugins``) wraps both: a multi-flow BN becomes
:class:`~td_plugins.models.layers.SyncMultiFlowBatchNorm` (its parameters
and buffers shared, so the state dict is unchanged), every other module goes
to the stock conversion. Both stock functions recurse through the name they
are looked up by (mmengine's module global, torch's class attribute), so
children of any depth pass through the wrapper. mmengine's ``'mmcv'``
implementation choice applies to the other BNs; multi-flow BNs always use
the gloo/nccl-capable :class:`SyncMultiFlowBatchNorm`.
"""
import sys
from typing import Any, Callable

import torch.nn as nn

__all__ = ['convert_sync_multi_flow_bn', 'install_sync_norm']

_FLAG = '_td_plugins_multi_flow'
# Modules that bind mmengine's function by name (``from ... import``).
_MMENGINE_HOLDERS = ('mmengine.model.utils', 'mmengine.model',
                     'mmengine.runner.runner',
                     'mmengine._strategy.distributed')


def convert_sync_multi_flow_bn(module: nn.Module,
                               process_group: Any = None) -> nn.Module:
    """Replace every multi-flow BN in ``module`` (itself included) by its
    synchronised form; other modules are left as they are.

    Args:
        module (nn.Module): Converted in place (children replaced).
        process_group (ProcessGroup, optional): For the statistics; None
            for the default group.

    Returns:
        nn.Module: ``module``, or its replacement if it is a multi-flow BN.

    Example:
        >>> import torch.nn as nn
        >>> from td_plugins.models.layers import MultiFlowBatchNorm2d
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 1), MultiFlowBatchNorm2d(4))
        >>> type(convert_sync_multi_flow_bn(net)[1]).__name__
        'SyncMultiFlowBatchNorm'
    """
    from ..models.layers import MultiFlowBatchNorm, SyncMultiFlowBatchNorm
    if isinstance(module, SyncMultiFlowBatchNorm):
        return module
    if isinstance(module, MultiFlowBatchNorm):
        return SyncMultiFlowBatchNorm.from_multi_flow(module, process_group)
    for name, child in module.named_children():
        module.add_module(name,
                          convert_sync_multi_flow_bn(child, process_group))
    return module


def _wrap_mmengine(stock: Callable) -> Callable:

    def convert_sync_batchnorm(module: nn.Module,
                               implementation: str = 'torch') -> nn.Module:
        from ..models.layers import MultiFlowBatchNorm
        if isinstance(module, MultiFlowBatchNorm):
            if implementation not in ('torch', 'mmcv'):
                raise ValueError('sync_bn should be "torch" or "mmcv", but '
                                 f'got {implementation}')
            return convert_sync_multi_flow_bn(module)
        return stock(module, implementation)

    convert_sync_batchnorm.__doc__ = (
        (stock.__doc__ or '') + '\n    td_plugins: multi-flow BN becomes '
        'SyncMultiFlowBatchNorm (td_plugins.utils.sync_norm).\n')
    convert_sync_batchnorm.__wrapped__ = stock  # type: ignore[attr-defined]
    setattr(convert_sync_batchnorm, _FLAG, True)
    return convert_sync_batchnorm


def _install_mmengine() -> bool:
    try:
        import mmengine.model.utils as utils
    except ImportError:
        return False
    stock = utils.convert_sync_batchnorm
    wrapped = stock if getattr(stock, _FLAG, False) else _wrap_mmengine(stock)
    original = getattr(wrapped, '__wrapped__')
    for name in _MMENGINE_HOLDERS:
        holder = sys.modules.get(name)
        if holder is not None and \
                getattr(holder, 'convert_sync_batchnorm', None) is original:
            holder.convert_sync_batchnorm = wrapped
    return True


def _install_torch() -> None:
    current = nn.SyncBatchNorm.__dict__['convert_sync_batchnorm']
    if getattr(current.__func__, _FLAG, False):
        return
    stock = current.__func__

    def convert_sync_batchnorm(cls: type, module: nn.Module,
                               process_group: Any = None) -> nn.Module:
        from ..models.layers import MultiFlowBatchNorm
        if isinstance(module, MultiFlowBatchNorm):
            return convert_sync_multi_flow_bn(module, process_group)
        return stock(cls, module, process_group)

    convert_sync_batchnorm.__doc__ = stock.__doc__
    convert_sync_batchnorm.__wrapped__ = stock  # type: ignore[attr-defined]
    setattr(convert_sync_batchnorm, _FLAG, True)
    nn.SyncBatchNorm.convert_sync_batchnorm = classmethod(
        convert_sync_batchnorm)


def install_sync_norm() -> bool:
    """Make mmengine's and torch's SyncBN conversions turn multi-flow BN
    into :class:`SyncMultiFlowBatchNorm`. Idempotent.

    Returns:
        bool: Whether mmengine's conversion is (now) wrapped.
    """
    _install_torch()
    return _install_mmengine()
