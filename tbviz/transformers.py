"""tbviz for the Hugging Face ``Trainer``: ``TBVizCallback`` and ``OverfittingStopping``.

Both are ``transformers.TrainerCallback`` s. Each evaluation is one tbviz
point: the Trainer's ``eval_*`` metrics are its validation values
(``eval_loss`` -> ``val_loss``), the training loss the Trainer logged since
the previous evaluation (their mean) its training value, and the learning
rate goes with it (the detector reads a drop of it). Whether the Trainer
evaluates once an epoch or every N steps (``eval_strategy="steps"``), the
detector counts evaluations, TensorBoard's axis is the global step and words
name points by step and epoch ("overfitting since step 1,200 (epoch 2.4)").
Only the main process (``state.is_world_process_zero``) writes. No TensorFlow.

Example::

    from tbviz.transformers import OverfittingStopping, TBVizCallback

    args = TrainingArguments("out", eval_strategy="epoch", save_strategy="epoch",
                             load_best_model_at_end=True, num_train_epochs=20)
    trainer = Trainer(model, args, train_dataset=train, eval_dataset=val,
                      callbacks=[OverfittingStopping(), TBVizCallback(log_dir="runs")])
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

from tbviz.errors import missing_extra

try:
    from transformers import TrainerCallback
except ImportError as err:
    raise missing_extra("transformers", "tbviz.transformers", "transformers") from err

from tbviz.core.detector import DetectorSettings
from tbviz.core.diagnosis import Diagnosis
from tbviz.core.history import VALIDATION_PREFIX
from tbviz.core.text import Evaluations, naming
from tbviz.live.judge import StopJudge
from tbviz.live.options import FIGURE_BUDGET, STOP_ATTRIBUTE, RunOptions, check_stopping
from tbviz.live.run_logger import RunLogger, validate_run_name

#: The Trainer's bookkeeping in its evaluation metrics: not metrics of the model.
_NOT_METRICS = (
    "runtime",
    "samples_per_second",
    "steps_per_second",
    "epoch",
    "model_preparation_time",
)


def validation_values(metrics: Mapping[str, object]) -> dict[str, float]:
    """The Trainer's evaluation metrics under tbviz's (Keras') names:
    ``eval_loss`` -> ``val_loss``, ``eval_accuracy`` -> ``val_accuracy``;
    timings and counters left out."""
    values = {}
    for key, value in metrics.items():
        name = key[len("eval_") :] if key.startswith("eval_") else key
        if name in _NOT_METRICS or not isinstance(value, (int, float)):
            continue
        values[VALIDATION_PREFIX + name] = float(value)
    return values


def monitor_of(args) -> tuple[str, str]:
    """The metric and mode the Trainer itself keeps its best model by:
    ``metric_for_best_model`` (default: the loss) and ``greater_is_better``."""
    metric = getattr(args, "metric_for_best_model", None) or "loss"
    name = metric[len("eval_") :] if metric.startswith("eval_") else metric
    greater = getattr(args, "greater_is_better", None)
    mode = "auto" if greater is None else ("max" if greater else "min")
    return VALIDATION_PREFIX + name, mode


def training_arguments(args, model=None) -> dict[str, object]:
    """The ``TrainingArguments`` that matter for comparing runs, as hparams."""
    chosen = {
        "learning_rate": args.learning_rate,
        "batch_size": args.per_device_train_batch_size,
        "epochs": args.num_train_epochs,
        "weight_decay": args.weight_decay,
        "warmup_steps": args.warmup_steps,
        "warmup_ratio": getattr(args, "warmup_ratio", None),
        "lr_scheduler": str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)),
        "seed": args.seed,
    }
    config = getattr(model, "config", None)
    name = getattr(config, "_name_or_path", "") or getattr(config, "model_type", "")
    if name:
        chosen["model"] = str(name)
    return {k: v for k, v in chosen.items() if isinstance(v, (bool, int, float, str))}


class _TrainerLogs:
    """Turns the Trainer's logs into tbviz points: the training losses logged
    since the previous evaluation, then the evaluation's metrics."""

    def __init__(self) -> None:
        self._losses: list[float] = []
        self._learning_rate: float | None = None

    def on_log(self, logs: Mapping[str, object]) -> None:
        if any(key.startswith("eval_") for key in logs):
            return
        loss = logs.get("loss")
        if isinstance(loss, (int, float)):  # a NaN too: a diverged loss is news
            self._losses.append(float(loss))
        rate = logs.get("learning_rate")
        if isinstance(rate, (int, float)):
            self._learning_rate = float(rate)

    def point(self, metrics: Mapping[str, object]) -> dict[str, float]:
        values = validation_values(metrics)
        if self._losses:
            values["loss"] = sum(self._losses) / len(self._losses)
            self._losses = []
        if self._learning_rate is not None:
            values["learning_rate"] = self._learning_rate
        return values


class TBVizCallback(TrainerCallback):
    """Log a Trainer run the way tbviz logs a Keras one, one point per evaluation.

    Args:
        log_dir: the log directory TensorBoard is pointed at (local or a URL).
        run_name: the run's folder; None picks a time-stamped name.
        monitor: the validation metric to diagnose by, in tbviz's names
            (``val_loss``); None takes the Trainer's ``metric_for_best_model``.
        mode: ``"min"``/``"max"``/``"auto"``; with ``monitor=None``, taken
            from ``greater_is_better``.
        hparams: the run's hyperparameters; None takes the ``TrainingArguments``
            that matter (learning rate, batch size, epochs, weight decay,
            warm-up, scheduler, seed) and the model's name.
        figure_every, figure_budget, directions, patience, trial, settings,
        detector_scalars: as for :class:`tbviz.RunLogger`.
    """

    def __init__(
        self,
        log_dir: str = "runs",
        run_name: str | None = None,
        *,
        monitor: str | None = None,
        mode: str = "auto",
        figure_every: int = 1,
        figure_budget: float | None = FIGURE_BUDGET,
        directions: Mapping[str, str] | None = None,
        patience: int = 3,
        hparams: Mapping[str, object] | None = None,
        trial: str | None = None,
        settings: DetectorSettings | None = None,
        detector_scalars: bool = False,
    ) -> None:
        self.options = RunOptions(
            figure_every=figure_every,
            figure_budget=figure_budget,
            monitor=monitor or "val_loss",
            mode=mode,
            directions=directions,
            patience=patience,
            hparams=hparams,
            trial=trial,
            settings=settings,
            detector_scalars=detector_scalars,
        )
        self._monitor_given = monitor is not None
        self.log_dir = str(log_dir)
        self.run_name = validate_run_name(run_name) if run_name is not None else None
        self.logger: RunLogger | None = None
        self._points = _TrainerLogs()
        self._last_step = -1

    def on_train_begin(self, args, state, control, model=None, **kwargs) -> None:
        if not state.is_world_process_zero:
            return
        if self.logger is not None:
            self.logger.close(interrupted=True)
        options = self.options.as_kwargs()
        if not self._monitor_given:
            options["monitor"], options["mode"] = monitor_of(args)
        if options["hparams"] is None:
            options["hparams"] = training_arguments(args, model)
        self.logger = RunLogger(self.log_dir, self.run_name, **options)
        self.run_name = self.logger.run_name
        self._points = _TrainerLogs()
        self._last_step = -1

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if self.logger is not None and logs:
            self._points.on_log(logs)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs) -> None:
        if self.logger is None or not metrics:
            return
        values = self._points.point(metrics)
        step = int(state.global_step)
        if step <= self._last_step:  # a second evaluate() at one step: the first one stands
            return
        if any(key.startswith(VALIDATION_PREFIX) for key in values):
            self.logger.log_eval(step, values, epoch=state.epoch)
            self._last_step = step

    def on_train_end(self, args, state, control, **kwargs) -> None:
        if self.logger is not None:
            self.logger.stopped = getattr(state, STOP_ATTRIBUTE, None)
            self.logger.close()
            self.logger = None


