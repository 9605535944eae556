"""Time several configs' models side by side: throughput, latency, memory.

    python tools/analysis_tools/benchmark.py CFG_A.py CFG_B.py [...] \\
        [--shape [T] H W] [--batch 8] [--mode inference|train] \\
        [--iters 10] [--warmup 2] [--device cpu] [--threads N] \\
        [--cfg-options k=v ...] [--out benchmark.md]

Each config's ``model`` is built in its own ``default_scope`` (mmdet,
mmpretrain, mmpose or mmaction; ``custom_imports`` honoured) with no dataset
and no pretrained weights: every ``init_cfg`` and every string ``pretrained``
in the model config is dropped, and ``init_weights`` is never called, so the
weights are the modules' constructor initialisation (irrelevant for timing).
All models then run in one process on one random input per model, timed with
:mod:`benchmarks.harness` (the repeats interleaved round-robin over the
configs, glibc's malloc thresholds fixed by a restart, denormals flushed),
and the table gives per config: parameters, latency (median ms per batch and
its spread), throughput (batch / median latency, images per second; one
"image" of a video model is one clip), the time ratio to the *first* config
(1.00 for it; 1.25 means 25 % slower) and peak memory of one call above the
weights and inputs (see the harness for how it is taken on CPU and CUDA).

What runs: the model's ``tensor`` mode, i.e. the network without data
pre-processing and post-processing (no NMS, no decoding), on a random input
that is already "pre-processed":

* classifiers (mmpretrain): ``(B, 3, H, W)`` -> backbone, neck, head logits;
* detectors (mmdet): ``(B, 3, H, W)`` with data samples carrying the image
  metainfo -> the raw head outputs; two-stage detectors get exactly
  ``test_cfg.rpn.max_per_img`` proposals per image (the RPN head runs, its
  box decoding and NMS are replaced; see :class:`TensorMode`), so that the
  RoI head's share does not depend on what random weights let through;
* pose estimators (mmpose): ``(B, 3, H, W)`` -> heatmaps;
* action recognisers (mmaction): ``(B, 1, 3, T, H, W)`` for 3D models,
  ``(B, 1, 3, H, W)`` for 2D ones -> class scores (``stage='head'``). T is
  the first of three ``--shape`` values, else the ``clip_len`` of the
  config's ``SampleFrames``.

``--mode train`` times forward plus backward of the sum of those outputs in
``train()`` mode: the network's training cost without the codebase's target
assignment and loss functions (for detectors these add a little more).

Why not the stock tools: mmdet's ``tools/analysis_tools/benchmark.py``
times one config at a time, builds its test dataloader (needs the dataset),
runs batch 1 ``predict`` with post-processing, and moves the model to CUDA
unconditionally; mmpretrain, mmpose and mmaction have no model benchmark of
this kind. Comparing an attention model with its baseline needs both timed
in one process with interleaved repeats on a shared machine, which is what
the harness does.

The markdown table is printed and written to ``--out`` with the command that
produced it. Compare ratios, not absolute times, across runs.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from benchmarks.harness import (  # noqa: E402
    Case,
    Result,
    allocator_note,
    emit_report,
    reexec_with_fixed_malloc,
    run_cases,
)

__all__ = ['build_model', 'strip_pretrained', 'make_case', 'benchmark',
           'gmacs', 'to_table', 'parse_args', 'main']

MODES = {'inference': 'forward', 'train': 'train'}
_STRING_PRETRAINED = (str, Path)


def strip_pretrained(cfg: Any) -> Any:
    """Drop every ``init_cfg`` and every path-like ``pretrained`` (set to
    ``None``; ``pretrained=True`` becomes ``False``) in a model config, in
    place, recursively through dicts and lists. Returns ``cfg``.

    Example:
        >>> c = dict(backbone=dict(init_cfg=dict(type='Pretrained'),
        ...                        pretrained='x.pth'), head=[dict(a=1)])
        >>> strip_pretrained(c)
        {'backbone': {'pretrained': None}, 'head': [{'a': 1}]}
    """
    if isinstance(cfg, dict):
        cfg.pop('init_cfg', None)
        if 'pretrained' in cfg:
            value = cfg['pretrained']
            if isinstance(value, _STRING_PRETRAINED):
                cfg['pretrained'] = None
            elif value is True:
                cfg['pretrained'] = False
        for value in cfg.values():
            strip_pretrained(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            strip_pretrained(value)
    return cfg


def build_model(cfg: Any) -> nn.Module:
    """Build ``cfg.model`` in the config's ``default_scope`` (its
    ``custom_imports`` were imported when the config was loaded), without
    pretrained weights (:func:`strip_pretrained`).

    Args:
        cfg (mmengine.Config): A loaded config.

    ``SyncBatchNorm`` layers are turned into ``BatchNorm`` (one process, no
    process group), as mmengine's test tools do.

    Returns:
        nn.Module: The model, on the CPU, weights as constructed.
    """
    from mmengine.model import revert_sync_batchnorm

    from td_plugins.utils import build_from_config
    cfg = copy.deepcopy(cfg)
    cfg.model = strip_pretrained(cfg.model)
    return revert_sync_batchnorm(build_from_config(cfg))


def _clip_len(cfg: Any) -> Optional[int]:
    """``clip_len`` of the first ``SampleFrames``-like step of a pipeline."""
    for key in ('test_pipeline', 'val_pipeline', 'train_pipeline'):
        for step in cfg.get(key) or []:
            if isinstance(step, dict) and 'clip_len' in step:
                return int(step['clip_len'])
    return None


def _kind(model: nn.Module) -> str:
    """'detector', 'recognizer3d', 'recognizer2d' or 'image' (classifiers,
    pose estimators and anything else taking (B, 3, H, W))."""
    try:
        from mmdet.models.detectors import BaseDetector
        if isinstance(model, BaseDetector):
            return 'detector'
    except ImportError:
        pass
    try:
        from mmaction.models.recognizers import BaseRecognizer, Recognizer3D
        if isinstance(model, Recognizer3D):
            return 'recognizer3d'
        if isinstance(model, BaseRecognizer):
            return 'recognizer2d'
    except ImportError:
        pass
    return 'image'


class TensorMode(nn.Module):
    """Calls an OpenMMLab model in ``tensor`` mode with fixed extra
    arguments, so the harness can time it like a plain module.

    Args:
        model (nn.Module): A model taking ``(inputs, data_samples, mode)``.
        data_samples (list, optional): Passed as ``data_samples``.
        fixed_proposals (bool): For a two-stage detector, give the RoI head
            exactly ``test_cfg.rpn.max_per_img`` proposals per image on
            every call (the RPN head still runs; its decoding and NMS do
            not), as ``get_flops.py`` counts them. With random
            weights and inputs the number of boxes surviving the RPN's NMS
            is arbitrary, and the RoI head's time is proportional to it.
            Defaults to False.
        **kwargs: Further keyword arguments of the forward call.
    """

    def __init__(self, model: nn.Module, data_samples: Optional[list] = None,
                 fixed_proposals: bool = False, **kwargs: Any) -> None:
        super().__init__()
        self.model = model
        self.data_samples = data_samples
        self.fixed_proposals = fixed_proposals
        self.kwargs = kwargs

    def forward(self, inputs: torch.Tensor) -> Any:
        if self.fixed_proposals:
            from td_plugins.utils.dummy_inputs import fixed_proposals
            with fixed_proposals(self.model):
                return self.model(inputs, self.data_samples, mode='tensor',
                                  **self.kwargs)
        return self.model(inputs, self.data_samples, mode='tensor',
                          **self.kwargs)


def _input_shape(kind: str, cfg: Any, batch: int,
                 shape: Sequence[int], name: str) -> Tuple[int, ...]:
    if kind == 'recognizer3d':
        if len(shape) == 3:
            t, h, w = shape
        else:
            t = _clip_len(cfg)
            if t is None:
                raise ValueError(
                    f'{name}: a 3D action model needs a clip length: pass '
                    '--shape T H W (the config has no SampleFrames clip_len)')
            h, w = shape
        return (batch, 1, 3, t, h, w)
    if len(shape) != 2:
        raise ValueError(f'{name}: --shape must be H W for a {kind} model, '
                         f'got {list(shape)}')
    h, w = shape
    if kind == 'recognizer2d':
        return (batch, 1, 3, h, w)
    return (batch, 3, h, w)


def make_case(config: str, name: str, batch: int, shape: Sequence[int],
              mode: str, options: Optional[dict] = None,
              seed: int = 0) -> Tuple[Case, str]:
    """A harness :class:`Case` for one config: the model in tensor mode and
    a random normal input of the right shape.

    The model is built here (so a broken config fails before any timing);
    the case's ``build`` hands it over.

    Args:
        config (str): Config path.
        name (str): Case name in the table.
        batch (int): Batch size.
        shape (Sequence[int]): ``(H, W)`` or, for 3D action models,
            ``(T, H, W)``.
        mode (str): ``'inference'`` or ``'train'``.
        options (dict, optional): ``--cfg-options`` merged into the config.
        seed (int): Seed of the input. Defaults to 0.

    Returns:
        tuple[Case, str]: The case and the model kind (``'detector'``,
        ``'recognizer3d'``, ``'recognizer2d'`` or ``'image'``).
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {sorted(MODES)}, got {mode!r}')
    from td_plugins.utils import load_config
    cfg = load_config(config, options)
    model = build_model(cfg)
    kind = _kind(model)
    in_shape = _input_shape(kind, cfg, batch, shape, name)
    if kind == 'detector':
        from td_plugins.utils.dummy_inputs import det_data_samples
        wrapped = TensorMode(model, det_data_samples(batch, in_shape[-2:]),
                             fixed_proposals=True)
    elif kind.startswith('recognizer'):
        wrapped = TensorMode(model, stage='head')
    else:
        wrapped = TensorMode(model)

    def make_input() -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(in_shape, generator=gen)

    built: List[nn.Module] = [wrapped]
    return Case(name, lambda: built.pop(), make_input,
                mode=MODES[mode]), kind


