"""One ``tools/train.py`` / ``tools/test.py`` for the four OpenMMLab codebases.

The four upstream ``tools/train.py`` scripts differ only in a few
codebase-specific touches. The config's ``default_scope`` names the
codebase, and the touches are applied from that:

* ``mmdet``: the torch.compile cache limit mmdet sets before training;
* ``mmpretrain``: dataloaders get ``collate_fn=dict(type='default_collate')``
  when they have none (mmpretrain's dataset bases leave it to its launcher);
* ``mmaction``: ``--seed`` and ``--deterministic`` fill ``randomness``;
* ``mmpose``: nothing beyond the common flags.

Distributed training on machines without CUDA: mmengine's ``pytorch``
launcher calls ``torch.cuda.set_device`` and wraps the model with
``device_ids=[LOCAL_RANK]``, both of which fail on the CPU. When CUDA is not
available, :func:`setup_distributed` joins the process group with the
``gloo`` backend itself and the model wrapper gets ``device_ids=None``.
"""
import argparse
import json
import os
import os.path as osp
from typing import Any, Dict, Optional, Sequence

from mmengine.config import Config, ConfigDict, DictAction

__all__ = ['SCOPES', 'build_train_parser', 'build_test_parser',
           'get_scope', 'prepare_train_cfg', 'prepare_test_cfg',
           'setup_distributed', 'teardown_distributed', 'build_runner']

SCOPES = ('mmdet', 'mmpose', 'mmaction', 'mmpretrain')
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--work-dir', help='the directory for logs and checkpoints '
        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. train_cfg.max_iters=10')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='job launcher')
    # torch.distributed.launch passes --local_rank, torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def build_train_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tools/train.py`` (mmdet's flags)."""
    parser = argparse.ArgumentParser(
        description='Train a model of any of mmdet, mmpose, mmaction2 and '
        'mmpretrain (picked by the config\'s default_scope).')
    _add_common(parser)
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or without a value from the '
        'latest checkpoint in the work dir')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate during training')
    parser.add_argument('--seed', type=int, default=None,
                        help='random seed')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic cuDNN / algorithms')
    return parser


def build_test_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tools/test.py``."""
    parser = argparse.ArgumentParser(
        description='Evaluate a checkpoint with the codebase\'s own metric.')
    _add_common(parser)
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the raw predictions to this '
                        '.pkl file')
    parser.add_argument(
        '--metrics-out', help='write the metrics to this JSON file '
        '(default: <work dir>/test_metrics.json)')
    parser.add_argument(
        '--tta', action='store_true', help='test-time augmentation: wrap '
        'the model in the config\'s tta_model and test with its '
        'tta_pipeline (as the upstream test scripts do)')
    return parser


def get_scope(cfg: Config) -> str:
    """The codebase a config belongs to, from its ``default_scope``."""
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(
            f'default_scope must be one of {SCOPES} (inherit a base config of '
            f'that codebase), got {scope!r}')
    return scope


def _set_work_dir(cfg: Config, work_dir: Optional[str], config: str) -> None:
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])


def _load_cfg(args: argparse.Namespace) -> Config:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    _set_work_dir(cfg, args.work_dir, args.config)
    return cfg


def _enable_amp(cfg: Config) -> None:
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper':
        return
    if wrapper != 'OptimWrapper':
        raise ValueError(
            f'--amp needs optim_wrapper.type "OptimWrapper" or '
            f'"AmpOptimWrapper", got {wrapper!r}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def _disable_validation(cfg: Config) -> None:
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None


def _mmpretrain_dataloader_defaults(cfg: Config) -> None:
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader is None:
            continue
        loader.setdefault('collate_fn', dict(type='default_collate'))
        if loader.get('num_workers', 0) > 0:
            loader.setdefault('persistent_workers', True)


def prepare_train_cfg(args: argparse.Namespace) -> Config:
    """Load the config and apply the command line and the codebase touches."""
    cfg = _load_cfg(args)
    scope = get_scope(cfg)
    if args.amp:
        _enable_amp(cfg)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in \
                cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr.'
                             'base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        _disable_validation(cfg)
    if args.seed is not None or args.deterministic:
        randomness = cfg.get('randomness') or {}
        if args.seed is not None:
            randomness['seed'] = args.seed
        if args.deterministic:
            randomness['deterministic'] = True
        cfg.randomness = randomness
    if scope == 'mmpretrain':
        _mmpretrain_dataloader_defaults(cfg)
    elif scope == 'mmdet':
        from mmdet.utils import setup_cache_size_limit_of_dynamo
        setup_cache_size_limit_of_dynamo()
    return cfg


def prepare_test_cfg(args: argparse.Namespace) -> Config:
    """Load the config for evaluating ``args.checkpoint``."""
    cfg = _load_cfg(args)
    scope = get_scope(cfg)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if scope == 'mmpretrain':
        _mmpretrain_dataloader_defaults(cfg)
    if args.tta:
        _enable_tta(cfg)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must end with .pkl, got {args.out!r}')
        dump = ConfigDict(type='DumpResults', out_file_path=args.out)
        evaluator = cfg.test_evaluator
        if isinstance(evaluator, (list, tuple)):
            cfg.test_evaluator = list(evaluator) + [dump]
        elif isinstance(evaluator, dict) and 'metrics' in evaluator:
            evaluator.metrics = list(evaluator.metrics) + [dump]
        else:
            cfg.test_evaluator = [evaluator, dump]
    return cfg


def _enable_tta(cfg: Config) -> None:
    """``--tta``: the model inside ``tta_model``, ``tta_pipeline`` as the
    test pipeline; both must be in the config."""
    missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
    if missing:
        raise ValueError(f'--tta needs {missing} in the config')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def setup_distributed(cfg: Config) -> None:
    """Join the process group for CPU-only distributed runs (gloo).

    mmengine's own ``init_dist`` is used whenever CUDA is available.
    """
    import torch
    import torch.distributed as dist
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise ValueError(
            f'without CUDA only launcher "pytorch" (torchrun) is supported, '
            f'got {cfg.launcher!r}')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    env_cfg.setdefault('dist_cfg', ConfigDict())
    env_cfg.dist_cfg.backend = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def teardown_distributed() -> None:
    """Leave the process group cleanly once the work is done.

    Without this, a gloo process can still have communication threads alive
    at interpreter shutdown and abort ("terminate called without an active
    exception") after its work has finished.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def build_runner(cfg: Config) -> Any:
    """Build the runner the way the four upstream launchers do."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    import td_plugins  # noqa: F401  (allow-listed checkpoint loading)
    setup_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def run_train(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of ``tools/train.py``."""
    args = build_train_parser().parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    runner = build_runner(prepare_train_cfg(args))
    runner.train()
    del runner  # free the DDP wrapper before its process group goes
    teardown_distributed()


def run_test(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Entry point of ``tools/test.py``; returns and writes the metrics."""
    args = build_test_parser().parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = prepare_test_cfg(args)
    runner = build_runner(cfg)
    metrics = runner.test()
    from mmengine.dist import is_main_process
    if is_main_process():
        path = args.metrics_out or osp.join(cfg.work_dir, 'test_metrics.json')
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with open(path, 'w') as f:
            json.dump({k: _jsonable(v) for k, v in metrics.items()}, f,
                      indent=2)
        print(f'td_plugins: test metrics written to {path}')
    del runner  # free the DDP wrapper before its process group goes
    teardown_distributed()
    return metrics


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return float(value) if hasattr(value, '__float__') else str(value)
