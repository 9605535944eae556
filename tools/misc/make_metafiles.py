"""Write the model-zoo metadata: ``configs/<method>/metafile.yml`` and
``model-index.yml``, in OpenMMLab's format (what ``mim search`` reads).

For every config directly in ``configs/tdam``, ``configs/tdaf``,
``configs/aw`` and ``configs/tnet`` (``_base_/`` and ``demo/`` are not
models of the zoo), and ``configs/fcos_tdaf_r50.py`` (TDAF), one entry:

* ``Name`` (the config's file name), ``In Collection`` (the method, whose
  ``Collections`` entry holds the paper's title and URL), ``Config``;
* ``Metadata``: ``Parameters`` and ``FLOPs`` of the built model, both
  computed here (FLOPs are multiply-accumulates, as in mmpretrain's
  metafiles, counted by :mod:`td_plugins.utils.flops` at the task's usual
  input, recorded as ``FLOPs Input Shape``: 224x224 classification (the
  config's evaluation crop or resize; CIFAR 32x32), a 1333x800 image padded
  as the config pads it for detection, 256x192 pose, one 16-frame
  validation clip for video); TDAM ResNets also get
  ``FLOPs All Tops Computed``, the official computation order the paper's
  FLOPs use (no parentheses in a key: ``mim search`` reads a key's last
  word as its unit when the key has a ``(``); ``Training Data``,
  ``Architecture``, ``Epochs``,
  ``Batch Size`` (GPUs x per-GPU batch, where the name says it);
* ``Results``: the numbers **the paper reports** for exactly that setting
  (each result says so in ``Source``; the model says it in
  ``Results Source``); left out where the paper has no number for it. No
  ``Weights``: no weights trained with td_plugins exist.

New configs are picked up automatically (their paper numbers only if the
table below knows the setting). Counting FLOPs runs each model once (on the
``meta`` device where it can, else on the CPU: the two-stage detectors take
about a minute each); the whole run takes a few minutes.

Usage: python tools/misc/make_metafiles.py [--methods tdam tdaf aw tnet]
       [--root REPO]
"""
import argparse
import copy
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

METHODS = ('tdam', 'tdaf', 'aw', 'tnet')
# Configs of a method that live outside its folder.
EXTRA_CONFIGS = {'tdaf': ('configs/fcos_tdaf_r50.py', )}

COLLECTIONS = {
    'tdam': dict(
        Name='TDAM',
        Paper=dict(Title='TDAM: Top-Down Attention Module for Contextually '
                   'Guided Feature Selection in CNNs',
                   URL='https://arxiv.org/abs/2111.13470'),
        README='docs/tdam.md'),
    'tdaf': dict(
        Name='TDAF',
        Paper=dict(Title='TDAF: Top-Down Attention Framework for Vision '
                   'Tasks', URL='https://arxiv.org/abs/2012.07248'),
        README='docs/tdaf.md'),
    'aw': dict(
        Name='AW-Conv',
        Paper=dict(Title='An Attention Module for Convolutional Neural '
                   'Networks', URL='https://arxiv.org/abs/2108.08205'),
        README='docs/aw.md'),
    'tnet': dict(
        Name='TNet',
        Paper=dict(Title='Hard-Attention for Scalable Image Classification',
                   URL='https://arxiv.org/abs/2102.10212'),
        README='docs/tnet.md'),
}

TASKS = {'mmpretrain': 'Image Classification',
         'mmdet': 'Object Detection',
         'mmpose': 'Body 2D Keypoint',
         'mmaction': 'Action Recognition'}


def _result(task: str, dataset: str, metrics: Dict[str, float],
            source: str) -> dict:
    return dict(Task=task, Dataset=dataset, Metrics=metrics,
                Source=f'paper: {source}')


def _cls(top1: float, top5: float, source: str,
         dataset: str = 'ImageNet-1k') -> dict:
    return _result('Image Classification', dataset,
                   {'Top 1 Accuracy': top1, 'Top 5 Accuracy': top5}, source)


def _from_error(top1_err: float, top5_err: float, source: str,
                dataset: str = 'ImageNet-1k') -> dict:
    """The AW paper prints errors; accuracy = 100 - error."""
    return _cls(round(100 - top1_err, 2), round(100 - top5_err, 2),
                source + ' (100 - the printed top-1/top-5 error)', dataset)


_TDAM_T1 = ('TDAM Table 1, single crop, the paper\'s any-of-T IoU-filtered '
            'protocol (tdam/any_step_iou_filtered/* here)')
_TDAF_T3 = 'TDAF Table 3a, 10-crop test'
_TDAF_T4 = 'TDAF Table 4, COCO val2017'
_AW_T1 = 'AW Table 1'


