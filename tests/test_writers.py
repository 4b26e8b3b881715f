"""One reading model: logs written by the real PyTorch-side writers read the same way by
the ``tbviz`` command and by the tab, and right against the truth they logged.
(Keras, TensorFlow, keras-tuner, Lightning and Hugging Face writers:
tests/test_writers_slow.py.)"""

from __future__ import annotations

import os

import pytest

from tbviz.commands.cli import main
from tbviz.logdir.reader import read_run
from tests import writers
from tests.writers import BEST_EPOCH, BEST_VALUE, TRAIN, VAL


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("writers") / "runs"
    expected = writers.write_quick_matrix(root)
    outside = root.parent / "elsewhere" / "linked-run"
    writers.write_torch_flat(outside)
    os.symlink(outside, root / "symlinked")
    expected["symlinked"] = "flat"
    return root, expected


def test_every_writer_is_one_run_read_right_by_the_command_and_the_tab(matrix, capsys):
    root, expected = matrix
    cli = writers.cli_rows(root, capsys)
    tab = writers.tab_rows(root)
    assert sorted(cli) == sorted(expected), "the command lists other runs"
    assert sorted(tab) == sorted(expected), "the tab lists other runs"
    disagreements = [line for run in cli for line in writers.same_reading(cli[run], tab[run])]
    assert disagreements == []
    for run, layout in expected.items():
        row = cli[run]
        assert row["layout"] == layout, run
        assert (row["best_epoch"], row["epochs"]) == (BEST_EPOCH, len(VAL)), run
        assert row["best_value"] == pytest.approx(BEST_VALUE), run
        assert row["status"] == "overfitting", run
        assert row["paired"][0] == "loss", run
        assert row["gap"] == pytest.approx(VAL[-1] - TRAIN[-1], abs=1e-6), run


def test_training_logged_every_iteration_is_averaged_per_epoch(matrix, capsys):
    root, _ = matrix
    for run in ("tbx-mixed-steps", "torch-mixed-steps"):
        data = read_run(str(root / run))
        assert data.history["loss"].epochs == list(range(len(TRAIN)))
        assert data.history["loss"].values == pytest.approx(TRAIN)
        assert any("averaged per epoch by wall time" in r for r in data.remarks)
    main(["leaderboard", str(root), "--runs", "mixed"])
    assert "averaged per epoch by wall time" in capsys.readouterr().out


def test_fastai_metrics_logged_beside_the_validation_loss_are_validation(matrix, capsys):
    root, _ = matrix
    data = read_run(str(root / "fastai-pattern"))
    assert data.history["val_accuracy"].values == pytest.approx([1 - v / 2 for v in VAL])
    assert data.history["val_error_rate"].epochs == list(range(len(VAL)))
    assert "accuracy" not in data.history  # not a training accuracy
    assert sorted(data.unmatched) == ["mom_0", "wd_0"]  # optimiser settings, every batch
    cli = writers.cli_rows(root, capsys, "--runs", "fastai", "--metric", "val_accuracy")
    tab = writers.tab_rows(root, metric="val_accuracy")
    assert cli["fastai-pattern"]["best_value"] == pytest.approx(1 - BEST_VALUE / 2)
    assert writers.same_reading(cli["fastai-pattern"], tab["fastai-pattern"]) == []
    main(["leaderboard", str(root), "--runs", "fastai"])
    assert "read as validation (val_accuracy, val_error_rate)" in capsys.readouterr().out


def test_add_hparams_belong_to_their_run(matrix, capsys):
    root, _ = matrix
    cli = writers.cli_rows(root, capsys, "--runs", "torch-hparams")
    tab = writers.tab_rows(root)
    assert cli["torch-hparams"]["hparams"] == {"lr": 0.01, "batch_size": 32}
    assert tab["torch-hparams"]["hparams"] == {"lr": 0.01, "batch_size": 32}
    assert "no split" not in capsys.readouterr().err


def test_annotate_writes_only_in_run_folders_and_twice_adds_nothing(tmp_path, capsys):
    root = tmp_path / "runs"
    writers.write_quick_matrix(root)
    before = {p for p in root.rglob("*") if p.is_file()}
    assert main(["annotate", str(root), "--no-progress"]) == 0
    capsys.readouterr()
    added = {p for p in root.rglob("*") if p.is_file()} - before
    runs = set(writers.cli_rows(root, capsys))
    assert len(added) == len(runs)
    for path in added:  # one event file in each run's own folder
        run = path.parent.relative_to(root).as_posix()
        assert run in runs, path
    files = {p: p.stat().st_size for p in root.rglob("*") if p.is_file()}
    assert main(["annotate", str(root), "--no-progress"]) == 0
    assert f"0 annotated, 0 brought up to date, {len(runs)} already current" in (
        capsys.readouterr().out
    )
    assert {p: p.stat().st_size for p in root.rglob("*") if p.is_file()} == files
    cli, tab = writers.cli_rows(root, capsys), writers.tab_rows(root)
    assert sorted(cli) == sorted(tab) == sorted(runs)
    assert all(tab[run]["source"] == "tbviz" for run in runs)
    assert [line for run in cli for line in writers.same_reading(cli[run], tab[run])] == []


