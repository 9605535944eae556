"""Passing the TDAF flow through module chains (Pang et al., 2021, sec 3.1)."""
from typing import Any, Callable, Sequence, Union

import torch
import torch.nn as nn

__all__ = ['FlowFn', 'run_flow', 'takes_flow']

Chain = Union[nn.Module, Callable, Sequence[Any]]


def takes_flow(module: Any) -> bool:
    """Whether ``module`` is called as ``module(x, flow)``."""
    return bool(getattr(module, 'takes_flow', False))


class FlowFn:
    """Mark a callable ``fn(x, flow) -> Tensor`` for :func:`run_flow`."""
    takes_flow = True

    def __init__(self, fn: Callable[[torch.Tensor, int],
                                    torch.Tensor]) -> None:
        self.fn = fn

    def __call__(self, x: torch.Tensor, flow: int) -> torch.Tensor:
        return self.fn(x, flow)


def run_flow(chain: Chain, x: torch.Tensor, flow: int) -> torch.Tensor:
    """Apply ``chain`` to ``x`` as flow ``flow`` (0-based).

    Args:
        chain: A module, callable or list/tuple (a plain ``nn.Sequential`` is
            walked); those with ``takes_flow`` get the flow.

    Example:
        >>> run_flow([FlowFn(lambda x, k: x * (k + 1))] * 2, torch.ones(1), 1)
        tensor([4.])
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