def _names(configs: Sequence[str]) -> List[str]:
    """Config file stems, made unique with the parent folder or a counter."""
    stems = [Path(c).stem for c in configs]
    names: List[str] = []
    for config, stem in zip(configs, stems):
        name = stem if stems.count(stem) == 1 else \
            f'{Path(config).parent.name}/{stem}'
        base, k = name, 2
        while name in names:
            name, k = f'{base} #{k}', k + 1
        names.append(name)
    return names


def benchmark(configs: Sequence[str], batch: int = 8,
              shape: Sequence[int] = (224, 224), mode: str = 'inference',
              iters: int = 10, warmup: int = 2, device: str = 'cpu',
              threads: Optional[int] = None, options: Optional[dict] = None,
              measure_memory: bool = True) -> List[Result]:
    """Build every config's model and time them side by side.

    Args:
        configs (Sequence[str]): Config paths; the first is the baseline of
            the ratio column.
        batch (int): Batch size. Defaults to 8.
        shape (Sequence[int]): ``(H, W)``, or ``(T, H, W)`` for 3D action
            models. Defaults to (224, 224).
        mode (str): ``'inference'`` or ``'train'``. Defaults to
            ``'inference'``.
        iters (int): Timed calls per config. Defaults to 10.
        warmup (int): Untimed calls per config first. Defaults to 2.
        device (str): ``'cpu'`` or ``'cuda[:N]'``. Defaults to ``'cpu'``.
        threads (int, optional): Intra-op threads for the run.
        options (dict, optional): Overrides merged into every config.
        measure_memory (bool): One extra call per config for peak memory.

    Returns:
        list[Result]: The harness results, in the order of ``configs``.

    Example:
        >>> rs = benchmark(['configs/tdam/demo/tdam-r18_cls_demo.py'],
        ...                batch=1, shape=(64, 64), iters=1, warmup=0)
        ...                # doctest: +SKIP
        >>> rs[0].ratio  # doctest: +SKIP
        1.0
    """
    if not configs:
        raise ValueError('configs must name at least one config file')
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f'batch must be an int >= 1, got {batch!r}')
    if len(shape) not in (2, 3) or any(int(s) < 1 for s in shape):
        raise ValueError('shape must be H W or T H W, positive ints, got '
                         f'{list(shape)}')
    for c in configs:
        if not Path(c).is_file():
            raise ValueError(f'config file not found: {c}')
    names = _names(configs)
    cases = [make_case(c, n, batch, [int(s) for s in shape], mode, options)[0]
             for c, n in zip(configs, names)]
    return run_cases(cases, baseline=names[0], warmup=warmup, repeats=iters,
                     device=device, threads=threads,
                     measure_memory=measure_memory)


