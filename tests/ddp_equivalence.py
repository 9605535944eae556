"""DDP on several gloo processes vs one process with the whole batch.

A *case* is a function importable by ``'module:function'`` (a test module's
name works: pytest puts its folder on ``sys.path`` and spawned processes
inherit it) that returns a :class:`DDPCase`. The harness

* builds the model once per process from the case (same seed, same weights);
* single process: runs ``steps`` SGD steps, each on the whole global batch
  (``loss(model, 0, 1, step)``);
* ``world_size`` processes (gloo, CPU): wraps the model in
  ``DistributedDataParallel(find_unused_parameters=False,
  broadcast_buffers=False)``, as mmengine's wrapper does, and runs the same
  steps with ``loss(ddp_model, rank, world_size, step)`` on the rank's slice;
* compares every parameter and buffer of every rank with the single-process
  result and returns the largest relative difference.

Two steps are the default: DDP reports a parameter that got no gradient in
step 1 when step 2 starts, so an unused parameter fails the check.
"""
import importlib
import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

__all__ = ['DDPCase', 'ddp_equivalence', 'max_relative_difference',
           'spawn', 'TIMEOUT', 'free_port', 'init_gloo', 'leave_gloo']

# A rank that waits for a peer that died or never came fails after this
# long instead of hanging the test session (gloo's default is 30 minutes).
TIMEOUT = timedelta(seconds=180)


@dataclass
class DDPCase:
    """What a case function returns.

    Args:
        model: The model, built with a fixed seed.
        loss: ``(model, rank, world_size, step) -> scalar loss``; the loss
            must be the mean over the rank's slice of a global batch that
            depends only on ``step`` (so DDP's gradient averaging equals the
            whole batch's mean).
        lr: SGD learning rate. Defaults to 0.1.
    """
    model: nn.Module
    loss: Callable[[nn.Module, int, int, int], torch.Tensor]
    lr: float = 0.1


def _load_case(case: str) -> DDPCase:
    module, name = case.split(':')
    return getattr(importlib.import_module(module), name)()


def _train(case: DDPCase, model: nn.Module, rank: int, world_size: int,
           steps: int) -> Dict[str, torch.Tensor]:
    params = [p for p in case.model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=case.lr)
    for step in range(steps):
        opt.zero_grad()
        loss = case.loss(model, rank, world_size, step)
        loss.backward()
        opt.step()
    return {k: v.detach().clone() for k, v in
            case.model.state_dict(keep_vars=False).items()}


def init_gloo(rank: int, world_size: int, port: int) -> None:
    """Join a gloo group on 127.0.0.1:``port`` (one thread per rank)."""
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world_size,
                            timeout=TIMEOUT)


def leave_gloo() -> None:
    """Wait for every rank, then destroy the group.

    Call it once no ``DistributedDataParallel`` of the group is alive (build
    the wrapper in a function that has returned). A rank that destroys its
    group while a peer still communicates, or that frees a DDP wrapper after
    its group is gone, can hang in torch's C++ teardown (measured with torch
    2.13: the ``--dist-bn`` test hung at exit in 3 runs of 8).
    """
    dist.barrier()
    dist.destroy_process_group()


def _train_ddp(rank: int, world_size: int, case: str, steps: int,
               out_dir: str) -> None:
    spec = _load_case(case)
    ddp = nn.parallel.DistributedDataParallel(
        spec.model, find_unused_parameters=False, broadcast_buffers=False)
    state = _train(spec, ddp, rank, world_size, steps)
    torch.save(state, Path(out_dir) / f'rank{rank}.pth')


def _worker(rank: int, world_size: int, case: str, port: int, steps: int,
            out_dir: str) -> None:
    init_gloo(rank, world_size, port)
    _train_ddp(rank, world_size, case, steps, out_dir)
    leave_gloo()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def spawn(fn: Callable, args: tuple, nprocs: int,
          timeout: float = 2 * TIMEOUT.total_seconds()) -> None:
    """``torch.multiprocessing.spawn(fn, args, nprocs)`` that kills the
    processes and raises after ``timeout`` seconds instead of waiting
    forever."""
    ctx = mp.start_processes(fn, args=args, nprocs=nprocs, join=False,
                             start_method='spawn')
    deadline = time.monotonic() + timeout
    while not ctx.join(timeout=max(1.0, deadline - time.monotonic())):
        if time.monotonic() >= deadline:
            for proc in ctx.processes:
                if proc.is_alive():
                    proc.kill()
            raise TimeoutError(f'{fn.__name__} on {nprocs} processes did '
                               f'not finish in {timeout:.0f} s')


def max_relative_difference(a: Dict[str, torch.Tensor],
                            b: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """Per key, ``max|a - b| / max|b|`` (absolute where ``b`` is all 0)."""
    assert a.keys() == b.keys(), set(a) ^ set(b)
    out = {}
    for key in b:
        x, y = a[key].double(), b[key].double()
        scale = y.abs().max().item() if y.numel() else 0.0
        diff = (x - y).abs().max().item() if y.numel() else 0.0
        out[key] = diff / scale if scale > 0 else diff
    return out


def ddp_equivalence(case: str, tmp_path: Path, world_size: int = 2,
                    steps: int = 2,
                    changed: Optional[Callable[[Dict[str, torch.Tensor],
                                                Dict[str, torch.Tensor]],
                                               Any]] = None) -> float:
    """Run ``case`` both ways; return the largest relative difference.

    Args:
        case (str): ``'module:function'`` returning a :class:`DDPCase`.
        tmp_path (Path): Where the ranks write their results.
        world_size (int): Processes. Defaults to 2.
        steps (int): SGD steps. Defaults to 2.
        changed (callable, optional): ``(initial, final)`` state dicts of the
            single-process run, for the caller to assert that the step moved
            what it must (so an equality of two no-ops cannot pass).
    """
    torch.set_num_threads(1)
    spec = _load_case(case)
    initial = {k: v.detach().clone()
               for k, v in spec.model.state_dict().items()}
    single = _train(spec, spec.model, 0, 1, steps)
    if changed is not None:
        changed(initial, single)
    spawn(_worker, (world_size, case, free_port(), steps, str(tmp_path)),
          world_size)
    worst = 0.0
    for rank in range(world_size):
        state = torch.load(tmp_path / f'rank{rank}.pth', weights_only=True)
        diffs = max_relative_difference(state, single)
        key = max(diffs, key=diffs.get)
        worst = max(worst, diffs[key])
        print(f'rank {rank}: largest relative difference {diffs[key]:.3g} '
              f'({key})')
    return worst
