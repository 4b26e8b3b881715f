"""One reading model, the writers that train: Keras (``update_freq="batch"``, and
``update_freq=3``, which skips epochs),
TensorFlow's custom-loop tutorial, keras-tuner, Lightning (two validation loaders,
``on_step`` + ``on_epoch``) and the Hugging Face Trainer (evaluating per epoch and
every N steps). Each log is written by the library itself; the ``tbviz`` command
and the tab must read the same runs with the same epochs, best epoch, best value,
pairing and status."""

from __future__ import annotations

import os

import pytest

from tests import writers
from tests.conftest import lightning_module, tiny_cnn, tiny_mnist

pytestmark = pytest.mark.slow

EPOCHS = 3


def keras_batch_run(root) -> None:
    import keras

    x, y, xv, yv = tiny_mnist(128, 64)
    tiny_cnn().fit(
        x,
        y,
        validation_data=(xv, yv),
        epochs=EPOCHS,
        batch_size=32,
        verbose=0,
        callbacks=[keras.callbacks.TensorBoard(log_dir=str(root / "keras-batch"), update_freq=1)],
    )


def keras_every_3_run(root) -> None:
    """``update_freq=3`` with 4 steps an epoch: Keras records an epoch's summaries
    only at a step count divisible by 3, so of 6 epochs only the 3rd and 6th
    are in the log (tensorflow/tensorflow#49109)."""
    import keras

    x, y, xv, yv = tiny_mnist(128, 64)
    tiny_cnn().fit(
        x,
        y,
        validation_data=(xv, yv),
        epochs=6,
        batch_size=32,
        verbose=0,
        callbacks=[keras.callbacks.TensorBoard(log_dir=str(root / "keras-every-3"), update_freq=3)],
    )


def tf_custom_loop_run(root) -> None:
    """TensorFlow's TensorBoard guide, custom training loop: ``train`` and ``test``
    writers, bare ``loss``/``accuracy`` at step=epoch."""
    import tensorflow as tf

    base = root / "gradient_tape" / "20261129-101010"
    train_writer = tf.summary.create_file_writer(str(base / "train"))
    test_writer = tf.summary.create_file_writer(str(base / "test"))
    for epoch, (train, val) in enumerate(zip(writers.TRAIN, writers.VAL, strict=True)):
        with train_writer.as_default():
            tf.summary.scalar("loss", train, step=epoch)
            tf.summary.scalar("accuracy", 1 - train / 2, step=epoch)
        with test_writer.as_default():
            tf.summary.scalar("loss", val, step=epoch)
            tf.summary.scalar("accuracy", 1 - val / 2, step=epoch)
    train_writer.close()
    test_writer.close()


def keras_tuner_runs(root) -> None:
    import keras
    import keras_tuner

    x, y, xv, yv = tiny_mnist(128, 64)

    def build(hp):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                keras.layers.Flatten(),
                keras.layers.Dense(hp.Choice("units", [8, 16]), activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = keras_tuner.GridSearch(
        build,
        objective="val_loss",
        max_trials=2,
        directory=str(root.parent / "tuner-state"),
        project_name="t",
        overwrite=True,
    )
    tuner.search(
        x,
        y,
        validation_data=(xv, yv),
        epochs=EPOCHS,
        verbose=0,
        callbacks=[keras.callbacks.TensorBoard(str(root / "tuner"))],
    )


LOADERS_MODULE = """
import lightning
import torch


class TwoLoaders(lightning.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)
        )

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, _, dataloader_idx=0):
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)
"""


def lightning_runs(root) -> None:
    import lightning
    import torch

    Noise, loaders = lightning_module()
    train, val = loaders()
    namespace: dict = {}
    exec(LOADERS_MODULE, namespace)
    for name, module, validation in (
        ("noise", Noise(), val),
        ("two-loaders", namespace["TwoLoaders"](), [val, val]),
    ):
        torch.manual_seed(0)
        logger = lightning.pytorch.loggers.TensorBoardLogger(str(root / "lightning"), name=name)
        lightning.Trainer(
            max_epochs=EPOCHS + 1,
            logger=logger,
            log_every_n_steps=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
        ).fit(module, train, validation)


def hugging_face_runs(root) -> None:
    """A tiny random BERT under the Trainer, ``report_to="tensorboard"``: evaluated
    every epoch, and every 4 steps (twice an epoch)."""
    import torch
    import transformers

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 64, (64, 12), generator=g)
    labels = torch.randint(0, 2, (64,), generator=g)

    class Data(torch.utils.data.Dataset):
        def __init__(self, part):
            self.part = part

        def __len__(self):
            return len(self.part)

        def __getitem__(self, i):
            j = self.part[i]
            return {"input_ids": ids[j], "labels": labels[j]}

    train, val = Data(list(range(48))), Data(list(range(48, 64)))
    for name, strategy in (("hf-epoch", "epoch"), ("hf-steps", "steps")):
        args = transformers.TrainingArguments(
            output_dir=str(root.parent / "hf-out" / name),
            report_to=["tensorboard"],
            num_train_epochs=EPOCHS,
            per_device_train_batch_size=8,
            eval_strategy=strategy,
            logging_strategy=strategy,
            eval_steps=3,
            logging_steps=3,
            save_strategy="no",
            learning_rate=1e-3,
            use_cpu=True,
            disable_tqdm=True,
            seed=0,
        )
        model = writers.tiny_bert(vocab_size=64)
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(root / name)  # the Trainer's log dir
        try:
            trainer = transformers.Trainer(
                model=model, args=args, train_dataset=train, eval_dataset=val
            )
        finally:
            del os.environ["TENSORBOARD_LOGGING_DIR"]
        trainer.train()


