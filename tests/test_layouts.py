"""Logs tbviz did not write, in every common layout, written here by the real writers
(tensorboardX, torch.utils.tensorboard, Lightning's TensorBoardLogger, Keras):
ranked, best epochs as 0-based epochs, broken files, unpairable folders, annotate
refresh, explicit tag mappings, and the tab listing them."""

from __future__ import annotations

import json

import pytest

from tbviz.commands.cli import main
from tbviz.logdir.layouts import (
    ROOT,
    Curve,
    Part,
    TagMapping,
    match_flat_tag,
    run_history,
    scalars_metric,
    suggest_mapping,
)
from tbviz.logdir.reader import read_run
from tests.writers import AGREED, cli_rows, same_reading, tab_rows

VAL = [1.0, 0.7, 0.55, 0.5, 0.52, 0.56, 0.61, 0.67]  # best at epoch 3 (step 3)
TRAIN = [1.1, 0.7, 0.45, 0.3, 0.2, 0.12, 0.07, 0.04]


def tensorboardx_run(folder, style: str, steps_per_epoch: int = 1) -> None:
    """One run written by tensorboardX in a given tag style."""
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(str(folder))
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        step = epoch * steps_per_epoch
        if style == "split-first":
            writer.add_scalar("train/loss", train, step)
            writer.add_scalar("val/loss", val, step)
            writer.add_scalar("val/acc", 1 - val / 2, step)
        elif style == "split-last":
            writer.add_scalar("Loss/train", train, step)
            writer.add_scalar("Loss/val", val, step)
        elif style == "add_scalars":
            writer.add_scalars("Loss", {"train": train, "val": val}, step)
        elif style == "odd":
            writer.add_scalar("loss/ours", train, step)
            writer.add_scalar("loss/holdout", val, step)
    writer.close()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts") / "runs"
    tensorboardx_run(root / "tbx-split-first", "split-first")
    tensorboardx_run(root / "tbx-split-last", "split-last", steps_per_epoch=40)
    tensorboardx_run(root / "tbx-add-scalars", "add_scalars")
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(root / "torch-tutorial"))
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        writer.add_scalar("Loss/train", train, epoch + 1)  # 1-based, as many tutorials do
        writer.add_scalar("Loss/val", val, epoch + 1)
    writer.close()
    return root


def test_flat_tags_are_matched_case_insensitively():
    assert match_flat_tag("train/loss") == ("train", "loss", "")
    assert match_flat_tag("Loss/Val") == ("val", "loss", "")
    assert match_flat_tag("valid_accuracy_epoch") == ("val", "accuracy", "epoch")
    assert match_flat_tag("train_loss_step") == ("train", "loss", "step")
    assert match_flat_tag("learning_rate") is None
    assert match_flat_tag("training loss") == ("train", "loss", "")  # PyTorch's tutorial
    assert match_flat_tag("Validation Accuracy") == ("val", "accuracy", "")
    assert match_flat_tag("Loss/valid_acc") == ("val", "acc", "")  # skorch: a chart group
    assert match_flat_tag("metrics/mAP50(B)") is None


def test_no_mapping_is_suggested_from_counters_and_timings():
    """An unknown namespace over bookkeeping tags (Ray Tune's, before tbviz knew it)
    once gave '--train-tag {metric}/iterations_since_restore --val-tag {metric}/done'."""
    assert suggest_mapping(["ns/done", "ns/iterations_since_restore", "ns/time"]) is None
    found = suggest_mapping(["loss/ours", "loss/holdout", "ns/done", "ns/time"])
    assert {found.train_tag, found.val_tag} == {"{metric}/ours", "{metric}/holdout"}


def test_an_add_scalars_chart_is_named_for_its_metric_not_its_splits():
    assert scalars_metric("Training vs. Validation Loss") == "loss"
    assert scalars_metric("train loss and val loss") == "loss"
    assert scalars_metric("Loss") == "loss"
    assert scalars_metric("top-5 accuracy") == "top_5_accuracy"
    assert scalars_metric("Train vs Val") == "train_vs_val"  # nothing else: the whole name


