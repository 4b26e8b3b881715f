"""Find the runs in a log directory and diagnose each one, without TensorFlow.

Which folders make a run is decided by :func:`tbviz.logdir.layouts.group_runs`,
the same rule the TensorBoard tab uses; tbviz's own ``_compare`` is not a run.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import re
import threading
import warnings
from collections.abc import Callable, Mapping

from tbviz.core.detector import DetectorSettings
from tbviz.core.diagnosis import diagnose
from tbviz.core.history import History, is_validation
from tbviz.core.results import RunResult
from tbviz.errors import LogDirError, NoRunMatchesError, UnknownMetricError
from tbviz.logdir import metadata, storage
from tbviz.logdir.layouts import Part, TagMapping, suggest_mapping
from tbviz.logdir.reader import (
    CorruptEventFile,
    group_logdir,
    join_path,
    read_run,
    scalar_curves,
)


def find_runs(logdir: str, problems: list[str] | None = None) -> dict[str, dict[str, Part]]:
    """Every run under ``logdir``: name (a path relative to it, ``/``-separated;
    ``.`` for ``logdir`` itself) -> its folders, relative to the run folder, and
    what each is to the run. Sorted by name. The folders are those TensorBoard
    lists (hidden ones and symbolic links included, ``_compare`` left out);
    :func:`tbviz.logdir.layouts.group_runs` puts them together into runs.
    Folders that cannot be listed are named in ``problems``.

    Raises:
        LogDirError: ``logdir`` does not exist or is a file.
    """
    if not storage.isdir(logdir):
        if storage.exists(logdir):
            hint = (
                "it is an event file: pass the folder that holds it"
                if "tfevents" in logdir.rsplit("/", 1)[-1]
                else "pass the folder you point TensorBoard at"
            )
            raise LogDirError(f"{logdir!r} is a file, not a log directory; {hint}")
        raise LogDirError(f"log directory {logdir!r} does not exist")
    grouped = group_logdir(logdir, problems)
    return {
        run: {_relative(folder, run): part for folder, part in parts.items()}
        for run, parts in sorted(grouped.items())
    }


def _relative(folder: str, run: str) -> str:
    if folder == run:
        return "."
    return folder if run == "." else folder[len(run) + 1 :]


def select_runs(
    logdir: str, runs: str | None = None, problems: list[str] | None = None
) -> dict[str, dict[str, Part]]:
    """The runs under ``logdir`` whose name matches the ``runs`` regex (all if None),
    as :func:`find_runs` gives them.

    Raises:
        NoRunMatchesError: there are runs, but the regex matches none of them (the
            message names a few, so the user sees what the names look like).
    """
    pattern = re.compile(runs) if runs else None
    found = find_runs(logdir, problems)
    chosen = {r: parts for r, parts in found.items() if pattern is None or pattern.search(r)}
    if found and not chosen:
        names = sorted(found)
        shown = ", ".join(repr(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")
        raise NoRunMatchesError(
            f"no run under {logdir} matches --runs {runs!r} (a regular expression searched "
            f"in each run's name); the {len(names)} runs there include {shown}"
        )
    return chosen


#: Below this many runs, worker processes cost more than they save.
PARALLEL_MIN_RUNS = 64


def diagnose_runs(
    logdir: str,
    runs: str | None = None,
    metric: str = "val_loss",
    *,
    mode: str = "auto",
    settings: DetectorSettings | None = None,
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
    ``settings`` are the detector's thresholds (None: the defaults).

    Raises:
        LogDirError: ``logdir`` does not exist.

    ``workers > 1`` reads big log directories (``PARALLEL_MIN_RUNS`` runs or
    more) in that many forked processes, each holding one run at a time, if
    this process runs no other thread (as the ``tbviz`` command does not);
    one that does, TensorFlow's say, reads them itself (see :func:`can_fork`).
    """
    listing: list[str] = []
    found = select_runs(logdir, runs, listing)
    for problem in listing:
        if problems is not None:
            problems.append(problem)
        else:
            warnings.warn(problem, RuntimeWarning, stacklevel=2)
    names = list(found.items())
    read = functools.partial(
        _diagnose_run,
        logdir,
        metric=metric,
        mode=mode,
        settings=settings,
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

    if workers < 2 or runs < PARALLEL_MIN_RUNS or not can_fork():
        return None
    import concurrent.futures

    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork")
    )


