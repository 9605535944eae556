"""Multi-Flow Batch Normalization (MFBN) of TDAF.

Pang, Li, Li, Li, Cao and Lu, "TDAF: Top-Down Attention Framework for Vision
Tasks" (AAAI 2021), section 3.1, eq. 4:
``y^(n) = gamma * (x^(n) - mu_B(n)) / sqrt(sigma_B(n)^2 + eps) + alpha``.
The recursive flows of R2DNS share every layer, but their activations are not
identically distributed (later flows are masked by earlier flows' attention),
so each flow ``n`` normalises with its own batch statistics and keeps its own
running mean and variance, while the affine ``gamma`` (``weight``) and
``alpha`` (``bias``) are shared by all flows.

Which flow a call belongs to is module state (:attr:`flow`), set by the
R2DNS wrapper before it runs a flow (:func:`set_flow`), so that unmodified
blocks (a ResNet ``Bottleneck`` calls ``self.bn1(x)``) work as they are.

State-dict layout: ``weight`` and ``bias`` as in ``nn.BatchNorm``;
``running_mean`` / ``running_var`` of shape ``(num_flows, C)`` and
``num_batches_tracked`` of shape ``(num_flows,)``. Loading a plain BN's
state dict (shapes ``(C,)`` and ``()``) copies its statistics into every
flow, so ImageNet BN weights load into an MFBN network.
"""
from typing import Any, Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['MultiFlowBatchNorm', 'MultiFlowBatchNorm2d',
           'MultiFlowBatchNorm3d', 'set_flow']


class MultiFlowBatchNorm(nn.Module):
    """BatchNorm with shared affine parameters and per-flow statistics.

    Use :class:`MultiFlowBatchNorm2d` or :class:`MultiFlowBatchNorm3d`.

    Args:
        num_features (int): Channels C.
        num_flows (int): Number of flows N (each keeps its own statistics).
            Defaults to 3.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float, optional): Running-statistics momentum; None for a
            cumulative average, as in ``nn.BatchNorm``. Defaults to 0.1.
        affine (bool): Learn the shared ``weight`` and ``bias``.
            Defaults to True.
    """

    _abbr_ = 'bn'  # mmcv's build_norm_layer names the layer bn1, bn2, ...
    _input_dims = 0

    def __init__(self, num_features: int, num_flows: int = 3,
                 eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True) -> None:
        super().__init__()
        if not isinstance(num_flows, int) or num_flows < 1:
            raise ValueError(
                f'num_flows must be an integer >= 1, got {num_flows!r}')
        self.num_features = num_features
        self.num_flows = num_flows
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.flow = num_flows - 1
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter('weight', None)
            self.register_parameter('bias', None)
        self.register_buffer('running_mean',
                             torch.zeros(num_flows, num_features))
        self.register_buffer('running_var',
                             torch.ones(num_flows, num_features))
        self.register_buffer('num_batches_tracked',
                             torch.zeros(num_flows, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self._input_dims:
            raise ValueError(f'{type(self).__name__} expects a '
                             f'{self._input_dims}-D input, got shape '
                             f'{tuple(x.shape)}')
        n = self.flow
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training:
            self.num_batches_tracked[n] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked[n])
        # Indexing with an int gives views, which batch_norm updates in place.
        return F.batch_norm(x, self.running_mean[n], self.running_var[n],
                            self.weight, self.bias, self.training, factor,
                            self.eps)

    def _load_from_state_dict(self, state_dict: Dict[str, Any], prefix: str,
                              *args: Any, **kwargs: Any) -> None:
        # A plain BatchNorm's statistics serve every flow.
        for name in ('running_mean', 'running_var', 'num_batches_tracked'):
            key = prefix + name
            value = state_dict.get(key)
            own = getattr(self, name)
            if value is not None and value.dim() == own.dim() - 1:
                state_dict[key] = value.unsqueeze(0).expand_as(own).clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (f'{self.num_features}, num_flows={self.num_flows}, '
                f'eps={self.eps}, momentum={self.momentum}, '
                f'affine={self.affine}')


class MultiFlowBatchNorm2d(MultiFlowBatchNorm):
    """:class:`MultiFlowBatchNorm` for ``(N, C, H, W)`` inputs.

    Example:
        >>> import torch
        >>> bn = MultiFlowBatchNorm2d(8, num_flows=2)
        >>> bn.flow = 0
        >>> bn(torch.randn(4, 8, 5, 5)).shape
        torch.Size([4, 8, 5, 5])
        >>> bn.running_mean.shape
        torch.Size([2, 8])
    """
    _input_dims = 4


class MultiFlowBatchNorm3d(MultiFlowBatchNorm):
    """:class:`MultiFlowBatchNorm` for ``(N, C, T, H, W)`` inputs.

    Example:
        >>> import torch
        >>> bn = MultiFlowBatchNorm3d(4, num_flows=3)
        >>> bn(torch.randn(2, 4, 3, 5, 5)).shape
        torch.Size([2, 4, 3, 5, 5])
    """
    _input_dims = 5


def set_flow(module: nn.Module, flow: int) -> List[MultiFlowBatchNorm]:
    """Make every :class:`MultiFlowBatchNorm` inside ``module`` use ``flow``.

    Args:
        module (nn.Module): Searched recursively (itself included).
        flow (int): Flow index, ``0 <= flow < num_flows``.

    Returns:
        list: The MFBN layers that were switched.
    """
    layers = [m for m in module.modules()
              if isinstance(m, MultiFlowBatchNorm)]
    for layer in layers:
        if not 0 <= flow < layer.num_flows:
            raise ValueError(f'flow must be in [0, {layer.num_flows}), '
                             f'got {flow!r}')
        layer.flow = flow
    return layers
