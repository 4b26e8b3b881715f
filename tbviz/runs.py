"""Find the runs in a log directory and diagnose each one, without TensorFlow.

A run is a folder with a ``train/`` or ``validation/`` subfolder holding event
files: what tbviz writes and what ``keras.callbacks.TensorBoard`` writes.
Folders whose name starts with ``_`` (tbviz's own ``_compare``) are skipped.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from tbviz import metadata
from tbviz.diagnosis import Diagnosis, diagnose
from tbviz.event_reader import CorruptEventFile, event_files, read_history


@dataclass(frozen=True)
class RunResult:
    """One run's diagnosis, ready for a leaderboard row."""

    run: str
    diagnosis: Diagnosis

    @property
    def sort_key(self) -> tuple:
        """Best first; runs with no value for the metric last."""
        d = self.diagnosis
        if d.best_value is None or not math.isfinite(d.best_value):
            return (1, 0.0, self.run)
        value = d.best_value if d.direction == "min" else -d.best_value
        return (0, value, self.run)

    def to_dict(self) -> dict:
        d = self.diagnosis
        return {
            "run": self.run,
            "metric": d.monitor,
            "best_value": d.best_value,
            "best_epoch": d.best_epoch,
            "final_value": d.last_value,
            "status": d.status,
            "onset_epoch": d.onset_epoch,
            "diverged_at": d.diverged_at,
            "epochs": d.epochs,
        }


def find_runs(logdir: str) -> Iterator[str]:
    """Run names (paths relative to ``logdir``, ``/``-separated), sorted."""
    if not os.path.isdir(logdir):
        raise FileNotFoundError(f"log directory {logdir!r} does not exist")
    found = []
    for folder, subfolders, _ in os.walk(logdir):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("_"))
        if any(
            sub in subfolders and event_files(os.path.join(folder, sub))
            for sub in (metadata.TRAIN_DIR, metadata.VALIDATION_DIR)
        ):
            found.append(os.path.relpath(folder, logdir).replace(os.sep, "/"))
    yield from sorted(found)


def diagnose_runs(
    logdir: str, runs: str | None = None, metric: str = "val_loss"
) -> list[RunResult]:
    """Read and diagnose every run (matching the ``runs`` regex), best first.

    A run whose files are corrupt or which never logged a value is skipped
    with a warning that names it; the others are still read.
    """
    pattern = re.compile(runs) if runs else None
    results = []
    for run in find_runs(logdir):
        if pattern is not None and not pattern.search(run):
            continue
        try:
            history = read_history(os.path.join(logdir, *run.split("/")))
        except (CorruptEventFile, OSError) as err:
            warnings.warn(f"skipping run {run!r}: {err}", RuntimeWarning, stacklevel=2)
            continue
        if history.last_epoch is None:
            warnings.warn(f"skipping run {run!r}: no epoch_* scalars", RuntimeWarning, stacklevel=2)
            continue
        results.append(RunResult(run, diagnose(history, metric)))
    return sorted(results, key=lambda r: r.sort_key)


def leaderboard_text(results: list[RunResult], metric: str) -> str:
    """The leaderboard as an aligned plain-text table for a terminal."""
    from tbviz.text import fmt

    header = ["#", "run", f"best {metric}", "best epoch", "final", "status", "onset"]
    rows = [
        [
            str(i),
            r.run,
            fmt(r.diagnosis.best_value),
            _epoch(r.diagnosis.best_epoch),
            fmt(r.diagnosis.last_value),
            r.diagnosis.status,
            _epoch(r.diagnosis.onset_epoch),
        ]
        for i, r in enumerate(results, 1)
    ]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def _epoch(epoch: int | None) -> str:
    """``3`` -> ``"4 (step 3)"``; None -> ``"-"``."""
    return "-" if epoch is None else f"{epoch + 1} (step {epoch})"
