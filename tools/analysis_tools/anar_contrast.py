"""Does a TDAF detector's attention separate objects from background?

For every val image of a detection config, run the backbone with its R2DNS
recording the ANAR masks (``record_attention``), resize each mask of every
gated stage and flow to the network input, and compare its mean inside the
ground-truth boxes with its mean outside them (the padding excluded). The
boxes are loaded before the test pipeline's resize, so they are in the
network input's pixels at any test scale. The ANAR mask ``g`` multiplies the
features as ``(g + eta)`` (Pang et al., TDAF, AAAI 2021, eq. 5), so
``inside - outside > 0`` means the objects' features are enhanced relative
to the background.

Each row also says what the mask follows: ``r`` is the per-image Pearson
correlation, over the input's pixels, between the mask and the energy of the
features it gates (the RMS over channels of ``h_l[x]`` before the gate, as
the mask resized to the input), averaged over the images; ``energy`` is
that energy's inside-minus-outside difference in units of its per-image
standard deviation. ``r < 0`` with ``energy > 0`` is a gain control that
damps the strongest features, which there are the objects' (docs/tdaf.md,
"What the demo's masks learn").

Prints one row per stage and flow and a per-flow mean over the stages, and
with ``--out`` writes them as JSON. Without ``--checkpoint`` the model is
measured as ``runner.train()`` would start it (``init_weights()``).

Usage: python tools/analysis_tools/anar_contrast.py CONFIG [--checkpoint CKPT]
       [--out contrast.json] [--max-images N] [--cfg-options k=v ...]
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction

from td_plugins.visualization import recorded_masks


def _r2dns_modules(model: torch.nn.Module) -> List[torch.nn.Module]:
    from td_plugins.models.layers import R2DNS
    return [m for m in model.modules() if isinstance(m, R2DNS)]


def box_mask(boxes: torch.Tensor, height: int, width: int,
              valid: tuple) -> torch.Tensor:
    """1 inside any box, 0 outside, -1 in the padding (``valid`` = h, w)."""
    mask = torch.zeros(height, width)
    for x1, y1, x2, y2 in boxes.round().long().tolist():
        mask[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = 1
    mask[valid[0]:, :] = -1
    mask[:, valid[1]:] = -1
    return mask


def annotations_first(pipeline: List[dict]) -> List[dict]:
    """``pipeline`` with its ``LoadAnnotations`` moved to just after the
    image is loaded, so that every resize, flip or pad transforms the boxes
    with the image.

    mmdet's test pipelines load the annotations after ``Resize`` (the
    evaluator wants boxes in the original image), so without this the boxes
    would be in original-image pixels while the masks are resized to the
    network input.

    Example:
        >>> [t['type'] for t in annotations_first([
        ...     dict(type='LoadImageFromFile'), dict(type='Resize'),
        ...     dict(type='LoadAnnotations'), dict(type='PackDetInputs')])]
        ['LoadImageFromFile', 'LoadAnnotations', 'Resize', 'PackDetInputs']
    """
    loads = [t for t in pipeline if 'LoadAnnotations' in str(t['type'])]
    rest = [t for t in pipeline if t not in loads]
    first = next((i for i, t in enumerate(rest)
                  if 'LoadImage' in str(t['type'])), -1)
    return rest[:first + 1] + loads + rest[first + 1:]


def accumulate(acc: List[float], masks: torch.Tensor,
               regions: List[torch.Tensor]) -> None:
    """Add ``masks`` (B, 1, H, W)' sums and pixel counts inside (region 1)
    and outside (region 0) to ``acc`` = [sum in, n in, sum out, n out]."""
    for g, region in zip(masks[:, 0], regions):
        inside, outside = region == 1, region == 0
        acc[0] += float(g[inside].sum())
        acc[1] += int(inside.sum())
        acc[2] += float(g[outside].sum())
        acc[3] += int(outside.sum())


def energy_stats(mask: torch.Tensor, energy: torch.Tensor,
                 region: torch.Tensor) -> Tuple[Optional[float], float]:
    """``(r, z)`` of one image's ``(H, W)`` mask and feature energy over the
    pixels where ``region >= 0``: their Pearson correlation (None if either
    is constant there) and the energy's mean inside (region 1) minus outside
    (region 0), over its standard deviation (0 if constant).

    Example:
        >>> region = torch.tensor([[1., 0.], [0., -1.]])
        >>> e = torch.tensor([[3., 1.], [1., 9.]])
        >>> r, z = energy_stats(-e, e, region)
        >>> round(r, 6), round(z, 3)
        (-1.0, 1.732)
    """
    valid = region >= 0
    g, e = mask[valid].double(), energy[valid].double()
    g, e = g - g.mean(), e - e.mean()
    den = float(g.norm() * e.norm())
    r = float((g * e).sum()) / den if den > 0 else None
    std = float(e.std())
    inside, outside = energy[region == 1], energy[region == 0]
    if std == 0 or not len(inside) or not len(outside):
        return r, 0.0
    return r, (float(inside.mean()) - float(outside.mean())) / std


def _gate_energies(r2dns: torch.nn.Module, out: List[torch.Tensor]):
    """Hook ``r2dns.gate`` to append the RMS over channels of every tensor
    it gates, ``(B, 1, *size)``, before the (maybe in-place) gating."""
    def hook(module, args):
        out.append(args[0].float().pow(2).mean(1, keepdim=True).sqrt())
    return r2dns.gate.register_forward_pre_hook(hook)


@torch.no_grad()
def measure(cfg: Config, checkpoint: Optional[str] = None,
            max_images: Optional[int] = None) -> Dict[str, object]:
    """Per ``(stage, flow)``: the mean ANAR mask inside and outside the
    ground-truth boxes, pixel-weighted over the val images."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner, load_checkpoint

    import td_plugins  # noqa: F401  (safe checkpoint loading, registry)
    cfg = cfg.copy()
    cfg.work_dir = cfg.get('work_dir') or '/tmp/anar_contrast'
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset.dataset   # a dataset wrapper
    dataset.pipeline = annotations_first(list(dataset.pipeline))
    scope = cfg.get('default_scope', 'mmdet')
    with DefaultScope.overwrite_default_scope(scope):
        runner = Runner.from_cfg(cfg)
    model = runner.model
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    else:
        model.init_weights()
    model.eval()
    modules = _r2dns_modules(model)
    if not modules:
        raise ValueError(f'{cfg.filename} has no R2DNS (TDAF) module')
    energies: List[List[torch.Tensor]] = [[] for _ in modules]
    for m, found in zip(modules, energies):
        m.record_attention = True
        _gate_energies(m, found)
    sums: Dict[tuple, List[float]] = {}
    follows: Dict[tuple, List[List[float]]] = {}
    images = 0
    for batch in runner.test_dataloader:
        data = model.data_preprocessor(batch, False)
        inputs, samples = data['inputs'], data['data_samples']
        for found in energies:
            found.clear()
        model.extract_feat(inputs)
        h, w = inputs.shape[-2:]
        boxes = [box_mask(s.gt_instances.bboxes, h, w, s.img_shape)
                 for s in samples]
        for m, found in zip(modules, energies):
            masks = recorded_masks(m)
            if len(found) != len(masks):
                raise RuntimeError(f'{len(masks)} ANAR masks but '
                                   f'{len(found)} gated tensors')
            for (stage, flow, g), e in zip(masks, found):
                g, e = (F.interpolate(t.float(), size=(h, w),
                                      mode='bilinear', align_corners=False)
                        for t in (g, e))
                accumulate(sums.setdefault((stage, flow), [0.0] * 4), g,
                           boxes)
                rz = follows.setdefault((stage, flow), [[], []])
                for gi, ei, region in zip(g[:, 0], e[:, 0], boxes):
                    r, z = energy_stats(gi, ei, region)
                    if r is not None:
                        rz[0].append(r)
                    rz[1].append(z)
        images += len(samples)
        if max_images and images >= max_images:
            break
    rows = []
    for (stage, flow), (si, ni, so, no) in sorted(sums.items()):
        inside, outside = si / max(ni, 1), so / max(no, 1)
        rs, zs = follows[(stage, flow)]
        rows.append(dict(stage=stage, flow=flow, inside=inside,
                         outside=outside, contrast=inside - outside,
                         r=sum(rs) / len(rs) if rs else None,
                         energy=sum(zs) / len(zs)))
    per_flow = {}
    for flow in sorted({r['flow'] for r in rows}):
        sel = [r for r in rows if r['flow'] == flow]
        per_flow[str(flow)] = dict(
            inside=sum(r['inside'] for r in sel) / len(sel),
            outside=sum(r['outside'] for r in sel) / len(sel),
            contrast=sum(r['contrast'] for r in sel) / len(sel))
    return dict(images=images, rows=rows, per_flow=per_flow)


def format_table(result: Dict[str, object]) -> str:
    lines = [f'ANAR mask inside vs outside the ground-truth boxes '
             f'({result["images"]} val images)',
             f'  {"stage":>5} {"flow":>4} {"inside":>8} {"outside":>8} '
             f'{"contrast":>9} {"r":>7} {"energy":>7}']
    for r in result['rows']:
        corr = '-' if r['r'] is None else f'{r["r"]:+.3f}'
        lines.append(f'  {r["stage"]:>5} {r["flow"]:>4} {r["inside"]:>8.3f} '
                     f'{r["outside"]:>8.3f} {r["contrast"]:>+9.3f} '
                     f'{corr:>7} {r["energy"]:>+7.3f}')
    for flow, r in result['per_flow'].items():
        lines.append(f'  {"mean":>5} {flow:>4} {r["inside"]:>8.3f} '
                     f'{r["outside"]:>8.3f} {r["contrast"]:>+9.3f}')
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--out', default=None, help='write the rows as JSON')
    parser.add_argument('--max-images', type=int, default=None)
    parser.add_argument('--work-dir', default='/tmp/anar_contrast')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    result = measure(cfg, args.checkpoint, args.max_images)
    print(format_table(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == '__main__':
    sys.exit(main())
