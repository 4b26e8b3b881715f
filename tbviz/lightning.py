"""tbviz for PyTorch Lightning: ``TBVizCallback`` and ``OverfittingStopping``.

Both read what the ``LightningModule`` logged (``self.log("val_loss", ...)``)
from ``trainer.callback_metrics`` once per epoch, after validation, and turn
Lightning's names into Keras' (:func:`keras_names`), so a Lightning run gets
exactly what a Keras run gets: ``train/`` and ``validation/`` ``epoch_*``
scalars with one point per epoch, the comparison figure, notes, the
diagnosis and hparams. Only global rank zero writes under DDP. No TensorFlow.

Example::

    from tbviz.lightning import OverfittingStopping, TBVizCallback

    trainer = lightning.Trainer(
        max_epochs=50, callbacks=[OverfittingStopping(), TBVizCallback(log_dir="runs")]
    )
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping

from tbviz.errors import missing_extra

try:
    import lightning.pytorch as pl
except ImportError:  # the standalone package of older releases
    try:
        import pytorch_lightning as pl
    except ImportError as err:
        raise missing_extra("lightning", "tbviz.lightning", "lightning") from err

from tbviz.core.detector import DetectorSettings
from tbviz.core.diagnosis import Diagnosis
from tbviz.core.verdicts import with_learning_rate
from tbviz.live.judge import StopJudge
from tbviz.live.options import FIGURE_BUDGET, STOP_ATTRIBUTE, RunOptions
from tbviz.live.run_logger import RunLogger, validate_run_name
from tbviz.logdir.layouts import flat_keys


def keras_names(metrics: Mapping[str, object]) -> dict[str, float]:
    """Lightning's logged metrics under Keras' names, one value per epoch.

    The names are read by :func:`tbviz.logdir.layouts.flat_keys`, as tbviz
    reads a Lightning log afterwards: ``train_loss_epoch`` / ``train/loss`` ->
    ``loss``; ``val_acc`` / ``val/acc`` / ``valid_acc`` -> ``val_acc``;
    per-step values (``*_step``), counters (``epoch``) and a test split beside
    the validation one (``test_*`` after ``trainer.test``) are left out; an
    epoch-level value (``_epoch`` suffix) wins over a plain one of the same name.
    """
    numbers: dict[str, float] = {}
    for key, value in metrics.items():
        try:
            numbers[str(key)] = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            continue
    found: dict[str, float] = {}
    grains: dict[str, str] = {}
    for tag, (name, grain) in flat_keys(numbers).keys.items():
        if grain == "step" or name.startswith("test_") or grains.get(name) == "epoch":
            continue
        found[name] = numbers[tag]
        grains[name] = grain
    return found


def _learning_rate(trainer) -> float | None:
    """The first optimizer's first parameter group's rate (None without one)."""
    optimizers = getattr(trainer, "optimizers", None) or []
    groups = getattr(optimizers[0], "param_groups", None) if optimizers else None
    rate = groups[0].get("lr") if groups else None
    return float(rate) if isinstance(rate, (int, float)) else None


def _hparams(pl_module) -> dict[str, object] | None:
    """``save_hyperparameters()``'s values that TensorBoard's HParams can show."""
    saved = getattr(pl_module, "hparams", None) or {}
    clean = {}
    for name, value in dict(saved).items():
        if isinstance(value, (bool, int, float, str)):
            clean[str(name)] = value
        elif value is None or isinstance(value, (list, tuple)):
            clean[str(name)] = str(value)
    return clean or None


class _EpochCallback(pl.Callback):
    """A callback that works once an epoch, and so asks Lightning for no call per batch.

    Lightning calls each callback's per-batch hooks (six a training batch)
    through a profiler context even when they do nothing: about 3 µs each,
    some 7,700 calls and 25 ms in the 2-second, 20-epoch fit of
    ``scripts/bench_lightning.py``, 1% of it. Lightning passes over a hook that
    is not callable (``trainer/call.py``, ``_call_callback_hooks``), so these
    are None; a subclass that needs one defines it as usual.
    """

    on_train_batch_start = None
    on_train_batch_end = None
    on_before_backward = None
    on_after_backward = None
    on_before_optimizer_step = None
    on_before_zero_grad = None
    on_validation_batch_start = None
    on_validation_batch_end = None
    on_test_batch_start = None
    on_test_batch_end = None
    on_predict_batch_start = None
    on_predict_batch_end = None

    _epoch_rate: float | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        # Lightning steps an epoch's scheduler before on_train_epoch_end: the rate
        # this epoch trained at is read now.
        self._epoch_rate = _learning_rate(trainer)

    def epoch_logs(self, trainer) -> Mapping[str, float]:
        """This epoch's metrics under Keras' names (:func:`keras_names`), with the
        learning rate it trained at when none was logged (Lightning's callback
        metrics hold none: LearningRateMonitor writes to the logger), so the
        detector gives a rate that dropped or rose its chance, as in a Keras fit."""
        logs = keras_names(trainer.callback_metrics)
        return with_learning_rate(logs, self._epoch_rate) if logs else logs


class TBVizCallback(_EpochCallback):
    """Log a Lightning run the way tbviz logs a Keras one.

    Args:
        log_dir: the log directory TensorBoard is pointed at (local or a URL).
        run_name: the run's folder; None picks a time-stamped name.
        figure_every, figure_budget, monitor, mode, directions, patience, trial,
        settings, detector_scalars: as for :class:`tbviz.RunLogger`.
        hparams: the run's hyperparameters; None takes the module's
            ``save_hyperparameters()`` values.
    """

    def __init__(
        self,
        log_dir: str = "runs",
        run_name: str | None = None,
        *,
        figure_every: int = 1,
        figure_budget: float | None = FIGURE_BUDGET,
        monitor: str = "val_loss",
        mode: str = "auto",
        directions: Mapping[str, str] | None = None,
        patience: int = 3,
        hparams: Mapping[str, object] | None = None,
        trial: str | None = None,
        settings: DetectorSettings | None = None,
        detector_scalars: bool = False,
    ) -> None:
        super().__init__()
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
        self.log_dir = str(log_dir)
        self.run_name = validate_run_name(run_name) if run_name is not None else None
        self.logger: RunLogger | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        if self.logger is not None:
            self.logger.close(interrupted=True)
        options = self.options
        if options.hparams is None:  # the module's save_hyperparameters()
            options = dataclasses.replace(options, hparams=_hparams(pl_module))
        self.logger = RunLogger(
            self.log_dir,
            self.run_name,
            first_epoch=int(trainer.current_epoch),
            epochs=trainer.max_epochs if isinstance(trainer.max_epochs, int) else None,
            **options.as_kwargs(),
        )
        self.run_name = self.logger.run_name

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.logger is None or trainer.sanity_checking:
            return
        with self.logger.charged():  # the conversion is tbviz's time too
            logs = self.epoch_logs(trainer)
            if logs:
                self.logger.log_epoch(int(trainer.current_epoch), logs)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.logger is not None:
            self.logger.stopped = getattr(trainer, STOP_ATTRIBUTE, None)
            self.logger.close()
            self.logger = None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self.logger is not None:
            self.logger.close(interrupted=True)
            self.logger = None


class OverfittingStopping(_EpochCallback):
    """Stop ``Trainer.fit`` once tbviz confirms overfitting; restore the best weights.

    The twin of :class:`tbviz.OverfittingStopping` for Lightning. Every rank
    judges the same (synchronised) metrics and the decision is reduced across
    ranks, as Lightning's own ``EarlyStopping`` does.

    Args:
        monitor, mode, start_from_epoch, settings: as for the Keras one.
        verbose: True (the default) prints one line on global rank zero when
            it stops the fit: when, why, and which epoch's weights it restored.
        restore_best_weights: at the stop, load the best epoch's ``state_dict``
            (kept on the CPU) back into the module.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        restore_best_weights: bool = True,
        start_from_epoch: int = 0,
        verbose: bool = True,
        settings: DetectorSettings | None = None,
    ) -> None:
        super().__init__()
        self.judge = StopJudge(monitor, mode, start_from_epoch, settings)
        self.monitor, self.mode = monitor, mode
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.verbose = verbose
        self.settings = settings
        self.stopped_epoch = 0
        self.best_epoch: int | None = None
        self._best_state = None

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The last :class:`tbviz.core.diagnosis.Diagnosis`."""
        return self.judge.diagnosis

    def on_train_start(self, trainer, pl_module) -> None:
        self.judge.reset()
        self.stopped_epoch, self.best_epoch, self._best_state = 0, None, None

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = int(trainer.current_epoch)
        if trainer.sanity_checking:
            return
        logs = self.epoch_logs(trainer)
        d = self.judge.judge(epoch, logs)
        if d is None or self.monitor not in logs:
            return
        if self.restore_best_weights and d.best_epoch == epoch:
            self._best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in pl_module.state_dict().items()
            }
        stop = trainer.strategy.reduce_boolean_decision(self.judge.stops(d), all=False)
        if not stop:
            return
        trainer.should_stop = True
        self.stopped_epoch = epoch
        restored = self.restore_best_weights and self._best_state is not None
        if restored:
            pl_module.load_state_dict(copy.copy(self._best_state))
            self.best_epoch = d.best_epoch
        message = self.judge.message(epoch, d, restored)
        setattr(trainer, STOP_ATTRIBUTE, message)
        if self.verbose and trainer.is_global_zero:
            print(message)