@pytest.mark.slow
def test_every_layout_is_ranked_with_0_based_best_epochs(logdir, capsys):
    assert main(["leaderboard", str(logdir), "--json"]) == 0
    rows = {r["run"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"tbx-split-first", "tbx-split-last", "tbx-add-scalars", "torch-tutorial"}
    for row in rows.values():
        assert row["best_epoch"] == 3 and row["epochs"] == 8
        assert row["status"] == "overfitting" and row["onset_epoch"] == 3
    assert rows["tbx-add-scalars"]["layout"] == "add_scalars"
    assert rows["tbx-split-last"]["layout"] == "flat"  # global steps 0, 40, 80 -> epochs


@pytest.mark.slow
def test_lightning_logs_place_values_by_the_epoch_scalar(tmp_path):
    """A real Lightning fit with its own TensorBoardLogger (version_N, global steps)."""
    import lightning

    from tests.conftest import lightning_module

    Noise, loaders = lightning_module()

    train, val = loaders()
    trainer = lightning.Trainer(
        max_epochs=4,
        accelerator="cpu",
        logger=lightning.pytorch.loggers.TensorBoardLogger(str(tmp_path), name="lightning_logs"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(Noise(), train, val)
    run = read_run(str(tmp_path / "lightning_logs" / "version_0"))
    assert run.layout == "lightning"
    history = run.history
    assert history["loss"].epochs == [0, 1, 2, 3]  # train_loss_epoch; _step values left out
    assert history["val_loss"].epochs == [0, 1, 2, 3]
    assert "val_acc" in history


@pytest.mark.slow
def test_lightning_training_logged_at_steps_is_averaged_per_epoch(tmp_path):
    """``self.log("train_loss", loss)`` in ``training_step`` (Lightning's default there:
    every ``log_every_n_steps`` steps, no epoch value) is each epoch's mean, as an
    epoch's training loss is, not its last batch; too few steps is said."""
    import lightning
    import torch

    losses: list[tuple[int, float]] = []

    class Default(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)
            )

        def training_step(self, batch, _):
            loss = torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])
            self.log("train_loss", loss)
            losses.append((self.current_epoch, loss.item()))
            return loss

        def validation_step(self, batch, _):
            self.log("val_loss", torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1]))

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-2)

    torch.manual_seed(0)
    x, y = torch.randn(256, 20), torch.randint(0, 2, (256,))
    train = torch.utils.data.DataLoader(list(zip(x, y, strict=True)), batch_size=32)
    val = torch.utils.data.DataLoader(list(zip(x[:64], y[:64], strict=True)), batch_size=64)
    for name, every in (("every-step", 1), ("default", 50)):
        losses.clear()
        lightning.Trainer(
            max_epochs=4,
            log_every_n_steps=every,
            logger=lightning.pytorch.loggers.TensorBoardLogger(str(tmp_path), name=name),
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
        ).fit(Default(), train, val)
        run = read_run(str(tmp_path / name / "version_0"))
        if every == 1:
            means = [
                sum(v for e, v in losses if e == epoch) / sum(e == epoch for e, _ in losses)
                for epoch in range(4)
            ]
            assert run.history["loss"].values == pytest.approx(means, rel=1e-5)
            assert "loss logged at steps: averaged per epoch" in run.remarks
        else:  # 8 steps an epoch, logged every 50: no training value at all
            assert "loss" not in run.history
            assert any(r.startswith("no training metric logged") for r in run.remarks)
        assert run.history["val_loss"].epochs == [0, 1, 2, 3]


def test_lightning_training_logged_at_few_epochs_is_named(tmp_path):
    """Fewer training steps an epoch than ``log_every_n_steps``: the epochs training
    was logged at are named, with what to change."""
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "lightning_logs" / "version_0"))
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        step = epoch * 20 + 19
        if epoch == 2:  # every 50 steps of 20 an epoch: step 49 only
            writer.add_scalar("train_loss", train, 49)
            writer.add_scalar("epoch", epoch, 49)
        writer.add_scalar("val_loss", val, step)
        writer.add_scalar("epoch", epoch, step)
    writer.close()
    run = read_run(str(tmp_path / "lightning_logs" / "version_0"))
    assert run.history["loss"].epochs == [2]
    assert (
        "loss logged at only 1 of 8 epochs: log it with self.log(..., on_epoch=True), or a "
        "lower Trainer(log_every_n_steps=...)" in run.remarks
    )


