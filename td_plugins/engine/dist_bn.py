"""Average BN running statistics across processes after every train epoch.

The official TDAM ImageNet runs (Jaiswal, Fernando and Tan, ECCV 2022; the
timm script ``td_train_and_evaluate.py``, ``--dist-bn reduce`` by default)
call timm's ``distribute_bn(model, world_size, reduce=True)`` after each
training epoch, before validation and the checkpoint: every buffer whose
name contains ``running_mean`` or ``running_var`` is summed over the
processes and divided by their number. With plain (per-GPU) BN each process
otherwise keeps the statistics of its own quarter of the data, and rank 0's
alone are validated and saved. ``mode='broadcast'`` is timm's other choice
(rank 0's copied to all).
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
    """timm's ``distribute_bn``: make every process's BN running statistics
    the same, their mean (``'reduce'``) or rank 0's (``'broadcast'``).

    Args:
        model (nn.Module): The model (a DDP wrapper is unwrapped).
        mode (str): ``'reduce'`` or ``'broadcast'``. Defaults to
            ``'reduce'``.
        group: Process group; None is the default group.

    Returns:
        int: How many buffers were synchronised (0 outside a distributed
        run or with a single process).
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
    """timm's ``--dist-bn reduce`` as an mmengine hook: at the end of every
    train epoch, average every BN's ``running_mean`` / ``running_var`` over
    the processes (:func:`distribute_bn_stats`).

    Priority ``'ABOVE_NORMAL'``: it runs before the ``CheckpointHook``
    (``'VERY_LOW'``) writes the epoch's checkpoint, and the validation loop
    runs after all ``after_train_epoch`` hooks, as in the official script.
    Nothing happens in a non-distributed run.

    Args:
        mode (str): ``'reduce'`` (mean, the official default) or
            ``'broadcast'`` (rank 0's). Defaults to ``'reduce'``.

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
