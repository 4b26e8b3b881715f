"""OverfittingStopping on real Keras training: it stops, restores the best weights, and
TBVizCallback's final note says so."""

import json

import keras
import numpy as np
import pytest

from tbviz import OverfittingStopping, TBVizCallback
from tbviz.live.callback import metric_directions
from tbviz.logdir import metadata as md
from tbviz.logdir.reader import read_run
from tests.conftest import tiny_mnist

pytestmark = pytest.mark.slow


def digits(n_train=300, n_val=300):
    """A few hundred real MNIST digits (MNIST-5k, offline)."""
    return tiny_mnist(n_train, n_val)


def wide_mlp(metrics=("accuracy",)):
    """A 256-unit MLP that memorises 300 digits within a few epochs: it overfits fast."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=list(metrics)
    )
    return model


def test_stops_an_overfitting_fit_and_restores_the_best_weights(tmp_path, capsys):
    x, y, xv, yv = digits()
    model = wide_mlp()
    stopper = OverfittingStopping()
    history = model.fit(
        x,
        y,
        validation_data=(xv, yv),
        epochs=40,
        batch_size=32,
        verbose=0,
        callbacks=[stopper, TBVizCallback(log_dir=str(tmp_path), run_name="stopped")],
    ).history
    trained = len(history["val_loss"])
    assert trained < 40 and stopper.stopped_epoch == trained - 1
    printed = capsys.readouterr().out.splitlines()  # one line, as EarlyStopping(verbose=1)
    assert len(printed) == 1
    assert printed[0].startswith(f"Stopped by OverfittingStopping after epoch {trained}: ")
    best = int(np.argmin(history["val_loss"]))
    assert stopper.best_epoch == best == stopper.diagnosis.onset_epoch
    assert stopper.diagnosis.status == "overfitting"
    # The restored weights are the best epoch's: evaluating gives its validation loss.
    loss = model.evaluate(xv, yv, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(history["val_loss"][best], rel=1e-4)
    # TBVizCallback in the same fit says that, when and why training was stopped.
    run = read_run(str(tmp_path / "stopped"))
    summary = run.texts(md.TAG_SUMMARY)[-1][1]
    assert "Stopped by OverfittingStopping after epoch" in summary
    assert f"restored the weights of epoch {best + 1}" in summary
    stored = run.diagnoses()[-1][1]
    assert stored["status"] == "overfitting" and stored["onset_epoch"] == best


def test_a_missing_monitor_warns_with_the_keys_it_has_and_never_stops():
    x, y, xv, yv = digits(100, 100)
    model = wide_mlp()
    stopper = OverfittingStopping(monitor="val_acc")
    with pytest.warns(UserWarning, match="val_acc.*Available metrics are: .*val_accuracy"):
        history = model.fit(
            x, y, validation_data=(xv, yv), epochs=6, verbose=0, callbacks=[stopper]
        ).history
    assert len(history["loss"]) == 6 and stopper.stopped_epoch == 0
    assert stopper.diagnosis.status == "no-monitor"


def test_directions_come_from_the_compiled_metrics():
    x, y, _, _ = digits(64, 32)
    model = wide_mlp(
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="my_score")]
    )
    model.fit(x, y, epochs=1, verbose=0)
    found = metric_directions(model)
    assert found["my_score"] == "max" and found["accuracy"] == "max"


def test_tbviz_callback_uses_the_metric_objects_direction(tmp_path):
    x, y, xv, yv = digits(100, 100)
    model = wide_mlp(metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="score")])
    model.fit(
        x,
        y,
        validation_data=(xv, yv),
        epochs=2,
        verbose=0,
        callbacks=[TBVizCallback(log_dir=str(tmp_path), run_name="r", monitor="val_score")],
    )
    stored = read_run(str(tmp_path / "r")).diagnoses()[-1][1]
    assert stored["direction"] == "max" and stored["direction_source"] == "metric"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"monitor": ""}, "monitor"),
        ({"mode": "up"}, "mode"),
        ({"start_from_epoch": -1}, "start_from_epoch"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OverfittingStopping(**kwargs)


def test_start_from_epoch_ignores_the_warm_up():
    x, y, xv, yv = digits()
    model = wide_mlp()
    stopper = OverfittingStopping(start_from_epoch=5)
    model.fit(x, y, validation_data=(xv, yv), epochs=8, verbose=0, callbacks=[stopper])
    assert stopper.diagnosis.epochs == 3
    json.dumps(stopper.diagnosis.to_dict(), allow_nan=False)


def test_a_loss_that_becomes_nan_stops_training_and_restores_the_best_weights(capsys):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    stopper = OverfittingStopping()
    stopper.set_model(model)
    stopper.on_train_begin()
    stopper.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.1})
    best = [w.copy() for w in model.get_weights()]
    model.set_weights([w + 1 for w in best])  # the next epoch's (diverging) update
    stopper.on_epoch_end(1, {"loss": float("nan"), "val_loss": float("nan")})
    assert model.stop_training and stopper.stopped_epoch == 1
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), best, strict=True))
    assert capsys.readouterr().out.strip() == (
        "Stopped by OverfittingStopping after epoch 2: a loss became NaN or infinite at "
        "epoch 2; restored the weights of epoch 1, the best val_loss (1.1)."
    )