def test_validation_without_training_is_named_in_any_layout():
    """A flat log (a Tune trainable reporting validation only, say) cannot show
    overfitting without a training curve: the reading says so."""
    epochs = list(range(len(VAL)))
    tags = {"val/loss": Curve(epochs, VAL), "val/acc": Curve(epochs, [1 - v for v in VAL])}
    result = run_history({".": (ROOT, tags)})
    assert result.remarks == [
        "no training metric logged, so overfitting cannot be told: log the training loss "
        "once an epoch beside the validation loss"
    ]
    tags["train/loss"] = Curve(epochs, TRAIN)
    assert run_history({".": (ROOT, tags)}).remarks == []
    # A test split logged once at the end, a training-only metric logged now and
    # then: neither is a sparse training curve.
    tags["test/loss"] = Curve([7], [0.7])
    tags["train/weight_norm"] = Curve([0, 5], [1.0, 2.0])
    assert run_history({".": (ROOT, tags)}).remarks == []


def test_the_tab_lists_a_lightning_style_run(tmp_path):
    from tensorboardX import SummaryWriter

    logdir = tmp_path / "runs"
    writer = SummaryWriter(str(logdir / "lightning_logs" / "version_0"))
    step = 0
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        for _ in range(5):
            writer.add_scalar("train_loss_step", train + 0.1, step)
            step += 1
        writer.add_scalar("train_loss_epoch", train, step - 1)
        writer.add_scalar("val_loss", val, step - 1)
        writer.add_scalar("epoch", epoch, step - 1)
    writer.close()
    [row] = tab_rows(logdir).values()
    assert row["run"] == "lightning_logs/version_0" and row["source"] == "scalars"
    assert row["best_epoch"] == 3 and row["epochs"] == 8 and row["status"] == "overfitting"


def fairseq_run(folder, *, epoch_averages: bool = True) -> None:
    """A run as fairseq's ``--tensorboard-logdir`` writes it: a writer per tag of its
    progress bar (``train_inner`` every few updates, ``train`` at each epoch's end,
    ``valid`` after it), bare tags beside its bookkeeping, at the update count."""
    from tensorboardX import SummaryWriter

    writers = {
        name: SummaryWriter(str(folder / name)) for name in ("train_inner", "train", "valid")
    }
    book = {
        "wps": 9000.0,
        "ups": 3.0,
        "wpb": 3000.0,
        "bsz": 96.0,
        "lr": 5e-4,
        "gnorm": 1.1,
        "clip": 0.0,
        "loss_scale": 128.0,
        "train_wall": 30.0,
        "gb_free": 9.0,
        "wall": 99.0,
    }
    updates = 0
    for train, val in zip(TRAIN, VAL, strict=True):
        for i in range(4):
            updates += 25
            writers["train_inner"].add_scalar("loss", train + 0.05 * (2 - i), updates)
            writers["train_inner"].add_scalar("nll_loss", train - 0.1, updates)
            for tag, value in book.items():
                writers["train_inner"].add_scalar(tag, value, updates)
        if epoch_averages:
            writers["train"].add_scalar("loss", train, updates)
            writers["train"].add_scalar("nll_loss", train - 0.1, updates)
            writers["train"].add_scalar("ppl", 2 ** (train - 0.1), updates)
            writers["train"].add_scalar("num_updates", updates, updates)
        writers["valid"].add_scalar("loss", val, updates)
        writers["valid"].add_scalar("nll_loss", val - 0.1, updates)
        writers["valid"].add_scalar("ppl", 2 ** (val - 0.1), updates)
        writers["valid"].add_scalar("best_loss", min(VAL[: TRAIN.index(train) + 1]), updates)
        writers["valid"].add_scalar("wps", 20000.0, updates)
    for writer in writers.values():
        writer.close()


