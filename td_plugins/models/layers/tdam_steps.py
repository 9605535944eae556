"""The TDAM step loop shared by every host block and backbone.

Jaiswal, Fernando and Tan, "TDAM" (ECCV 2022), section 3: eqs. 1-3 and
"Integration in existing CNN models" (feedback distance m, one norm per
re-run layer and step). See docs/tdam.md, "The step loop".
"""
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .checkpoint import checkpoint_keep_stats
from .tdam_attention import TopDownAttention, check_td_args

__all__ = ['FEEDBACK_DISTANCES', 'TDAMSteps', 'TDAMStepsBackbone',
           'attends', 'check_steps', 'check_tdam_args', 'run_to_step']

# Valid m per host block.
FEEDBACK_DISTANCES = {'BasicBlock': (0, 1, 2), 'Bottleneck': (0, 1, 2, 3),
                      'ConvNeXt': (1, 2), 'MobileNetV3': (1, 2)}

Pair = Tuple[torch.Tensor, torch.Tensor]


def attends(feedback_distance: int, num_steps: int) -> bool:
    """Whether a block with this m and T applies its attention at all.

    Example:
        >>> attends(1, 1), attends(0, 1), attends(2, 3)
        (False, True, True)
    """
    return feedback_distance == 0 or num_steps > 1


def check_tdam_args(host: str, feedback_distance: int, num_steps: int,
                    td_mode: str = 'joint', reduction: int = 16,
                    td_order: str = 'channel->spatial',
                    td_widths: str = 'code',
                    name: Optional[str] = None) -> None:
    """Refuse TDAM arguments ``host`` does not support.

    Args:
        host (str): A key of :data:`FEEDBACK_DISTANCES`.
        feedback_distance, num_steps, td_mode, reduction, td_order,
            td_widths: The TDAM arguments of the block or backbone.
        name (str, optional): The host in the message. Defaults to host.

    Example:
        >>> check_tdam_args('ConvNeXt', 3, 2)
        Traceback (most recent call last):
        ValueError: feedback_distance must be one of (1, 2) for ConvNeXt, got 3
    """
    if host not in FEEDBACK_DISTANCES:
        raise ValueError(f'host must be one of {tuple(FEEDBACK_DISTANCES)}, '
                         f'got {host!r}')
    check_td_args(td_mode, feedback_distance, FEEDBACK_DISTANCES[host],
                  name or host, num_steps, reduction, td_order, td_widths)


