"""R2DNS, the Recursive Dual-Directional Nested Structure of TDAF.

Pang et al., "TDAF" (AAAI 2021), section 3.1, eqs. 1-3 and 5 (docs/tdaf.md).
"""
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
import torch.distributed as dist
import torch.nn as nn

from .tdaf_anar import ANAR, HalfScaleResidualGate, check_anar_depth, check_eta
from .tdaf_downsample import DSF_MODES, DownsampleFunction
from .tdaf_multi_flow_bn import MultiFlowBatchNorm2d, MultiFlowBatchNorm3d
from .tdaf_parallel import check_flow_parallel, run_flows

__all__ = ['R2DNS', 'check_r2dns_args']

# A stage or stem: one module (or FlowFn), or several applied in turn.
Chain = Union[nn.Module, Callable, Sequence[Any]]


def _can_overwrite(h: torch.Tensor, g: torch.Tensor,
                   stage_input: torch.Tensor) -> bool:
    """Whether the gate may scale ``h`` in place (no autograd, no alias)."""
    if torch.is_grad_enabled() and (h.requires_grad or g.requires_grad):
        return False
    return h.untyped_storage().data_ptr() != \
        stage_input.untyped_storage().data_ptr()


def _distributed_training(module: nn.Module) -> bool:
    """Training across processes, where a synchronised BN's collectives
    must be issued in one order on every rank (so threads would not do)."""
    return module.training and dist.is_available() and \
        dist.is_initialized() and dist.get_world_size() > 1


def check_r2dns_args(num_stages: int, num_flows: int, anar: int = 3,
                     eta: float = 0.5, dsf: str = 'avg_pool',
                     flow_parallel: str = 'serial') -> None:
    """Refuse invalid R2DNS arguments with a message naming each one."""
    if num_stages < 1:
        raise ValueError('stage_channels must list at least one stage')
    if isinstance(num_flows, bool) or not isinstance(num_flows, int) \
            or not 1 <= num_flows <= num_stages:
        raise ValueError(
            f'num_flows must be an integer in [1, {num_stages}] (the '
            f'number of stages), got {num_flows!r}')
    check_anar_depth(anar)
    check_eta(eta)
    if dsf not in DSF_MODES:
        raise ValueError(f'dsf must be one of {DSF_MODES}, got {dsf!r}')
    check_flow_parallel(flow_parallel)


class R2DNS(nn.Module):
    """TDAF's recursive flows over a list of stages.

    Args:
        stage_channels (Sequence[int]): Output channels of the L stages.
        num_flows (int): N, 1 <= N <= L (1: the plain network). Defaults to 3.
        anar (int): ANAR depth, 3, 5 or 7. Defaults to 3.
        eta (float): Half-scale residual weight (eq. 5). Defaults to 0.5.
        dims (int): 2 (images) or 3 (videos). Defaults to 2.
        dsf (str): Downsample function, ``'avg_pool'`` or ``'linear'``.
            Defaults to ``'avg_pool'``.
        anar_norm (callable, optional): ``channels -> norm`` for the ANARs.
        zero_init_anar (bool): Zero-init ANARs' last conv. Defaults to True.
        flow_parallel (str): How a stage's flows run: ``'serial'``,
            ``'threads'`` (CPU) or ``'streams'`` (CUDA). Defaults to
            ``'serial'``.

    Example:
        >>> stages = nn.ModuleList([nn.Conv2d(3, 8, 3, 2, 1),
        ...                         nn.Conv2d(8, 16, 3, 2, 1)])
        >>> r2dns = R2DNS([8, 16], num_flows=2)
        >>> outs = r2dns(torch.rand(1, 3, 64, 64), stages)
        >>> [tuple(o.shape) for o in outs]
        [(1, 8, 32, 32), (1, 16, 16, 16)]
    """

    def __init__(self, stage_channels: Sequence[int], num_flows: int = 3,
                 anar: int = 3, eta: float = 0.5, dims: int = 2,
                 dsf: str = 'avg_pool',
                 anar_norm: Optional[Callable[[int], nn.Module]] = None,
                 zero_init_anar: bool = True,
                 flow_parallel: str = 'serial') -> None:
        super().__init__()
        num_stages = len(stage_channels)
        check_r2dns_args(num_stages, num_flows, anar, eta, dsf,
                         flow_parallel)
        self.flow_parallel = flow_parallel
        self.num_stages = num_stages
        self.num_flows = num_flows
        self.dims = dims
        self.dsf = DownsampleFunction(dims=dims, mode=dsf)
        self.gate = HalfScaleResidualGate(eta)
        if anar_norm is None:
            mfbn = MultiFlowBatchNorm2d if dims == 2 else MultiFlowBatchNorm3d

            def anar_norm(c: int) -> nn.Module:
                return mfbn(c, num_flows=num_flows)

        # A stage is gated when the previous flow also has it: stages
        # 1..L-1, whatever N >= 2 (ANARs are shared by all flows).
        gated = num_stages - 1 if num_flows > 1 else 0
        self.anars = nn.ModuleList(
            ANAR(c, depth=anar, dims=dims, norm_layer=anar_norm,
                 zero_init_last=zero_init_anar)
            for c in stage_channels[:gated])
        self.attention_maps: Optional[List[List[torch.Tensor]]] = None
        self.record_attention = False

    def num_stages_of_flow(self, flow: int) -> int:
        """Eq. 1, 0-based: flow ``k`` runs ``L - (N - 1 - k)`` stages."""
        return self.num_stages - (self.num_flows - 1 - flow)

    @staticmethod
    def _run(chain: Chain, xs: Dict[int, torch.Tensor], mode: str,
             sync: bool) -> List[torch.Tensor]:
        ran = run_flows(chain, xs, mode, sync)
        return [ran[k] for k in sorted(ran)]

    def forward(self, x: torch.Tensor, stages: Sequence[Chain],
                stem: Optional[Chain] = None) -> List[torch.Tensor]:
        """Run all flows; return the last flow's output of every stage.

        Args:
            x (Tensor): The full-resolution input.
            stages (Sequence): The L stages, each a chain for ``run_flow``.
            stem (optional): Chain run in every flow before stage 1.
        """
        if len(stages) != self.num_stages:
            raise ValueError(f'R2DNS was built for {self.num_stages} stages, '
                             f'got {len(stages)}')
        n_flows = self.num_flows
        inputs = [x]
        for _ in range(n_flows - 1):
            inputs.insert(0, self.dsf(inputs[0]))
        mode = self.flow_parallel
        sync = mode == 'threads' and _distributed_training(self)
        feats = inputs if stem is None else \
            self._run(stem, dict(enumerate(inputs)), mode, sync)
        last: List[torch.Tensor] = []
        maps: List[List[torch.Tensor]] = []
        for i, stage in enumerate(stages):
            first = max(0, i + n_flows - self.num_stages)
            outs: List[Optional[torch.Tensor]] = [None] * n_flows
            ran = run_flows(stage, {k: feats[k] for k in
                                    range(first, n_flows)}, mode, sync)
            for k, out in ran.items():
                outs[k] = out
            stage_maps = []
            for k in range(first + 1, n_flows):
                g = self.anars[i](outs[k - 1], out_size=outs[k].shape[2:],
                                  flow=k - 1)
                inplace = _can_overwrite(outs[k], g, feats[k])
                outs[k] = self.gate(outs[k], g, inplace=inplace)
                stage_maps.append(g)
            maps.append(stage_maps)
            feats = outs
            last.append(outs[-1])
        if self.record_attention:
            self.attention_maps = [[g.detach() for g in m] for m in maps]
        return last