def test_a_skorch_fit_is_read_as_its_own_history_says(tmp_path, capsys):
    """skorch's ``TensorBoard`` callback writes its history keys under one chart group
    (``Loss/train_loss``, ``Loss/valid_loss``, ``Loss/valid_acc``) beside ``dur``,
    at epochs 1, 2, ...: once read as no run at all, with nonsense flags suggested."""
    import numpy as np
    import torch
    from skorch import NeuralNetClassifier
    from skorch.callbacks import TensorBoard
    from torch.utils.tensorboard import SummaryWriter

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 20)).astype(np.float32)
    y = (x[:, 0] + rng.normal(scale=1.5, size=240) > 0).astype(np.int64)  # noisy: overfits
    module = torch.nn.Sequential(torch.nn.Linear(20, 128), torch.nn.ReLU(), torch.nn.Linear(128, 2))
    writer = SummaryWriter(str(tmp_path / "runs" / "skorch-mlp"))
    net = NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.02,
        max_epochs=15,
        callbacks=[TensorBoard(writer)],
        verbose=0,
    )
    net.fit(x, y)
    writer.close()
    valid = list(net.history[:, "valid_loss"])
    cli = writers.cli_rows(tmp_path / "runs", capsys)
    tab = writers.tab_rows(tmp_path / "runs")
    row = cli["skorch-mlp"]
    assert writers.same_reading(row, tab["skorch-mlp"]) == []
    assert row["layout"] == "flat" and row["paired"] == ["loss"]  # dur is no metric
    assert row["epochs"] == 15 and row["best_epoch"] == valid.index(min(valid))
    assert row["best_value"] == pytest.approx(min(valid))
    data = read_run(str(tmp_path / "runs" / "skorch-mlp"))
    assert data.history["val_acc"].values == pytest.approx(list(net.history[:, "valid_acc"]))
    assert data.history["loss"].values == pytest.approx(list(net.history[:, "train_loss"]))


def test_catboost_learn_and_test_folders_are_one_run(tmp_path, capsys):
    """CatBoost writes ``catboost_info/learn`` and ``catboost_info/test``, its metrics
    by their own names (``Logloss``, ``Accuracy``) at iterations 0, 1, ... (checked
    against catboost 1.2 here; not installed for the tests: a 100 MB wheel). The
    ``learn`` folder was once skipped, so an overfitting model read as a plateau."""
    root = tmp_path / "runs"
    for folder, curve in (("learn", TRAIN), ("test", VAL)):
        writer = writers.tbx_writer(root / "catboost_info" / folder)
        for iteration, value in enumerate(curve):
            writer.add_scalar("Logloss", value, iteration)
            writer.add_scalar("Accuracy", 1 - value / 2, iteration)
        writer.close()
    cli = writers.cli_rows(root, capsys, "--metric", "val_Logloss")
    tab = writers.tab_rows(root, metric="val_Logloss")
    row = cli["catboost_info"]
    assert writers.same_reading(row, tab["catboost_info"]) == []
    assert row["layout"] == "split folders" and row["paired"] == ["Accuracy", "Logloss"]
    assert (row["best_epoch"], row["status"]) == (BEST_EPOCH, "overfitting")
    assert row["gap"] == pytest.approx(VAL[-1] - TRAIN[-1], abs=1e-6)


def test_the_suggested_flags_work_when_pasted(tmp_path, capsys):
    root = tmp_path / "runs"
    writer = writers.torch_writer(root / "odd")
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        writer.add_scalar("loss/ours", train, epoch)
        writer.add_scalar("loss/holdout", val, epoch)
    writer.close()
    assert main(["leaderboard", str(root)]) == 1
    err = capsys.readouterr().err
    flags = err.split("add ", 1)[1].splitlines()[0].split()
    assert flags[0] == "--train-tag", err
    pasted = [flag.strip("'") for flag in flags]
    assert main(["leaderboard", str(root), "--json", *pasted]) == 0
    out = capsys.readouterr().out
    assert '"best_epoch": 3' in out


def test_lightning_style_validation_loaders(tmp_path, capsys):
    """``val_loss/dataloader_idx_N``: the first loader by default, said in the row;
    the others by name."""
    root = tmp_path / "runs"
    writer = writers.torch_writer(root / "two-loaders")
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        writer.add_scalar("epoch", epoch, epoch * 10 + 9)
        writer.add_scalar("train_loss_epoch", train, epoch * 10 + 9)
        writer.add_scalar("val_loss/dataloader_idx_0", val, epoch * 10 + 9)
        writer.add_scalar("val_loss/dataloader_idx_1", val * 2, epoch * 10 + 9)
    writer.close()
    cli = writers.cli_rows(root, capsys)["two-loaders"]
    assert cli["best_value"] == pytest.approx(BEST_VALUE)
    assert "dataloader 0 of 2" in cli["remarks"][0]
    assert writers.tab_rows(root)["two-loaders"]["remarks"] == cli["remarks"]
    other = writers.cli_rows(root, capsys, "--metric", "val_loss_dataloader_idx_1")
    assert other["two-loaders"]["best_value"] == pytest.approx(2 * BEST_VALUE)


def test_a_folder_the_command_cannot_read_is_named(tmp_path, capsys, monkeypatch):
    """The unreadable run is named on standard error, the others are ranked. (These
    tests run as root, who reads every folder: listing it is refused here the way
    the kernel refuses another user.)"""
    root = tmp_path / "runs"
    writers.write_torch_flat(root / "readable")
    writers.write_torch_flat(root / "locked")
    scandir = os.scandir

    def refuse(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    assert main(["leaderboard", str(root)]) == 0
    out, err = capsys.readouterr()
    assert "readable" in out
    assert "cannot read folder 'locked': Permission denied" in err
