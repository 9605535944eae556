"""Checkpointing that updates running statistics once (docs/training.md)."""
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
    """``fn(*args, **kwargs)`` checkpointed; ``owner``'s buffers updated once.

    Args:
        fn (callable): The segment; ``*args`` and ``**kwargs`` are its inputs.
        owner (nn.Module): The module whose buffers ``fn`` may update.

    Example:
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
