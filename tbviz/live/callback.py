"""``TBVizCallback``: the Keras callback, a thin layer over :class:`RunLogger`."""

from __future__ import annotations

import os
from collections.abc import Mapping

from tbviz.errors import missing_extra

try:
    import keras
except ImportError as err:
    raise missing_extra("keras", "TBVizCallback", "keras") from err

from tbviz.core.detector import DetectorSettings
from tbviz.core.verdicts import with_learning_rate
from tbviz.live.options import FIGURE_BUDGET, STOP_ATTRIBUTE, RunOptions
from tbviz.live.run_logger import RunLogger, validate_run_name
from tbviz.logdir.summaries import HParamValue


class TBVizCallback(keras.callbacks.Callback):
    """Log scalars, comparison figures and overfitting notes to TensorBoard.

    Example::

        from tbviz import TBVizCallback

        model.fit(x, y, validation_data=(xv, yv), epochs=20,
                  callbacks=[TBVizCallback(log_dir="runs", run_name="cnn-adam")])

    then ``tensorboard --logdir runs``. It works next to
    ``keras.callbacks.TensorBoard`` and ``keras.callbacks.EarlyStopping`` in
    the same ``fit``. Each ``fit`` call writes into the same run folder; the
    run's files are closed when training ends.

    Args:
        log_dir: the log directory TensorBoard is pointed at.
        run_name: the run's folder inside ``log_dir``; None picks a readable,
            time-stamped name that is not taken yet.
        figure_every: draw the comparison figure every N epochs (the final
            epoch is always drawn); 0 turns figures off.
        figure_budget: the share of training time tbviz may take (0.02 =
            2%): its logging on the training thread is paid first, figures
            (drawn on a background thread) from the rest; over it, figures wait in
            order and catch up when training ends. None draws every
            requested epoch.
        monitor: the validation metric the overfitting diagnosis follows.
        mode: ``"min"`` or ``"max"`` for ``monitor``; ``"auto"`` (default)
            reads it from the compiled Keras metric, then from its name.
        directions: ``{"metric": "min" | "max"}`` for other metrics.
        patience: the ``EarlyStopping`` patience the notes compare against.
        update_freq: ``"epoch"`` (default), or N to also write ``batch_<metric>``
            training scalars every N batches, as ``keras.callbacks.TensorBoard``
            does.
        hparams: this run's hyperparameters (name -> bool, int, float or str)
            for TensorBoard's HParams dashboard, which then shows every
            metric at the run's best epoch (``tbviz/best/<metric>``), not
            its last.
        trial: the Trial ID the HParams dashboard shows for this run
            (default: the run name); runs given the same one are shown as
            repeats of one trial.
        settings: the detector's thresholds
            (:class:`tbviz.core.detector.DetectorSettings`); give the same
            ones as to ``OverfittingStopping`` so the notes judge by the rule
            book that stops the run.
        detector_scalars: also chart the detector's working numbers (see
            :class:`tbviz.RunLogger`).
    """

    def __init__(
        self,
        log_dir: str = "runs",
        run_name: str | None = None,
        figure_every: int = 1,
        figure_budget: float | None = FIGURE_BUDGET,
        monitor: str = "val_loss",
        mode: str = "auto",
        directions: Mapping[str, str] | None = None,
        patience: int = 3,
        update_freq: str | int = "epoch",
        hparams: Mapping[str, HParamValue] | None = None,
        trial: str | None = None,
        settings: DetectorSettings | None = None,
        detector_scalars: bool = False,
    ) -> None:
        super().__init__()
        if update_freq != "epoch" and (
            isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1
        ):
            raise ValueError(
                f'update_freq must be "epoch" or a number of batches >= 1, got {update_freq!r}'
            )
        self.update_freq = update_freq
        self._batches = 0
        if update_freq != "epoch":
            # Defined only when wanted: a batch hook makes Keras hand over every
            # batch's logs synchronously, which slows fit() for everyone.
            self.on_train_batch_end = self._log_batch
        self.options = RunOptions(
            figure_every=figure_every,
            figure_budget=figure_budget,
            monitor=monitor,
            mode=mode,
            directions=directions,
            patience=patience,
            hparams=hparams,
            trial=trial,
            settings=settings,
            detector_scalars=detector_scalars,
        )
        self.log_dir = os.fspath(log_dir)
        self.run_name = validate_run_name(run_name) if run_name is not None else None
        self.logger: RunLogger | None = None
        self._writes = True
        self._directions_read = False

    def on_train_begin(self, logs=None) -> None:
        # Under MultiWorkerMirroredStrategy every worker runs this callback with
        # the same (all-reduced) logs; only the chief writes, so the log
        # directory looks exactly like a single-worker run's.
        self._writes = is_chief(self.model)
        if not self._writes:
            return
        # A log directory that cannot be used fails here, before any training.
        from tbviz.logdir.writer import prepare_run_dir

        prepare_run_dir(self.log_dir)
        if self.logger is not None:
            # The previous fit() never reached on_train_end: it raised or was
            # interrupted. Close its run, saying so, before starting anew.
            self.logger.close(interrupted=True)
        self.logger = None

    def on_epoch_begin(self, epoch, logs=None) -> None:
        # The run is opened at the first epoch, whose number tells a resumed
        # fit(initial_epoch=k) from a fresh one reusing the name.
        if self.logger is None and self._writes:
            planned = (self.params or {}).get("epochs")
            self.logger = RunLogger(
                self.log_dir,
                self.run_name,
                first_epoch=int(epoch),
                epochs=planned if isinstance(planned, int) else None,
                **self.options.as_kwargs(),
            )
            self.run_name = self.logger.run_name
            self._directions_read = False

    def _log_batch(self, batch, logs=None) -> None:
        self._batches += 1
        if self.logger is not None and logs and self._batches % self.update_freq == 0:
            self.logger.log_batch(self._batches, logs)

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.logger is not None and logs:
            if not self._directions_read:
                # Compiled metrics are built by the first train step, so only now.
                self.logger.add_directions(metric_directions(self.model))
                self._directions_read = True
            rate = optimizer_learning_rate(self.model)
            self.logger.log_epoch(int(epoch), with_learning_rate(logs, rate))

    def on_train_end(self, logs=None) -> None:
        if self.logger is not None:
            # OverfittingStopping in the same fit() leaves its reason on the model.
            self.logger.stopped = getattr(self.model, STOP_ATTRIBUTE, None)
            self.logger.close()


