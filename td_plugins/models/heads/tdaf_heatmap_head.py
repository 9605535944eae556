"""SimpleBaseline's heatmap head (mmpose) with TDAF's recursive flows over
its deconvolutions (Pang et al., AAAI 2021, section 4; docs/tdaf.md)."""
from typing import Any, Sequence, Tuple

import torch.nn as nn
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS as MMPOSE_MODELS
from torch import Tensor

from ...registry import MODELS
from ..backbones.tdaf_resnet import loads_checkpoint
from ..layers import R2DNS, MultiFlowBatchNorm2d, check_r2dns_args

__all__ = ['TDAFHeatmapHead']


@MODELS.register_module()
class TDAFHeatmapHead(HeatmapHead):
    """SimpleBaseline's head with TDAF recursive flows over its deconvs.

    Args:
        num_flows (int): Flows N, 1..the deconv stages. Defaults to 3.
        anar (int): ANAR depth, 3, 5 or 7. Defaults to 3.
        eta (float): Half-scale residual weight. Defaults to 0.5.
        dsf (str): ``'avg_pool'`` or ``'linear'``. Defaults to 'avg_pool'.
        zero_init_anar (bool): Start as the plain head (docs/tdaf.md).
            Defaults to True.
        **kwargs: ``HeatmapHead`` arguments, with ``deconv_out_channels``.

    Example:
        >>> import torch
        >>> head = TDAFHeatmapHead(in_channels=64, out_channels=17,
        ...                        deconv_out_channels=(32, 32, 32))
        >>> head((torch.rand(2, 64, 8, 6), )).shape
        torch.Size([2, 17, 64, 48])
    """

    def __init__(self, num_flows: int = 3, anar: int = 3,
                 eta: float = 0.5, dsf: str = 'avg_pool',
                 zero_init_anar: bool = True, **kwargs: Any) -> None:
        channels = tuple(kwargs.get('deconv_out_channels',
                                    (256, 256, 256)) or ())
        if not channels:
            raise ValueError('deconv_out_channels must list the '
                             'deconvolution stages TDAF recurs over')
        # Checked before the layers are made (they read num_flows).
        check_r2dns_args(len(channels), num_flows, anar, eta, dsf)
        self._num_flows = num_flows
        # The loss and decoder configs resolve in mmpose, whatever the
        # default scope.
        with MMPOSE_MODELS.switch_scope_and_registry('mmpose'):
            super().__init__(**kwargs)
        self.zero_init_anar = zero_init_anar
        self.r2dns = R2DNS(list(channels), num_flows=num_flows,
                           anar=anar, eta=eta, dims=2, dsf=dsf,
                           zero_init_anar=zero_init_anar)

    def _make_deconv_layers(self, in_channels: int,
                            layer_out_channels: Sequence[int],
                            layer_kernel_sizes: Sequence[int]
                            ) -> nn.Module:
        layers = super()._make_deconv_layers(
            in_channels, layer_out_channels, layer_kernel_sizes)
        for i, m in enumerate(layers):
            if isinstance(m, nn.BatchNorm2d):
                layers[i] = MultiFlowBatchNorm2d(
                    m.num_features, num_flows=self._num_flows)
        return layers

    def init_weights(self) -> None:
        super().init_weights()
        # The head's Normal(std=0.001) init reaches the ANAR convs too;
        # a loaded checkpoint may hold trained ANARs.
        if loads_checkpoint(self.init_cfg):
            return
        for anar_module in self.r2dns.anars:
            anar_module.reset_parameters(self.zero_init_anar)

    def forward(self, feats: Tuple[Tensor]) -> Tensor:
        layers = list(self.deconv_layers)
        stages = [layers[i:i + 3] for i in range(0, len(layers), 3)]
        x = self.r2dns(feats[-1], stages)[-1]
        x = self.conv_layers(x)
        return self.final_layer(x)