def _tdam_v1_v2(v1: tuple, v2: tuple) -> List[dict]:
    return [_cls(*v1, _TDAM_T1),
            _cls(*v2, _TDAM_T1, dataset='ImageNet-V2 (matched frequency)')]


def _fcos(ap: float, aps: float, apm: float, apl: float) -> List[dict]:
    return [_result('Object Detection', 'COCO',
                    {'box AP': ap, 'AP_S': aps, 'AP_M': apm, 'AP_L': apl},
                    _TDAF_T4)]


def _faster_rcnn(ap: float, ap50: float, ap75: float) -> List[dict]:
    return [_result('Object Detection', 'COCO',
                    {'box AP': ap, 'AP50': ap50, 'AP75': ap75},
                    'AW Table 3, COCO val2017')]


# The paper's numbers for exactly the setting of each config (by file name).
PAPER_RESULTS: Dict[str, List[dict]] = {
    # TDAM (ECCV 2022) Table 1: ImageNet-V1 and -V2 top-1/top-5.
    'tdam-joint-t2m1_resnet50_8xb64_in1k':
        _tdam_v1_v2((78.96, 94.19), (67.66, 87.02)),
    'tdam-top-t2m1_resnet50_8xb64_in1k':
        _tdam_v1_v2((78.82, 93.98), (67.21, 86.98)),
    'tdam-top-t2m3_resnet50_8xb64_in1k':
        _tdam_v1_v2((78.90, 94.23), (67.70, 87.08)),
    'tdam-joint-t2m1_resnet101_8xb64_in1k':
        _tdam_v1_v2((81.62, 95.76), (70.56, 89.44)),
    'tdam-joint-t2m1-l4_resnet101_8xb64_in1k':
        _tdam_v1_v2((81.12, 95.49), (70.28, 89.39)),
    # TDAF (AAAI 2021) Table 3a (ImageNet, ResNet-50), Table 4 (FCOS),
    # Table 5 (SimpleBaseline, ANAR-3 3F), Table 6 (3D-ResNet-50 ANAR-5 3F).
    'tdaf-r50-anar3-3f_8xb32_in1k': [_cls(78.4, 94.1, _TDAF_T3)],
    # the same model trained and tested with the paper's protocol (scale
    # augmentation [256, 480]; tools/test.py --tta for the 10-crop test)
    'tdaf-r50-anar3-3f_8xb32_in1k_paper-aug-10crop': [
        _cls(78.4, 94.1, _TDAF_T3 + ' (tools/test.py --tta)')],
    'tdaf-r50-anar5-3f_8xb32_in1k': [_cls(78.6, 94.3, _TDAF_T3)],
    'tdaf-r50-anar7-3f_8xb32_in1k': [_cls(78.8, 94.5, _TDAF_T3)],
    'tdaf-r50-anar3-4f_8xb32_in1k': [_cls(78.7, 94.4, _TDAF_T3)],
    'fcos_tdaf_r50': _fcos(39.6, 23.9, 43.4, 51.1),  # ANAR-3, 3F
    'fcos_tdaf-r50-anar5_fpn_gn-head_ms-640-800-2x_coco':
        _fcos(39.8, 24.0, 43.3, 51.2),
    'fcos_tdaf-r101_fpn_gn-head_ms-640-800-2x_coco':
        _fcos(42.0, 25.5, 46.4, 54.4),
    'td-hm_res50-tdaf-head_8xb64-210e_coco-256x192': [_result(
        'Body 2D Keypoint', 'COCO',
        {'AP (GT boxes)': 73.8, 'AP (Faster R-CNN boxes)': 71.3,
         'AP (YOLOv3 boxes)': 71.4},
        'TDAF Table 5, COCO val2017, percent')],
    'tdaf-resnet3d50-anar5-3f_8xb8-16x1x1-100e_kinetics400-rgb': [_result(
        'Action Recognition', 'Kinetics-400',
        {'Top 1 Accuracy': 67.5, 'Top 1 Accuracy (ImageNet-pretrained)':
         70.1}, 'TDAF Table 6 (from scratch, as this config; 70.1 with '
        'inflated ImageNet weights)')],
    # AW (ICANN 2021) Tables 1 (ImageNet) and 2 (CIFAR-100).
    'aw-resnet50_8xb32_in1k': [_from_error(23.38, 6.79, _AW_T1)],
    'aw-se-resnet50_8xb32_in1k': [_from_error(22.72, 6.47, _AW_T1)],
    'aw-cbam-maxpool-resnet50_8xb32_in1k': [
        _from_error(22.82, 6.41, _AW_T1)],
    'aw-cbam-spatial-resnet50_8xb32_in1k': [
        _from_error(23.20, 6.58, _AW_T1)],
    'aw-resnet101_8xb32_in1k': [_from_error(22.38, 6.21, _AW_T1)],
    'aw-resnet50_8xb16_cifar100': [
        _from_error(19.87, 4.76, 'AW Table 2', dataset='CIFAR-100')],
    # AW Table 3: Faster R-CNN, ResNet-101-FPN with AW-convolutions in
    # every FPN lateral and output conv (SE/CBAM right before them).
    'faster-rcnn_r101_aw-fpn_1x_coco': _faster_rcnn(37.76, 59.17, 40.91),
    'faster-rcnn_r101_aw-se-fpn_1x_coco': _faster_rcnn(38.45, 59.70, 41.86),
    'faster-rcnn_r101_aw-cbam-fpn_1x_coco':
        _faster_rcnn(38.19, 59.52, 41.43),
    # TNet (NeurIPS 2021) Table 1: the BagNet-77 baseline.
    'bagnet77_4xb16_in1k': [_cls(73.42, 91.1, 'TNet Table 1')],
}

