"""timm's cosine lr schedule as in the official TDAM runs (ECCV 2022)."""
import math
from typing import List

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from ..registry import PARAM_SCHEDULERS

__all__ = ['TimmCosineLR', 'timm_cosine_lr']


def timm_cosine_lr(epoch: int, base_lr: float, t_initial: int,
                   warmup_epochs: int = 0, warmup_lr: float = 0.0,
                   min_lr: float = 0.0) -> float:
    """timm ``CosineLRScheduler`` (one cycle, no noise, k = 1) at ``epoch``.

    Example:
        >>> round(timm_cosine_lr(0, 0.4, 150, 5, 1e-4, 1e-6), 6)
        0.0001
        >>> timm_cosine_lr(155, 0.4, 150, 5, 1e-4, 1e-6)
        1e-06
    """
    if epoch < warmup_epochs:
        return warmup_lr + epoch * (base_lr - warmup_lr) / warmup_epochs
    if epoch >= t_initial:
        return min_lr
    return min_lr + 0.5 * (base_lr - min_lr) * (
        1 + math.cos(math.pi * epoch / t_initial))


def _check(name: str, value: object, ok: bool, what: str) -> None:
    if isinstance(value, bool) or not ok:
        raise ValueError(f'{name} must be {what}, got {value!r}')


@PARAM_SCHEDULERS.register_module()
class TimmCosineLR(LRSchedulerMixin, _ParamScheduler):
    """Per-epoch timm cosine schedule with linear warm-up and ``min_lr`` tail.

    Args:
        optimizer: The optimizer (or wrapper), given by mmengine.
        t_initial (int): Cosine epochs; later ones stay at ``min_lr``.
        warmup_epochs (int): Linear warm-up epochs. Defaults to 0.
        warmup_lr (float): Warm-up start lr. Defaults to 0.
        min_lr (float): Cosine end lr. Defaults to 0.
        begin, end, last_step, verbose: As mmengine's; ``by_epoch`` is True.
    """

    def __init__(self, optimizer, t_initial: int, warmup_epochs: int = 0,
                 warmup_lr: float = 0.0, min_lr: float = 0.0,
                 begin: int = 0, end: int = INF, last_step: int = -1,
                 by_epoch: bool = True, verbose: bool = False) -> None:
        _check('t_initial', t_initial,
               isinstance(t_initial, int) and t_initial >= 1,
               'an integer >= 1')
        _check('warmup_epochs', warmup_epochs,
               isinstance(warmup_epochs, int)
               and 0 <= warmup_epochs < t_initial,
               f'an integer in [0, t_initial={t_initial})')
        for name, value in (('warmup_lr', warmup_lr), ('min_lr', min_lr)):
            _check(name, value, isinstance(value, (int, float))
                   and value >= 0, 'a number >= 0')
        if by_epoch is not True:
            raise ValueError('by_epoch must be True: timm steps this '
                             f'schedule once per epoch, got {by_epoch!r}')
        self.t_initial, self.warmup_epochs = t_initial, warmup_epochs
        self.warmup_lr, self.min_lr = float(warmup_lr), float(min_lr)
        super().__init__(optimizer, begin=begin, end=end,
                         last_step=last_step, by_epoch=True, verbose=verbose)

    def _get_value(self) -> List[float]:
        return [timm_cosine_lr(self.last_step, base, self.t_initial,
                               self.warmup_epochs, self.warmup_lr,
                               self.min_lr) for base in self.base_values]
