"""``StopJudge``: what every tbviz stopper shares, whatever the framework.

Keras' ``OverfittingStopping``, Lightning's, the Hugging Face one and Ray
Tune's ``OverfittingStopper`` differ only in how they see an epoch (logs,
``callback_metrics``, evaluation metrics, a Tune result) and how they stop
(``model.stop_training``, ``trainer.should_stop``, ``control``, returning
True). The rest is here, once, as Keras keeps it once in ``MonitorCallback``:
the arguments checked, the detector streamed, a monitor that never shows up
warned about once, the statuses that stop training, and the line said when
it does.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

from tbviz.core.detector import DetectorSettings
from tbviz.core.diagnosis import Diagnosis, RunDiagnoser
from tbviz.core.notes import stop_message
from tbviz.live.options import STOP_STATUSES, check_stopping


class StopJudge:
    """Stream one run's epochs through the detector and say when to stop.

    Args:
        monitor: the validation metric to judge by (``val_loss``).
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        start_from_epoch: epochs (or evaluations) ignored before judging.
        settings: the detector's thresholds.
        who: the stopper's name in the missing-monitor warning.

    Raises:
        ValueError: an argument is out of range (before any training).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        start_from_epoch: int = 0,
        settings: DetectorSettings | None = None,
        who: str = "OverfittingStopping",
    ) -> None:
        check_stopping(monitor, mode, start_from_epoch)
        self.monitor, self.mode = monitor, mode
        self.start_from_epoch = start_from_epoch
        self.settings = settings
        self.who = who
        self.diagnosis: Diagnosis | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the run (a new ``fit``)."""
        self.diagnoser = RunDiagnoser(self.monitor, mode=self.mode, settings=self.settings)
        self.diagnosis = None
        self._warned = False

    def judge(self, epoch: int, values: Mapping[str, float]) -> Diagnosis | None:
        """The diagnosis after ``epoch`` (None before ``start_from_epoch``); a
        monitored metric missing from ``values`` is warned about once (the
        diagnosis then says ``no-monitor``, which stops nothing)."""
        if epoch < self.start_from_epoch:
            return None
        self.diagnosis = self.diagnoser.update(epoch, values)
        if self.monitor not in values and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.who} is conditioned on metric {self.monitor!r}, which is not "
                f"available. Available metrics are: {', '.join(sorted(values)) or 'none'}",
                UserWarning,
                stacklevel=3,
            )
        return self.diagnosis

    @staticmethod
    def stops(diagnosis: Diagnosis | None) -> bool:
        """Whether this diagnosis ends training: overfitting confirmed, or diverged."""
        return diagnosis is not None and diagnosis.status in STOP_STATUSES

    @staticmethod
    def message(epoch: int, diagnosis: Diagnosis, restored: bool) -> str:
        """The line a stopper says when it ends training."""
        return stop_message(epoch, diagnosis, restored)
