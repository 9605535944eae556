"""Average BN running statistics across processes after every train epoch, as
timm's ``--dist-bn reduce`` in the official TDAM runs (docs/tdam.md).
"""
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS

__all__ = ['DistBNReduceHook', 'distribute_bn_stats', 'DIST_BN_MODES']

DIST_BN_MODES = ('reduce', 'broadcast')


def _check_mode(mode: object) -> None:
    if mode not in DIST_BN_MODES:
        raise ValueError(f'mode must be one of {DIST_BN_MODES}, got {mode!r}')


def distribute_bn_stats(model: nn.Module, mode: str = 'reduce',
                        group: Optional[object] = None) -> int:
    """timm's ``distribute_bn``; returns how many buffers were synchronised.

    Args:
        model (nn.Module): The model (a DDP wrapper is unwrapped).
        mode (str): ``'reduce'`` (mean) or ``'broadcast'`` (rank 0's).
        group: Process group; None is the default group.
    """
    _check_mode(mode)
    if not (dist.is_available() and dist.is_initialized()):
        return 0
    world_size = dist.get_world_size(group)
    if world_size == 1:
        return 0
    if is_model_wrapper(model):
        model = model.module
    count = 0
    for name, buf in model.named_buffers(recurse=True):
        if 'running_mean' not in name and 'running_var' not in name:
            continue
        if mode == 'reduce':
            dist.all_reduce(buf, op=dist.ReduceOp.SUM, group=group)
            buf /= float(world_size)
        else:
            dist.broadcast(buf, 0, group=group)
        count += 1
    return count


@HOOKS.register_module()
class DistBNReduceHook(Hook):
    """Average every BN's running statistics over processes per train epoch.

    Args:
        mode (str): ``'reduce'`` (mean, official) or ``'broadcast'``.

    Example:
        >>> custom_hooks = [dict(type='td_plugins.DistBNReduceHook')]
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, mode: str = 'reduce') -> None:
        _check_mode(mode)
        self.mode = mode

    @torch.no_grad()
    def after_train_epoch(self, runner) -> None:
        distribute_bn_stats(runner.model, self.mode)
