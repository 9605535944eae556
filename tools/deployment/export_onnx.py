"""Export a config's model (or only its backbone) to ONNX and check it.

The TDAM, TDAF and AW backbones (Jaiswal et al., ECCV 2022; Pang et al., AAAI
2021; Zhu et al., ICANN 2021, section 3), the classifiers built on them, and
detectors such as FCOS with a TDAF backbone up to the head's raw outputs
(for FCOS: ``cls_score_i``, ``bbox_pred_i`` and ``centerness_i`` per FPN
level; no box decoding, no NMS).

    python tools/deployment/export_onnx.py \\
        configs/tdaf/demo/fcos_tdaf-r18_demo.py --checkpoint epoch_12.pth \\
        --shape 160 160 --out fcos_tdaf.onnx --verify

Why a tool of our own: mmdeploy (OpenMMLab's exporter) is not part of the
pinned stack and rewrites models through its own registry of known modules;
the attention layers need only these three things, which this tool does:

* a static input shape. TDAF's flows crop/resize ANAR masks and AW's
  ``impl='auto'`` picks its form from tensor sizes, in Python; tracing at
  the export shape fixes those choices, so the graph is exact for that
  shape (``--shape``, batch ``--batch``) and no axis is made dynamic.
* AW-convolution's form is fixed to the one its ``impl`` resolves to at
  the export shape, except ``'fold'`` (col2im, which ONNX has only from
  opset 18 and torch.onnx's TorchScript exporter not at 17), which becomes
  the equal ``'taps'`` sum.
* AW-convolution's ``adaptive_avg_pool2d`` to the kernel size (eq. 7),
  which ONNX cannot express when the input size is not a multiple of the
  kernel size (``torch.onnx`` refuses it): for the export, each AWConv2d
  is set to ``pool_impl='matrix'``, two matrix products with the (constant,
  exact) averaging matrices of that input size. The check below compares
  with the unmodified model.

The input of the graph is the tensor after the data preprocessor
(normalised image), as ``model(inputs, mode='tensor')`` takes it; models
run in eval mode (BNs use their running statistics, TDAF's gate may scale
in place, which the exporter turns into a plain multiplication).

``--verify`` runs the ONNX file with onnxruntime on the CPU on a random
input and compares every output with PyTorch's (max abs difference, fails
above ``--atol``, default 1e-4). torch.onnx's TorchScript exporter
(``dynamo=False``; torch >= 2.9 defaults to the dynamo one), opset 17.
"""
import argparse
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

__all__ = ['build_model', 'export', 'flatten_outputs', 'main',
           'patch_aw_pooling', 'verify']

# Output names per head class: the head's forward returns one list per name.
_HEAD_OUTPUTS = {
    'FCOSHead': ('cls_score', 'bbox_pred', 'centerness'),
    'RetinaHead': ('cls_score', 'bbox_pred'),
}


def build_model(config: str, checkpoint: Optional[str] = None,
                backbone_only: bool = False,
                cfg_options: Optional[dict] = None) -> nn.Module:
    """The config's model (or ``model.backbone``) in eval mode.

    Args:
        config (str): A config file (its ``custom_imports`` are imported).
        checkpoint (str, optional): Weights (loaded weights-only); with
            ``backbone_only`` the ``backbone.`` keys of a whole-model
            checkpoint are taken. Defaults to None (the model's init).
        backbone_only (bool): Build only ``model.backbone``. Defaults to
            False.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        nn.Module: The model, ``eval()``.
    """
    from mmengine.logging import MMLogger
    from mmengine.runner.checkpoint import load_state_dict

    from td_plugins.utils import (
        build_from_config,
        load_config,
        safe_torch_load,
    )
    # init_weights and load_checkpoint report every tensor at INFO level.
    MMLogger.get_instance('td_plugins_export_onnx', log_level='WARNING')
    model = build_from_config(load_config(config, cfg_options),
                              part='backbone' if backbone_only else None)
    if not checkpoint and hasattr(model, 'init_weights'):
        model.init_weights()  # (a checkpoint replaces it; no downloads)
    if checkpoint:
        # read once (weights-only); a whole-model checkpoint's backbone.*
        # keys go to a backbone-only model
        ckpt = safe_torch_load(checkpoint)
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) \
            else ckpt
        state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
        if backbone_only and any(k.startswith('backbone.') for k in state):
            state = {re.sub(r'^backbone\.', '', k): v
                     for k, v in state.items()}
        load_state_dict(model, state)
    model.eval()
    return model


