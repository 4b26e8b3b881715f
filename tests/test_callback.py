"""The Keras callback on real (tiny) training, read back with TensorBoard's own loader."""

import io
import json

import keras
import pytest
from matplotlib.image import imread
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

from tbviz import TBVizCallback
from tbviz.logdir import metadata as md
from tests.conftest import tiny_cnn, tiny_mnist

pytestmark = pytest.mark.slow


def load(folder):
    acc = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.TENSORS: 0}
    )
    acc.Reload()
    return acc


def scalar_values(acc, tag):
    return [float(tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three real epochs of the tutorial CNN with four metrics, logged by tbviz."""
    logdir = tmp_path_factory.mktemp("logs")
    x, y, xv, yv = tiny_mnist(256, 128)
    model = tiny_cnn(metrics=["accuracy", "binary_accuracy", "top_k_categorical_accuracy"])
    callback = TBVizCallback(log_dir=str(logdir), run_name="cnn-adam")
    history = model.fit(
        x, y, validation_data=(xv, yv), epochs=3, batch_size=32, verbose=0, callbacks=[callback]
    )
    return logdir, history.history


def test_scalars_equal_keras_history_for_every_metric_and_split(trained):
    logdir, history = trained
    train, validation = (
        load(logdir / "cnn-adam" / "train"),
        load(logdir / "cnn-adam" / "validation"),
    )
    for key, values in history.items():
        split, name = (validation, key[4:]) if key.startswith("val_") else (train, key)
        assert scalar_values(split, f"epoch_{name}") == pytest.approx(values, rel=1e-6), key
        assert [e.step for e in split.Tensors(f"epoch_{name}")] == [0, 1, 2]
    assert len(history) == 8  # loss + 3 metrics, train and validation


def test_a_learning_rate_schedule_in_the_optimizer_reaches_the_detector(tmp_path):
    """Keras logs no learning_rate for a LearningRateSchedule (only callbacks that
    set the rate log it); tbviz reads the optimizer's at each epoch's end, as
    Keras' own TensorBoard callback does, so the detector gives a drop its chance
    and TensorBoard charts the same values from either log."""
    from tbviz import OverfittingStopping

    x, y, xv, yv = tiny_mnist(128, 64)
    model = tiny_cnn()
    steps = 128 // 32
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([2 * steps], [1e-3, 1e-4])
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy")
    stopper = OverfittingStopping()
    ours = TBVizCallback(log_dir=str(tmp_path), run_name="decay", figure_every=0)
    theirs = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "keras"))
    history = model.fit(
        x, y, validation_data=(xv, yv), epochs=4, batch_size=32, verbose=0,
        callbacks=[ours, stopper, theirs],
    )  # fmt: skip
    assert "learning_rate" not in history.history
    rates = scalar_values(load(tmp_path / "decay" / "train"), "epoch_learning_rate")
    # Epoch 3 (index 2) trains 3 of its 4 steps after the boundary.
    assert rates == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4], rel=1e-5)
    assert stopper.diagnosis.lr_drop_epoch == 2
    keras_rates = scalar_values(load(tmp_path / "keras" / "train"), "epoch_learning_rate")
    assert keras_rates == pytest.approx(rates, rel=1e-6)  # the same reading


def test_figure_is_a_png_of_the_reported_size(trained):
    logdir, _history = trained
    root = load(logdir / "cnn-adam")
    events = root.Tensors(md.TAG_FIGURE)
    # Within the default 3% budget epochs coalesce; the last is always drawn.
    steps = [e.step for e in events]
    assert steps[-1] == 2 and steps == sorted(set(steps))
    width, height, png = tensor_util.make_ndarray(events[-1].tensor_proto)
    image = imread(io.BytesIO(png), format="png")
    assert image.shape[:2] == (int(height), int(width))
    # loss, accuracy, binary and top-k accuracy: the tutorial's 2x2 grid at 80 dpi
    # (8 x 6 in panels, plus room for the title).
    assert (int(width), int(height)) == (640, 624)


def test_note_names_the_best_epoch_and_tensor_parses(trained):
    logdir, history = trained
    root = load(logdir / "cnn-adam")
    [summary] = root.Tensors(md.TAG_SUMMARY)
    text = tensor_util.make_ndarray(summary.tensor_proto).item().decode()
    best = min(range(3), key=history["val_loss"].__getitem__)
    assert f"Best val\\_loss: {history['val_loss'][best]:.4g} at epoch {best + 1}" in text
    diagnosis = json.loads(
        tensor_util.make_ndarray(root.Tensors(md.TAG_DIAGNOSIS)[-1].tensor_proto).item()
    )
    assert diagnosis["best_epoch"] == best
    assert diagnosis["last_value"] == pytest.approx(history["val_loss"][-1], rel=1e-6)
    assert root.summary_metadata[md.TAG_DIAGNOSIS].plugin_data.plugin_name == "tbviz"


def test_works_alongside_keras_tensorboard_and_early_stopping(tmp_path):
    x, y, xv, yv = tiny_mnist(192, 64)
    model = tiny_cnn()
    stopper = keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True)
    ours = TBVizCallback(log_dir=str(tmp_path), run_name="ours")
    theirs = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "keras"))
    history = model.fit(
        x, y, validation_data=(xv, yv), epochs=3, verbose=0, callbacks=[theirs, ours, stopper]
    )
    epochs = len(history.history["loss"])
    ours_val = load(tmp_path / "ours" / "validation")
    theirs_val = load(tmp_path / "keras" / "validation")
    assert scalar_values(ours_val, "epoch_loss") == pytest.approx(
        scalar_values(theirs_val, "epoch_loss")
    )
    assert len(scalar_values(ours_val, "epoch_loss")) == epochs
    assert ours.run_name == "ours"


def test_default_run_name_is_timestamped(tmp_path):
    x, y, xv, yv = tiny_mnist(64, 32)
    callback = TBVizCallback(log_dir=str(tmp_path))
    tiny_cnn().fit(x, y, validation_data=(xv, yv), epochs=1, verbose=0, callbacks=[callback])
    assert callback.run_name[:8].isdigit()
    assert (tmp_path / callback.run_name / "train").is_dir()


def test_bad_arguments_fail_before_training():
    with pytest.raises(ValueError, match="leave the log directory"):
        TBVizCallback(run_name="../elsewhere")
    with pytest.raises(ValueError, match="figure_every"):
        TBVizCallback(figure_every="2")


def test_update_freq_writes_batch_scalars(tmp_path):
    x, y, xv, yv = tiny_mnist(128, 32)
    callback = TBVizCallback(log_dir=str(tmp_path), run_name="b", update_freq=2, figure_every=0)
    tiny_cnn().fit(
        x, y, validation_data=(xv, yv), epochs=2, batch_size=32, verbose=0, callbacks=[callback]
    )
    train = load(tmp_path / "b" / "train")
    steps = [e.step for e in train.Tensors("batch_loss")]
    assert steps == [2, 4, 6, 8]  # 4 batches an epoch, every 2nd, counted across epochs
    assert "batch_val_loss" not in train.Tags()["tensors"]
    assert len(scalar_values(train, "epoch_loss")) == 2


def test_epoch_only_logging_keeps_keras_async_batches():
    from keras.src import utils

    assert utils.is_default(TBVizCallback().on_train_batch_end)
    assert not utils.is_default(TBVizCallback(update_freq=10).on_train_batch_end)
    with pytest.raises(ValueError, match="update_freq"):
        TBVizCallback(update_freq=0)


def test_a_fit_that_raised_is_closed_as_interrupted_by_the_next_fit(tmp_path):
    x, y, xv, yv = tiny_mnist(64, 32)

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("boom")

    callback = TBVizCallback(log_dir=str(tmp_path), run_name="flaky", figure_every=0)
    model = tiny_cnn()
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x, y, validation_data=(xv, yv), epochs=4, verbose=0, callbacks=[callback, Boom()])
    model.fit(
        x, y, validation_data=(xv, yv), epochs=3, initial_epoch=2, verbose=0, callbacks=[callback]
    )
    from tbviz.logdir.reader import read_run

    data = read_run(str(tmp_path / "flaky"))
    summaries = data.texts(md.TAG_SUMMARY)
    assert summaries[0][0] == 1 and summaries[0][1].startswith("**Interrupted** after epoch 2")
    assert summaries[-1][0] == 2 and not summaries[-1][1].startswith("**Interrupted**")
    assert data.history["val_loss"].epochs == [0, 1, 2]
