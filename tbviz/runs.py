"""Find the runs in a log directory and diagnose each one, without TensorFlow.

A run is a folder with a ``train/`` or ``validation/`` subfolder holding event
files: what tbviz writes and what ``keras.callbacks.TensorBoard`` writes.
Folders whose name starts with ``_`` (tbviz's own ``_compare``) are skipped.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tbviz import metadata, storage
from tbviz.diagnosis import Diagnosis, diagnose
from tbviz.event_reader import CorruptEventFile, event_files, join_path, read_run
from tbviz.history import History
from tbviz.text import fmt, md_code, md_escape, plural


@dataclass(frozen=True)
class RunResult:
    """One run's diagnosis (and, for figures, its history), ready for a leaderboard row."""

    run: str
    diagnosis: Diagnosis
    hparams: dict[str, object] = field(default_factory=dict)
    history: History | None = None

    @property
    def sort_key(self) -> tuple:
        """Best first; runs with no value for the metric last."""
        d = self.diagnosis
        if d.best_value is None or not math.isfinite(d.best_value):
            return (1, 0.0, self.run)
        value = d.best_value if d.direction == "min" else -d.best_value
        return (0, value, self.run)

    def to_dict(self) -> dict:
        """The leaderboard row as JSON-ready data."""
        d = self.diagnosis
        return {
            "run": self.run,
            "metric": d.monitor,
            "best_value": _finite_or_none(d.best_value),
            "best_epoch": d.best_epoch,
            "final_value": _finite_or_none(d.last_value),
            "status": d.status,
            "onset_epoch": d.onset_epoch,
            "diverged_at": d.diverged_at,
            "epochs": d.epochs,
            "hparams": dict(self.hparams),
        }


def find_runs(logdir: str) -> Iterator[str]:
    """Run names (paths relative to ``logdir``, ``/``-separated), sorted."""
    if not storage.isdir(logdir):
        raise FileNotFoundError(f"log directory {logdir!r} does not exist")
    if not storage.is_url(logdir):
        found = []
        for folder, subfolders, _ in os.walk(logdir):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("_"))
            if any(
                sub in subfolders and event_files(os.path.join(folder, sub))
                for sub in (metadata.TRAIN_DIR, metadata.VALIDATION_DIR)
            ):
                found.append(os.path.relpath(folder, logdir).replace(os.sep, "/"))
        yield from sorted(found)
        return
    base = logdir.rstrip("/")
    found = set()
    for folder in storage.walk_dirs(base):
        head, _, last = folder.rstrip("/").rpartition("/")
        if last not in (metadata.TRAIN_DIR, metadata.VALIDATION_DIR) or not event_files(folder):
            continue
        run = head[len(base) :].strip("/") or "."
        if not any(part.startswith("_") for part in run.split("/")):
            found.add(run)
    yield from sorted(found)


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
    keep_history: bool = False,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> list[RunResult]:
    """Read and diagnose every run (matching the ``runs`` regex), best first.

    Runs are read one at a time; a result keeps the diagnosis and hparams
    (and the history, with ``keep_history``, for figures). A run whose files
    are corrupt or which never logged a value is skipped with a warning that
    names it and the file; the others are still read. ``progress(done,
    total)`` is called after each run.

    ``workers > 1`` reads big log directories (``PARALLEL_MIN_RUNS`` runs or
    more) in that many forked processes, each holding one run at a time.
    Only for single-threaded programs such as the ``tbviz`` command: forking
    a process that runs TensorFlow's threads is not safe.
    """
    names = select_runs(logdir, runs)
    read = functools.partial(
        _diagnose_run, logdir, metric=metric, mode=mode, keep_history=keep_history
    )
    results = []
    with contextlib.ExitStack() as stack:
        if workers > 1 and len(names) >= PARALLEL_MIN_RUNS and "fork" in _start_methods():
            import concurrent.futures
            import multiprocessing

            pool = stack.enter_context(
                concurrent.futures.ProcessPoolExecutor(
                    workers, mp_context=multiprocessing.get_context("fork")
                )
            )
            outcomes = pool.map(read, names, chunksize=max(1, len(names) // (workers * 16)))
        else:
            outcomes = map(read, names)
        for done, (result, problem) in enumerate(outcomes, 1):
            if problem:
                warnings.warn(problem, RuntimeWarning, stacklevel=2)
            if result is not None:
                results.append(result)
            if progress is not None:
                progress(done, len(names))
    return sorted(results, key=lambda r: r.sort_key)


def _start_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


def _diagnose_run(
    logdir: str, run: str, *, metric: str, mode: str, keep_history: bool
) -> tuple[RunResult | None, str]:
    """One run's result, or None and why it was skipped (a message, not a warning:
    this may run in a worker process, whose warnings nobody would see)."""
    try:
        data = read_run(join_path(logdir, run), tags={metadata.HPARAMS_SESSION_TAG})
    except (CorruptEventFile, OSError) as err:
        return None, f"skipping run {run!r}: {err}"
    if data.history.last_epoch is None:
        return None, f"skipping run {run!r}: no epoch_* scalars"
    result = RunResult(
        run,
        diagnose(data.history, metric, mode=mode),
        hparams=data.hparams(),
        history=data.history if keep_history else None,
    )
    return result, ""


def leaderboard_text(results: list[RunResult], metric: str) -> str:
    """The leaderboard as an aligned plain-text table for a terminal."""
    varying = varying_hparams(results)
    header = _header(metric, bool(varying))
    rows = [_row(i, r, varying, str) for i, r in enumerate(results, 1)]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def leaderboard_markdown(results: list[RunResult], metric: str, note: str = "") -> str:
    """The leaderboard as a markdown table for TensorBoard's Text tab.

    Run names and hparams come from users: they are escaped, so a ``|`` or
    ``<script>`` in a name shows as text and cannot break the table.
    """
    varying = varying_hparams(results)
    header = [md_escape(h) for h in _header(metric, bool(varying))]
    lines = [
        f"**Leaderboard** by {md_code(metric)}, best first: {plural(len(results), 'run')}."
        + (f" {note}" if note else ""),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += [
        "| " + " | ".join(_row(i, r, varying, md_escape)) + " |" for i, r in enumerate(results, 1)
    ]
    return "\n".join(lines)


def _header(metric: str, with_hparams: bool) -> list[str]:
    header = ["#", "run", f"best {metric}", "best epoch", "final", "status", "onset"]
    return [*header, "hparams"] if with_hparams else header


def varying_hparams(results: list[RunResult]) -> list[str]:
    """Hparam names whose value is not the same in every run: the ones worth a column."""
    names = sorted({name for r in results for name in r.hparams})
    return [name for name in names if len({repr(r.hparams.get(name)) for r in results}) > 1]


def _row(index: int, result: RunResult, varying: list[str], escape: Callable) -> list[str]:
    d = result.diagnosis
    row = [
        str(index),
        escape(result.run),
        fmt(d.best_value),
        _epoch(d.best_epoch),
        fmt(d.last_value),
        d.status,
        _epoch(d.onset_epoch),
    ]
    if varying:
        shown = {k: v for k, v in result.hparams.items() if k in varying}
        row.append(escape(hparams_text(shown)))
    return row


def hparams_text(hparams: dict[str, object]) -> str:
    """``{"lr": 0.01, "filters": 8}`` -> ``"filters=8, lr=0.01"``."""
    return ", ".join(
        f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in sorted(hparams.items())
    )


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _epoch(epoch: int | None) -> str:
    """``3`` -> ``"4 (step 3)"``; None -> ``"-"``."""
    return "-" if epoch is None else f"{epoch + 1} (step {epoch})"