def to_table(results: Sequence[Result], batch: int,
             macs: Optional[Sequence[Optional[float]]] = None) -> str:
    """Markdown table: config, params, [GMACs], latency, throughput, time
    ratio to the first config, peak memory; then a line on the run.

    Args:
        results (Sequence[Result]): From :func:`benchmark`.
        batch (int): The batch size (throughput = batch / latency).
        macs (Sequence[float | None], optional): GMACs per config for an
            extra column.

    Example:
        >>> print(to_table(rs, 8).splitlines()[0])  # doctest: +SKIP
        | config | params (M) | latency ms/batch (median) | ...
    """
    if not results:
        raise ValueError('results must not be empty')
    first = results[0].name
    mac_col = macs is not None
    head = ['config', 'params (M)'] + (['GMACs/img'] if mac_col else []) + [
        'latency ms/batch (median)', 'spread ms (IQR)', 'throughput img/s',
        f'time ratio vs {first}', 'peak mem (MiB)']
    lines = ['| ' + ' | '.join(head) + ' |',
             '| --- |' + ' ---: |' * (len(head) - 1)]
    for i, r in enumerate(results):
        row = [r.name, f'{r.params / 1e6:.2f}']
        if mac_col:
            m = macs[i]
            row.append('n/a' if m is None else f'{m:.2f}')
        thr = batch * 1e3 / r.median_ms if r.median_ms > 0 else float('inf')
        row += [f'{r.median_ms:.2f}', f'{r.q1_ms:.2f}-{r.q3_ms:.2f}',
                f'{thr:.2f}', f'{r.ratio:.2f}',
                'n/a' if r.peak_mem_mib is None else f'{r.peak_mem_mib:.1f}']
        lines.append('| ' + ' | '.join(row) + ' |')
    r0 = results[0]
    mode = {v: k for k, v in MODES.items()}.get(r0.mode, r0.mode)
    lines += ['', f'Mode {mode}, batch {batch}, device {r0.device}, '
              f'{r0.threads} intra-op thread(s), torch {r0.torch_version}, '
              f'warmup {r0.warmup}, {r0.repeats} timed call(s) per config '
              f'(interleaved round-robin). Peak memory: {r0.mem_method}.']
    return '\n'.join(lines) + '\n'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+', help='config files; the first '
                        'is the baseline of the ratio column')
    parser.add_argument('--shape', type=int, nargs='+', default=[224, 224],
                        help='H W, or T H W for 3D action models')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--mode', choices=sorted(MODES), default='inference')
    parser.add_argument('--iters', type=int, default=10,
                        help='timed calls per config')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the extra peak-memory call')
    parser.add_argument('--no-macs', action='store_true',
                        help='skip the GMACs column (counted as '
                        'tools/analysis_tools/get_flops.py does)')
    parser.add_argument('--malloc', choices=('fixed', 'default'),
                        default='fixed',
                        help='fix glibc malloc thresholds by restarting '
                        '(see benchmarks/harness.py)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='k=v overrides merged into every config')
    parser.add_argument('--out', default='benchmark.md',
                        help='markdown file to write')
    args = parser.parse_args(argv)
    if len(args.shape) not in (2, 3):
        parser.error(f'--shape takes H W or T H W, got {args.shape}')
    return args


def gmacs(configs: Sequence[str], shape: Sequence[int],
          options: Optional[dict] = None) -> List[Optional[float]]:
    """GMACs of one image (one clip) per config, counted by
    :func:`td_plugins.utils.dummy_inputs.config_complexity` (what
    ``tools/analysis_tools/get_flops.py`` reports: attention operations
    included); ``None`` where counting fails."""
    from td_plugins.utils.dummy_inputs import config_complexity
    flops_shape = tuple(shape) if len(shape) == 2 else (3, ) + tuple(shape)
    out: List[Optional[float]] = []
    for config in configs:
        try:
            out.append(config_complexity(config, flops_shape,
                                         cfg_options=options).macs / 1e9)
        except Exception:  # noqa: BLE001 - a count must not lose timings
            out.append(None)
    return out


def main(argv: Optional[Sequence[str]] = None) -> List[Result]:
    args = parse_args(argv)
    if args.malloc == 'fixed' and argv is None:
        reexec_with_fixed_malloc()
    torch.manual_seed(0)
    try:
        results = benchmark(args.configs, batch=args.batch, shape=args.shape,
                            mode=args.mode, iters=args.iters,
                            warmup=args.warmup, device=args.device,
                            threads=args.threads, options=args.cfg_options,
                            measure_memory=not args.no_memory)
    except ValueError as err:
        raise SystemExit(f'benchmark.py: error: {err}')
    macs = None if args.no_macs else gmacs(args.configs, args.shape,
                                           args.cfg_options)
    command = ('python tools/analysis_tools/benchmark.py '
               + ' '.join(args.configs)
               + f' --shape {" ".join(map(str, args.shape))}'
               f' --batch {args.batch} --mode {args.mode}'
               f' --iters {args.iters} --warmup {args.warmup}'
               f' --device {args.device}'
               + (f' --threads {args.threads}' if args.threads else '')
               + (' --no-macs' if args.no_macs else '')
               + (' --no-memory' if args.no_memory else ''))
    text = '\n'.join([
        '# Model benchmark\n', f'Command: `{command}`\n',
        to_table(results, args.batch, macs),
        allocator_note(args.malloc) + '\n'])
    emit_report(text, args.out)
    return results


if __name__ == '__main__':
    main()
