"""TDAM-ConvNeXt: mmpretrain's ConvNeXt with TDAM's top-down attention.

Jaiswal, Fernando and Tan, "TDAM: Top-Down Attention Module for Contextually
Guided Feature Selection in CNNs" (ECCV 2022), section 3 (the searchlight
``S``, eqs. 4-5, and the channel -> spatial selection, eqs. 6-8, in
:class:`~td_plugins.models.layers.TopDownAttention`) and section 4 ("for
ConvNeXt, we apply at blocks of stages 3 and 4"). The block follows the
official ``tdconvnext.py`` (``shared/spec/methods.md`` section 1.3):

* top ``X^N`` = the output of ``pointwise_conv2`` (``dim`` channels), taken
  before the layer scale ``gamma`` and before drop-path and the residual;
* ``feedback_distance`` m = 1: bottom ``X^0`` = ``act(pointwise_conv1(
  norm(depthwise_conv(x))))`` (``4 * dim`` channels; after GRN when
  ``use_grn=True``), and each step re-runs ``pointwise_conv2``;
* m = 2: bottom = the LayerNorm output (``dim`` channels), and each step
  re-runs ``pointwise_conv1 -> act [-> GRN] -> pointwise_conv2``;
* the block runs its top sub-path ``T`` (``num_steps``) times and applies the
  attention ``T - 1`` times: at step t >= 1, ``bottom = td(bottom, top)``
  and ``top`` is recomputed from the attended bottom with the *same* weights.
  There is **no per-step norm** (the official code has none for ConvNeXt),
  so the TD blocks add only ``stages.<i>.<j>.td.*``.

With ``num_steps = 1`` no attention module is built (the block is the plain
one; DDP finds no unused parameter). ``with_cp`` checkpoints a TD block
with :func:`~td_plugins.models.layers.checkpoint.checkpoint_keep_stats`,
and the plain blocks the same way (ConvNeXt has LayerNorms, no running
statistics, but mmpretrain's own checkpointing is the reentrant kind).

Only m = 1 and m = 2 exist in the official ConvNeXt code; other values are
refused. The attention works on NCHW tensors; with ``linear_pw_conv=True``
(mmpretrain's default, ``nn.Linear`` on NHWC) the block permutes the two
maps around the attention, so both layouts compute the same function.

The backbone is a subclass of :class:`mmpretrain.models.ConvNeXt`: every
ConvNeXt argument is accepted, the parameter layout is mmpretrain's, and an
mmpretrain ConvNeXt checkpoint loads with exactly the ``td`` parameters
missing. ConvNeXt-T with TDjoint, m = 1, T = 2 in stages 3 and 4 and a
1000-class linear head has 31,105,096 parameters (the plain one 28,589,128),
the numbers of the official code (spec section 1.8).

mmpretrain is imported only when the backbone is built, so ``import
td_plugins`` does not need it: the registered name ``td_plugins.TDAMConvNeXt``
is a factory that creates the subclass on first use.
"""
import inspect
from typing import Any, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ...registry import MODELS
from ..layers.td_attention import TopDownAttention, check_td_args
from ..layers.td_blocks import TDStepsMixin, keep_stats_checkpoint_class

__all__ = ['TDAMConvNeXt', 'tdam_convnext_class', 'td_convnext_block_class',
           'CONVNEXT_FEEDBACK_DISTANCES', 'check_td_convnext_args']

# The feedback distances the official TD-ConvNeXt implements.
CONVNEXT_FEEDBACK_DISTANCES = (1, 2)

_BLOCK: Optional[type] = None
_CLASS: Optional[type] = None


def check_td_convnext_args(td_mode: str, feedback_distance: int,
                           num_steps: int, reduction: int, td_order: str,
                           td_widths: str) -> None:
    """Refuse TD arguments ConvNeXt does not support (see
    :func:`~td_plugins.models.layers.td_attention.check_td_args`)."""
    check_td_args(td_mode, feedback_distance, CONVNEXT_FEEDBACK_DISTANCES,
                  'ConvNeXt', num_steps, reduction, td_order, td_widths)


