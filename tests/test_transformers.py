"""tbviz.transformers on real Hugging Face Trainer runs: a tiny randomly initialised
BERT that memorises random labels (no download), evaluated every epoch (the
README's example, run as written) and twice an epoch."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
from transformers import (
    Trainer,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from tbviz.commands.cli import main
from tbviz.logdir import metadata
from tbviz.logdir.reader import read_run
from tbviz.transformers import OverfittingStopping, TBVizCallback, validation_values
from tests.conftest import readme_python
from tests.writers import tiny_bert

pytestmark = pytest.mark.slow


class RandomTexts(torch.utils.data.Dataset):
    def __init__(self, size: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(5, 100, (size, 16), generator=g)
        self.labels = torch.randint(0, 2, (size,), generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def test_the_readme_example_stops_and_keeps_the_best_evaluation(tmp_path, capsys):
    code = readme_python("### With Hugging Face Transformers")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    stopped = [line for line in lines if line.startswith("Stopped by OverfittingStopping")]
    assert len(stopped) == 1, out.stdout[-2000:]
    assert "the Trainer loads the best checkpoint at the end" in stopped[0]
    kept, best = (float(v) for v in lines[-1].split(" = "))
    assert kept == pytest.approx(best, rel=1e-5)  # the model left is the best evaluation's
    data = read_run(str(tmp_path / "runs" / "tiny-bert"))
    val = data.history["val_loss"]
    assert len(val.epochs) < 30  # stopped well before the planned epochs
    assert min(val.values) == pytest.approx(best, rel=1e-5)
    assert set(data.history) >= {"loss", "val_loss", "learning_rate"}
    assert data.images(metadata.TAG_FIGURE)
    notes = [text for _, text in data.texts(metadata.TAG_NOTES)]
    assert any(text.startswith("**Overfitting** since step") for text in notes)
    summary = data.texts(metadata.TAG_SUMMARY)[-1][1]
    assert "Stopped by OverfittingStopping after step" in summary
    assert data.hparams()["learning_rate"] == 0.003 and data.hparams()["model"] == "bert"
    assert main(["leaderboard", str(tmp_path / "runs"), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["status"] == "overfitting" and row["best_value"] == pytest.approx(best, rel=1e-5)


def test_twice_an_epoch_points_are_evaluations_named_by_step(tmp_path):
    args = TrainingArguments(
        str(tmp_path / "checkpoints"),
        num_train_epochs=30,
        learning_rate=3e-3,
        per_device_train_batch_size=16,
        eval_strategy="steps",
        eval_steps=7,  # 13 steps an epoch
        save_strategy="steps",
        save_steps=7,
        logging_steps=7,
        load_best_model_at_end=True,
        save_total_limit=2,
        report_to=[],
        disable_tqdm=True,
    )
    stopper = OverfittingStopping(verbose=False)
    trainer = Trainer(
        tiny_bert(),
        args,
        train_dataset=RandomTexts(200, seed=0),
        eval_dataset=RandomTexts(64, seed=1),
        callbacks=[stopper, TBVizCallback(log_dir=str(tmp_path / "runs"), run_name="steps")],
    )
    trainer.train()
    assert 0 < stopper.stopped_step < 30 * 13
    assert trainer.evaluate()["eval_loss"] == pytest.approx(trainer.state.best_metric, rel=1e-5)
    data = read_run(str(tmp_path / "runs" / "steps"))
    evaluations = [log for log in trainer.state.log_history if "eval_loss" in log][:-1]
    assert len(data.history["val_loss"].epochs) == len(evaluations)
    # TensorBoard's axis is the global step; the figures sit at evaluation steps.
    steps = [log["step"] for log in evaluations]
    assert {step for step, *_ in data.images(metadata.TAG_FIGURE)} <= set(steps)
    summary = data.texts(metadata.TAG_SUMMARY)[-1][1]
    assert f"Final diagnosis after {len(steps)} evaluations" in summary
    onset = re.search(r"since step ([\d,]+) \(epoch ([\d.]+)\)", summary)
    step, epoch = int(onset.group(1).replace(",", "")), float(onset.group(2))
    assert step in steps and epoch == pytest.approx(step / 13, abs=0.006)  # 13 steps an epoch


def test_only_the_main_process_writes(tmp_path):
    args = TrainingArguments(str(tmp_path / "checkpoints"), report_to=[])
    callback = TBVizCallback(log_dir=str(tmp_path / "runs"), run_name="rank1")
    state = TrainerState(is_world_process_zero=False)
    callback.on_train_begin(args, state, TrainerControl())
    callback.on_evaluate(args, state, TrainerControl(), metrics={"eval_loss": 0.5})
    callback.on_train_end(args, state, TrainerControl())
    assert not (tmp_path / "runs").exists()


def test_a_second_evaluation_at_the_same_step_is_not_a_new_point(tmp_path):
    """``trainer.evaluate()`` called by hand where the Trainer also evaluated."""
    args = TrainingArguments(str(tmp_path / "checkpoints"), report_to=[])
    callback, stopper = (
        TBVizCallback(log_dir=str(tmp_path / "runs"), run_name="twice"),
        (OverfittingStopping(verbose=False)),
    )
    state, control = TrainerState(global_step=10, epoch=1.0), TrainerControl()
    with pytest.warns(UserWarning, match="load_best_model_at_end"):
        stopper.on_train_begin(args, state, control)
    callback.on_train_begin(args, state, control)
    for loss in (0.5, 0.4):
        callback.on_evaluate(args, state, control, metrics={"eval_loss": loss})
        stopper.on_evaluate(args, state, control, metrics={"eval_loss": loss})
    callback.on_train_end(args, state, control)
    data = read_run(str(tmp_path / "runs" / "twice"))
    assert data.history["val_loss"].values == [0.5]
    assert stopper.diagnosis.epochs == 1


def test_evaluation_metrics_get_tbviz_names():
    metrics = {
        "eval_loss": 0.5,
        "eval_accuracy": 0.8,
        "eval_runtime": 1.2,
        "eval_samples_per_second": 50.0,
        "eval_steps_per_second": 3.0,
        "epoch": 2.0,
    }
    assert validation_values(metrics) == {"val_loss": 0.5, "val_accuracy": 0.8}


def test_a_trainer_log_without_training_values_says_what_to_set(tmp_path, monkeypatch):
    """The Trainer logs training every ``logging_steps`` (500): a small run evaluated
    every epoch has validation and no training curve, which cannot show
    overfitting; the reading says so and names the argument to change."""
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "runs" / "default-logging"))
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        report_to=["tensorboard"],
        num_train_epochs=3,
        per_device_train_batch_size=8,
        eval_strategy="epoch",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    Trainer(
        model=tiny_bert(),
        args=args,
        train_dataset=RandomTexts(32, 0),
        eval_dataset=RandomTexts(16, 1),
    ).train()
    run = read_run(str(tmp_path / "runs" / "default-logging"))
    assert run.history["val_loss"].epochs == [0, 1, 2] and "loss" not in run.history
    assert (
        "no training metric logged, so overfitting cannot be told: set "
        "TrainingArguments(logging_strategy=...) to the eval_strategy, or a lower logging_steps"
    ) in run.remarks
