"""The trainer's sweep as Ray Tune trials (``--executor ray``).

Each combination of the sweep is one Tune trial: the trainer's run, logging
through ``TBVizCallback`` into the shared log directory under the run names
the local executor uses, and reporting to Tune every epoch
(:func:`tbviz.ray.tune_report`). Tune is imported here, not by the trainer's
command line, which only names ``[ray]`` when it is missing.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence

from tbviz.errors import missing_extra

try:
    import ray
    from ray import tune
except ImportError as err:
    raise missing_extra("ray", "--executor ray", "ray") from err

from tbviz.ray import connect, quiet_tune, tune_report


def run_sweep(
    dataset,
    config,
    combos: Sequence[tuple[str, dict]],
    prefix: str,
    *,
    address: str | None = None,
    parallel: int | None = None,
    num_cpus: int | None = None,
    tune_output: bool = False,
) -> list[dict]:
    """Train each ``(name, changes)`` combination as a Ray Tune trial.

    ``config`` is the trainer's :class:`tbviz.trainer.training.TrainConfig`;
    each trial logs to ``config.logdir`` as ``<prefix>/<name>``, exactly as
    the local executor names it, and stops itself when
    ``config.stop_on_overfitting`` (``tbviz.OverfittingStopping`` inside the
    trial, so its run closes with the note saying so). ``address`` joins an
    existing Ray cluster (default: a local instance, ``num_cpus`` cores);
    ``parallel`` caps concurrent trials. Tune's console table and its records
    (``~/ray_results``) are left out unless ``tune_output``: the trainer prints
    its own progress, and the log directory holds the runs. Returns one row
    per trial: run name, epochs trained, best validation loss, final status.

    Raises:
        tbviz.errors.RayClusterError: the cluster at ``address`` cannot be joined.
    """
    import dataclasses
    import os

    logdir = config.logdir if "://" in config.logdir else os.path.abspath(config.logdir)
    base = dataclasses.replace(config, logdir=logdir, verbose=0)
    started_here = not ray.is_initialized()
    if started_here:
        connect(address, num_cpus)
    trainable = tune.with_parameters(
        _trial, dataset=dataset, base=base, prefix=prefix, changes=dict(combos)
    )
    records = None if tune_output else tempfile.mkdtemp(prefix="tbviz-tune-")
    tuner = tune.Tuner(
        trainable,
        param_space={"name": tune.grid_search([name for name, _ in combos])},
        tune_config=tune.TuneConfig(max_concurrent_trials=parallel),
        # Tune's own records go to its default place (~/ray_results) when kept,
        # never into the log directory, where TensorBoard would list them as runs.
        run_config=tune.RunConfig(
            name=re.sub(r"[^\w.-]", "_", prefix),
            storage_path=records,
            verbose=1 if tune_output else 0,
        ),
    )
    try:
        with quiet_tune(not tune_output):
            grid = tuner.fit()
        rows = _rows(grid, prefix)
    finally:
        if started_here:
            ray.shutdown()
        if records is not None:
            shutil.rmtree(records, ignore_errors=True)
    return rows


def _rows(grid, prefix: str) -> list[dict]:
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
    from tbviz.trainer.training import train

    name = config["name"]
    train(dataset, base.sweep_run(prefix, name, changes[name]), report=tune_report)
