"""Squeeze-and-excitation (Hu et al., CVPR 2018, eqs. 2-4; docs/aw.md)."""
import torch
import torch.nn as nn

__all__ = ['SqueezeExcitation']


class SqueezeExcitation(nn.Module):
    """SE block: global average pooling, two biased 1x1 convs, sigmoid gate.

    Args:
        channels (int): Channels C of the input.
        reduction (int): r; the hidden width is ``channels // r``.

    Example:
        >>> se = SqueezeExcitation(64)
        >>> se(torch.rand(2, 64, 5, 7)).shape
        torch.Size([2, 64, 5, 7])
        >>> sum(p.numel() for p in se.parameters())  # 2*64*4 + 4 + 64
        580
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if not isinstance(reduction, int) or not 1 <= reduction <= channels:
            raise ValueError(f'reduction must be an integer in [1, channels='
                             f'{channels}], got {reduction!r}')
        hidden = channels // reduction
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))
        return x * torch.sigmoid(self.fc2(s))
