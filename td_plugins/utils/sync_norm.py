"""Make SyncBN conversion keep TDAF's multi-flow BN multi-flow (Pang et al.,
"TDAF", AAAI 2021, eq. 4; docs/training.md, "Synchronised multi-flow BN").
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
    """Replace every multi-flow BN in ``module`` by its synchronised form.

    Args:
        module (nn.Module): Converted in place (children replaced).
        process_group (ProcessGroup, optional): None for the default group.

    Returns:
        nn.Module: ``module``, or its replacement if it is a multi-flow BN.

    Example:
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
    """Wrap mmengine's and torch's SyncBN conversions; idempotent.

    Returns:
        bool: Whether mmengine's conversion is (now) wrapped.
    """
    _install_torch()
    return _install_mmengine()
