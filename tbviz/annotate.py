"""``tbviz annotate``: give runs logged without tbviz the tbviz view, after the fact.

An old ``keras.callbacks.TensorBoard`` log directory has scalars but no
figures, notes or diagnosis. ``annotate`` replays each such run's history
epoch by epoch through the same detector a live run uses and writes what
:class:`tbviz.run_logger.RunLogger` would have written into the run folder:
per-epoch diagnosis, detector state and best-epoch scalars, a note at each
status change, the final comparison figure and summary.

Idempotent: a run whose folder already holds a tbviz diagnosis (a tbviz run,
or one annotated before) is left alone. Each run is written as one event file
that appears only once complete, so an interrupted annotate leaves no half
annotation behind. No TensorFlow.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from tbviz import metadata, notes, summaries
from tbviz.diagnosis import RunDiagnoser
from tbviz.event_reader import CorruptEventFile, join_path, read_run
from tbviz.event_writer import EventFileWriter
from tbviz.figures import ComparisonPlotter, figure_title
from tbviz.history import History
from tbviz.runs import select_runs

ANNOTATED_NOTE = "*Written by `tbviz annotate` from the logged scalars, after training ended.*\n\n"


@dataclass
class Annotation:
    """Which runs ``annotate`` wrote into, and which it left alone."""

    annotated: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def annotate(
    logdir: str,
    runs: str | None = None,
    metric: str = "val_loss",
    *,
    mode: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> Annotation:
    """Write tbviz's figures, notes and diagnosis into every run that lacks them.

    Runs whose files cannot be read, or that hold no ``epoch_*`` scalars, are
    skipped with a warning naming them.

    Raises:
        FileNotFoundError: ``logdir`` does not exist.
    """
    names = select_runs(logdir, runs)
    outcome = Annotation()
    plotter = ComparisonPlotter()
    for done, run in enumerate(names, 1):
        run_dir = join_path(logdir, run)
        try:
            data = read_run(run_dir, tags={metadata.TAG_DIAGNOSIS})
        except (CorruptEventFile, OSError) as err:
            warnings.warn(f"skipping run {run!r}: {err}", RuntimeWarning, stacklevel=2)
            outcome.skipped.append(run)
        else:
            if data.diagnoses():
                outcome.already.append(run)
            elif data.history.last_epoch is None:
                warnings.warn(
                    f"skipping run {run!r}: no epoch_* scalars", RuntimeWarning, stacklevel=2
                )
                outcome.skipped.append(run)
            else:
                _annotate_run(run, run_dir, data.history, RunDiagnoser(metric, mode=mode), plotter)
                outcome.annotated.append(run)
        if progress is not None:
            progress(done, len(names))
    return outcome


def _annotate_run(run: str, run_dir: str, history, diagnoser: RunDiagnoser, plotter) -> None:
    """Replay ``history`` through ``diagnoser`` and write what a live run would have."""
    last_status = None
    diagnosis = None
    seen = History()
    with EventFileWriter(run_dir) as writer:
        for epoch, row in history.rows():
            seen.record(epoch, row)
            diagnosis = diagnoser.update(epoch, row)
            values = summaries.epoch_values(diagnosis, seen)
            if diagnosis.status != last_status:
                values.append(
                    summaries.text_value(
                        metadata.TAG_NOTES,
                        ANNOTATED_NOTE + notes.note(diagnosis),
                        metadata.NOTES_DESCRIPTION,
                    )
                )
                last_status = diagnosis.status
            writer.add(epoch, values)
        last = history.last_epoch
        figure = plotter.render(history, diagnosis, figure_title(run, last, diagnosis.status))
        writer.add(
            last,
            [
                summaries.image_value(metadata.TAG_FIGURE, [figure], metadata.FIGURE_DESCRIPTION),
                summaries.text_value(
                    metadata.TAG_SUMMARY,
                    ANNOTATED_NOTE + notes.note(diagnosis, final=True),
                    metadata.SUMMARY_DESCRIPTION,
                ),
            ],
        )
