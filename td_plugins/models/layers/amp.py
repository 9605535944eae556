"""Float32 regions inside an autocast forward (docs/training.md)."""
import contextlib

import torch

__all__ = ['autocast_off', 'at_least_float32']


def at_least_float32(dtype: torch.dtype) -> torch.dtype:
    """``dtype`` promoted to float32 (float64 stays float64)."""
    return torch.promote_types(dtype, torch.float32)


def autocast_off(tensor: torch.Tensor) -> contextlib.AbstractContextManager:
    """A context with autocast off on ``tensor``'s device (null where none).

    Example:
        >>> x = torch.ones(2, 2)
        >>> with torch.autocast('cpu', dtype=torch.bfloat16), autocast_off(x):
        ...     (x @ x).dtype
        torch.float32
    """
    device = tensor.device.type
    try:
        if not torch.is_autocast_enabled(device):
            return contextlib.nullcontext()
    except RuntimeError:  # no autocast for this device type
        return contextlib.nullcontext()
    return torch.autocast(device, enabled=False)
