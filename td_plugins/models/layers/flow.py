"""Passing a TDAF flow index through a chain of modules.

Pang et al., "TDAF" (AAAI 2021), section 3.1: the R2DNS flows share every
layer, and each multi-flow BN (eq. 4) must know which flow a call belongs
to. The flow is an argument, never module state: :func:`run_flow` gives it
to whatever takes one (a module or callable with ``takes_flow = True``, such
as :class:`~.multi_flow_bn.MultiFlowBatchNorm`, the flow blocks of
:mod:`.flow_blocks` and :class:`FlowFn`), walks lists, tuples and plain
``nn.Sequential`` containers, and calls everything else as ``m(x)`` (a
module that hides a multi-flow BN inside its own ``forward`` then raises,
since that BN gets no flow).
"""
from typing import Any, Callable, Sequence, Union

import torch
import torch.nn as nn

__all__ = ['FlowFn', 'run_flow', 'takes_flow']

Chain = Union[nn.Module, Callable, Sequence[Any]]


def takes_flow(module: Any) -> bool:
    """Whether ``module`` is called as ``module(x, flow)``."""
    return bool(getattr(module, 'takes_flow', False))


class FlowFn:
    """Mark a callable ``fn(x, flow)`` for :func:`run_flow` (e.g. a stem
    whose layers need code to receive the flow).

    Args:
        fn (callable): ``(x, flow) -> Tensor``.

    Example:
        >>> import torch
        >>> double = FlowFn(lambda x, flow: x * (flow + 1))
        >>> run_flow([double, double], torch.ones(1), 1)
        tensor([4.])
    """
    takes_flow = True

    def __init__(self, fn: Callable[[torch.Tensor, int],
                                    torch.Tensor]) -> None:
        self.fn = fn

    def __call__(self, x: torch.Tensor, flow: int) -> torch.Tensor:
        return self.fn(x, flow)


def run_flow(chain: Chain, x: torch.Tensor, flow: int) -> torch.Tensor:
    """Apply ``chain`` to ``x`` as flow ``flow``.

    Args:
        chain: A module or callable, or a list/tuple of them applied in
            turn; a plain ``nn.Sequential`` is walked child by child.
        x (Tensor): The input.
        flow (int): The flow index (0-based).

    Returns:
        Tensor: The output.

    Example:
        >>> import torch, torch.nn as nn
        >>> from td_plugins.models.layers import MultiFlowBatchNorm2d
        >>> chain = nn.Sequential(nn.Conv2d(3, 4, 1),
        ...                       MultiFlowBatchNorm2d(4, num_flows=2))
        >>> run_flow(chain, torch.rand(2, 3, 5, 5), 1).shape
        torch.Size([2, 4, 5, 5])
    """
    if isinstance(chain, (list, tuple)):
        for module in chain:
            x = run_flow(module, x, flow)
        return x
    if takes_flow(chain):
        return chain(x, flow)
    if isinstance(chain, nn.Sequential) and \
            type(chain).forward is nn.Sequential.forward:
        for module in chain:
            x = run_flow(module, x, flow)
        return x
    return chain(x)
