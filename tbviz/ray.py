"""tbviz for Ray Tune: sweeps on an existing distributed engine, overfitting trials stopped.

We do not schedule anything: Ray Tune runs the trials (on a local Ray instance
or a cluster); tbviz brings what it lacks:

* :class:`OverfittingStopper`, a Tune ``Stopper`` driven by tbviz's detector,
  usable in any Tune code: a trial stops once tbviz confirms it overfits;
* :func:`run_sweep`, which runs the trainer's sweep combinations as Tune trials,
  each logging through ``TBVizCallback`` into one shared log directory under
  the run names the local executor uses, and reporting to Tune every epoch
  (the Keras logs, tbviz's status, and the best validation loss so far,
  which is what a stopped trial's restored weights reach).

``pip install 'tbviz[ray]'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from tbviz.errors import missing_extra

try:
    import ray
    from ray import tune
except ImportError as err:
    raise missing_extra("ray", "tbviz.ray", "ray") from err

from tbviz.core.detector import DetectorSettings
from tbviz.core.diagnosis import Diagnosis, RunDiagnoser
from tbviz.live.options import STOP_STATUSES, check_stopping

#: Keys Tune adds to every result: bookkeeping, not metrics.
_TUNE_KEYS = {
    "done",
    "training_iteration",
    "trial_id",
    "experiment_id",
    "date",
    "timestamp",
    "time_this_iter_s",
    "time_total_s",
    "pid",
    "hostname",
    "node_ip",
    "time_since_restore",
    "iterations_since_restore",
    "checkpoint_dir_name",
    "should_checkpoint",
    "epoch",
}


class OverfittingStopper(tune.Stopper):
    """Stop a Tune trial once tbviz confirms it overfits, or its loss becomes NaN or infinite.

    Each trial's reported results (Keras names: ``loss``, ``val_loss``, ...;
    the epoch from an ``epoch`` key, else Tune's ``training_iteration``) are
    streamed through tbviz's detector, one per trial.

    Example::

        from ray import tune
        from tbviz.ray import OverfittingStopper

        tune.Tuner(train_fn, run_config=tune.RunConfig(stop=OverfittingStopper()))

    Args:
        monitor, mode, start_from_epoch, settings: as for
            :class:`tbviz.OverfittingStopping`.

    Attributes:
        stopped: trial id -> (epoch it was stopped after, its best epoch).
        diverged: the ids of trials stopped because a loss became NaN or infinite.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        start_from_epoch: int = 0,
        settings: DetectorSettings | None = None,
    ) -> None:
        check_stopping(monitor, mode, start_from_epoch)
        self.monitor, self.mode = monitor, mode
        self.start_from_epoch = start_from_epoch
        self.settings = settings
        self._diagnosers: dict[str, RunDiagnoser] = {}
        self.stopped: dict[str, tuple[int, int | None]] = {}
        self.diverged: set[str] = set()

    def __call__(self, trial_id: str, result: Mapping[str, object]) -> bool:
        epoch = result.get("epoch")
        if not isinstance(epoch, int):
            epoch = int(result.get("training_iteration", 1)) - 1
        if epoch < self.start_from_epoch:
            return False
        diagnoser = self._diagnosers.get(trial_id)
        if diagnoser is None:
            diagnoser = self._diagnosers[trial_id] = RunDiagnoser(
                self.monitor, mode=self.mode, settings=self.settings
            )
        diagnosis = diagnoser.update(epoch, metrics_of(result))
        if diagnosis.status in STOP_STATUSES:
            self.stopped[trial_id] = (epoch, diagnosis.best_epoch)
            if diagnosis.status == "diverged":
                self.diverged.add(trial_id)
            return True
        return False

    def stop_all(self) -> bool:
        return False


def metrics_of(result: Mapping[str, object]) -> dict[str, float]:
    """The numeric metrics of a Tune result, Tune's bookkeeping and tbviz's own left
    out. NaN and infinite values stay: they are how a diverged trial shows."""
    found = {}
    for key, value in result.items():
        if key in _TUNE_KEYS or key.startswith(("tbviz_", "config")) or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            found[key] = float(value)
    return found


def tune_report(diagnosis: Diagnosis | None, epoch: int, logs: Mapping[str, object]) -> None:
    """Report one epoch to Tune: the Keras logs, tbviz's status, the best monitored value."""
    from tbviz.core.history import numeric_logs

    report: dict[str, object] = {"epoch": epoch, **numeric_logs(logs)}
    if diagnosis is not None:
        report["tbviz_status"] = diagnosis.status
        if diagnosis.best_value is not None:
            report[f"tbviz_best_{diagnosis.monitor}"] = diagnosis.best_value
            report["tbviz_best_epoch"] = diagnosis.best_epoch
    tune.report(report)


def run_sweep(
    dataset,
    config,
    combos: Sequence[tuple[str, dict]],
    prefix: str,
    *,
    address: str | None = None,
    parallel: int | None = None,
    num_cpus: int | None = None,
) -> list[dict]:
    """Train each ``(name, changes)`` combination as a Ray Tune trial.

    ``config`` is the trainer's :class:`tbviz.trainer.training.TrainConfig`;
    each trial logs to ``config.logdir`` as ``<prefix>/<name>``, exactly as
    the local executor names it, and stops itself when
    ``config.stop_on_overfitting`` (``tbviz.OverfittingStopping`` inside the
    trial, so its run closes with the note saying so). ``address`` joins an
    existing Ray cluster (default: a local instance, ``num_cpus`` cores);
    ``parallel`` caps concurrent trials. Returns one row per trial: run name,
    epochs trained, best validation loss, final status.
    """
    import dataclasses
    import os

    logdir = config.logdir if "://" in config.logdir else os.path.abspath(config.logdir)
    base = dataclasses.replace(config, logdir=logdir, verbose=0)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            logging_level="ERROR",
            log_to_driver=False,
        )
    trainable = tune.with_parameters(
        _trial, dataset=dataset, base=base, prefix=prefix, changes=dict(combos)
    )
    tuner = tune.Tuner(
        trainable,
        param_space={"name": tune.grid_search([name for name, _ in combos])},
        tune_config=tune.TuneConfig(max_concurrent_trials=parallel),
        # Tune's own records go to its default place (~/ray_results), not into
        # the log directory, where TensorBoard would list them as runs.
        run_config=tune.RunConfig(name=re.sub(r"[^\w.-]", "_", prefix), verbose=0),
    )
    try:
        grid = tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
    rows = []
    for result in grid:
        frame = result.metrics_dataframe
        has_loss = frame is not None and "val_loss" in frame
        rows.append(
            {
                "run": f"{prefix}/{result.config['name']}",
                "epochs": 0 if frame is None else len(frame),
                "best_val_loss": float(frame["val_loss"].min()) if has_loss else None,
                "status": (result.metrics or {}).get("tbviz_status"),
                "error": None if result.error is None else str(result.error),
            }
        )
    return sorted(rows, key=lambda r: r["run"])


def _trial(config: dict, dataset, base, prefix: str, changes: dict) -> None:
    """One Tune trial: the trainer's run for one sweep combination, reported per epoch."""
    import dataclasses

    from tbviz.trainer.cli import sweep_trial
    from tbviz.trainer.training import train

    name = config["name"]
    run_config = dataclasses.replace(
        base,
        run_name=f"{prefix}/{name}",
        trial=sweep_trial(name, prefix),
        sweep=prefix,
        **changes[name],
    )
    train(dataset, run_config, report=tune_report)
