"""One training run of the tutorial CNN, logged with :class:`tbviz.TBVizCallback`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tbviz.core.diagnosis import Diagnosis
from tbviz.live.options import FIGURE_BUDGET
from tbviz.trainer.datasets import Dataset, prepare
from tbviz.trainer.metrics import plan_metrics


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run of the tutorial CNN."""

    epochs: int = 10
    batch_size: int = 32
    metrics: Sequence[str] = ("accuracy",)
    logdir: str = "runs"
    run_name: str | None = None
    #: The Trial ID in TensorBoard's HParams dashboard (None: for a sweep's run its
    #: knobs and the sweep, see :meth:`trial_id`; else the run name).
    trial: str | None = None
    #: The sweep this run belongs to (its folder under ``logdir``), or None.
    sweep: str | None = None
    figure_every: int = 1
    figure_budget: float | None = FIGURE_BUDGET
    seed: int = 0
    train_size: int | None = None
    val_size: int | None = None
    filters: int = 16
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    dropout: float = 0.0
    verbose: int | str = "auto"
    stop_on_overfitting: bool = False

    def sweep_run(self, sweep: str, name: str, changes: Mapping[str, object]) -> TrainConfig:
        """This configuration as run ``name`` of the sweep ``sweep``: the folder
        ``<sweep>/<name>`` under the log directory, with the knobs ``changes``
        set. The local and the Ray executors name their runs by it."""
        return dataclasses.replace(self, run_name=f"{sweep}/{name}", sweep=sweep, **changes)

    def trial_id(self) -> str | None:
        """The HParams dashboard's Trial ID: ``trial``, or for a sweep's run
        ``<sweep>/<knobs>`` its knobs first (``lr=0.01 @ sweep-...``), since the
        dashboard shows only the first 14 characters."""
        if self.trial or not (self.sweep and self.run_name):
            return self.trial
        knobs = self.run_name.removeprefix(self.sweep + "/")
        return f"{knobs} @ {self.sweep}"

    def hparams(self, dataset: str) -> dict[str, bool | int | float | str]:
        """What TensorBoard's HParams dashboard shows for this run.

        The run's folder (``run``) and its sweep (``sweep``) are columns of
        their own: the dashboard cuts its Trial IDs to a few characters, so
        two time-stamped runs, or one combination in two sweeps, would
        otherwise look alike.
        """
        where = {"run": self.run_name} if self.run_name else {}
        if self.sweep:
            where["sweep"] = self.sweep
        return {
            **where,
            "dataset": dataset,
            "lr": self.learning_rate,
            "filters": self.filters,
            "optimizer": self.optimizer,
            "dropout": self.dropout,
            "batch_size": self.batch_size,
            "seed": self.seed,
        }


@dataclass
class TrainResult:
    """Where a run was logged, its Keras history and its final diagnosis."""

    run_name: str
    run_dir: str
    history: dict[str, list[float]]
    diagnosis: Diagnosis | None
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None


def train(
    dataset: Dataset,
    config: TrainConfig,
    on_note: Callable[[str], None] = lambda _: None,
    report: Callable | None = None,
    callbacks: Sequence = (),
) -> TrainResult:
    """Fit the tutorial CNN on ``dataset`` and log it under ``config.logdir``.

    ``report(diagnosis, epoch, logs)`` is called after every epoch, once
    tbviz has logged it (a Ray Tune trial reports to Tune this way).
    ``callbacks`` are more Keras callbacks for ``fit`` (an ``EarlyStopping``).
    """
    plans, notes = plan_metrics(config.metrics)
    for note in notes:
        on_note(note)
    x_train, y_train, x_val, y_val = prepare(dataset, config.train_size, config.val_size)

    import keras  # imports TensorFlow: only once the inputs are known to be good

    from tbviz.live.callback import TBVizCallback
    from tbviz.trainer.model import build_cnn, build_metrics

    keras.utils.set_random_seed(config.seed)
    metrics = build_metrics(plans, dataset.num_classes)
    model = build_cnn(
        x_train.shape[1:],
        dataset.num_classes,
        metrics,
        filters=config.filters,
        learning_rate=config.learning_rate,
        optimizer=config.optimizer,
        dropout=config.dropout,
    )
    callback = TBVizCallback(
        log_dir=config.logdir,
        run_name=config.run_name,
        figure_every=config.figure_every,
        figure_budget=config.figure_budget,
        hparams=config.hparams(dataset.name),
        trial=config.trial_id(),
    )
    callbacks = [callback, *callbacks]
    if report is not None:
        callbacks.append(reporting_callback(callback, report))
    if config.stop_on_overfitting:
        from tbviz.live.stopping import OverfittingStopping

        callbacks.insert(0, OverfittingStopping(verbose=0))  # the trainer says it
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=config.epochs,
        batch_size=config.batch_size,
        callbacks=callbacks,
        verbose=config.verbose,
    )
    logger = callback.logger
    return TrainResult(
        run_name=logger.run_name,
        run_dir=logger.run_dir,
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        diagnosis=logger.diagnosis,
        notes=notes,
        stopped=logger.stopped,
    )


def reporting_callback(logged, report: Callable):
    """A Keras callback calling ``report(diagnosis, epoch, logs)`` after ``logged`` (a
    TBVizCallback earlier in the list) has logged the epoch."""
    import keras

    class Reporter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            diagnosis = logged.logger.diagnosis if logged.logger is not None else None
            report(diagnosis, int(epoch), logs or {})

    return Reporter()