# TNet's rows depend on how many locations are attended at test time:
# (dataset, input side, attended locations) -> (top-1, top-5, source).
TNET_RESULTS = {
    ('ImageNet-1k', 224, 0): (67.29, 87.38, 'TNet Table 1'),
    ('ImageNet-1k', 224, 1): (73.12, 90.56, 'TNet Table 1'),
    ('ImageNet-1k', 224, 2): (74.12, 91.18, 'TNet Table 1'),
    ('ImageNet-1k', 224, 3): (74.41, 91.4, 'TNet Table 1'),
    ('ImageNet-1k', 224, 5): (74.62, 91.35, 'TNet Table 1'),
    ('fMoW', 448, 0): (47.79, 81.14, 'TNet Table 2'),
    ('fMoW', 448, 1): (70.17, 90.99, 'TNet Table 2'),
    ('fMoW', 448, 2): (71.46, 91.58, 'TNet Table 2'),
    ('fMoW', 448, 3): (71.57, 91.72, 'TNet Table 2'),
    ('fMoW', 896, 4): (72.16, 91.98, 'TNet Table 2'),
    ('fMoW', 896, 6): (71.92, 91.83, 'TNet Table 2'),
}


def tnet_locations(model_cfg) -> Optional[int]:
    """Locations a TNet config attends at test time (levels after the
    first, each multiplying the count), or None for other models."""
    if str(model_cfg.get('type', '')).split('.')[-1] != 'TNet':
        return None
    test_cfg = model_cfg.get('test_cfg') or {}
    levels = test_cfg.get('num_levels', model_cfg.get('num_levels', 2))
    per_level = list(test_cfg.get('locations_per_level',
                                  model_cfg.get('locations_per_level', [])))
    total, running = 0, 1
    for k in per_level[:max(levels - 1, 0)]:
        running *= k
        total += running
    return total


def collect_configs(root: Path, method: str) -> List[Path]:
    """The zoo's configs of ``method``: ``configs/<method>/*.py``
    (sub-folders such as ``_base_`` and ``demo`` are left out), then those
    of :data:`EXTRA_CONFIGS` that exist."""
    folder = root / 'configs' / method
    extra = [root / p for p in EXTRA_CONFIGS.get(method, ())]
    return sorted(p for p in folder.glob('*.py') if p.is_file()) + [
        p for p in extra if p.is_file()]


def _dataset_name(cfg) -> str:
    loader = cfg.get('train_dataloader') or cfg.get('val_dataloader') or {}
    dataset = loader.get('dataset', {}) or {}
    while 'dataset' in dataset and 'type' in dataset and \
            'ann_file' not in dataset:
        dataset = dataset['dataset']
    text = ' '.join(str(dataset.get(k, '')) for k in
                    ('type', 'data_root', 'ann_file')).lower()
    for key, name in (('cifar100', 'CIFAR-100'), ('cifar', 'CIFAR-10'),
                      ('imagenet', 'ImageNet-1k'), ('fmow', 'fMoW'),
                      ('nabirds', 'NABirds'), ('cub', 'CUB-200-2011'),
                      ('kinetics', 'Kinetics-400'), ('coco', 'COCO')):
        if key in text:
            return name
    return str(dataset.get('type', 'unknown'))


def _epochs(cfg) -> dict:
    train_cfg = cfg.get('train_cfg') or {}
    if train_cfg.get('max_epochs'):
        return {'Epochs': int(train_cfg['max_epochs'])}
    if train_cfg.get('max_iters'):
        return {'Iterations': int(train_cfg['max_iters'])}
    return {}