def can_fork() -> bool:
    """Whether this process may fork workers: the platform has ``fork`` and no
    other thread runs here. A thread that holds a lock as the process forks
    leaves the child waiting on it forever (a test process holding
    TensorFlow's threads did); such threads are not Python's, so the
    kernel's count is read where there is one."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1]) == 1
    except (OSError, ValueError):
        pass
    return threading.active_count() == 1


def _diagnose_run(
    logdir: str,
    named: tuple[str, dict[str, Part]],
    *,
    metric: str,
    mode: str,
    settings: DetectorSettings | None,
    mapping: TagMapping | None,
    keep_history: bool,
) -> tuple[RunResult | None, str]:
    """One run's result, or None; and what the user should hear about it (a message,
    not a warning: this may run in a worker process, whose warnings nobody sees)."""
    run, parts = named
    try:
        data = read_run(
            join_path(logdir, run),
            tags={metadata.HPARAMS_SESSION_TAG},
            mapping=mapping,
            parts=parts,
        )
    except (CorruptEventFile, OSError) as err:
        return None, f"skipping run {run!r}: {err}"
    if data.history.last_epoch is None:
        return None, unpaired_message(run, data)
    result = RunResult(
        run,
        diagnose(data.history, metric, mode=mode, settings=settings, every_metric=False),
        hparams=data.hparams(),
        history=data.history if keep_history else None,
        problems=tuple(data.problems),
        layout=data.layout,
        remarks=tuple(data.remarks),
        paired=tuple(data.history.paired()),
    )
    said = ""
    if data.problems:
        said = f"run {run!r} was read in part: " + "; ".join(data.problems)
    return result, said


def check_metric(results: list[RunResult], metric: str) -> str:
    """Raise :class:`UnknownMetricError` when no run has ``metric`` (naming the
    validation metrics the runs have, and the closest one); return a message
    naming the runs that lack it when only some do (else "")."""
    lacking = [r.run for r in results if r.diagnosis.status == "no-monitor"]
    found = {k for r in results for k in r.diagnosis.available}
    theirs = {
        k for r in results if r.diagnosis.status == "no-monitor" for k in r.diagnosis.available
    }
    return _metric_check(metric, len(results), lacking, found, theirs)


#: What a warning about runs lacking the metric tells the user to do.
_RANK_REMEDY = "rank them by one with --metric"
ANNOTATE_REMEDY = "not annotated: annotate them with --metric and one of those"


def check_metric_in(
    histories: Mapping[str, History], metric: str, remedy: str = _RANK_REMEDY
) -> tuple[str, list[str]]:
    """:func:`check_metric` over read histories (run -> History), before any diagnosis:
    ``annotate`` checks this before it writes anything. Returns the words and the
    runs that have validation metrics but not ``metric``."""
    lacking, found, theirs = [], set(), set()
    for run, history in histories.items():
        validation = {k for k in history if is_validation(k)}
        found |= validation
        if validation and metric not in history:
            lacking.append(run)
            theirs |= validation
    return _metric_check(metric, len(histories), lacking, found, theirs, remedy), lacking


def _metric_check(
    metric: str,
    runs: int,
    lacking: list[str],
    found: set[str],
    theirs: set[str],
    remedy: str = _RANK_REMEDY,
) -> str:
    """The words for runs that lack ``metric`` ("" for none): a warning naming them
    and what they log instead (``theirs``) when some have it; an error naming
    every validation metric (``found``) and the closest when none has."""
    if not runs or not lacking:
        return ""
    if len(lacking) < runs:
        shown = ", ".join(repr(r) for r in lacking[:5])
        more = f" and {len(lacking) - 5} more" if len(lacking) > 5 else ""
        names = sorted(theirs)
        logged = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        return (
            f"{len(lacking)} of {runs} runs have no {metric!r}: {shown}{more} "
            f"(they log {logged}; {remedy})"
        )
    names = sorted(found)
    close = difflib.get_close_matches(metric, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownMetricError(
        f"no run has the metric {metric!r}{hint} The runs' validation metrics: "
        + (", ".join(names) or "none")
        + " (pass one with --metric)"
    )


def unpaired_message(run: str, data) -> str:
    """Why a folder with event files gave no run, and how to map its tags."""
    if data.problems:
        return f"skipping run {run!r}: " + "; ".join(data.problems)
    if not data.unmatched:
        return f"skipping {run!r}: its event files hold no scalars"
    shown = ", ".join(sorted(data.unmatched)[:8])
    more = f" and {len(data.unmatched) - 8} more" if len(data.unmatched) > 8 else ""
    said = f"skipping {run!r}: its scalars ({shown}{more}) name no training/validation split"
    mapping = suggest_mapping(data.unmatched, scalar_curves(data.root))
    if mapping is None:
        return (
            said + "; map them with --train-tag/--val-tag patterns holding {metric}, "
            "e.g. --train-tag 'loss/{metric}/ours' --val-tag 'loss/{metric}/holdout'"
        )
    return (
        f"{said}; if {mapping.train_tag.replace('{metric}', '<metric>')!r} is training, add "
        f"--train-tag '{mapping.train_tag}' --val-tag '{mapping.val_tag}'"
    )
