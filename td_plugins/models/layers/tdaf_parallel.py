"""Running one stage's TDAF flows concurrently (threads or CUDA streams).

Pang et al., "TDAF" (AAAI 2021), section 4, "On Time Overhead": "only the
ANAR parts cannot be paralleled, while the multiple backbone flows can"; at
each stage the flows' stage computations are independent once the previous
stage's gates exist (docs/tdaf.md, "Flows in parallel").
"""
import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from .tdaf_flow import Chain, run_flow

__all__ = ['FLOW_PARALLEL_MODES', 'check_flow_parallel', 'run_flows',
           'thread_plan']

FLOW_PARALLEL_MODES = ('serial', 'threads', 'streams')

_POOL_LOCK = threading.Lock()
_POOL: Optional[ThreadPoolExecutor] = None
_POOL_SIZE = 0
_STREAMS: Dict[int, List[Any]] = {}


def check_flow_parallel(mode: str) -> None:
    """Refuse an unknown ``flow_parallel`` mode."""
    if mode not in FLOW_PARALLEL_MODES:
        raise ValueError(f'flow_parallel must be one of '
                         f'{FLOW_PARALLEL_MODES}, got {mode!r}')


def thread_plan(weights: Sequence[int], threads: int
                ) -> Tuple[List[Tuple[List[int], int]], int]:
    """Split ``threads`` intra-op threads over flows of work ``weights``.

    The last (largest) flow stays on the calling thread. Each other flow
    gets a worker with its share of the threads (at least one); if that
    needs more threads than there are, consecutive flows share a worker
    until their share reaches one thread.

    Args:
        weights (Sequence[int]): Work per flow (input elements), ascending.
        threads (int): The caller's intra-op thread count.

    Returns:
        ``([(flow indices, threads), ...] for the workers, caller threads)``.

    Example:
        >>> thread_plan([1, 4, 16], 16)
        ([([0], 1), ([1], 3)], 12)
        >>> thread_plan([1, 4, 16], 2)
        ([([0, 1], 1)], 1)
    """
    total = float(sum(weights)) or 1.0
    shares = [threads * w / total for w in weights[:-1]]
    own = [max(1, round(share)) for share in shares]
    if sum(own) < threads:
        groups = [([k], n) for k, n in enumerate(own)]
        return groups, threads - sum(own)
    groups: List[Tuple[List[int], int]] = []
    group: List[int] = []
    acc = 0.0
    for k, share in enumerate(shares):
        group.append(k)
        acc += share
        if acc >= 1.0:
            groups.append((group, int(acc)))
            group, acc = [], 0.0
    if group:
        groups.append((group, 1))
    return groups, max(1, threads - sum(n for _, n in groups))


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < workers:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(workers, 'tdaf-flow')
            _POOL_SIZE = workers
        return _POOL


def _caller_state() -> Dict[str, Any]:
    """The thread-local autograd and autocast state a worker must copy."""
    autocast = {}
    for dev in ('cpu', 'cuda'):
        if torch.is_autocast_enabled(dev):
            autocast[dev] = torch.get_autocast_dtype(dev)
    return dict(grad=torch.is_grad_enabled(),
                inference=torch.is_inference_mode_enabled(),
                autocast=autocast)


@contextlib.contextmanager
def _as_caller(state: Dict[str, Any]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        if state['inference']:
            stack.enter_context(torch.inference_mode())
        stack.enter_context(torch.set_grad_enabled(state['grad']))
        for dev, dtype in state['autocast'].items():
            stack.enter_context(torch.autocast(dev, dtype=dtype))
        yield


def _set_threads(n: int) -> None:
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _worker(chain: Chain, xs: Dict[int, torch.Tensor], flows: List[int],
            threads: int, state: Dict[str, Any]) -> Dict[int, torch.Tensor]:
    _set_threads(threads)
    with _as_caller(state):
        return {k: run_flow(chain, xs[k], k) for k in flows}


def _run_threads(chain: Chain, xs: Dict[int, torch.Tensor]
                 ) -> Dict[int, torch.Tensor]:
    flows = sorted(xs)
    caller = torch.get_num_threads()
    groups, own = thread_plan([xs[k].numel() for k in flows], caller)
    pool = _pool(len(groups))
    state = _caller_state()
    futures: List[Future] = [
        pool.submit(_worker, chain, xs, [flows[i] for i in group], n, state)
        for group, n in groups]
    out: Dict[int, torch.Tensor] = {}
    try:
        _set_threads(own)
        out[flows[-1]] = run_flow(chain, xs[flows[-1]], flows[-1])
    finally:
        _set_threads(caller)
        for f in futures:  # wait for all, even when one failed
            f.exception()
    for f in futures:
        out.update(f.result())
    return out


def _side_streams(device: torch.device, count: int) -> List[Any]:
    index = device.index if device.index is not None else \
        torch.cuda.current_device()
    streams = _STREAMS.setdefault(index, [])
    while len(streams) < count:
        streams.append(torch.cuda.Stream(device=index))
    return streams[:count]


def _run_streams(chain: Chain, xs: Dict[int, torch.Tensor]
                 ) -> Dict[int, torch.Tensor]:
    flows = sorted(xs)
    last = flows[-1]
    device = xs[last].device
    main = torch.cuda.current_stream(device)
    out: Dict[int, torch.Tensor] = {}
    side = _side_streams(device, len(flows) - 1)
    for stream, k in zip(side, flows[:-1]):
        stream.wait_stream(main)
        with torch.cuda.stream(stream):
            xs[k].record_stream(stream)  # made on main, read on stream
            out[k] = run_flow(chain, xs[k], k)
    out[last] = run_flow(chain, xs[last], last)
    for stream, k in zip(side, flows[:-1]):
        main.wait_stream(stream)
        out[k].record_stream(main)  # made on stream, read on main
    return out


def _must_serialise(mode: str, xs: Dict[int, torch.Tensor],
                    sync_bn: bool) -> bool:
    if mode == 'serial' or len(xs) < 2 or sync_bn:
        return True
    if torch.compiler.is_compiling() or torch.jit.is_scripting():
        return True
    is_cuda = next(iter(xs.values())).is_cuda
    if mode == 'streams':
        return not is_cuda or torch.cuda.is_current_stream_capturing()
    return is_cuda  # threads: CPU tensors only


def run_flows(chain: Chain, xs: Dict[int, torch.Tensor], mode: str,
              sync_bn: bool = False) -> Dict[int, torch.Tensor]:
    """``{k: run_flow(chain, xs[k], k)}``, the flows run as ``mode`` says.

    Args:
        chain: The stage (or stem), a chain for ``run_flow``.
        xs (dict): Flow index -> that flow's input; the largest flow last.
        mode (str): ``'serial'``, ``'threads'`` (CPU tensors) or
            ``'streams'`` (CUDA tensors); other cases run serially.
        sync_bn (bool): A synchronised BN in the chain may communicate
            (its collectives must keep one order on every rank): serial.

    Example:
        >>> from .tdaf_flow import FlowFn
        >>> xs = {0: torch.ones(1), 1: torch.ones(4)}
        >>> out = run_flows(FlowFn(lambda x, k: x * k), xs, 'threads')
        >>> out[1].tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    if _must_serialise(mode, xs, sync_bn):
        return {k: run_flow(chain, xs[k], k) for k in sorted(xs)}
    if mode == 'threads':
        return _run_threads(chain, xs)
    return _run_streams(chain, xs)
