"""BagNet-77: the feature extractor of TNet on ImageNet.

Papadopoulos et al., "Hard-Attention for Scalable Image Classification"
(NeurIPS 2021), section 5.1, as the official ``BagNet_77``
(``ImageNet/models.py``); layout and shapes in docs/tnet.md, "BagNet-77".
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ...registry import MODELS
from ..layers.tnet_keras_init import glorot_normal_

__all__ = ['BagNet', 'BagNetBottleneck', 'BAGNET77_ARCH']

_LEAKY = 0.2
# Per part after part1: (c, [(kernel, stride, padding), ...]).
BAGNET77_ARCH = (
    (64, [(3, 2, 'same'), (3, 1, 'same'), (1, 1, 'same')]),
    (128, [(3, 2, 'same'), (3, 1, 'same'), (1, 1, 'same'), (1, 1, 'same')]),
    (256, [(3, 2, 'valid'), (3, 1, 'same')] + [(1, 1, 'same')] * 4),
    (512, [(3, 1, 'valid'), (3, 1, 'same'), (1, 1, 'same')]),
)
_EXPANSION = 4
_NUM_PARTS = 6


def _conv(*args, **kwargs) -> nn.Conv2d:
    """A Conv2d without PyTorch's default init (all are re-initialised)."""
    kwargs.setdefault('device', torch.get_default_device())
    return torch.nn.utils.skip_init(nn.Conv2d, *args, **kwargs)


def _init_convs(module: nn.Module) -> None:
    """Keras ``glorot_normal`` weights and zero biases for every conv."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            glorot_normal_(m.weight)
            nn.init.zeros_(m.bias)


def _tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad H and W as TensorFlow's 'same' (the smaller half first)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: W first, then H
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size,
                    0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class BagNetBottleneck(nn.Module):
    """BagNet-77 residual block (no BN, biased convs, leaky ReLU 0.2).

    Args:
        in_channels (int): Input channels.
        channels (int): Bottleneck width c; the output has 4c channels.
        kernel_size (int): Kernel of conv2 (3 or 1). Defaults to 3.
        stride (int): Stride of conv2 and of the shortcut. Defaults to 1.
        padding (str): ``'same'`` (TensorFlow's) or ``'valid'``. Defaults to
            ``'same'``.

    Example:
        >>> block = BagNetBottleneck(512, 256, stride=2, padding='valid')
        >>> block(torch.rand(1, 512, 19, 19)).shape
        torch.Size([1, 1024, 9, 9])
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int = 3,
                 stride: int = 1, padding: str = 'same') -> None:
        super().__init__()
        if padding not in ('same', 'valid'):
            raise ValueError(f"padding must be one of ('same', 'valid'), got "
                             f'{padding!r}')
        out_channels = channels * _EXPANSION
        self.kernel_size, self.stride, self.padding = \
            kernel_size, stride, padding
        # 'same' at stride 1 with an odd kernel is symmetric; at stride > 1
        # it is padded explicitly in forward (TensorFlow's asymmetric rule).
        self._explicit_pad = padding == 'same' and stride > 1
        sym = (kernel_size - 1) // 2 if (padding == 'same'
                                          and not self._explicit_pad) else 0
        self.conv1 = _conv(in_channels, channels, 1)
        self.conv2 = _conv(channels, channels, kernel_size, stride,
                               padding=sym)
        self.conv3 = _conv(channels, out_channels, 1)
        self.downsample = None
        if stride > 1 or in_channels != out_channels:
            self.downsample = _conv(in_channels, out_channels, 1, stride)
        _init_convs(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.conv1(x), _LEAKY, inplace=True)
        if self._explicit_pad:
            out = _tf_same_pad(out, self.kernel_size, self.stride)
        out = F.leaky_relu(self.conv2(out), _LEAKY, inplace=True)
        out = self.conv3(out)
        identity = x
        if self.padding == 'valid' and self.kernel_size > 1:
            top = (self.kernel_size - 1) // 2
            bottom = self.kernel_size - 1 - top
            identity = identity[..., top:identity.shape[-2] - bottom,
                                top:identity.shape[-1] - bottom]
        if self.downsample is not None:
            identity = self.downsample(identity)
        return F.leaky_relu(out + identity, _LEAKY, inplace=True)