class OverfittingStopping(TrainerCallback):
    """Stop ``Trainer.train`` once tbviz confirms overfitting.

    The twin of the Trainer's ``EarlyStoppingCallback``: instead of a fixed
    patience on evaluation calls, it stops when tbviz's detector confirms
    that ``metric_for_best_model`` (with ``greater_is_better``; default: the
    evaluation loss) overfits. It keeps no weights itself: with
    ``load_best_model_at_end=True`` the Trainer loads the best checkpoint
    when training ends, so the model left is the best evaluation's. It says
    when and why it stopped in one printed line (``verbose``) and, beside
    :class:`TBVizCallback`, in the run's final note.

    Args:
        monitor: the validation metric in tbviz's names (``val_loss``); None
            takes the Trainer's ``metric_for_best_model``.
        mode: ``"min"``/``"max"``/``"auto"``; with ``monitor=None``, taken from
            ``greater_is_better``.
        start_from_epoch: evaluations to ignore before judging (a warm-up).
        verbose: print one line when it stops training.
        settings: detector thresholds (:class:`tbviz.core.detector.DetectorSettings`).

    Attributes:
        stopped_step: the global step training stopped at (0: not stopped).
        diagnosis: the last :class:`tbviz.core.diagnosis.Diagnosis`.
    """

    def __init__(
        self,
        monitor: str | None = None,
        mode: str = "auto",
        start_from_epoch: int = 0,
        verbose: bool = True,
        settings: DetectorSettings | None = None,
    ) -> None:
        check_stopping(monitor or "val_loss", mode, start_from_epoch)
        self.monitor, self.mode = monitor, mode
        self.start_from_epoch = start_from_epoch
        self.verbose = verbose
        self.settings = settings
        self.stopped_step = 0
        self.judge: StopJudge | None = None
        self._points = _TrainerLogs()
        self._evaluations = Evaluations({}, {})

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The last :class:`tbviz.core.diagnosis.Diagnosis`."""
        return self.judge.diagnosis if self.judge else None

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        monitor, mode = (self.monitor, self.mode) if self.monitor else monitor_of(args)
        self.judge = StopJudge(monitor, mode, self.start_from_epoch, self.settings)
        self._points = _TrainerLogs()
        self._evaluations = Evaluations({}, {})
        self.stopped_step = 0
        if not getattr(args, "load_best_model_at_end", False):
            warnings.warn(
                "OverfittingStopping keeps no weights itself: with load_best_model_at_end="
                "False the Trainer ends with the last evaluation's model, past the best one "
                "(set load_best_model_at_end=True, with save_strategy matching eval_strategy)",
                UserWarning,
                stacklevel=2,
            )

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if logs:
            self._points.on_log(logs)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs) -> None:
        if self.judge is None or not metrics or self.stopped_step:
            return  # (an evaluate() after a stopped train() judges nothing)
        values = self._points.point(metrics)
        steps = self._evaluations.steps
        if steps and int(state.global_step) <= steps[len(steps) - 1]:
            return  # a second evaluate() at one step: the first one stands
        point = len(steps)
        self._evaluations.steps[point] = int(state.global_step)
        self._evaluations.epochs[point] = float(state.epoch or 0.0)
        d = self.judge.judge(point, values)
        if not self.judge.stops(d):
            return
        control.should_training_stop = True
        self.stopped_step = int(state.global_step)
        with naming(self._evaluations):
            message = self.judge.message(point, d, restored=False)
        if getattr(args, "load_best_model_at_end", False):
            message = message[:-1] + "; the Trainer loads the best checkpoint at the end."
        setattr(state, STOP_ATTRIBUTE, message)
        if self.verbose and state.is_world_process_zero:
            print(message)
