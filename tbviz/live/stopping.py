"""``OverfittingStopping``: stop ``fit`` when tbviz confirms overfitting.

Keras' ``EarlyStopping`` waits a fixed ``patience`` after the best epoch,
whatever the curves look like: too long on a clear turn, too short on a noisy
plateau. This callback stops when tbviz's detector (:mod:`tbviz.core.detector`)
confirms overfitting: validation worse than its best beyond the run's own
noise while training keeps improving; and when a loss becomes NaN or
infinite (as ``TerminateOnNaN`` does). It restores the best epoch's weights, as
``EarlyStopping(restore_best_weights=True)`` does.
"""

from __future__ import annotations

from tbviz.errors import missing_extra

try:
    import keras
except ImportError as err:
    raise missing_extra("keras", "OverfittingStopping", "keras") from err

from tbviz.core.detector import DetectorSettings
from tbviz.core.diagnosis import Diagnosis
from tbviz.core.history import numeric_logs
from tbviz.core.verdicts import with_learning_rate
from tbviz.live.judge import StopJudge
from tbviz.live.options import STOP_ATTRIBUTE


class OverfittingStopping(keras.callbacks.Callback):
    """Stop training once tbviz confirms overfitting, and restore the best weights.

    Example::

        from tbviz import OverfittingStopping, TBVizCallback

        model.fit(x, y, validation_data=(xv, yv), epochs=100,
                  callbacks=[OverfittingStopping(), TBVizCallback(log_dir="runs")])

    Beside ``TBVizCallback`` in the same ``fit``, the run's final note says
    that the training was stopped, when, and why.

    Args:
        monitor: the validation metric to judge by, as in ``EarlyStopping``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (the compiled Keras metric,
            then its name; see :mod:`tbviz.core.directions`).
        restore_best_weights: at the stop, restore the weights of the best
            epoch of ``monitor`` (the onset of overfitting).
        start_from_epoch: epochs to ignore entirely before judging, as in
            ``EarlyStopping`` (a warm-up whose values should not count).
        verbose: 1 (the default) prints one line when it stops training, with
            when, why and which epoch's weights it restored; 0 is silent.
        settings: detector thresholds; see :class:`tbviz.core.detector.DetectorSettings`.

    Attributes:
        stopped_epoch: the 0-based epoch after which training stopped (0: not stopped).
        best_epoch: the epoch whose weights were restored, or None.
        diagnosis: the last :class:`tbviz.core.diagnosis.Diagnosis`.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        restore_best_weights: bool = True,
        start_from_epoch: int = 0,
        verbose: int = 1,
        settings: DetectorSettings | None = None,
    ) -> None:
        super().__init__()
        self.judge = StopJudge(monitor, mode, start_from_epoch, settings)
        self.monitor, self.mode = monitor, mode
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = start_from_epoch
        self.verbose = verbose
        self.settings = settings
        self.stopped_epoch = 0
        self.best_epoch: int | None = None
        self._best_weights = None

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The last :class:`tbviz.core.diagnosis.Diagnosis`."""
        return self.judge.diagnosis

    def on_train_begin(self, logs=None) -> None:
        self.judge.reset()
        self.stopped_epoch, self.best_epoch, self._best_weights = 0, None, None
        self._directions_read = False
        if hasattr(self.model, STOP_ATTRIBUTE):
            delattr(self.model, STOP_ATTRIBUTE)

    def on_epoch_end(self, epoch, logs=None) -> None:
        if not logs:
            return
        from tbviz.live.callback import metric_directions, optimizer_learning_rate

        if not self._directions_read:
            self._directions_read = True
            self.judge.diagnoser.add_directions(metric_directions(self.model))
        numbers = numeric_logs(with_learning_rate(logs, optimizer_learning_rate(self.model)))
        d = self.judge.judge(int(epoch), numbers)
        if d is None or self.monitor not in numbers:
            return
        if self.restore_best_weights and d.best_epoch == epoch:
            self._best_weights = self.model.get_weights()
        if not self.judge.stops(d):
            return
        self.model.stop_training = True
        self.stopped_epoch = int(epoch)
        restored = self.restore_best_weights and self._best_weights is not None
        if restored:
            self.model.set_weights(self._best_weights)
            self.best_epoch = d.best_epoch
        message = self.judge.message(int(epoch), d, restored)
        setattr(self.model, STOP_ATTRIBUTE, message)
        if self.verbose:
            print(message)
