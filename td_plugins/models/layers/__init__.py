"""Pure-PyTorch layers, one idea per file, free of OpenMMLab imports.

Backbones, necks, heads and classifiers compose these; the registered names
are added in :mod:`td_plugins.models`.
"""
from .aw_conv import AWConv2d
from .cbam import CBAM
from .squeeze_excitation import SqueezeExcitation
from .tdaf_anar import ANAR, HalfScaleResidualGate
from .tdaf_downsample import DownsampleFunction
from .tdaf_flow import FlowFn, run_flow
from .tdaf_flow_blocks import FlowBasicBlock, FlowBottleneck
from .tdaf_multi_flow_bn import (
    MultiFlowBatchNorm,
    MultiFlowBatchNorm2d,
    MultiFlowBatchNorm3d,
    SyncMultiFlowBatchNorm,
)
from .tdaf_r2dns import R2DNS, check_r2dns_args
from .tdam_attention import TopDownAttention
from .tdam_blocks import TDBasicBlock, TDBottleneck
from .tdam_steps import TDAMSteps, TDAMStepsBackbone, check_tdam_args
from .tnet_feature_weighting import FeatureWeighting
from .tnet_keras_init import glorot_normal_, variance_scaling_
from .tnet_location import TNetLocationModule
from .tnet_positional import TNetPositionalModule
from .tnet_positional_encoding import sincos_position_encoding

__all__ = ['ANAR', 'AWConv2d', 'CBAM', 'DownsampleFunction',
           'FlowBasicBlock', 'FlowBottleneck', 'FlowFn',
           'HalfScaleResidualGate', 'MultiFlowBatchNorm',
           'MultiFlowBatchNorm2d', 'MultiFlowBatchNorm3d', 'R2DNS',
           'SqueezeExcitation', 'TDBasicBlock', 'TDBottleneck',
           'TDAMSteps', 'TDAMStepsBackbone', 'TopDownAttention',
           'check_r2dns_args', 'check_tdam_args',
           'SyncMultiFlowBatchNorm', 'run_flow', 'FeatureWeighting',
           'TNetLocationModule',
           'TNetPositionalModule', 'glorot_normal_',
           'sincos_position_encoding', 'variance_scaling_']
