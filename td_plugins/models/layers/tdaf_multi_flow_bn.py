"""Multi-Flow Batch Normalization (MFBN) of TDAF, and its synchronised form.

Pang et al., "TDAF: Top-Down Attention Framework for Vision Tasks" (AAAI
2021), section 3.1, eq. 4: per-flow batch and running statistics, shared
affine (docs/tdaf.md, "Multi-flow BN, flows and checkpointing").
"""
from typing import Any, Dict, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['MultiFlowBatchNorm', 'MultiFlowBatchNorm2d',
           'MultiFlowBatchNorm3d', 'SyncMultiFlowBatchNorm']


class MultiFlowBatchNorm(_BatchNorm):
    """BatchNorm with shared affine parameters and per-flow statistics.

    Args:
        num_features (int): Channels C.
        num_flows (int): Number of flows N. Defaults to 3.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float, optional): Running-statistics momentum; None for a
            cumulative average. Defaults to 0.1.
        affine (bool): Learn the shared ``weight`` and ``bias``.
            Defaults to True.
        track_running_stats (bool): Must be True. Defaults to True.
    """

    _abbr_ = 'bn'  # mmcv's build_norm_layer names the layer bn1, bn2, ...
    _input_dims: Optional[int] = None  # None: any input with >= 2 dims
    takes_flow = True  # run_flow passes the flow to it

    def __init__(self, num_features: int, num_flows: int = 3,
                 eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True,
                 track_running_stats: bool = True) -> None:
        if isinstance(num_flows, bool) or not isinstance(num_flows, int) \
                or num_flows < 1:
            raise ValueError(
                f'num_flows must be an integer >= 1, got {num_flows!r}')
        if track_running_stats is not True:
            raise ValueError(f'track_running_stats must be True for '
                             f'multi-flow BN, got {track_running_stats!r}')
        super().__init__(num_features, eps, momentum, affine, True)
        self.num_flows = num_flows
        self.register_buffer('running_mean',
                             torch.zeros(num_flows, num_features))
        self.register_buffer('running_var',
                             torch.ones(num_flows, num_features))
        self.register_buffer('num_batches_tracked',
                             torch.zeros(num_flows, dtype=torch.long))

    def _check_input_dim(self, x: torch.Tensor) -> None:
        dims = self._input_dims
        if (dims is None and x.dim() < 2) or (dims is not None and
                                              x.dim() != dims):
            want = 'an at least 2-D' if dims is None else f'a {dims}-D'
            raise ValueError(f'{type(self).__name__} expects {want} input, '
                             f'got shape {tuple(x.shape)}')

    def _flow_index(self, flow: Optional[int]) -> int:
        if flow is None:
            if self.num_flows == 1:
                return 0
            raise ValueError(
                f'{type(self).__name__}({self.num_features}, num_flows='
                f'{self.num_flows}) was called without a flow: call it as '
                f'bn(x, flow) with flow in [0, {self.num_flows}), or run its '
                f'chain with td_plugins.models.layers.run_flow')
        if isinstance(flow, bool) or not isinstance(flow, int) or \
                not 0 <= flow < self.num_flows:
            raise ValueError(f'flow must be an integer in [0, '
                             f'{self.num_flows}), got {flow!r}')
        return flow

    def _flow_stats(self, flow: int) -> Tuple[torch.Tensor, ...]:
        """Flow ``flow``'s rows of the three statistics buffers, as views.

        The views are made once and reused while the buffers are the same
        tensors on the same memory (``.to()``, ``.data =`` or a copy of the
        module renew them), since indexing costs as much as a small
        kernel's call.
        """
        bufs = (self.running_mean, self.running_var,
                self.num_batches_tracked)
        if torch.compiler.is_compiling():  # traced: plain indexing
            return tuple(b[flow] for b in bufs)
        key = tuple((id(b), b.data_ptr()) for b in bufs)
        cache = self.__dict__.get('_flow_views')
        if cache is None or cache[0] != key:
            # Outside inference mode, so that batch_norm may update them
            # in place in any mode later.
            with torch.inference_mode(False):
                views = [tuple(b.select(0, k) for b in bufs)
                         for k in range(self.num_flows)]
            cache = self.__dict__['_flow_views'] = (key, views)
        return cache[1][flow]

    def _factor(self, count: torch.Tensor) -> float:
        """Count a training batch in a flow's ``count``; its running-average
        factor."""
        count.add_(1)
        if self.momentum is None:  # cumulative moving average
            return 1.0 / float(count)
        return self.momentum

    def forward(self, x: torch.Tensor,
                flow: Optional[int] = None) -> torch.Tensor:
        """Normalise ``x``, a batch of flow ``flow`` (0-based)."""
        flow = self._flow_index(flow)
        self._check_input_dim(x)
        mean, var, count = self._flow_stats(flow)
        factor = self._factor(count) if self.training else 0.0
        # The rows are views, which batch_norm updates in place.
        return F.batch_norm(x, mean, var, self.weight, self.bias,
                            self.training, factor, self.eps)

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
        >>> bn = MultiFlowBatchNorm2d(8, num_flows=2)
        >>> bn(torch.randn(4, 8, 5, 5), flow=0).shape
        torch.Size([4, 8, 5, 5])
        >>> bn.running_mean.shape, bn.num_batches_tracked.tolist()
        (torch.Size([2, 8]), [1, 0])
    """
    _input_dims = 4


class MultiFlowBatchNorm3d(MultiFlowBatchNorm):
    """:class:`MultiFlowBatchNorm` for ``(N, C, T, H, W)`` inputs.

    Example:
        >>> bn = MultiFlowBatchNorm3d(4, num_flows=3)
        >>> bn(torch.randn(2, 4, 3, 5, 5), flow=2).shape
        torch.Size([2, 4, 3, 5, 5])
    """
    _input_dims = 5


def _world_size(group: Any) -> int:
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(group)


class SyncMultiFlowBatchNorm(MultiFlowBatchNorm):
    """:class:`MultiFlowBatchNorm` with batch statistics over all processes.

    Args:
        num_features (int): Channels C.
        num_flows (int): Number of flows N. Defaults to 3.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float, optional): Running-statistics momentum.
            Defaults to 0.1.
        affine (bool): Learn the shared affine. Defaults to True.
        track_running_stats (bool): Must be True. Defaults to True.
        process_group (ProcessGroup, optional): Whose statistics are
            shared; None for the default group. Defaults to None.

    Example:
        >>> bn = SyncMultiFlowBatchNorm(8, num_flows=2)  # no process group
        >>> bn(torch.randn(4, 8, 3, 3), flow=1).shape
        torch.Size([4, 8, 3, 3])
    """

    def __init__(self, num_features: int, num_flows: int = 3,
                 eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Any = None) -> None:
        super().__init__(num_features, num_flows, eps, momentum, affine,
                         track_running_stats)
        self.process_group = process_group

    @classmethod
    def from_multi_flow(cls, module: MultiFlowBatchNorm,
                        process_group: Any = None
                        ) -> 'SyncMultiFlowBatchNorm':
        """The synchronised form of ``module``, sharing its parameters."""
        out = cls(module.num_features, module.num_flows, module.eps,
                  module.momentum, module.affine,
                  process_group=process_group)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        out.running_mean = module.running_mean
        out.running_var = module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out._input_dims = module._input_dims
        out.train(module.training)
        if hasattr(module, 'qconfig'):
            out.qconfig = module.qconfig
        return out

    def forward(self, x: torch.Tensor,
                flow: Optional[int] = None) -> torch.Tensor:
        group = self.process_group or dist.group.WORLD
        if not self.training or _world_size(group) == 1:
            return super().forward(x, flow)
        from torch.distributed.nn.functional import all_reduce
        flow = self._flow_index(flow)
        self._check_input_dim(x)
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.to(torch.promote_types(x.dtype, torch.float32))
        count = xf.new_full((1, ), x.numel() // x.size(1))
        total = all_reduce(torch.cat([xf.sum(dims), count]), group=group)
        n = total[-1]
        mean = total[:-1] / n
        centred = xf - mean.view(shape)
        var = all_reduce(centred.square().sum(dims), group=group) / n
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        with torch.no_grad():
            factor = self._factor(self._flow_stats(flow)[2])
            unbiased = var * (n / (n - 1).clamp(min=1))
            self.running_mean[flow].lerp_(
                mean.to(self.running_mean.dtype), factor)
            self.running_var[flow].lerp_(
                unbiased.to(self.running_var.dtype), factor)
        return y.to(x.dtype)