def ray_tune_runs(root) -> None:
    """Ray Tune's own logs: each trial's folder holds ``ray/tune/<metric>`` at steps
    1, 2, ... (its training iterations), Tune's bookkeeping and the trial's hparams."""
    import ray
    from ray import tune

    def trainable(config):
        for train, val in zip(writers.TRAIN, writers.VAL, strict=True):
            tune.report({"loss": train, "val_loss": val})

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        tune.Tuner(
            trainable,
            param_space={"lr": tune.grid_search([0.01, 0.03])},
            run_config=tune.RunConfig(storage_path=str(root / "ray"), name="exp", verbose=0),
        ).fit()
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("slow-writers") / "runs"
    keras_batch_run(root)
    keras_every_3_run(root)
    tf_custom_loop_run(root)
    keras_tuner_runs(root)
    lightning_runs(root)
    hugging_face_runs(root)
    ray_tune_runs(root)
    return root


def test_the_command_and_the_tab_read_every_training_library_alike(matrix, capsys):
    cli = writers.cli_rows(matrix, capsys)
    tab = writers.tab_rows(matrix)
    assert sorted(cli) == sorted(tab)
    assert [line for run in cli for line in writers.same_reading(cli[run], tab[run])] == []
    tune_runs = sorted(run for run in cli if run.startswith("ray/exp/"))
    assert len(tune_runs) == 2, sorted(cli)
    for run in tune_runs:  # ray/tune/loss, ray/tune/val_loss at iterations 1, 2, ...
        row = cli.pop(run)
        assert row["layout"] == "flat" and row["paired"] == ["loss"], row
        assert (row["best_epoch"], row["epochs"]) == (writers.BEST_EPOCH, len(writers.VAL))
        assert row["status"] == "overfitting" and row["hparams"]["lr"] in (0.01, 0.03)
    layouts = {run: row["layout"] for run, row in cli.items()}
    assert layouts == {
        "keras-batch": "keras",
        "keras-every-3": "keras",
        "gradient_tape/20261129-101010": "split folders",
        "tuner/0/execution0": "keras",
        "tuner/1/execution0": "keras",
        "lightning/noise/version_0": "lightning",
        "lightning/two-loaders/version_0": "lightning",
        "hf-epoch": "flat",
        "hf-steps": "flat",
    }, layouts
    for run, row in cli.items():
        assert row["paired"] and row["paired"][0] == "loss", run
        assert row["best_value"] is not None, run
    assert cli["keras-batch"]["epochs"] == EPOCHS
    # The epochs Keras skipped are missing, not the k-th evaluation read as epoch k.
    every_3 = cli["keras-every-3"]
    assert every_3["epochs"] == 2 and every_3["best_epoch"] in (2, 5), every_3
    assert "epochs 3, 6 logged" in " ".join(every_3["remarks"]), every_3["remarks"]
    assert cli["lightning/noise/version_0"]["epochs"] == EPOCHS + 1
    assert cli["gradient_tape/20261129-101010"]["best_epoch"] == writers.BEST_EPOCH
    assert cli["hf-epoch"]["epochs"] == EPOCHS
    assert cli["hf-steps"]["epochs"] == 6  # 6 steps an epoch, evaluated every 3
    assert "dataloader 0 of 2" in " ".join(cli["lightning/two-loaders/version_0"]["remarks"])
    assert set(cli["hf-epoch"]["paired"]) == {"loss"}  # no runtime, grad_norm, epoch panels


def test_annotate_then_read_again_agrees(matrix, capsys):
    from tbviz.commands.cli import main

    assert main(["annotate", str(matrix), "--no-progress"]) == 0
    assert main(["annotate", str(matrix), "--no-progress"]) == 0
    assert "0 annotated, 0 brought up to date" in capsys.readouterr().out
    cli = writers.cli_rows(matrix, capsys)
    tab = writers.tab_rows(matrix)
    assert sorted(cli) == sorted(tab)
    assert [line for run in cli for line in writers.same_reading(cli[run], tab[run])] == []