def td_convnext_block_class() -> type:
    """The ``ConvNeXtBlock`` subclass with TD steps (imports mmpretrain)."""
    global _BLOCK
    if _BLOCK is not None:
        return _BLOCK
    from mmpretrain.models.backbones.convnext import ConvNeXtBlock

    class TDConvNeXtBlock(TDStepsMixin, ConvNeXtBlock):
        """mmpretrain's ConvNeXt block with TDAM steps (module docstring).

        Args:
            in_channels (int): Channels of the block (``dim``).
            td_mode (str): ``'joint'`` (eq. 4) or ``'top'`` (eq. 5).
                Defaults to ``'joint'``.
            feedback_distance (int): m, 1 or 2. Defaults to 1.
            num_steps (int): T >= 1; T = 1 is the plain block (no attention
                module is built). Defaults to 2.
            reduction (int): r of the attention MLP (hidden width
                ``in_channels // r``). Defaults to 16.
            td_order (str): ``'channel->spatial'`` (eqs. 6-8),
                ``'spatial->channel'``, ``'spatial'``, ``'channel'`` or
                ``'parallel'`` (see :class:`TopDownAttention`). Defaults to
                ``'channel->spatial'``.
            td_widths (str): ``'code'`` or ``'paper'`` (eq. 4's bottom
                width). Defaults to ``'code'``.
            **kwargs: The other ``ConvNeXtBlock`` arguments
                (``dw_conv_cfg``, ``norm_cfg``, ``act_cfg``, ``mlp_ratio``,
                ``linear_pw_conv``, ``drop_path_rate``,
                ``layer_scale_init_value``, ``use_grn``, ``with_cp``).

        Example:
            >>> import torch
            >>> from td_plugins.models.backbones.tdam_convnext import (
            ...     td_convnext_block_class)
            >>> block = td_convnext_block_class()(64)
            >>> block(torch.rand(1, 64, 7, 5)).shape
            torch.Size([1, 64, 7, 5])
        """

        def __init__(self, in_channels: int, td_mode: str = 'joint',
                     feedback_distance: int = 1, num_steps: int = 2,
                     reduction: int = 16,
                     td_order: str = 'channel->spatial',
                     td_widths: str = 'code', **kwargs: Any) -> None:
            check_td_convnext_args(td_mode, feedback_distance, num_steps,
                                   reduction, td_order, td_widths)
            super().__init__(in_channels, **kwargs)
            pw1 = self.pointwise_conv1
            mid_channels = (pw1.out_features if self.linear_pw_conv else
                            pw1.out_channels)
            bottom = mid_channels if feedback_distance == 1 else in_channels
            self.feedback_distance = feedback_distance
            self.num_steps = num_steps
            # T = 1 never attends: no module (DDP needs every parameter
            # used).
            self.td = TopDownAttention(
                bottom, in_channels, mode=td_mode, reduction=reduction,
                order=td_order, widths=td_widths) if num_steps > 1 else None

        def _hidden(self, x: torch.Tensor) -> torch.Tensor:
            """``act(pointwise_conv1(x))`` (then GRN), in the block's
            layout."""
            x = self.act(self.pointwise_conv1(x))
            if self.grn is not None:
                x = self.grn(x, data_format='channel_last' if
                             self.linear_pw_conv else 'channel_first')
            return x

        def _attend(self, bottom: torch.Tensor,
                    top: torch.Tensor) -> torch.Tensor:
            """Eqs. 4-8 on NCHW views of NHWC maps when the block is
            linear."""
            if not self.linear_pw_conv:
                return self.td(bottom, top)
            out = self.td(bottom.permute(0, 3, 1, 2), top.permute(0, 3, 1, 2))
            return out.permute(0, 2, 3, 1)

        def residual_branch(self, x: torch.Tensor,
                            steps: Optional[int] = None) -> torch.Tensor:
            """The last top ``X^N_T`` (NCHW), before layer scale and
            drop-path; ``steps`` stops after that many steps."""
            steps = self.num_steps if steps is None else steps
            x = self.depthwise_conv(x)
            if self.linear_pw_conv:
                normed = self.norm(x.permute(0, 2, 3, 1),
                                   data_format='channel_last')
            else:
                normed = self.norm(x, data_format='channel_first')
            hidden = self._hidden(normed)
            top = self.pointwise_conv2(hidden)
            bottom = hidden if self.feedback_distance == 1 else normed
            for _ in range(1, steps):
                bottom = self._attend(bottom, top)
                if self.feedback_distance == 1:
                    top = self.pointwise_conv2(bottom)
                else:
                    top = self.pointwise_conv2(self._hidden(bottom))
            return top.permute(0, 3, 1, 2) if self.linear_pw_conv else top

        def _forward(self, x: torch.Tensor,
                     steps: Optional[int] = None) -> torch.Tensor:
            out = self.residual_branch(x, steps)
            if self.gamma is not None:
                out = out.mul(self.gamma.view(1, -1, 1, 1))
            return x + self.drop_path(out)

    _BLOCK = TDConvNeXtBlock
    return _BLOCK