def test_fairseq_logs_are_one_run_without_its_bookkeeping(tmp_path, capsys):
    """fairseq's ``train_inner`` folder once showed as a run of its own ("no
    validation", 32 "epochs"), and its throughput, batch size and loss scale as
    metrics with figures of their own."""
    logdir = tmp_path / "runs"
    fairseq_run(logdir / "transformer" / "tb")
    fairseq_run(logdir / "lstm" / "tb", epoch_averages=False)  # stopped before its first
    cli = cli_rows(logdir, capsys)
    assert set(cli) == {"transformer/tb", "lstm/tb"}
    row = cli["transformer/tb"]
    assert row["paired"] == ["loss", "nll_loss", "ppl"]
    assert row["epochs"] == 8 and row["best_epoch"] == 3 and row["status"] == "overfitting"
    assert row["gap"] == pytest.approx(VAL[-1] - TRAIN[-1])  # the epoch's average, not an update's
    # Without the epoch averages, training is the mean of each epoch's updates.
    lstm = cli["lstm/tb"]
    assert lstm["paired"] == ["loss", "nll_loss"] and lstm["best_epoch"] == 3
    assert lstm["gap"] == pytest.approx(VAL[-1] - (TRAIN[-1] + 0.05 * (2 + 1 + 0 - 1) / 4))
    tab = tab_rows(logdir)
    for run in cli:
        assert not same_reading(cli[run], tab[run]), (run, AGREED)


