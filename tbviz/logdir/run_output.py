"""What a run's own folder gets, epoch by epoch and at the end: one pipeline, two sinks.

``RunLogger`` (live) and ``tbviz annotate`` (after the fact) both feed a
:class:`RunOutput` one epoch at a time and write what it returns: the
diagnosis tensor, the detector's scalars, the best-epoch values, the hparams
(once), and a note when the status changes; at the end, the final summary.
So a run annotated from its scalars reads exactly as one logged live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tbviz.core import notes
from tbviz.core.detector import DetectorSettings
from tbviz.core.diagnosis import Diagnosis, RunDiagnoser
from tbviz.core.history import History
from tbviz.core.text import epoch_label
from tbviz.logdir import metadata, summaries

INTERRUPTED = (
    "**Interrupted** after {epoch}: training stopped before its planned end (an "
    "exception, Ctrl-C, or the program exiting); every finished epoch is logged.\n\n"
)


@dataclass
class EpochOutput:
    """One epoch's verdict and the run-folder values to write at its step."""

    diagnosis: Diagnosis
    values: list = field(default_factory=list)
    noted: bool = False


class RunOutput:
    """Turns a run's epochs into what its folder gets (see the module docstring).

    Args:
        monitor, mode, directions, settings: as for :func:`tbviz.diagnose`.
        hparams: written with the first epoch (once the metric names are known).
        preface: markdown put before every note and the summary (annotate's
            "written after training ended").
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        mode: str = "auto",
        directions: Mapping[str, str] | None = None,
        settings: DetectorSettings | None = None,
        hparams: Mapping[str, object] | None = None,
        trial: str | None = None,
        preface: str = "",
        detector_scalars: bool = False,
    ) -> None:
        self.diagnoser = RunDiagnoser(monitor, mode=mode, settings=settings, directions=directions)
        self.history = History()
        self.diagnosis: Diagnosis | None = None
        self._gate = notes.NoteGate()
        self._hparams = dict(hparams) if hparams else None
        self._trial = trial or ""
        self._preface = preface
        self._detector_scalars = detector_scalars

    def resume(self, history: History) -> None:
        """Take in epochs already written (a resumed run): no output for them."""
        for epoch, values in history.rows():
            self.history.record(epoch, values)
            self.diagnosis = self.diagnoser.update(epoch, values)
        if self.diagnosis is not None:
            self._gate = notes.NoteGate(noted=self.diagnosis.status)

    def epoch(self, epoch: int, values: Mapping[str, float]) -> EpochOutput:
        """Add one epoch's numeric logs; what the run folder gets at its step."""
        self.history.record(epoch, values)
        diagnosis = self.diagnosis = self.diagnoser.update(epoch, values)
        out = EpochOutput(
            diagnosis,
            summaries.epoch_values(
                diagnosis, self.history, detector_scalars=self._detector_scalars
            ),
        )
        if self._hparams:
            out.values.append(summaries.hparams_value(self._hparams, group=self._trial))
            self._hparams = None
        if self._gate.update(diagnosis.status):
            out.values.append(
                summaries.text_value(
                    metadata.TAG_NOTES,
                    self._preface + notes.note(diagnosis),
                    metadata.NOTES_DESCRIPTION,
                )
            )
            out.noted = True
        return out

    def skip(self, epoch: int, values: Mapping[str, float]) -> None:
        """Add an epoch whose output was written before (annotate brings a run up to
        date): the state moves, nothing is returned."""
        self.history.record(epoch, values)
        self.diagnosis = self.diagnoser.update(epoch, values)
        self._gate.update(self.diagnosis.status)

    def summary(self, *, interrupted: bool = False, stopped: str | None = None) -> str | None:
        """The final summary's markdown, or None before any epoch."""
        last = self.history.last_epoch
        if last is None or self.diagnosis is None:
            return None
        text = self._preface + notes.note(self.diagnosis, final=True, stopped=stopped)
        if interrupted:
            text = INTERRUPTED.format(epoch=epoch_label(last)) + text
        return text
