"""tbviz.lightning on real Lightning fits (tiny models, CPU): the run a Keras fit gets,
the stopper, and a two-process DDP run that writes one run folder."""

import subprocess
import sys
import textwrap

import lightning
import pytest
import torch

from tbviz.lightning import OverfittingStopping, TBVizCallback, keras_names
from tbviz.logdir.reader import read_run
from tests.conftest import LIGHTNING_MODULE, ROOT, lightning_module, readme_python

pytestmark = pytest.mark.slow

Noise, loaders = lightning_module()


def trainer(callbacks, epochs):
    return lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )


def test_lightning_names_become_keras_names():
    logged = {
        "train_loss_step": torch.tensor(0.9),
        "train_loss_epoch": torch.tensor(0.5),
        "train_loss": torch.tensor(0.7),
        "val/acc": torch.tensor(0.8),
        "valid_loss": 0.6,
        "epoch": 3,
        "test_loss": 1.0,
    }
    assert keras_names(logged) == pytest.approx({"loss": 0.5, "val_acc": 0.8, "val_loss": 0.6})


def test_a_lightning_fit_writes_the_tbviz_run(tmp_path):
    torch.manual_seed(0)
    model = Noise()
    train, val = loaders()
    trainer([TBVizCallback(log_dir=str(tmp_path), run_name="lit", figure_budget=None)], 6).fit(
        model, train, val
    )
    run = read_run(str(tmp_path / "lit"))
    history = run.history
    assert history["loss"].epochs == list(range(6))  # one point per epoch, not per step
    assert history["val_loss"].epochs == list(range(6))
    assert "val_acc" in history and "acc" not in history
    assert [step for step, *_ in run.images()] == list(range(6))
    assert run.hparams() == {"lr": 0.01, "width": 64}
    assert run.diagnoses()[-1][1]["epochs"] == 6
    assert run.texts("tbviz/summary")


def test_the_learning_rate_an_epoch_trained_at_reaches_the_detector(tmp_path):
    """Lightning's callback metrics hold no learning rate (LearningRateMonitor
    writes to the logger); tbviz reads the optimizer's, as Keras' schedules log
    it, so a rate that dropped gets its chance here too."""

    class Stepped(Noise):
        def configure_optimizers(self):
            optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, 2, gamma=0.1)]

    torch.manual_seed(0)
    stopper = OverfittingStopping()
    callback = TBVizCallback(log_dir=str(tmp_path), run_name="step", figure_every=0)
    trainer([stopper, callback], 5).fit(Stepped(), *loaders())
    rates = read_run(str(tmp_path / "step")).history["learning_rate"]
    assert rates.epochs == list(range(5))
    assert rates.values == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001])
    assert stopper.diagnosis.lr_drop_epoch in (2, 4)


def test_lightning_calls_tbviz_once_an_epoch_not_once_a_batch(tmp_path):
    """Lightning calls a callback's per-batch hooks through its profiler even when
    they do nothing (about 1% of a small CPU fit); tbviz's callbacks have none
    for it to call, and their epoch hooks still run. Read from Lightning's own
    profiler."""
    from lightning.pytorch.profilers import SimpleProfiler

    torch.manual_seed(0)
    profiler = SimpleProfiler()
    callbacks = [OverfittingStopping(), TBVizCallback(log_dir=str(tmp_path), figure_every=0)]
    fit = trainer(callbacks, 2)
    fit.profiler = profiler
    fit.fit(Noise(), *loaders())
    called = {action for action in profiler.recorded_durations if action.startswith("[Callback]")}
    ours = {a for a in called if "TBVizCallback" in a or "OverfittingStopping" in a}
    assert "[Callback]TBVizCallback.on_train_epoch_end" in ours
    assert "[Callback]OverfittingStopping.on_train_epoch_end" in ours
    assert not [a for a in ours if "batch" in a or "backward" in a or "optimizer" in a], ours


def test_the_lightning_stopper_stops_and_restores(tmp_path):
    torch.manual_seed(0)
    model = Noise(lr=3e-2, width=256)
    train, val = loaders()
    stopper = OverfittingStopping()
    trainer([stopper, TBVizCallback(log_dir=str(tmp_path), run_name="stop")], 60).fit(
        model, train, val
    )
    assert 0 < stopper.stopped_epoch < 59
    run = read_run(str(tmp_path / "stop"))
    val_loss = run.history["val_loss"]
    assert val_loss.epochs[-1] == stopper.stopped_epoch
    best = val_loss.epochs[min(range(len(val_loss)), key=val_loss.values.__getitem__)]
    assert stopper.best_epoch == best
    # The restored weights give the best epoch's validation loss again.
    restored = trainer([], 1).validate(model, val, verbose=False)[0]["val_loss"]
    assert restored == pytest.approx(min(val_loss.values), rel=1e-4)
    assert "Stopped by OverfittingStopping" in run.texts("tbviz/summary")[-1][1]


DDP = (
    LIGHTNING_MODULE
    + """

if __name__ == "__main__":
    import sys

    from tbviz.lightning import TBVizCallback

    torch.manual_seed(0)
    train, val = loaders()
    lightning.Trainer(
        max_epochs=3,
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[TBVizCallback(log_dir=sys.argv[1], run_name="ddp", figure_budget=None)],
    ).fit(Noise(), train, val)
    # Without this, gloo's threads can abort a worker at exit ("terminate called
    # without an active exception") after a successful fit.
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
"""
)


def test_under_ddp_only_rank_zero_writes(tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(DDP))
    logdir = tmp_path / "runs"
    out = subprocess.run(
        [sys.executable, str(script), str(logdir)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "GLOO_SOCKET_IFNAME": "lo"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(p.name for p in logdir.iterdir()) == ["ddp"]  # no ddp-2 from rank 1
    run = read_run(str(logdir / "ddp"))
    assert run.history["val_loss"].epochs == [0, 1, 2]
    files = list((logdir / "ddp" / "validation").iterdir())
    assert len(files) == 1  # one writer, one file


def test_the_readme_lightning_example_runs_as_written(tmp_path):
    code = readme_python("### With PyTorch Lightning")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    stopped = [line for line in out.stdout.splitlines() if line.startswith("Stopped by")]
    assert len(stopped) == 1, out.stdout[-2000:]  # one line, as EarlyStopping(verbose=1)
    data = read_run(str(tmp_path / "runs" / "lit-mlp"))
    epochs = data.history["val_loss"].epochs
    assert len(epochs) < 60 and f"after epoch {epochs[-1] + 1}:" in stopped[0]
    assert set(data.history) >= {"loss", "val_loss", "acc", "val_acc"}
    assert data.hparams() == {"lr": 0.01}
    assert data.diagnoses()[-1][1]["status"] == "overfitting"
    assert not (tmp_path / "lightning_logs").exists()


def test_the_stopper_warns_once_when_its_metric_is_never_logged():
    model = Noise()
    train, val = loaders()
    stopper = OverfittingStopping(monitor="val_f1")
    with pytest.warns(UserWarning, match="'val_f1', which is not available") as seen:
        trainer([stopper], 3).fit(model, train, val)
    ours = [str(w.message) for w in seen if "val_f1" in str(w.message)]
    assert len(ours) == 1 and "val_loss" in ours[0]