def _batch_size(name: str) -> dict:
    """The total batch (GPUs x per-GPU batch) where the name says it."""
    match = re.search(r'(\d+)xb(\d+)', name)
    if match:
        return {'Batch Size': int(match.group(1)) * int(match.group(2))}
    return {}


def _architecture(model_cfg) -> List[str]:
    names = []
    for part in (model_cfg.get('backbone'), model_cfg):
        if part and part.get('type'):
            names.append(str(part['type']).split('.')[-1])
    head = model_cfg.get('head') or {}
    if 'TDAF' in str(head.get('type', '')):
        names.append(str(head['type']).split('.')[-1])
    return names


def model_entry(config: Path, root: Path, method: str) -> dict:
    """One ``Models`` entry: parameters and FLOPs computed from the built
    model, the paper's results where it has them."""
    from td_plugins.utils import load_config
    from td_plugins.utils.dummy_inputs import config_complexity
    cfg = load_config(str(config))
    name = config.stem
    result = config_complexity(cfg)
    shape = 'x'.join(str(s) for s in result.input_shape)
    dataset = _dataset_name(cfg)
    metadata = {
        'Training Data': dataset,
        'Architecture': _architecture(cfg.model),
        **_epochs(cfg), **_batch_size(name),
        'Parameters': int(result.params),
        'FLOPs': int(result.macs),
        'FLOPs Input Shape': shape,
    }
    if result.full_count_options:
        full = config_complexity(copy.deepcopy(cfg),
                                 cfg_options=result.full_count_options)
        if full.macs != result.macs:
            metadata['FLOPs All Tops Computed'] = int(full.macs)
    entry = {
        'Name': name,
        'In Collection': COLLECTIONS[method]['Name'],
        'Config': config.relative_to(root).as_posix(),
        'Metadata': metadata,
    }
    results = list(PAPER_RESULTS.get(name, []))
    locations = tnet_locations(cfg.model)
    if locations is not None:
        side = result.input_shape[-1]
        row = TNET_RESULTS.get((dataset, side, locations))
        if row:
            results.append(_cls(row[0], row[1], f'{row[2]}, {locations} '
                                f'attended locations', dataset=dataset))
    if results:
        entry['Results Source'] = ('the paper\'s reported numbers for this '
                                   'setting (no td_plugins-trained weights '
                                   'exist)')
        entry['Results'] = results
    return entry


HEADER = """\
# Generated by tools/misc/make_metafiles.py -- do not edit by hand.
# Parameters and FLOPs are computed from the built models
# (td_plugins.utils.flops; FLOPs are multiply-accumulates at "FLOPs Input
# Shape", convolutions + matrix products + element-wise attention products).
# Results are the PAPER's reported numbers for the same setting (see each
# result's Source); no weights trained with td_plugins exist yet.
"""


def write_metafile(root: Path, method: str, verbose: bool = True
                   ) -> Optional[Path]:
    """Write ``configs/<method>/metafile.yml``; None if there are no
    configs."""
    configs = collect_configs(root, method)
    if not configs:
        return None
    collection = dict(COLLECTIONS[method])
    if not (root / collection['README']).is_file():
        collection.pop('README')
    models = []
    for config in configs:
        if verbose:
            print(f'  {config.relative_to(root)}', flush=True)
        models.append(model_entry(config, root, method))
    data = {'Collections': [collection], 'Models': models}
    out = root / 'configs' / method / 'metafile.yml'
    out.write_text(HEADER + yaml.safe_dump(
        data, sort_keys=False, default_flow_style=False, width=79,
        allow_unicode=True))
    return out


def write_model_index(root: Path) -> Path:
    """``model-index.yml``: imports every ``configs/*/metafile.yml`` of the
    methods."""
    imports = [f'configs/{m}/metafile.yml' for m in METHODS
               if (root / 'configs' / m / 'metafile.yml').is_file()]
    out = root / 'model-index.yml'
    out.write_text('# Generated by tools/misc/make_metafiles.py.\n' +
                   yaml.safe_dump({'Import': imports}, sort_keys=False))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--methods', nargs='+', default=list(METHODS),
                        choices=METHODS)
    parser.add_argument('--root', default=str(REPO),
                        help='repository root (default: this checkout)')
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    for method in args.methods:
        print(f'configs/{method}:', flush=True)
        out = write_metafile(root, method)
        print(f'wrote {out.relative_to(root)}' if out else
              f'no configs in configs/{method}', flush=True)
    print(f'wrote {write_model_index(root).relative_to(root)}')


if __name__ == '__main__':
    main()
