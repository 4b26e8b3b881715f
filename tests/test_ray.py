"""Sweeps on Ray Tune: a local Ray instance started here (2 CPUs), the trainer's sweep as
Tune trials into one log directory, and tbviz's stopper stopping an overfitting trial."""

from __future__ import annotations

import subprocess
import sys

import pytest
import ray
from ray import tune

from tbviz.logdir.reader import read_run
from tbviz.ray import OverfittingStopper
from tests.conftest import TUTORIAL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def test_the_sweep_runs_as_tune_trials_into_one_log_directory(local_ray, tmp_path, capsys):
    from tbviz.trainer.cli import main

    code = main(
        [
            *("--sweep", "lr=1e-3,3e-3", "--sweep", "filters=4,8"),
            *("--executor", "ray", "--parallel", "2", "--epochs", "2"),
            *("--train-size", "200", "--val-size", "100", "--run-name", "tuned"),
            *("--logdir", str(tmp_path / "runs"), "--figure-budget", "none"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "4 Ray Tune trials" in out
    runs = sorted(p.name for p in (tmp_path / "runs" / "tuned").iterdir())
    assert runs == [
        "lr=0.001,filters=4",
        "lr=0.001,filters=8",
        "lr=0.003,filters=4",
        "lr=0.003,filters=8",
    ]
    for name in runs:
        run = read_run(str(tmp_path / "runs" / "tuned" / name))
        assert run.history["val_loss"].epochs == [0, 1]  # the same layout as a local run
        assert run.hparams()["lr"] in (0.001, 0.003) and run.hparams()["filters"] in (4, 8)
        assert run.texts("tbviz/summary")  # closed properly inside the trial
    assert (tmp_path / "runs" / "_compare").is_dir()
    assert "tuned/lr=0.003,filters=8" in out  # the leaderboard at the end


def overfitting_trial(config):
    """Reports the tutorial's curve, extended: validation keeps rising."""
    loss = [*TUTORIAL["loss"], *(0.008 - 0.0005 * i for i in range(10))]
    val = [*TUTORIAL["val_loss"], *(0.1 + 0.005 * i for i in range(10))]
    for epoch, (train, validation) in enumerate(zip(loss, val, strict=True)):
        tune.report({"epoch": epoch, "loss": train, "val_loss": validation})


def test_the_stopper_stops_an_overfitting_trial_early(local_ray, tmp_path):
    stopper = OverfittingStopper()
    grid = tune.Tuner(
        overfitting_trial,
        run_config=tune.RunConfig(storage_path=str(tmp_path), stop=stopper, verbose=0),
    ).fit()
    [result] = list(grid)
    epochs = len(result.metrics_dataframe)
    assert epochs < 20  # 20 epochs were planned
    [(stopped_after, best)] = stopper.stopped.values()
    assert stopped_after == epochs - 1 and best == 3  # the tutorial's best epoch


def diverging_trial(config):
    """A trial whose loss becomes NaN at epoch 3 and stays so."""
    nan = float("nan")
    for epoch in range(20):
        train, validation = (1.0 - 0.1 * epoch, 1.1 - 0.1 * epoch) if epoch < 3 else (nan, nan)
        tune.report({"epoch": epoch, "loss": train, "val_loss": validation})


def test_the_stopper_stops_a_diverged_trial(local_ray, tmp_path):
    stopper = OverfittingStopper()
    grid = tune.Tuner(
        diverging_trial,
        run_config=tune.RunConfig(storage_path=str(tmp_path), stop=stopper, verbose=0),
    ).fit()
    [result] = list(grid)
    assert len(result.metrics_dataframe) == 4  # stopped at the first NaN epoch
    [(trial, (stopped_after, best))] = stopper.stopped.items()
    assert stopped_after == 3 and best == 2 and stopper.diverged == {trial}


def test_without_ray_the_flag_and_module_name_the_extra():
    hide = "import sys; sys.modules['ray'] = None\n"
    out = subprocess.run(
        [sys.executable, "-c", hide + "import tbviz.ray"], capture_output=True, text=True
    )
    assert "pip install 'tbviz[ray]'" in out.stderr
    run = (
        "from tbviz.trainer.cli import main\n"
        "sys.exit(main(['--sweep', 'lr=1e-3,1e-2', '--executor', 'ray']))"
    )
    out = subprocess.run([sys.executable, "-c", hide + run], capture_output=True, text=True)
    assert out.returncode == 2 and "pip install 'tbviz[ray]'" in out.stderr
