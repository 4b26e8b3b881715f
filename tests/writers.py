"""Log directories written by the real libraries users log with, and the two views of
them that must agree: the ``tbviz`` command's JSON and the tab's ``/runs``.

Every synthetic writer logs the same truth (:data:`TRAIN`, :data:`VAL`: validation
best at epoch 4, step 3, value 0.5), so a reading can be checked against it, not
only against the other reader.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

TRAIN = [1.1, 0.7, 0.45, 0.3, 0.2, 0.12, 0.07, 0.04]
VAL = [1.0, 0.7, 0.55, 0.5, 0.52, 0.56, 0.61, 0.67]
BEST_EPOCH, BEST_VALUE = 3, 0.5
#: Iterations per epoch of the writers that log training every iteration.
ITERATIONS = 25


def torch_writer(folder: Path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(folder))


def tbx_writer(folder: Path):
    from tensorboardX import SummaryWriter

    return SummaryWriter(str(folder))


def write_torch_flat(folder: Path, train_tag="Loss/train", val_tag="Loss/val", first=1) -> None:
    """``torch.utils.tensorboard``, one point per epoch, 1-based steps (as tutorials do)."""
    writer = torch_writer(folder)
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        writer.add_scalar(train_tag, train, epoch + first)
        writer.add_scalar(val_tag, val, epoch + first)
    writer.close()


def write_torch_hparams(folder: Path) -> None:
    """Flat tags and ``add_hparams`` (its own time-stamped sub-folder)."""
    writer = torch_writer(folder)
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        writer.add_scalar("train/loss", train, epoch)
        writer.add_scalar("val/loss", val, epoch)
    writer.add_hparams({"lr": 0.01, "batch_size": 32}, {"hparam/best_val_loss": BEST_VALUE})
    writer.close()


def write_add_scalars(folder: Path, library: str) -> None:
    """``add_scalars("Loss", {"train": ..., "val": ...})``: one sub-folder per split."""
    writer = torch_writer(folder) if library == "torch" else tbx_writer(folder)
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        writer.add_scalars("Loss", {"train": train, "val": val}, epoch)
    writer.close()


def write_tutorial_add_scalars(folder: Path) -> None:
    """PyTorch's own TensorBoard tutorial: one chart named for both splits, its keys
    ``Training``/``Validation``, logged at the global step of each evaluation."""
    writer = torch_writer(folder)
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        step = epoch * ITERATIONS + ITERATIONS - 1
        writer.add_scalars(
            "Training vs. Validation Loss", {"Training": train, "Validation": val}, step
        )
    writer.close()


def write_mixed_steps(folder: Path, library: str = "tensorboardX") -> None:
    """Training logged every iteration at the global step, validation once an epoch
    at the epoch: an iteration's loss scatters around the epoch's :data:`TRAIN`."""
    writer = tbx_writer(folder) if library == "tensorboardX" else torch_writer(folder)
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        for i in range(ITERATIONS):
            jitter = 0.02 * ((i % 5) - 2)  # sums to 0 over each epoch
            writer.add_scalar("train/loss", train + jitter, epoch * ITERATIONS + i)
            time.sleep(0.0005)
        writer.add_scalar("val/loss", val, epoch)
        time.sleep(0.002)
    writer.close()


def write_hand_keras_names(folder: Path) -> None:
    """``loss``/``val_loss``/``accuracy``/``val_accuracy``: Keras' names by hand."""
    writer = torch_writer(folder)
    for epoch, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        writer.add_scalar("loss", train, epoch)
        writer.add_scalar("val_loss", val, epoch)
        writer.add_scalar("accuracy", 1 - train / 2, epoch)
        writer.add_scalar("val_accuracy", 1 - val / 2, epoch)
    writer.close()


def write_split_folders_bare_tags(folder: Path, validation: str = "test") -> None:
    """TensorFlow's custom-loop tutorial layout (``<run>/train`` + ``<run>/test``, bare
    ``loss``/``accuracy``), written without TensorFlow."""
    from tbviz.logdir import summaries
    from tbviz.logdir.writer import EventFileWriter

    for split, curve in (("train", TRAIN), (validation, VAL)):
        with EventFileWriter(str(folder / split)) as writer:
            for epoch, value in enumerate(curve):
                writer.add(epoch, summaries.scalar_values({"loss": value, "accuracy": 1 - value}))


