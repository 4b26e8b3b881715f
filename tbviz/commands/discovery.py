"""Find the runs in a log directory and diagnose each one, without TensorFlow.

A run is a folder with ``train``/``validation`` event folders (Keras, tbviz),
with ``add_scalars`` event folders, or any other folder holding event files
(flat PyTorch layouts, Lightning's ``version_N``); see :mod:`tbviz.logdir.layouts`.
Folders whose name starts with ``_`` (tbviz's own ``_compare``) are skipped.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import warnings
from collections.abc import Callable, Iterator

from tbviz.core.diagnosis import diagnose
from tbviz.core.results import RunResult
from tbviz.errors import LogDirError
from tbviz.logdir import metadata, storage
from tbviz.logdir.layouts import ADD_SCALARS_FOLDER, KERAS_SPLITS, TagMapping, is_split_folder
from tbviz.logdir.reader import CorruptEventFile, event_files, join_path, read_run


def find_runs(logdir: str) -> Iterator[str]:
    """Run names (paths relative to ``logdir``, ``/``-separated; ``.`` for ``logdir``
    itself), sorted. A run is a folder with ``train``/``validation`` event
    folders (Keras), with ``<Tag>_<split>`` event folders (``add_scalars``), or
    any other folder holding event files (flat layouts, Lightning's
    ``version_N``). Folders starting with ``_`` (``_compare``) are skipped."""
    if not storage.isdir(logdir):
        raise LogDirError(f"log directory {logdir!r} does not exist")
    tree = _event_tree(logdir)
    runs, claimed = set(), set()
    hidden = {rel for rel in tree if any(p.startswith("_") for p in rel.split("/"))}
    for rel, (has_events, subfolders) in sorted(tree.items()):
        if rel in hidden:
            continue
        children = [s for s in subfolders if tree.get(_rel(rel, s), (False, []))[0]]
        splits = [c for c in children if is_split_folder(c)]
        keras = splits and all(c in KERAS_SPLITS for c in splits)
        parent = rel.rpartition("/")[0] or "."
        nested = splits and not has_events and rel != "." and tree.get(parent, (False,))[0]
        if nested and (not keras or len(splits) < 2 or parent in runs):
            # tensorboardX's add_scalars: <run>/<Tag>/<split>, the run is the parent
            runs.add(parent)
            claimed.update([rel, *(_rel(rel, c) for c in splits)])
        elif keras:
            runs.add(rel)
            claimed.update(_rel(rel, c) for c in splits)
        else:
            scalars = [c for c in children if ADD_SCALARS_FOLDER.match(c)]
            if len(scalars) >= 2 or (scalars and not has_events):
                runs.add(rel)
                claimed.update(_rel(rel, c) for c in scalars)
    for rel, (has_events, _) in tree.items():
        if has_events and rel not in claimed and rel not in hidden:
            runs.add(rel)
    yield from sorted(runs)


def _rel(parent: str, child: str) -> str:
    return child if parent == "." else f"{parent}/{child}"


def _event_tree(logdir: str) -> dict[str, tuple[bool, list[str]]]:
    """relative folder -> (holds event files, sub-folder names), for the whole tree."""
    tree: dict[str, tuple[bool, list[str]]] = {}
    if not storage.is_url(logdir):
        for folder, subfolders, files in os.walk(logdir):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            rel = os.path.relpath(folder, logdir).replace(os.sep, "/")
            tree[rel] = (any("tfevents" in f for f in files), list(subfolders))
        return tree
    base = logdir.rstrip("/")
    folders = [f.rstrip("/") for f in storage.walk_dirs(base)]
    for folder in folders:
        rel = folder[len(base) :].strip("/") or "."
        tree[rel] = (bool(event_files(folder)), [])
    for rel in list(tree):
        if rel != ".":
            parent, _, name = rel.rpartition("/")
            tree[parent or "."][1].append(name)
    return tree


def select_runs(logdir: str, runs: str | None = None) -> list[str]:
    """The runs under ``logdir`` whose name matches the ``runs`` regex (all if None)."""
    pattern = re.compile(runs) if runs else None
    return [r for r in find_runs(logdir) if pattern is None or pattern.search(r)]


#: Below this many runs, worker processes cost more than they save.
PARALLEL_MIN_RUNS = 64


def diagnose_runs(
    logdir: str,
    runs: str | None = None,
    metric: str = "val_loss",
    *,
    mode: str = "auto",
    mapping: TagMapping | None = None,
    keep_history: bool = False,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    problems: list[str] | None = None,
) -> list[RunResult]:
    """Read and diagnose every run (matching the ``runs`` regex), best first.

    Runs are read one at a time; a result keeps the diagnosis and hparams
    (and the history, with ``keep_history``, for figures). What the user
    should hear (a run read in part, a folder whose tags pair into no curves,
    a run that cannot be read, naming the file) goes into ``problems`` when
    a list is given, else out as a ``RuntimeWarning``; the other runs are
    still read. ``progress(done, total)`` is called after each run.

    Raises:
        LogDirError: ``logdir`` does not exist.

    ``workers > 1`` reads big log directories (``PARALLEL_MIN_RUNS`` runs or
    more) in that many forked processes, each holding one run at a time.
    Only for single-threaded programs such as the ``tbviz`` command: forking
    a process that runs TensorFlow's threads is not safe.
    """
    names = select_runs(logdir, runs)
    read = functools.partial(
        _diagnose_run,
        logdir,
        metric=metric,
        mode=mode,
        mapping=mapping,
        keep_history=keep_history,
    )
    results = []
    with contextlib.ExitStack() as stack:
        pool = fork_pool(workers, len(names))
        if pool is not None:
            stack.enter_context(pool)
            outcomes = pool.map(read, names, chunksize=max(1, len(names) // (workers * 16)))
        else:
            outcomes = map(read, names)
        for done, (result, problem) in enumerate(outcomes, 1):
            if problem and problems is not None:
                problems.append(problem)
            elif problem:
                warnings.warn(problem, RuntimeWarning, stacklevel=2)
            if result is not None:
                results.append(result)
            if progress is not None:
                progress(done, len(names))
    return sorted(results, key=lambda r: r.sort_key)


def fork_pool(workers: int, runs: int):
    """A pool of up to ``workers`` forked processes for work on ``runs`` runs, or
    None: one worker, too few runs to pay for starting processes, or no fork here.

    Fork, not spawn: the children get the parent's imports and arguments for free.
    """
    import multiprocessing

    if workers < 2 or runs < PARALLEL_MIN_RUNS:
        return None
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    import concurrent.futures

    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork")
    )


def _diagnose_run(
    logdir: str,
    run: str,
    *,
    metric: str,
    mode: str,
    mapping: TagMapping | None,
    keep_history: bool,
) -> tuple[RunResult | None, str]:
    """One run's result, or None; and what the user should hear about it (a message,
    not a warning: this may run in a worker process, whose warnings nobody sees)."""
    try:
        data = read_run(
            join_path(logdir, run), tags={metadata.HPARAMS_SESSION_TAG}, mapping=mapping
        )
    except (CorruptEventFile, OSError) as err:
        return None, f"skipping run {run!r}: {err}"
    if data.history.last_epoch is None:
        return None, unpaired_message(run, data)
    result = RunResult(
        run,
        diagnose(data.history, metric, mode=mode, every_metric=False),
        hparams=data.hparams(),
        history=data.history if keep_history else None,
        problems=tuple(data.problems),
        layout=data.layout,
    )
    said = ""
    if data.problems:
        said = f"run {run!r} was read in part: " + "; ".join(data.problems)
    return result, said


def unpaired_message(run: str, data) -> str:
    """Why a folder with event files gave no run, and how to map its tags."""
    if data.problems:
        return f"skipping run {run!r}: " + "; ".join(data.problems)
    if not data.unmatched:
        return f"skipping {run!r}: its event files hold no scalars"
    shown = ", ".join(sorted(data.unmatched)[:8])
    more = f" and {len(data.unmatched) - 8} more" if len(data.unmatched) > 8 else ""
    return (
        f"skipping {run!r}: its scalars ({shown}{more}) name no training/validation split; "
        "map them with --train-tag/--val-tag, e.g. --train-tag '{metric}/ours' "
        "--val-tag '{metric}/holdout'"
    )
