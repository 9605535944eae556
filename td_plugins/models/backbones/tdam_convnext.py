"""TDAM-ConvNeXt: mmpretrain's ConvNeXt with TDAM's top-down attention.

Jaiswal, Fernando and Tan, "TDAM" (ECCV 2022), sections 3 and 4 ("for
ConvNeXt, we apply at blocks of stages 3 and 4"), as the official
``tdconvnext.py``. See docs/tdam.md, "Host blocks".
"""
import inspect
from typing import Any, List, Sequence, Tuple

import torch
from mmcv.cnn.bricks import DropPath
from mmpretrain.models.backbones.convnext import ConvNeXt, ConvNeXtBlock

from ...registry import MODELS
from ..layers.tdam_blocks import KeepStatsCheckpointMixin
from ..layers.tdam_steps import (
    TDAMSteps,
    TDAMStepsBackbone,
    check_tdam_args,
    run_to_step,
)

__all__ = ['KeepStatsConvNeXtBlock', 'TDAMConvNeXt', 'TDConvNeXtBlock']

_DEFAULTS = {name: p.default for name, p in
             inspect.signature(ConvNeXt.__init__).parameters.items()}


class KeepStatsConvNeXtBlock(KeepStatsCheckpointMixin, ConvNeXtBlock):
    """``ConvNeXtBlock`` whose ``with_cp`` keeps running statistics."""


