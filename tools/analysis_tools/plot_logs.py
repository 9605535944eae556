"""Loss and metric curves of a training run, from mmengine's json log, to PNG.

    python tools/analysis_tools/plot_logs.py WORK_DIR_OR_JSON [...] \\
        [--keys loss coco/bbox_mAP ...] [--out curves.png] [--run TIMESTAMP]

Input: a work_dir, a run folder (``<work_dir>/<timestamp>``) or json log
files. mmengine's ``LoggerHook`` writes one json line per logging interval to
``<work_dir>/<timestamp>/vis_data/<timestamp>.json`` (the same lines go to
``vis_data/scalars.json``): training lines carry ``step`` (the global
iteration), ``loss*``, ``lr``, ``time`` ...; validation lines carry the
metrics (``coco/bbox_mAP``, ``accuracy/top1``, ...). For a work_dir the
latest run whose log has a ``loss`` is plotted (``--run`` picks another),
together with the earlier runs it resumed from (an earlier run is joined
when its last step is before the latest run's first one).

Output: one panel per key, the losses (and ``lr`` etc.) against the
iteration, each metric against the iteration at which that validation ran
(the step of the training line before it); several inputs are drawn as one
line each in every panel. Default keys: every key containing ``loss``, then
every metric key (a key with a ``/``) found in the log. The PNG is
``ncols * 4`` by ``nrows * 3`` inches at ``--dpi`` (default 100), drawn with
matplotlib's Agg backend (no display needed).

Why not the stock ``analyze_logs.py``: mmdet, mmpretrain, mmpose and
mmaction each ship one inside the wheel (``<pkg>/.mim/tools/analysis_tools/``,
meant for ``mim run``, which is not installed here; the scripts run by path):

* mmdet's, mmpose's and mmaction's import ``seaborn`` at the top, which
  the codebases do not require (mmdet lists it under its optional
  ``tracking`` extra only) and this environment lacks, so they fail before
  reading the log. mmdet's also strips the metric prefix (``coco/bbox_mAP``
  becomes ``bbox_mAP``) and buckets lines by an ``epoch`` key that
  iteration-based logs do not have.
* mmpretrain's runs, but draws every key into one axes (a loss near 1 and
  an accuracy near 100 on one y scale) and puts each validation result at
  its own ``step``, which mmengine's ``LoggerHook`` sets to the epoch by
  default (``log_metric_by_epoch=True``), i.e. to 0 in iteration-based
  loops such as the demo configs': all validation points at x = 0.
* all of them take json files only, so a work_dir with several runs (re-runs,
  a resumed run) has to be picked apart by hand.

This tool reads the lines as they are, for any codebase.
"""
from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ['find_logs', 'load_log', 'default_keys', 'plot_curves', 'main']

_RUN_DIR = re.compile(r'^\d{8}_\d{6}$')
# Bookkeeping keys of mmengine's training/validation lines, never plotted
# by default (each can still be asked for with --keys).
_NOT_METRICS = {'step', 'iter', 'epoch', 'lr', 'base_lr', 'time',
                'data_time', 'memory', 'eta', 'grad_norm'}

Series = Dict[str, Tuple[List[float], List[float]]]


def load_log(path: str | Path) -> List[dict]:
    """The dict lines of one json log (blank or broken lines skipped).

    Example:
        >>> load_log('work_dirs/demo/20250101_000000/vis_data/'
        ...          '20250101_000000.json')[0]  # doctest: +SKIP
        {'lr': 0.001, 'loss': 3.2, ..., 'iter': 10, 'step': 10}
    """
    records = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a killed run
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return records


def _run_log(run: Path) -> Optional[Path]:
    """The json log of one ``<timestamp>`` run folder, if any."""
    for cand in (run / 'vis_data' / f'{run.name}.json',
                 run / 'vis_data' / 'scalars.json', run / f'{run.name}.json'):
        if cand.is_file():
            return cand
    return None


def _is_train(records: List[dict]) -> bool:
    return any('loss' in r for r in records)


def _steps(records: List[dict]) -> List[float]:
    return [r['step'] for r in records if 'loss' in r and 'step' in r]


