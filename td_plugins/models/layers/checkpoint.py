"""Activation checkpointing that leaves running statistics as one pass would.

``torch.utils.checkpoint`` runs a segment's forward a second time during
backward. A BatchNorm in training mode inside the segment then updates its
running mean, variance and ``num_batches_tracked`` twice per step, so a
``with_cp=True`` run trains different statistics from ``with_cp=False``
(Chen et al., "Training Deep Nets with Sublinear Memory Cost", 2016, assume
a pure function). :func:`checkpoint_keep_stats` snapshots the buffers of the
segment's owner module before the recompute and puts them back after it, so
outputs, gradients and statistics equal the plain run exactly (the batch
statistics a BN normalises with do not depend on its running buffers).
"""
import contextlib
from typing import Any, Callable, Iterator, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

__all__ = ['checkpoint_keep_stats']


@contextlib.contextmanager
def _restore_buffers(owner: nn.Module) -> Iterator[None]:
    saved = [(buf, buf.detach().clone()) for buf in owner.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


def checkpoint_keep_stats(fn: Callable[..., Any], *args: Any,
                          owner: nn.Module, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` under non-reentrant checkpointing; the
    recompute in backward restores every buffer of ``owner`` afterwards.

    Args:
        fn (callable): The segment, e.g. a block's ``_forward``.
        *args: Its inputs (tensors are saved, not their activations).
        owner (nn.Module): The module whose buffers ``fn`` may update.
        **kwargs: More arguments of ``fn`` (captured, e.g. a flow index).

    Example:
        >>> import torch, torch.nn as nn
        >>> bn = nn.BatchNorm1d(3)
        >>> x = torch.randn(4, 3, requires_grad=True)
        >>> checkpoint_keep_stats(bn, x, owner=bn).sum().backward()
        >>> int(bn.num_batches_tracked)
        1
    """

    def contexts() -> Tuple[contextlib.AbstractContextManager,
                            contextlib.AbstractContextManager]:
        return contextlib.nullcontext(), _restore_buffers(owner)

    return cp.checkpoint(fn, *args, use_reentrant=False,
                         context_fn=contexts, **kwargs)