def check_steps(steps: int, num_steps: int) -> None:
    """Refuse a step count outside 1..T.

    Example:
        >>> check_steps(4, 3)
        Traceback (most recent call last):
        ValueError: steps must be an integer in [1, 3], got 4
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or \
            not 1 <= steps <= num_steps:
        raise ValueError(f'steps must be an integer in [1, {num_steps}], '
                         f'got {steps!r}')


class TDAMSteps:
    """Mixin for a block with TDAM steps; the host's part: docs/tdam.md.

    Example:
        >>> class Toy(TDAMSteps, nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.conv, self.with_cp = nn.Conv2d(8, 8, 1), False
        ...         self.init_steps(8, 8, feedback_distance=1, num_steps=3,
        ...                         reduction=4, step_norms=[('bn', 8)],
        ...                         norm_layer=nn.BatchNorm2d)
        ...     def first_step(self, x, last):
        ...         return x, self.conv(x)
        ...     def rerun(self, bottom, t, last):
        ...         return getattr(self, f'bn_{t}')(self.conv(bottom))
        ...     def finish(self, x, top):
        ...         return x + top
        >>> toy = Toy()
        >>> [n for n, _ in toy.named_children()]
        ['conv', 'td', 'bn_1', 'bn_2']
        >>> toy.forward_to_step(torch.rand(1, 8, 5, 5), 2).shape
        torch.Size([1, 8, 5, 5])
    """

    feedback_distance: int
    num_steps: int
    with_cp: bool
    td: Optional[TopDownAttention]

    def init_steps(self, bottom_channels: int, top_channels: int, *,
                   feedback_distance: int, num_steps: int,
                   td_mode: str = 'joint', reduction: int = 16,
                   td_order: str = 'channel->spatial',
                   td_widths: str = 'code', dims: int = 2,
                   step_norms: Iterable[Tuple[str, int]] = (),
                   norm_layer: Optional[Callable[[int], nn.Module]] = None
                   ) -> None:
        """Build ``td`` (when applied) and norms ``{name}_{t}``, t < T.

        Args:
            bottom_channels, top_channels (int): Channels of the two maps.
            feedback_distance (int): m (0: attend the top T times).
            num_steps (int): T >= 1.
            td_mode, reduction, td_order, td_widths, dims: As
                :class:`TopDownAttention`'s ``mode``, ``reduction``, ...
            step_norms (Iterable[tuple]): ``(name, channels)`` per re-run
                norm, in order.
            norm_layer (callable, optional): ``channels -> norm``.
        """
        self.feedback_distance = feedback_distance
        self.num_steps = num_steps
        self.td = TopDownAttention(
            bottom_channels, top_channels, mode=td_mode, reduction=reduction,
            order=td_order, widths=td_widths, dims=dims) if attends(
                feedback_distance, num_steps) else None
        step_norms = list(step_norms)
        for t in range(1, num_steps):
            for name, channels in step_norms:
                self.add_module(f'{name}_{t}', norm_layer(channels))

    def attend(self, bottom: torch.Tensor,
               top: torch.Tensor) -> torch.Tensor:
        """Eq. 3: the bottom of the next step."""
        return self.td(bottom, top)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The residual input ``finish`` adds (the block input here)."""
        return x

    def run_steps(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """The block output after ``steps`` steps (no checks)."""
        skip = self.shortcut(x)
        bottom, top = self.first_step(x, steps == 1)
        if self.feedback_distance == 0:
            for _ in range(steps):
                top = self.attend(top, top)
        else:
            for t in range(1, steps):
                bottom = self.attend(bottom, top)
                top = self.rerun(bottom, t, t == steps - 1)
        return self.finish(skip, top)

    def forward_to_step(self, x: torch.Tensor,
                        steps: Optional[int] = None) -> torch.Tensor:
        """The block output after ``steps`` steps (1..T; None is T)."""
        steps = self.num_steps if steps is None else steps
        check_steps(steps, self.num_steps)
        if self.with_cp and x.requires_grad:
            return checkpoint_keep_stats(self.run_steps, x, steps,
                                         owner=self)
        return self.run_steps(x, steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_to_step(x)

    def extra_repr(self) -> str:
        return (f'feedback_distance={self.feedback_distance}, '
                f'num_steps={self.num_steps}')


def run_to_step(blocks: Iterable[nn.Module], x: torch.Tensor,
                steps: int) -> torch.Tensor:
    """Run ``blocks`` in turn, the TDAM ones stopped after ``steps``."""
    for block in blocks:
        x = block.forward_to_step(x, steps) if isinstance(
            block, TDAMSteps) else block(x)
    return x


class TDAMStepsBackbone:
    """Mixin for a backbone with TDAM blocks (docs/tdam.md)."""

    num_steps: int

    def _step_pairs(self, x: torch.Tensor) -> List[List[Pair]]:
        x, head = self.steps_head(x)
        return [list(head) + list(self.steps_tail(x, t))
                for t in range(1, self.num_steps + 1)]

    def forward_steps_with_maps(self, x: torch.Tensor
                                ) -> Tuple[List[Tuple[torch.Tensor, ...]],
                                           List[torch.Tensor]]:
        """:meth:`forward_steps` and :meth:`forward_step_maps`, one pass."""
        pairs = self._step_pairs(x)
        return ([tuple(out for out, _ in p) for p in pairs],
                [p[-1][1] for p in pairs])

    def forward_steps(self, x: torch.Tensor
                      ) -> List[Tuple[torch.Tensor, ...]]:
        """The backbone outputs of each step t = 1..T."""
        return self.forward_steps_with_maps(x)[0]

    def forward_step_maps(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Per step, the last ``out_indices`` stage's spatial map."""
        return self.forward_steps_with_maps(x)[1]


def same_pairs(outs: Sequence[torch.Tensor]) -> List[Pair]:
    """``(out, out)`` pairs, for stages whose output is their map."""
    return [(out, out) for out in outs]
