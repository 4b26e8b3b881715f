"""``tbviz annotate``: give runs logged without tbviz the tbviz view, after the fact.

A log directory written by another library (Keras' own callback, a
PyTorch loop, Lightning, ...) has scalars but no figures, notes or
diagnosis. ``annotate`` replays each such run's history
epoch by epoch through the same detector a live run uses and writes what
:class:`tbviz.live.run_logger.RunLogger` would have written into the run folder:
per-epoch diagnosis, detector state and best-epoch scalars, a note at each
status change, the final comparison figure and summary.

Idempotent: a run whose stored tbviz diagnosis (a tbviz run, or one
annotated before) covers its last logged epoch is left alone; one whose
scalars went on is brought up to date by appending the new epochs. Each run
is written as one event file that appears only once complete, so an
interrupted annotate leaves no half annotation behind. Time is linear in
epochs. No TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tbviz.commands.discovery import (
    ANNOTATE_REMEDY,
    check_metric_in,
    select_runs,
    unpaired_message,
)
from tbviz.core.detector import DetectorSettings
from tbviz.core.history import History
from tbviz.core.text import figure_title
from tbviz.figures.run_figure import ComparisonPlotter
from tbviz.logdir import metadata, summaries
from tbviz.logdir.layouts import TagMapping
from tbviz.logdir.reader import CorruptEventFile, RunData, join_path, read_run
from tbviz.logdir.run_output import RunOutput
from tbviz.logdir.writer import EventFileWriter

ANNOTATED_NOTE = "*Written by `tbviz annotate` from the logged scalars, after training ended.*\n\n"


@dataclass
class Annotation:
    """Which runs ``annotate`` wrote into, and which it left alone."""

    annotated: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def annotate(
    logdir: str,
    runs: str | None = None,
    metric: str = "val_loss",
    *,
    mode: str = "auto",
    mapping: TagMapping | None = None,
    progress: Callable[[int, int], None] | None = None,
    settings: DetectorSettings | None = None,
) -> Annotation:
    """Write tbviz's figures, notes and diagnosis into every run that lacks them.

    A run annotated before whose scalars have grown since (training went on)
    is brought up to date: the new epochs are appended, nothing is rewritten.
    Runs whose files cannot be read, whose scalars pair into no training
    and validation curves, or whose validation metrics do not include
    ``metric`` (to be annotated by one of theirs), are skipped; ``problems``
    says which and why (and names runs read only in part). Everything is
    written into run folders (the folder a run is named after), never beside
    them.

    Raises:
        LogDirError: ``logdir`` does not exist.
        UnknownMetricError: no run to annotate has ``metric`` (nothing is written).
    """
    outcome = Annotation()
    found = select_runs(logdir, runs, outcome.problems)
    # Every run is read before anything is written, so that a --metric no run
    # has stops here, not after writing wrong annotations into every run.
    read: dict[str, tuple[str, RunData, int | None]] = {}
    for run, parts in found.items():
        run_dir = join_path(logdir, run)
        try:
            data = read_run(run_dir, tags={metadata.TAG_DIAGNOSIS}, mapping=mapping, parts=parts)
        except (CorruptEventFile, OSError) as err:
            outcome.problems.append(f"skipping run {run!r}: {err}")
            outcome.skipped.append(run)
            continue
        stored = data.diagnoses()
        done_until = stored[-1][0] if stored else None
        last = data.history.last_epoch
        if last is None:
            outcome.problems.append(unpaired_message(run, data))
            outcome.skipped.append(run)
        elif done_until is not None and done_until >= last:
            outcome.already.append(run)
        else:
            read[run] = (run_dir, data, done_until)
    said, lacking = check_metric_in(
        {run: data.history for run, (_, data, _) in read.items()}, metric, ANNOTATE_REMEDY
    )
    if said:
        outcome.problems.append(said)
    for run in lacking:  # a no-monitor verdict written now would count as current later
        del read[run]
        outcome.skipped.append(run)
    plotter = ComparisonPlotter()
    for done, (run, (run_dir, data, done_until)) in enumerate(read.items(), 1):
        if data.problems:
            outcome.problems.append(f"run {run!r} was read in part: " + "; ".join(data.problems))
        output = RunOutput(metric, mode=mode, settings=settings, preface=ANNOTATED_NOTE)
        _annotate_run(run, run_dir, data.history, output, plotter, after=done_until)
        (outcome.annotated if done_until is None else outcome.updated).append(run)
        if progress is not None:
            progress(done, len(read))
    return outcome


def _annotate_run(
    run: str,
    run_dir: str,
    history: History,
    output: RunOutput,
    plotter: ComparisonPlotter,
    *,
    after: int | None = None,
) -> None:
    """Replay ``history`` through ``output`` and write what a live run would have,
    for the epochs after ``after`` only (a run annotated before up to it)."""
    with EventFileWriter(run_dir) as writer:
        for epoch, row in history.rows():
            if after is not None and epoch <= after:
                output.skip(epoch, row)
            else:
                writer.add(epoch, output.epoch(epoch, row).values)
        last, diagnosis = history.last_epoch, output.diagnosis
        figure = plotter.render(
            history, diagnosis, figure_title(run, last, diagnosis.status), epochs=last + 1
        )
        writer.add(
            last,
            [
                summaries.image_value(metadata.TAG_FIGURE, [figure], metadata.FIGURE_DESCRIPTION),
                summaries.text_value(
                    metadata.TAG_SUMMARY, output.summary(), metadata.SUMMARY_DESCRIPTION
                ),
            ],
        )