def write_fastai_pattern(folder: Path) -> None:
    """What fastai's ``TensorBoardCallback`` writes (fastai/callback/tensorboard.py),
    with torch's writer: ``train_loss`` and each optimiser hyperparameter of each
    parameter group (``lr_0``, ``mom_0``, ...) every batch at the iteration count,
    then at each epoch's end ``valid_loss`` and the metrics by their bare names
    (fastai computes them on the validation set) at that same count. fastai
    itself is not installed here (it pulls spaCy and torchvision)."""
    writer = torch_writer(folder)
    iteration = 0
    for train, val in zip(TRAIN, VAL, strict=True):
        for i in range(ITERATIONS):
            iteration += 1
            writer.add_scalar("train_loss", train + 0.02 * ((i % 5) - 2), iteration)
            for name, value in (("lr_0", 1e-3), ("mom_0", 0.9), ("wd_0", 0.01)):
                writer.add_scalar(name, value, iteration)
            time.sleep(0.0005)
        writer.add_scalar("valid_loss", val, iteration)
        writer.add_scalar("accuracy", 1 - val / 2, iteration)
        writer.add_scalar("error_rate", val / 2, iteration)
    writer.close()


def write_quick_matrix(root: Path) -> dict[str, str]:
    """Every TensorFlow-free writer; run name -> what it stands for."""
    write_torch_flat(root / "torch-flat")
    write_torch_hparams(root / "torch-hparams")
    write_add_scalars(root / "torch-add-scalars", "torch")
    write_add_scalars(root / "tbx-add-scalars", "tensorboardX")
    write_tutorial_add_scalars(root / "torch-tutorial")
    write_mixed_steps(root / "tbx-mixed-steps")
    write_mixed_steps(root / "torch-mixed-steps", library="torch")
    write_hand_keras_names(root / "flat-keras-names")
    write_fastai_pattern(root / "fastai-pattern")
    write_split_folders_bare_tags(root / "custom-loop" / "20261129-120000")
    write_torch_flat(root / "finetune_test", "train/loss", "eval/loss", first=0)
    write_torch_flat(root / "bert_eval", "train_loss", "eval_loss", first=0)
    write_torch_flat(root / "train_eval", "train/loss", "test/loss", first=0)
    write_torch_flat(root / "..dots-first")
    write_torch_flat(root / "spaced-tags", "training loss", "validation loss")
    # Ultralytics names its runs runs/detect/train, train2, ...: a run, not a split.
    write_torch_flat(root / "detect" / "train", "train/loss", "val/loss", first=0)
    write_torch_flat(root / "detect" / "train2", "train/loss", "val/loss", first=0)
    return {
        "torch-flat": "flat",
        "torch-hparams": "flat",
        "torch-add-scalars": "add_scalars",
        "tbx-add-scalars": "add_scalars",
        "torch-tutorial": "add_scalars",
        "tbx-mixed-steps": "flat",
        "torch-mixed-steps": "flat",
        "flat-keras-names": "flat",
        "fastai-pattern": "flat",
        "custom-loop/20261129-120000": "split folders",
        "finetune_test": "flat",
        "bert_eval": "flat",
        "train_eval": "flat",
        "..dots-first": "flat",
        "spaced-tags": "flat",
        "detect/train": "flat",
        "detect/train2": "flat",
    }


def tab_client(logdir: Path):
    """A client of the tbviz tab's routes over ``logdir``, served through TensorBoard's
    own multiplexer data provider (TensorBoard's plugin-test pattern)."""
    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from werkzeug import test as werkzeug_test
    from werkzeug import wrappers

    from tbviz.dashboard.plugin import TbvizPlugin

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    plugin = TbvizPlugin(base_plugin.TBContext(logdir=str(logdir), data_provider=provider))
    return werkzeug_test.Client(application.TensorBoardWSGI([plugin]), wrappers.Response)


def tab_rows(logdir: Path, metric: str | None = None) -> dict[str, dict]:
    """The tab's ``/runs`` over ``logdir`` (judged by ``metric``, if given), by run."""
    query = f"?metric={metric}" if metric else ""
    response = tab_client(logdir).get("/data/plugin/tbviz/runs" + query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {row["run"]: row for row in json.loads(response.get_data())["runs"]}


def cli_rows(logdir: Path, capsys, *args: str) -> dict[str, dict]:
    """``tbviz leaderboard LOGDIR --json``'s rows, by run."""
    from tbviz.commands.cli import main

    os.environ["TBVIZ_WORKERS"] = "1"
    capsys.readouterr()
    main(["leaderboard", str(logdir), "--json", *args])
    return {row["run"]: row for row in json.loads(capsys.readouterr().out)}


#: What both readers must say alike about a run.
AGREED = ("epochs", "best_epoch", "best_value", "status", "gap", "layout", "paired")


def same_reading(cli: dict, tab: dict) -> list[str]:
    """Where the CLI row and the tab row of one run disagree, as readable lines."""
    said = []
    for field in AGREED:
        a, b = cli.get(field), tab.get(field)
        if isinstance(a, float) and isinstance(b, float) and abs(a - b) <= 1e-6 * max(1, abs(a)):
            continue
        if a != b:
            said.append(f"{cli['run']}: {field} CLI {a!r} vs tab {b!r}")
    return said


def tiny_bert(vocab_size: int = 100):
    """A randomly initialised 2-layer BERT classifier (hidden size 32): nothing to
    download, seconds on a CPU."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        num_labels=2,
    )
    return transformers.BertForSequenceClassification(config)