def tdam_convnext_class() -> type:
    """The ``ConvNeXt`` subclass (mmpretrain is imported here)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    from mmcv.cnn.bricks import DropPath
    from mmpretrain.models.backbones.convnext import ConvNeXt, ConvNeXtBlock

    block_class = td_convnext_block_class()
    defaults = {name: p.default for name, p in
                inspect.signature(ConvNeXt.__init__).parameters.items()}

    class TDAMConvNeXt(ConvNeXt):
        """ConvNeXt with TDAM blocks (see the module docstring).

        Args:
            td_mode (str): ``'joint'`` (eq. 4) or ``'top'`` (eq. 5).
                Defaults to ``'joint'``.
            feedback_distance (int): m, 1 (bottom = the ``4 * dim`` hidden
                map) or 2 (bottom = the LayerNorm output). Defaults to 1.
            num_steps (int): T >= 1. Defaults to 2.
            reduction (int): r of the attention MLP. Defaults to 16.
            td_stages (Sequence[int]): 0-based stages whose blocks all get
                TD. Defaults to (2, 3), the official stages 3 and 4.
            td_order (str): ``'channel->spatial'`` (eqs. 6-8),
                ``'spatial->channel'``, ``'spatial'``, ``'channel'`` or
                ``'parallel'`` (see :class:`TopDownAttention`). Defaults to
                ``'channel->spatial'``.
            td_widths (str): ``'code'`` (official) or ``'paper'`` (eq. 4).
                Defaults to ``'code'``.
            **kwargs: ``mmpretrain.models.ConvNeXt`` arguments (``arch``,
                ``linear_pw_conv``, ``use_grn``, ``drop_path_rate``,
                ``layer_scale_init_value``, ``out_indices``,
                ``frozen_stages``, ``gap_before_final_norm``, ``with_cp``,
                ``init_cfg``, ...), with ConvNeXt's defaults
                (``arch='tiny'``).

        Example:
            >>> import torch
            >>> from td_plugins.models.backbones.tdam_convnext import (
            ...     TDAMConvNeXt)
            >>> model = TDAMConvNeXt(arch='tiny', out_indices=(2, 3),
            ...                      gap_before_final_norm=False).eval()
            >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 97, 130))]
            [(1, 384, 6, 8), (1, 768, 3, 4)]
            >>> model = TDAMConvNeXt(arch='tiny')
            >>> sum(p.numel() for p in model.parameters()) + 768 * 1000 + 1000
            31105096
        """

        def __init__(self, td_mode: str = 'joint',
                     feedback_distance: int = 1, num_steps: int = 2,
                     reduction: int = 16, td_stages: Sequence[int] = (2, 3),
                     td_order: str = 'channel->spatial',
                     td_widths: str = 'code', **kwargs: Any) -> None:
            check_td_convnext_args(td_mode, feedback_distance, num_steps,
                                   reduction, td_order, td_widths)
            num_stages = self._num_stages(kwargs.get('arch',
                                                     defaults['arch']))
            if not isinstance(td_stages, (list, tuple)) or not all(
                    isinstance(s, int) and not isinstance(s, bool)
                    and 0 <= s < num_stages for s in td_stages):
                raise ValueError(
                    f'td_stages must be a list of stage indices in [0, '
                    f'{num_stages - 1}], got {td_stages!r}')
            super().__init__(**kwargs)
            self.td_mode = td_mode
            self.feedback_distance = feedback_distance
            self.num_steps = num_steps
            self.td_stages = tuple(sorted(set(td_stages)))

            def arg(name: str) -> Any:
                return kwargs.get(name, defaults[name])

            for i in self.td_stages:
                stage = self.stages[i]
                for j, old in enumerate(stage):
                    drop = old.drop_path.drop_prob if isinstance(
                        old.drop_path, DropPath) else 0.
                    new = block_class(
                        self.channels[i], td_mode=td_mode,
                        feedback_distance=feedback_distance,
                        num_steps=num_steps, reduction=reduction,
                        td_order=td_order, td_widths=td_widths,
                        norm_cfg=arg('norm_cfg'), act_cfg=arg('act_cfg'),
                        linear_pw_conv=arg('linear_pw_conv'),
                        drop_path_rate=drop,
                        layer_scale_init_value=arg('layer_scale_init_value'),
                        use_grn=arg('use_grn'), with_cp=arg('with_cp'))
                    # Keep the plain block's (initial) weights; a shape
                    # mismatch here would raise.
                    new.load_state_dict(old.state_dict(), strict=False)
                    stage[j] = new
            if arg('with_cp'):
                # mmpretrain's plain blocks call torch.utils.checkpoint
                # without use_reentrant; checkpoint them as the TD blocks.
                keep = keep_stats_checkpoint_class(ConvNeXtBlock)
                for stage in self.stages:
                    for block in stage:
                        if type(block) is ConvNeXtBlock:
                            block.__class__ = keep
            self._freeze_stages()

        @classmethod
        def _num_stages(cls, arch: Any) -> int:
            if isinstance(arch, str) and arch in cls.arch_settings:
                return len(cls.arch_settings[arch]['depths'])
            if isinstance(arch, dict) and 'depths' in arch:
                return len(arch['depths'])
            raise ValueError(
                f'arch must be one of {tuple(cls.arch_settings)} or a dict '
                f'with "depths" and "channels", got {arch!r}')

        def _stage_output(self, i: int, x: torch.Tensor) -> torch.Tensor:
            norm_layer = getattr(self, f'norm{i}')
            if self.gap_before_final_norm:
                return norm_layer(x.mean([-2, -1], keepdim=True)).flatten(1)
            return norm_layer(x)

        def forward_steps(self, x: torch.Tensor
                          ) -> List[Tuple[torch.Tensor, ...]]:
            """Outputs per step, as the official per-step evaluation: the
            stages before the last TD stage run once, the last TD stage
            runs its blocks stopped after step t, for t = 1..T. Returns T
            tuples shaped like :meth:`forward`'s, the last equal to it."""
            if not self.td_stages:
                raise ValueError('forward_steps needs td_stages, got ()')
            k = self.td_stages[-1]
            prefix = []
            for i in range(k):
                x = self.stages[i](self.downsample_layers[i](x))
                if i in self.out_indices:
                    prefix.append(self._stage_output(i, x))
            x = self.downsample_layers[k](x)
            results = []
            for t in range(1, self.num_steps + 1):
                y = x
                for block in self.stages[k]:
                    y = block.forward_steps(y, t)
                outs = list(prefix)
                for i in range(k, self.num_stages):
                    if i > k:
                        y = self.stages[i](self.downsample_layers[i](y))
                    if i in self.out_indices:
                        outs.append(self._stage_output(i, y))
                results.append(tuple(outs))
            return results

        def train(self, mode: bool = True) -> 'TDAMConvNeXt':
            # ConvNeXt.train returns None; nn.Module's contract is self.
            super().train(mode)
            return self

        def td_parameter_names(self) -> List[str]:
            """Names of the parameters TDAM adds (for load reports)."""
            return [name for name, _ in self.named_parameters()
                    if '.td.' in name]

    _CLASS = TDAMConvNeXt
    return _CLASS


@MODELS.register_module(name='TDAMConvNeXt')
def TDAMConvNeXt(**kwargs: Any) -> nn.Module:  # noqa: N802 (a class to users)
    """Build the TDAM ``ConvNeXt`` (mmpretrain imported on first use).

    See :func:`tdam_convnext_class` for the arguments.
    """
    return tdam_convnext_class()(**kwargs)
