"""Parameters and multiply-accumulates (MACs) of a model, per module.

One run under ``torch.utils.flop_counter.FlopCounterMode`` counts every
convolution and matrix product that executes and, with ``elementwise``,
every element-wise product of two tensors (the attention's gates) at one MAC
per element; each count is charged to the innermost running module. What is
and is not counted, and why: docs/flops.md. A config's model on a dummy
input: :func:`td_plugins.utils.dummy_inputs.config_complexity`.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ['ModelComplexity', 'count_complexity', 'COUNTED', 'NOT_COUNTED']

COUNTED = ('convolutions (any dim, grouped, transposed), mm/addmm/bmm/'
           'baddbmm (Linear, matmul, einsum contractions), scaled dot-product '
           'attention; element-wise products of two tensors that both have '
           '>1 element (mul, mul_, addcmul), 1 MAC per output element')
NOT_COUNTED = ('norms (BN/GN/LN), activations, pooling, resizing, softmax, '
               'plain additions/sums, biases, indexing and copies')


# --------------------------------------------------------------------------
# Element-wise products: formulas in FlopCounterMode's convention (FLOPs,
# = 2 per MAC), so that one product per output element is one MAC.
def _numel(shape: Any) -> int:
    return math.prod(shape) if isinstance(shape, torch.Size) else 1


def _product_flops(a: Any, b: Any, out_shape: Any) -> int:
    if not (isinstance(a, torch.Size) and isinstance(b, torch.Size)):
        return 0  # a Python number
    if _numel(a) <= 1 or _numel(b) <= 1:
        return 0  # a scalar factor
    return 2 * _numel(out_shape)


def _mul_flop(a, b, *args, out_shape=None, **kwargs) -> int:
    return _product_flops(a, b, out_shape)


def _addcmul_flop(self_shape, a, b, *args, out_shape=None, **kwargs) -> int:
    return _product_flops(a, b, out_shape)


def _elementwise_formulas() -> Dict[Any, Callable]:
    aten = torch.ops.aten
    return {aten.mul: _mul_flop, aten.mul_: _mul_flop,
            aten.addcmul: _addcmul_flop, aten.addcmul_: _addcmul_flop}


# --------------------------------------------------------------------------
@dataclass
class ModelComplexity:
    """MACs and parameters of one call of a model.

    Attributes:
        macs (int): Multiply-accumulates of the whole call.
        params (int): Parameters of the model (shared ones once).
        by_op (dict): MACs per ATen operator (``'convolution'``, ``'mul'``,
            ...; in-place variants under the same name).
        own_macs (dict): MACs charged to each module name itself (not to its
            sub-modules); ``''`` is the model, ``None`` anything run outside
            it.
        module_params (dict): Parameters per module name, sub-modules
            included.
        children (dict): Module name -> its direct children's names.
        input_shape (tuple): The input's shape, if known.
        device (str): Where it was counted (``'meta'`` or ``'cpu'``, ...).
        elementwise (bool): Whether element-wise products were counted.
        notes (list): Where the input came from, how it was counted.
        full_count_options (dict): Config options that switch off the
            model's inference shortcuts (work skipped without changing the
            outputs), so that every operation of the architecture runs;
            empty when the model has none.
    """
    macs: int
    params: int
    by_op: Dict[str, int]
    own_macs: Dict[Optional[str], int]
    module_params: Dict[str, int]
    children: Dict[str, List[str]]
    input_shape: Tuple[int, ...] = ()
    device: str = 'cpu'
    elementwise: bool = True
    notes: List[str] = field(default_factory=list)
    full_count_options: Dict[str, Any] = field(default_factory=dict)

    def module_macs(self, name: str) -> int:
        """MACs of module ``name`` and everything under it (``''``: all of
        the model)."""
        if name == '':
            return sum(v for k, v in self.own_macs.items() if k is not None)
        prefix = name + '.'
        return sum(v for k, v in self.own_macs.items()
                   if k is not None and (k == name or k.startswith(prefix)))

    def breakdown(self, depth: int = 2) -> List[dict]:
        """Rows of the module tree down to ``depth`` levels below the model.

        Each row is a dict with ``name`` (``''`` for the model), ``depth``,
        ``macs``, ``params`` and ``leaf``. Modules with neither MACs nor
        parameters are left out. A module shown above ``depth`` that runs
        operators itself (outside its sub-modules) gets an extra leaf row
        named ``'<name> (own ops)'``. The ``macs`` of the leaf rows add up to
        :attr:`macs` exactly.
        """
        if depth < 0:
            raise ValueError(f'depth must be >= 0, got {depth}')
        rows: List[dict] = []

        def shown(name: str) -> bool:
            return self.module_macs(name) > 0 or \
                self.module_params.get(name, 0) > 0

        def visit(name: str, level: int) -> None:
            kids = [c for c in self.children.get(name, []) if shown(c)] \
                if level < depth else []
            rows.append(dict(name=name, depth=level,
                             macs=self.module_macs(name),
                             params=self.module_params.get(name, 0),
                             leaf=not kids))
            if not kids:
                return
            own = self.own_macs.get(name, 0)
            if own:
                rows.append(dict(name=f'{name or "model"} (own ops)',
                                 depth=level + 1, macs=own, params=0,
                                 leaf=True))
            for kid in kids:
                visit(kid, level + 1)

        visit('', 0)
        outside = self.own_macs.get(None, 0)
        if outside:
            rows.append(dict(name='(outside the model)', depth=1,
                             macs=outside, params=0, leaf=True))
        return rows

    def table(self, depth: int = 2) -> str:
        """The breakdown as an aligned text table (MACs and parameters)."""
        rows = self.breakdown(depth)
        total = max(self.macs, 1)
        lines = [('module', 'params', 'MACs', '% MACs')]
        for r in rows:
            label = r['name'].rsplit('.', 1)[-1] if r['depth'] and \
                not r['name'].endswith('(own ops)') else (r['name'] or
                                                          'model')
            lines.append(('  ' * r['depth'] + label,
                          _human(r['params']) if r['params'] else '',
                          _human(r['macs']),
                          f'{100 * r["macs"] / total:.2f}'))
        widths = [max(len(line[i]) for line in lines) for i in range(4)]
        out = []
        for i, line in enumerate(lines):
            out.append('  '.join([line[0].ljust(widths[0])] +
                                 [c.rjust(w) for c, w in
                                  zip(line[1:], widths[1:])]).rstrip())
            if i == 0:
                out.append('  '.join('-' * w for w in widths))
        return '\n'.join(out)

    def to_dict(self, depth: int = 2) -> dict:
        """A JSON-serialisable summary (what ``get_flops.py --json``
        writes)."""
        return dict(
            macs=self.macs, flops=2 * self.macs, gmacs=self.macs / 1e9,
            params=self.params, mparams=self.params / 1e6,
            input_shape=list(self.input_shape), device=self.device,
            elementwise_products_counted=self.elementwise,
            counted=COUNTED if self.elementwise else COUNTED.split(
                '; element-wise')[0],
            not_counted=NOT_COUNTED, by_op=dict(self.by_op),
            modules=[dict(r) for r in self.breakdown(depth)],
            notes=list(self.notes))


def _human(value: float) -> str:
    for scale, unit in ((1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if abs(value) >= scale:
            return f'{value / scale:.3f} {unit}'
    return f'{value:.0f}  '


# --------------------------------------------------------------------------
class _ModuleFlopCounter(FlopCounterMode):
    """``FlopCounterMode`` that charges each count to the innermost running
    module (``stack[-1]``, kept by module hooks) in ``own``, and per
    operator name in ``by_op``.

    FlopCounterMode decides which operators count and how much (its registry
    of formulas, with ours added); this override of its per-operator hook
    (torch >= 2.4) only changes where each count is charged.
    """

    def __init__(self, stack: List[Optional[str]],
                 own: Dict[Optional[str], int], by_op: Dict[str, int],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stack, self._own, self._by_op = stack, own, by_op

    def _count_flops(self, func_packet: Any, out: Any, args: tuple,
                     kwargs: dict) -> Any:
        formula = self.flop_registry.get(func_packet)
        if formula is not None:
            flops = formula(*args, **kwargs, out_val=out)
            if flops:
                self.flop_counts['Global'][func_packet] += flops
                self._own[self._stack[-1] if self._stack else None] += flops
                # in-place or not is the kernel's choice (and can differ
                # between devices): one name for both
                self._by_op[str(func_packet).split('.')[-1].rstrip('_')] \
                    += flops
        return out


def count_complexity(model: nn.Module, call: Callable[[], Any], *,
                     elementwise: bool = True, grad: bool = False,
                     input_shape: Sequence[int] = ()) -> ModelComplexity:
    """Count the MACs of ``call()`` (which should run ``model``) per module.

    The model is not switched to eval mode here; ``call`` runs under
    ``torch.no_grad()`` unless ``grad``.

    Args:
        model (nn.Module): The model whose modules name the breakdown.
        call (Callable[[], Any]): Runs the model once, e.g.
            ``lambda: model(x)``.
        elementwise (bool): Also count element-wise products of two
            tensors (see the module docstring). Defaults to True.
        grad (bool): Run ``call`` with gradients enabled, for a call that
            also runs the backward pass (its operators are charged to no
            module, ``own_macs[None]``). Defaults to False.
        input_shape (Sequence[int]): Recorded in the result. Defaults to ().

    Returns:
        ModelComplexity: The counts.

    Example:
        >>> conv = nn.Conv2d(3, 8, 3, bias=False)
        >>> x = torch.rand(1, 3, 6, 6)
        >>> count_complexity(conv, lambda: conv(x)).macs  # 8*16 * 3*9
        3456
    """
    from torch.nn.modules.module import (
        register_module_forward_hook,
        register_module_forward_pre_hook,
    )

    names = {}
    for name, module in model.named_modules():
        names.setdefault(module, name)
    stack: List[Optional[str]] = []
    own: Dict[Optional[str], int] = defaultdict(int)
    by_op: Dict[str, int] = defaultdict(int)

    def pre_hook(module, args):
        stack.append(names.get(module, stack[-1] if stack else None))

    def post_hook(module, args, output):
        if stack:
            stack.pop()

    counter = _ModuleFlopCounter(stack, own, by_op, display=False,
                                 custom_mapping=(_elementwise_formulas()
                                                 if elementwise else None))
    handles = [register_module_forward_pre_hook(pre_hook),
               register_module_forward_hook(post_hook)]
    try:
        with torch.set_grad_enabled(grad), counter:
            call()
    finally:
        for h in handles:
            h.remove()
    total_flops = counter.get_total_flops()
    if total_flops != sum(own.values()):  # pragma: no cover - sanity check
        raise RuntimeError('per-module MACs do not add up to the total')

    params: Dict[str, int] = defaultdict(int)
    for pname, p in model.named_parameters():
        parts = pname.split('.')[:-1]
        params[''] += p.numel()
        for i in range(1, len(parts) + 1):
            params['.'.join(parts[:i])] += p.numel()
    children: Dict[str, List[str]] = defaultdict(list)
    for name in names.values():
        if name:
            children[name.rpartition('.')[0]].append(name)
    try:
        device = str(next(model.parameters()).device)
    except StopIteration:
        device = 'cpu'
    return ModelComplexity(
        macs=total_flops // 2, params=params[''],
        by_op={k: v // 2 for k, v in sorted(by_op.items())},
        own_macs={k: v // 2 for k, v in own.items()},
        module_params=dict(params), children=dict(children),
        input_shape=tuple(input_shape), device=device,
        elementwise=elementwise)