class TDConvNeXtBlock(TDAMSteps, ConvNeXtBlock):
    """mmpretrain's ConvNeXt block with TDAM steps (docs/tdam.md, "ConvNeXt").

    Args:
        in_channels (int): Channels of the block (``dim``).
        td_mode (str): ``'joint'`` (eq. 4) or ``'top'`` (eq. 5).
            Defaults to ``'joint'``.
        feedback_distance (int): m, 1 or 2. Defaults to 1.
        num_steps (int): T >= 1 (1: the plain block). Defaults to 2.
        reduction (int): r; hidden width ``in_channels // r``. Defaults to 16.
        td_order (str): See :class:`TopDownAttention`. Defaults to
            ``'channel->spatial'``.
        td_widths (str): ``'code'`` or ``'paper'``. Defaults to ``'code'``.
        **kwargs: The other ``ConvNeXtBlock`` arguments.

    Example:
        >>> import torch
        >>> from td_plugins.models.backbones.tdam_convnext import (
        ...     TDConvNeXtBlock)
        >>> block = TDConvNeXtBlock(64)
        >>> block(torch.rand(1, 64, 7, 5)).shape
        torch.Size([1, 64, 7, 5])
    """


    def __init__(self, in_channels: int, td_mode: str = 'joint',
                 feedback_distance: int = 1, num_steps: int = 2,
                 reduction: int = 16, td_order: str = 'channel->spatial',
                 td_widths: str = 'code', **kwargs: Any) -> None:
        check_tdam_args('ConvNeXt', feedback_distance, num_steps, td_mode,
                        reduction, td_order, td_widths)
        super().__init__(in_channels, **kwargs)
        pw1 = self.pointwise_conv1
        mid_channels = (pw1.out_features if self.linear_pw_conv else
                        pw1.out_channels)
        bottom = mid_channels if feedback_distance == 1 else in_channels
        self.init_steps(bottom, in_channels,
                        feedback_distance=feedback_distance,
                        num_steps=num_steps, td_mode=td_mode,
                        reduction=reduction, td_order=td_order,
                        td_widths=td_widths)

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        """``act(pointwise_conv1(x))`` (then GRN), in the block's layout."""
        x = self.act(self.pointwise_conv1(x))
        if self.grn is not None:
            x = self.grn(x, data_format='channel_last' if
                         self.linear_pw_conv else 'channel_first')
        return x

    def attend(self, bottom: torch.Tensor,
               top: torch.Tensor) -> torch.Tensor:
        """Eq. 3 on NCHW views of NHWC maps when the block is linear."""
        if not self.linear_pw_conv:
            return self.td(bottom, top)
        out = self.td(bottom.permute(0, 3, 1, 2), top.permute(0, 3, 1, 2))
        return out.permute(0, 2, 3, 1)

    def first_step(self, x: torch.Tensor, last: bool = True
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.depthwise_conv(x)
        if self.linear_pw_conv:
            normed = self.norm(x.permute(0, 2, 3, 1),
                               data_format='channel_last')
        else:
            normed = self.norm(x, data_format='channel_first')
        hidden = self._hidden(normed)
        top = self.pointwise_conv2(hidden)
        return (hidden if self.feedback_distance == 1 else normed), top

    def rerun(self, bottom: torch.Tensor, t: int,
              last: bool = True) -> torch.Tensor:
        if self.feedback_distance == 1:
            return self.pointwise_conv2(bottom)
        return self.pointwise_conv2(self._hidden(bottom))

    def finish(self, x: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
        out = top.permute(0, 3, 1, 2) if self.linear_pw_conv else top
        if self.gamma is not None:
            out = out.mul(self.gamma.view(1, -1, 1, 1))
        return x + self.drop_path(out)


@MODELS.register_module()
class TDAMConvNeXt(TDAMStepsBackbone, ConvNeXt):
    """ConvNeXt with TDAM blocks (docs/tdam.md, "ConvNeXt").

    Args:
        td_mode (str): ``'joint'`` (eq. 4) or ``'top'`` (eq. 5).
            Defaults to ``'joint'``.
        feedback_distance (int): m, 1 or 2 (docs/tdam.md). Defaults to 1.
        num_steps (int): T >= 1. Defaults to 2.
        reduction (int): r of the attention MLP. Defaults to 16.
        td_stages (Sequence[int]): 0-based stages whose blocks all get
            TD. Defaults to (2, 3), the official stages 3 and 4.
        td_order (str): See :class:`TopDownAttention`. Defaults to
            ``'channel->spatial'``.
        td_widths (str): ``'code'`` (official) or ``'paper'`` (eq. 4).
            Defaults to ``'code'``.
        **kwargs: ``mmpretrain.models.ConvNeXt`` arguments, with its
            defaults (``arch='tiny'``).

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
        check_tdam_args('ConvNeXt', feedback_distance, num_steps, td_mode,
                        reduction, td_order, td_widths)
        num_stages = self._num_stages(kwargs.get('arch',
                                                 _DEFAULTS['arch']))
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
            return kwargs.get(name, _DEFAULTS[name])

        for i in self.td_stages:
            stage = self.stages[i]
            for j, old in enumerate(stage):
                drop = old.drop_path.drop_prob if isinstance(
                    old.drop_path, DropPath) else 0.
                new = TDConvNeXtBlock(
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
            for stage in self.stages:
                for block in stage:
                    if type(block) is ConvNeXtBlock:
                        block.__class__ = KeepStatsConvNeXtBlock
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

    def _stage_pair(self, i: int, x: torch.Tensor
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
        norm_layer = getattr(self, f'norm{i}')
        if self.gap_before_final_norm:
            return norm_layer(x.mean([-2, -1], keepdim=True)).flatten(1), x
        return norm_layer(x), x

    def _last_td_stage(self) -> int:
        if not self.td_stages:
            raise ValueError('forward_steps needs td_stages, got ()')
        return self.td_stages[-1]

    def steps_head(self, x: torch.Tensor
                   ) -> Tuple[torch.Tensor, List[Tuple[torch.Tensor, ...]]]:
        """The stages before the last TD stage, run once."""
        k = self._last_td_stage()
        pairs = []
        for i in range(k):
            x = self.stages[i](self.downsample_layers[i](x))
            if i in self.out_indices:
                pairs.append(self._stage_pair(i, x))
        return self.downsample_layers[k](x), pairs

    def steps_tail(self, x: torch.Tensor,
                   t: int) -> List[Tuple[torch.Tensor, ...]]:
        """The last TD stage stopped after step t, then the rest."""
        k = self._last_td_stage()
        y = run_to_step(self.stages[k], x, t)
        pairs = []
        for i in range(k, self.num_stages):
            if i > k:
                y = self.stages[i](self.downsample_layers[i](y))
            if i in self.out_indices:
                pairs.append(self._stage_pair(i, y))
        return pairs

    def train(self, mode: bool = True) -> 'TDAMConvNeXt':
        # ConvNeXt.train returns None; nn.Module's contract is self.
        super().train(mode)
        return self

    def td_parameter_names(self) -> List[str]:
        """Names of the parameters TDAM adds (for load reports)."""
        return [name for name, _ in self.named_parameters()
                if '.td.' in name]
