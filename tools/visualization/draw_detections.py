"""Draw a detector's boxes beside the ground truth on val images, with
mmdet's own ``DetLocalVisualizer`` (ground truth left, predictions right).

The images and their ground truth come from the config's ``test_dataloader``
dataset (a COCO-style annotation file); the predictions from
``mmdet.apis.inference_detector`` with the checkpoint. ``--per-object``
draws, instead of the boxes above ``--score-thr``, each image's N
highest-scoring boxes for its N ground-truth objects (a briefly trained
detector's scores can all lie below a usual threshold).

Usage: python tools/visualization/draw_detections.py CONFIG CHECKPOINT
       [--out-dir DIR] [--num-images N] [--score-thr T] [--per-object]
"""
import argparse
import sys
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[2]


def draw(config: str, checkpoint: str, out_dir: str, num_images: int = 4,
         score_thr: float = 0.3, per_object: bool = False) -> List[str]:
    """Write ``num_images`` pictures to ``out_dir``; return their paths."""
    import mmcv
    import torch
    from mmdet.apis import inference_detector, init_detector
    from mmdet.registry import DATASETS, VISUALIZERS
    from mmdet.structures import DetDataSample
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData

    import td_plugins  # noqa: F401  (registry, safe checkpoint loading)
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = init_detector(cfg, checkpoint, device='cpu')
    dataset_cfg = cfg.test_dataloader.dataset.copy()
    dataset_cfg.pipeline = []  # raw annotations, original coordinates
    dataset = DATASETS.build(dataset_cfg)
    visualizer = VISUALIZERS.build(dict(type='DetLocalVisualizer',
                                        name='td_plugins_draw_detections'))
    visualizer.dataset_meta = model.dataset_meta
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for idx in range(min(num_images, len(dataset))):
        info = dataset[idx]
        image = mmcv.imread(info['img_path'], channel_order='rgb')
        result: DetDataSample = inference_detector(model, info['img_path'])
        gt = InstanceData()
        gt.bboxes = torch.tensor([i['bbox'] for i in info['instances']],
                                 dtype=torch.float32).reshape(-1, 4)
        gt.labels = torch.tensor([i['bbox_label'] for i in info['instances']],
                                 dtype=torch.long)
        result.gt_instances = gt
        thr = score_thr
        if per_object:
            pred = result.pred_instances
            order = pred.scores.argsort(descending=True)[:len(gt)]
            result.pred_instances = pred[order]
            thr = 0.0
        path = out / f'{Path(info["img_path"]).stem}.png'
        visualizer.add_datasample(path.stem, image, result, draw_gt=True,
                                  draw_pred=True, pred_score_thr=thr,
                                  out_file=str(path))
        written.append(str(path))
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-dir', default='work_dirs/detections')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--per-object', action='store_true',
                        help='the N best boxes for N ground-truth objects')
    args = parser.parse_args(argv)
    for path in draw(args.config, args.checkpoint, args.out_dir,
                     args.num_images, args.score_thr, args.per_object):
        print(path)


if __name__ == '__main__':
    sys.exit(main())