@MODELS.register_module()
class BagNet(BaseModule):
    """BagNet-77, TNet's ImageNet feature extractor.

    Args:
        out_indices (Sequence[int]): Parts whose maps are returned, 0..5 for
            part1..part6. Defaults to (5, ).
        drop_rate (float): Channel-wise dropout after part6, in [0, 1).
            Defaults to 0.0.
        frozen_stages (int): Freeze parts 0..frozen_stages; -1 freezes
            nothing. Defaults to -1.
        init_cfg (dict | list, optional): mmengine init config. Defaults to
            None.

    Example:
        >>> model = BagNet(out_indices=(3, 5)).eval()
        >>> part4, part6 = model(torch.rand(1, 3, 77, 77))
        >>> part4.shape, part6.shape, part4[..., ::2, ::2].shape
        (torch.Size([1, 1024, 9, 9]), torch.Size([1, 512, 7, 7]), \
    torch.Size([1, 1024, 5, 5]))
    """

    def __init__(self, out_indices: Sequence[int] = (5, ),
                 drop_rate: float = 0.0, frozen_stages: int = -1,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        out_indices = tuple(out_indices) if isinstance(
            out_indices, (list, tuple)) else out_indices
        if not isinstance(out_indices, tuple) or not out_indices or not all(
                isinstance(i, int) and not isinstance(i, bool)
                and 0 <= i < _NUM_PARTS for i in out_indices):
            raise ValueError(f'out_indices must be a non-empty sequence of '
                             f'part indices in [0, {_NUM_PARTS - 1}], got '
                             f'{out_indices!r}')
        if not isinstance(drop_rate, (int, float)) or isinstance(
                drop_rate, bool) or not 0.0 <= drop_rate < 1.0:
            raise ValueError(f'drop_rate must be a number in [0, 1), got '
                             f'{drop_rate!r}')
        if isinstance(frozen_stages, bool) or not isinstance(
                frozen_stages, int) or not -1 <= frozen_stages < _NUM_PARTS:
            raise ValueError(f'frozen_stages must be an integer in [-1, '
                             f'{_NUM_PARTS - 1}], got {frozen_stages!r}')
        self.out_indices = out_indices
        self.drop_rate = float(drop_rate)
        self.frozen_stages = frozen_stages

        self.part1 = _conv(3, 64, 3)
        in_channels = 64
        for p, (channels, blocks) in enumerate(BAGNET77_ARCH, start=2):
            layers = []
            for kernel, stride, padding in blocks:
                layers.append(BagNetBottleneck(in_channels, channels, kernel,
                                               stride, padding))
                in_channels = channels * _EXPANSION
            self.add_module(f'part{p}', nn.Sequential(*layers))
        self.part6 = _conv(in_channels, 512, 1)
        self.drop = nn.Dropout2d(self.drop_rate) if self.drop_rate > 0 \
            else nn.Identity()
        self.out_channels = (64, 256, 512, 1024, 2048, 512)

        _init_convs(self.part1)
        _init_convs(self.part6)
        self._freeze_stages()

    @property
    def parts(self) -> List[nn.Module]:
        return [self.part1, self.part2, self.part3, self.part4, self.part5,
                self.part6]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The maps of the ``out_indices`` parts, in network order."""
        outs = []
        last = max(self.out_indices)
        for i, part in enumerate(self.parts):
            x = part(x)
            if i in (0, 5):
                x = F.leaky_relu(x, _LEAKY, inplace=True)
            if i == 5:
                x = self.drop(x)
            if i in self.out_indices:
                outs.append(x)
            if i == last:
                break
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for part in self.parts[:self.frozen_stages + 1]:
            part.eval()
            for p in part.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'BagNet':
        super().train(mode)
        self._freeze_stages()
        return self