def test_a_broken_file_costs_only_what_is_broken(tmp_path, capsys):
    logdir = tmp_path / "runs"
    tensorboardx_run(logdir / "good", "split-first")
    tensorboardx_run(logdir / "flipped", "split-first")
    [events] = (logdir / "flipped").glob("events.out.tfevents.*")
    data = bytearray(events.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle
    events.write_bytes(bytes(data))
    (logdir / "good" / "events.out.tfevents.0.junk").write_bytes(b"\x07" * 40)
    assert main(["leaderboard", str(logdir), "--json"]) == 0
    captured = capsys.readouterr()
    rows = {r["run"]: r for r in json.loads(captured.out)}
    assert set(rows) == {"good", "flipped"}
    assert rows["good"]["partial"] and rows["good"]["epochs"] == 8  # the junk file cost nothing
    assert rows["flipped"]["partial"] and 0 < rows["flipped"]["epochs"] < 8
    assert "flipped" in captured.err and "at byte" in captured.err
    assert main(["leaderboard", str(logdir)]) == 0
    assert "(partial)" in capsys.readouterr().out


def test_an_unpairable_folder_is_named_with_its_tags_and_the_command_fails(tmp_path, capsys):
    logdir = tmp_path / "runs"
    tensorboardx_run(logdir / "odd", "odd")
    assert main(["leaderboard", str(logdir)]) == 1
    err = capsys.readouterr().err
    assert "'odd'" in err and "loss/holdout" in err and "--train-tag" in err
    assert "no runs with training/validation scalars" in err
    # The explicit mapping reads it.
    args = ["--train-tag", "{metric}/ours", "--val-tag", "{metric}/holdout"]
    assert main(["leaderboard", str(logdir), "--json", *args]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["run"] == "odd" and row["best_epoch"] == 3 and row["layout"] == "mapped"
    assert main(["leaderboard", str(logdir), "--train-tag", "x"]) == 2
    assert "go together" in capsys.readouterr().err


def test_tag_mapping_needs_the_placeholder():
    with pytest.raises(ValueError, match="metric"):
        TagMapping("loss/train", "loss/val")
    mapping = TagMapping("{metric}/ours", "*/{metric}/holdout")
    assert mapping.match("loss/ours") == ("train", "loss")
    assert mapping.match("a/b/acc/holdout") == ("val", "acc")


def test_global_steps_become_epoch_indices():
    steps = [99, 199, 299]
    tags = {
        "train/loss": Curve(list(range(0, 300, 10)), [1.0 - i / 40 for i in range(30)]),
        "val/loss": Curve(steps, [0.9, 0.8, 0.85]),
    }
    result = run_history({".": (ROOT, tags)})
    assert result.history["val_loss"].epochs == [0, 1, 2]
    assert result.history["loss"].epochs == [0, 1, 2]
    # An epoch's training value is the mean of the values logged up to its evaluation.
    assert result.history["loss"].values[0] == pytest.approx(1.0 - 4.5 / 40)
    assert result.remarks == [
        "logged at global steps (99, ...): the k-th evaluation is read as epoch k; "
        "loss averaged over the steps before each"
    ]


def test_a_bare_metric_is_validation_only_where_it_keeps_the_validation_loss_steps():
    batches, epochs = list(range(1, 61)), [20, 40, 60]
    per_batch = Curve(batches, [1.0 - i / 100 for i in batches])
    per_epoch = Curve(epochs, [0.9, 0.8, 0.85])
    fastai = {
        "train_loss": per_batch,
        "mom_0": Curve(batches, [0.9] * 60),
        "valid_loss": per_epoch,
        "accuracy": Curve(epochs, [0.7, 0.8, 0.75]),
    }
    result = run_history({".": (ROOT, fastai)})
    assert result.history["val_accuracy"].values == [0.7, 0.8, 0.75]
    assert result.unmatched == ["mom_0"]
    assert "read as validation (val_accuracy)" in result.remarks[0]
    # Training logged once an epoch too: a bare accuracy beside both could be either.
    loop = {"loss": per_epoch, "val_loss": per_epoch, "accuracy": Curve(epochs, [0.7] * 3)}
    result = run_history({".": (ROOT, loop)})
    assert "val_accuracy" not in result.history and result.unmatched == ["accuracy"]
    # Nor in a Lightning log: a training metric logged on_epoch shares validation's steps.
    lightning = {**fastai, "epoch": Curve(epochs, [0.0, 1.0, 2.0])}
    assert "val_accuracy" not in run_history({".": (ROOT, lightning)}).history


def keras_folders(marks, extra_train=None, extra_validation=None):
    """A Keras-layout run whose epoch_loss is at ``marks`` in both folders."""
    train = {"epoch_loss": Curve(marks, [1.0 / (i + 1) for i in range(len(marks))])}
    validation = {"epoch_loss": Curve(marks, [0.9, 0.8, 0.85, 0.95][: len(marks)])}
    train.update(extra_train or {})
    validation.update(extra_validation or {})
    return {
        "train": (Part("split", "train"), train),
        "validation": (Part("split", "val"), validation),
    }


def test_epochs_keras_skipped_are_missing_epochs_not_evaluations():
    """keras.callbacks.TensorBoard(update_freq=3) with 4 steps an epoch records the
    epochs whose step count is a multiple of 3 (tensorflow/tensorflow#49109):
    epochs 2 and 5, beside batch_* scalars at global steps up to 24."""
    batches = {"batch_loss": Curve([3, 6, 9, 12, 15, 18, 21, 24], [1.0] * 8)}
    for extra in (
        {"train": batches},
        {"validation": {"evaluation_loss_vs_iterations": Curve([12, 24], [0.9, 0.8])}},
    ):
        folders = keras_folders([2, 5], extra.get("train"), extra.get("validation"))
        result = run_history(folders)
        assert result.history["val_loss"].epochs == [2, 5]
        assert result.history["loss"].epochs == [2, 5]
        assert result.remarks[0].startswith("epochs 3, 6 logged (2 in all)")
        assert ("tensorflow/tensorflow#49109" in result.remarks[0]) is ("train" in extra)
    # A fit resumed at epoch 10 (initial_epoch): the gap is said, and no bug blamed.
    evaluated = {"evaluation_loss_vs_iterations": Curve([4, 8, 12, 16], [0.9, 0.8, 0.85, 0.95])}
    result = run_history(keras_folders([0, 1, 10, 11], extra_validation=evaluated))
    assert result.history["val_loss"].epochs == [0, 1, 10, 11]
    assert result.remarks == [
        "epochs 1, 2, 11, 12 logged (4 in all), the ones between are not in the log"
    ]
    # The same with update_freq="batch" (every step): no bug to blame either.
    every_step = {"batch_loss": Curve(list(range(1, 17)), [1.0] * 16)}
    result = run_history(keras_folders([0, 1, 10, 11], every_step, evaluated))
    assert result.history["val_loss"].epochs == [0, 1, 10, 11]
    assert "#49109" not in result.remarks[0]
    # Evaluations every 100 steps (tbviz's log_eval, its Hugging Face callback),
    # training logged per batch up to a little past the last: the k-th is point k.
    batches = {"batch_loss": Curve(list(range(10, 360, 10)), [1.0] * 35)}
    result = run_history(keras_folders([100, 200, 300], batches))
    assert result.history["val_loss"].epochs == [0, 1, 2]
    assert "k-th evaluation" in result.remarks[0]


def test_validation_within_epochs_reads_the_last_of_each_epoch_and_says_so():
    """Lightning with ``val_check_interval=0.5``: two validations an epoch."""
    steps = [4, 9, 14, 19, 24, 29]
    tags = {
        "epoch": Curve(steps, [0, 0, 1, 1, 2, 2]),
        "train_loss_epoch": Curve([9, 19, 29], [1.0, 0.6, 0.4]),
        "val_loss": Curve(steps, [1.2, 1.1, 0.9, 0.8, 0.85, 0.7]),
    }
    result = run_history({".": (ROOT, tags)})
    assert result.history["val_loss"].values == [1.1, 0.8, 0.7]
    assert result.remarks == [
        "val_loss logged more than once an epoch: the last value of each epoch is read"
    ]


def test_annotate_writes_beside_flat_runs_and_brings_grown_runs_up_to_date(tmp_path, capsys):
    from tensorboardX import SummaryWriter

    logdir = tmp_path / "runs"
    writer = SummaryWriter(str(logdir / "growing"))
    for epoch in range(4):
        writer.add_scalar("train/loss", TRAIN[epoch], epoch)
        writer.add_scalar("val/loss", VAL[epoch], epoch)
    writer.close()
    assert main(["annotate", str(logdir), "--no-progress"]) == 0
    assert "1 annotated" in capsys.readouterr().out
    run = read_run(str(logdir / "growing"))
    assert [s for s, _ in run.diagnoses()] == [0, 1, 2, 3]
    assert main(["annotate", str(logdir), "--no-progress"]) == 0  # idempotent
    assert "1 already current" in capsys.readouterr().out
    # Training resumed and went on (a new file, as a resumed writer makes).
    writer = SummaryWriter(str(logdir / "growing"), filename_suffix=".resumed")
    for epoch in range(4, 8):
        writer.add_scalar("train/loss", TRAIN[epoch], epoch)
        writer.add_scalar("val/loss", VAL[epoch], epoch)
    writer.close()
    before = {p: p.read_bytes() for p in (logdir / "growing").iterdir()}
    assert main(["annotate", str(logdir), "--no-progress"]) == 0
    assert "brought up to date growing" in capsys.readouterr().out
    assert all(p.read_bytes() == data for p, data in before.items())  # appended, not rewritten
    run = read_run(str(logdir / "growing"))
    diagnoses = run.diagnoses()
    assert [s for s, _ in diagnoses] == list(range(8))
    assert diagnoses[-1][1]["status"] == "overfitting" and diagnoses[-1][1]["epochs"] == 8
    assert [s for s, *_ in run.images()] == [3, 7]


@pytest.mark.slow
def test_a_run_written_by_keras_tensorboard_callback_is_read(tmp_path, capsys):
    from tests.conftest import write_keras_run

    write_keras_run(tmp_path / "runs" / "plain-keras", epochs=3)
    assert main(["leaderboard", str(tmp_path / "runs"), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["run"] == "plain-keras" and row["layout"] == "keras" and row["epochs"] == 3