def flatten_outputs(outputs: Any, head: Optional[nn.Module] = None
                    ) -> Tuple[List[torch.Tensor], List[str]]:
    """Flat list of the tensors in ``outputs`` (nested tuples/lists/dicts)
    and a name for each: ``<kind>_<level>`` for heads in
    ``_HEAD_OUTPUTS`` (e.g. FCOS's ``cls_score_0``), else ``out<i>`` or
    ``out<i>_<j>``."""
    kinds = _HEAD_OUTPUTS.get(type(head).__name__) if head is not None \
        else None
    tensors: List[torch.Tensor] = []
    names: List[str] = []

    def walk(value: Any, name: str) -> None:
        if isinstance(value, torch.Tensor):
            tensors.append(value)
            names.append(name)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f'{name}_{key}')
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, f'{name}{i}' if name == 'out' else f'{name}_{i}')
        else:
            raise TypeError(f'cannot export an output of type '
                            f'{type(value).__name__} ({name})')

    if isinstance(outputs, torch.Tensor):
        return [outputs], ['out0']
    if kinds is not None and isinstance(outputs, (list, tuple)) and \
            len(outputs) == len(kinds):
        for kind, per_level in zip(kinds, outputs):
            walk(per_level, kind)
    else:
        walk(outputs, 'out')
    return tensors, names