def find_logs(path: str | Path, run: Optional[str] = None) -> List[Path]:
    """The json logs to plot for one input, oldest first.

    A json file is returned as it is. A run folder gives its log. A work_dir
    gives the log of ``run`` if named, else of the latest run with training
    lines (else the latest run), preceded by the runs it resumed from.

    Raises:
        FileNotFoundError: If no log is found; the message says where it
            looked.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f'{path}: no such file or directory')
    if _RUN_DIR.match(path.name) and _run_log(path):
        return [_run_log(path)]
    runs = [(d, _run_log(d)) for d in sorted(path.iterdir())
            if d.is_dir() and _RUN_DIR.match(d.name)]
    runs = [(d, log) for d, log in runs if log is not None]
    if not runs:
        raise FileNotFoundError(
            f'{path}: no <timestamp>/vis_data/<timestamp>.json log in it '
            '(is it a work_dir of tools/train.py?)')
    if run is not None:
        names = [d.name for d, _ in runs]
        if run not in names:
            raise FileNotFoundError(f'{path}: no run {run!r}; runs: {names}')
        return [runs[names.index(run)][1]]
    train = [(d, log) for d, log in runs if _is_train(load_log(log))]
    if not train:
        return [runs[-1][1]]
    chain = [train[-1][1]]
    first = _steps(load_log(chain[0]))
    for _, log in reversed(train[:-1]):
        steps = _steps(load_log(log))
        if not (steps and first and max(steps) < min(first)):
            break
        chain.insert(0, log)
        first = steps
    return chain


def _is_metric(key: str) -> bool:
    return '/' in key and key not in _NOT_METRICS


def _number(value: object) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def extract_series(records: Sequence[dict]) -> Series:
    """Every numeric key's ``(x, y)``: training lines at their ``step``,
    validation lines (no ``loss``) at the step of the last training line
    before them (their own ``step`` if none came before).

    Example:
        >>> s = extract_series([{'loss': 2.0, 'step': 10},
        ...                     {'acc/top1': 50.0, 'step': 1}])
        >>> s['loss'], s['acc/top1']
        (([10.0], [2.0]), ([10.0], [50.0]))
    """
    series: Series = {}
    last_step: Optional[float] = None
    for i, rec in enumerate(records):
        own = _number(rec.get('step', rec.get('iter')))
        if 'loss' in rec or not any(_is_metric(k) for k in rec):
            x = own if own is not None else float(i + 1)
            last_step = x
        else:
            x = last_step if last_step is not None else (
                own if own is not None else float(i + 1))
        for key, value in rec.items():
            y = _number(value)
            if y is None or key in ('step', 'iter', 'epoch'):
                continue
            xs, ys = series.setdefault(key, ([], []))
            xs.append(x)
            ys.append(y)
    return series


def default_keys(series: Series) -> List[str]:
    """Keys containing ``loss`` (``loss`` first), then metric keys, each in
    the order they first appear."""
    losses = [k for k in series if 'loss' in k]
    losses.sort(key=lambda k: k != 'loss')
    return losses + [k for k in series if _is_metric(k) and k not in losses]


def plot_curves(inputs: Sequence[str | Path], out: str | Path,
                keys: Optional[Sequence[str]] = None,
                run: Optional[str] = None,
                dpi: int = 100, title: Optional[str] = None) -> Path:
    """Draw the curves of ``inputs`` (work_dirs, run folders, json logs) to
    a PNG.

    Args:
        inputs: One or more inputs; each is one line per panel.
        out: The PNG to write (parents created).
        keys: Keys to plot; default :func:`default_keys` of the first input
            (then of the others, for keys only they have).
        run: Run folder name to use in work_dirs (default: the latest
            training run).
        dpi: Dots per inch; the image is ``ncols * 4 * dpi`` by
            ``nrows * 3 * dpi`` pixels, 3 panels per row at most.
        title: Figure title. Defaults to the inputs' names.

    Returns:
        Path: ``out``.

    Raises:
        FileNotFoundError: An input has no log.
        ValueError: A requested key is in no log (the message lists the
            keys there are), or there is nothing to plot.

    Example:
        >>> plot_curves(['work_dirs/demo'], 'work_dirs/demo/loss.png')
        ...     # doctest: +SKIP
        PosixPath('work_dirs/demo/loss.png')
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if not inputs:
        raise ValueError('inputs must name at least one work_dir or log')
    if not isinstance(dpi, int) or dpi < 10:
        raise ValueError(f'dpi must be an int >= 10, got {dpi!r}')
    sources: List[Tuple[str, Series]] = []
    for inp in inputs:
        logs = find_logs(inp, run)
        records = [r for log in logs for r in load_log(log)]
        sources.append((Path(inp).name or str(inp), extract_series(records)))
    if keys:
        missing = [k for k in keys if not any(k in s for _, s in sources)]
        if missing:
            found = sorted({k for _, s in sources for k in s})
            raise ValueError(f'keys {missing} are in no log; keys found: '
                             f'{found}')
        keys = list(keys)
    else:
        keys = []
        for _, s in sources:
            keys += [k for k in default_keys(s) if k not in keys]
        if not keys:
            found = sorted({k for _, s in sources for k in s})
            raise ValueError('no loss or metric key in the log(s); keys '
                             f'found: {found} (choose some with --keys)')

    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows),
                             dpi=dpi, squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for name, s in sources:
            if key not in s:
                continue
            xs, ys = s[key]
            style = dict(marker='o', markersize=3) if _is_metric(key) or \
                len(xs) < 3 else {}
            ax.plot(xs, ys, linewidth=1.2, label=name, **style)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel('iteration', fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(sources) > 1:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis('off')
    fig.suptitle(title or ', '.join(name for name, _ in sources),
                 fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def main(argv: Optional[Sequence[str]] = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('inputs', nargs='+',
                        help='work_dir(s), run folder(s) or json log(s)')
    parser.add_argument('--keys', nargs='+', default=None,
                        help='keys to plot (default: losses and metrics)')
    parser.add_argument('--out', default='curves.png')
    parser.add_argument('--run', default=None,
                        help='run folder (timestamp) to use in a work_dir')
    parser.add_argument('--dpi', type=int, default=100)
    parser.add_argument('--title', default=None)
    args = parser.parse_args(argv)
    try:
        out = plot_curves(args.inputs, args.out, args.keys, args.run,
                          args.dpi, args.title)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    print(f'wrote {out}')
    return out


if __name__ == '__main__':
    main()