def optimizer_learning_rate(model) -> float | None:
    """The model's optimizer's learning rate now (a ``LearningRateSchedule``
    evaluated at its step), or None. Keras puts ``learning_rate`` in the logs only
    when a callback sets the rate (ReduceLROnPlateau, LearningRateScheduler), so
    the callbacks read this at each epoch's end, as Keras' own TensorBoard
    callback does: a run read back from either log is judged alike."""
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    rate = getattr(optimizer, "learning_rate", None)
    try:
        return float(keras.ops.convert_to_numpy(rate))
    except (TypeError, ValueError):  # no optimizer, or a rate that is not one number
        return None


def metric_directions(model) -> dict[str, str]:
    """``{metric name: "min" | "max"}`` from the model's compiled Keras metrics.

    Keras 3 metric objects say which way is better (``_direction``: ``"up"``
    or ``"down"``); this reads them, through the ``CompileMetrics`` container,
    once the first train step has built them. Metrics that do not say are left out.
    """
    found: dict[str, str] = {}
    pending = list(getattr(model, "metrics", None) or [])
    while pending:
        metric = pending.pop()
        inner = getattr(metric, "metrics", None)
        if isinstance(inner, (list, tuple)) and inner and type(metric).__name__ == "CompileMetrics":
            pending.extend(inner)
            continue
        direction = {"up": "max", "down": "min"}.get(getattr(metric, "_direction", None))
        name = getattr(metric, "name", None)
        if direction and isinstance(name, str):
            found[name] = direction
    return found


def is_chief(model) -> bool:
    """False on the workers of a multi-worker strategy that must not write logs.

    ``tf.distribute`` strategies say whether this process should save
    (``extended.should_checkpoint``): always true on one machine, true only
    on the chief (worker 0 when no "chief" task is defined) in
    ``MultiWorkerMirroredStrategy``. Without a strategy (other Keras
    backends), every process writes.
    """
    strategy = getattr(model, "distribute_strategy", None)
    extended = getattr(strategy, "extended", None)
    return bool(getattr(extended, "should_checkpoint", True))