class _TensorModel(nn.Module):
    """``model(x, mode='tensor')`` (or ``model(x)`` for a backbone), flat."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        # mmengine BaseModels take a mode; backbones do not.
        self.with_mode = hasattr(model, 'data_preprocessor')

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        out = self.model(x, mode='tensor') if self.with_mode else self.model(x)
        return flatten_outputs(out, self.head)[0]

    @property
    def head(self) -> Optional[nn.Module]:
        return getattr(self.model, 'bbox_head', None) or \
            getattr(self.model, 'head', None)


def patch_aw_pooling(model: nn.Module) -> int:
    """Set every AWConv2d in ``model`` to the matrix-product pooling
    (``pool_impl='matrix'``, see the module docstring); returns how many
    were set."""
    from td_plugins.models.layers import AWConv2d
    count = 0
    for module in model.modules():
        if isinstance(module, AWConv2d):
            module.pool_impl = 'matrix'
            count += 1
    return count


class _AWImplRecorder:
    """Records, during one forward pass, the form each AWConv2d resolves
    to at this input size; :meth:`pin` then fixes it (``impl`` set to that
    form), with ``'fold'`` replaced by ``'taps'``: the same sum (the layer's
    tests check the forms agree), while fold's col2im has no ONNX
    operator before opset 18. Returns how many layers were switched."""

    def __init__(self, model: nn.Module) -> None:
        from td_plugins.models.layers import AWConv2d
        self.layers = [m for m in model.modules()
                       if isinstance(m, AWConv2d)]
        self.forms: Dict[int, str] = {}
        self.handles: list = []

    def _hook(self, module: nn.Module, inputs: Tuple[torch.Tensor]) -> None:
        self.forms[id(module)] = module.resolve_impl(inputs[0].shape[2:])

    def __enter__(self) -> '_AWImplRecorder':
        self.handles = [m.register_forward_pre_hook(self._hook)
                        for m in self.layers]
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self.handles:
            handle.remove()

    def pin(self) -> int:
        switched = 0
        for layer in self.layers:
            form = self.forms.get(id(layer))
            if form is None:
                continue  # not run at this input (e.g. an unused branch)
            if form == 'fold':
                form = 'taps'
                switched += 1
            layer.impl = form
        return switched


def export(model: nn.Module, shape: Sequence[int], out: str,
           batch: int = 1, opset: int = 17, seed: int = 0
           ) -> Dict[str, Any]:
    """Trace ``model`` at ``(batch, 3, H, W)`` and write ``out``.

    Returns:
        dict: ``input`` (the example input), ``reference`` (PyTorch's
        outputs of the unmodified model on it), ``names`` (output names),
        ``aw_patched`` (AWConv2d layers given matrix pooling),
        ``aw_fold_to_taps`` (AWConv2d layers switched from ``'fold'``).
    """
    wrapper = _TensorModel(model).eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, *shape, generator=gen)
    with torch.no_grad(), _AWImplRecorder(model) as forms:
        reference, names = flatten_outputs(
            model(x, mode='tensor') if wrapper.with_mode else model(x),
            wrapper.head)
    pinned = forms.pin()
    patched = patch_aw_pooling(model)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # tracer and deprecation chatter
        torch.onnx.export(wrapper, (x, ), out, opset_version=opset,
                          input_names=['input'], output_names=names,
                          dynamo=False)
    return dict(input=x, reference=[r.clone() for r in reference],
                names=names, aw_patched=patched, aw_fold_to_taps=pinned)


def verify(onnx_path: str, x: torch.Tensor,
           reference: Sequence[torch.Tensor],
           names: Sequence[str]) -> Dict[str, float]:
    """Max abs difference per output between onnxruntime (CPU) and
    ``reference``."""
    import onnx
    import onnxruntime as ort
    onnx.checker.check_model(onnx_path)
    session = ort.InferenceSession(onnx_path,
                                   providers=['CPUExecutionProvider'])
    got = session.run(list(names), {'input': x.numpy()})
    diffs = {}
    for name, ours, ref in zip(names, got, reference):
        if tuple(ours.shape) != tuple(ref.shape):
            raise AssertionError(f'{name}: onnxruntime shape {ours.shape} '
                                 f'!= PyTorch {tuple(ref.shape)}')
        diffs[name] = float((torch.from_numpy(ours) - ref).abs().max())
    return diffs


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--shape', type=int, nargs=2, required=True,
                        metavar=('H', 'W'))
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument('--backbone-only', action='store_true',
                        help='export model.backbone only')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--verify', action='store_true',
                        help='compare onnxruntime with PyTorch')
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if min(args.shape) < 1 or args.batch < 1:
        parser.error('--shape and --batch must be positive')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    args = parse_args(argv)
    model = build_model(args.config, args.checkpoint, args.backbone_only,
                        args.cfg_options)
    result = export(model, args.shape, args.out, batch=args.batch,
                    opset=args.opset)
    what = 'backbone' if args.backbone_only else 'model'
    print(f'wrote {args.out}: {what} of {args.config} at '
          f'{args.batch}x3x{args.shape[0]}x{args.shape[1]}, opset '
          f'{args.opset}, outputs {", ".join(result["names"])}'
          + (f'; {result["aw_patched"]} AWConv2d with matrix pooling, '
             f'{result["aw_fold_to_taps"]} of them from the fold form to '
             f'taps' if result['aw_patched'] else ''))
    if not args.verify:
        return {}
    diffs = verify(args.out, result['input'], result['reference'],
                   result['names'])
    worst = max(diffs.values())
    for name, diff in diffs.items():
        print(f'  {name:<16} max |onnxruntime - torch| = {diff:.3g}')
    ok = worst <= args.atol
    print(f'verify: {"OK" if ok else "FAILED"} (max {worst:.3g}, atol '
          f'{args.atol:g})')
    if not ok:
        sys.exit(1)
    return diffs


if __name__ == '__main__':
    main()
