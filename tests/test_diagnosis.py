import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tbviz import Diagnosis, diagnose
from tbviz.diagnosis import STATUSES, DetectorSettings, simulate_early_stopping

# A curve shaped like the tutorial's: validation bottoms out at epoch 4 (step 3).
TUTORIAL = {
    "loss": [0.45, 0.15, 0.10, 0.07, 0.05, 0.035, 0.025, 0.018, 0.012, 0.009],
    "val_loss": [0.16, 0.09, 0.075, 0.068, 0.070, 0.074, 0.080, 0.085, 0.090, 0.097],
    "accuracy": [0.87, 0.956, 0.970, 0.979, 0.985, 0.990, 0.993, 0.995, 0.997, 0.998],
    "val_accuracy": [0.953, 0.972, 0.977, 0.979, 0.978, 0.978, 0.977, 0.978, 0.976, 0.976],
}


def prefix(history, n):
    return {k: v[:n] for k, v in history.items()}


def test_tutorial_curve_overfits_from_epoch_4():
    d = diagnose(TUTORIAL)
    assert d.status == "overfitting"
    assert d.best_epoch == 3 and d.onset_epoch == 3
    assert d.best_value == pytest.approx(0.068)
    assert d.epochs_since_best == 6
    assert d.generalization_loss == pytest.approx(100 * (0.097 / 0.068 - 1))
    # Mean of the last 3 training losses against the loss at the best epoch.
    assert d.train_improvement == pytest.approx(100 * (1 - (0.018 + 0.012 + 0.009) / 3 / 0.07))
    assert d.gap == pytest.approx(0.097 - 0.009)
    assert d.diverged_at is None
    metrics = {m.name: m for m in d.metrics}
    assert metrics["accuracy"].best_epoch == 3 and metrics["accuracy"].direction == "max"
    assert metrics["loss"].gap == pytest.approx(0.088)


def test_statuses_along_the_way_never_look_ahead():
    statuses = [diagnose(prefix(TUTORIAL, n)).status for n in range(1, 11)]
    assert statuses[:4] == ["improving"] * 4
    # Epochs 5 and 6 are worse, but two epochs are not enough to confirm.
    assert statuses[4:6] == ["improving"] * 2
    # From epoch 7 on, each of the last three epochs is >= 2% worse than the best.
    assert statuses[6:] == ["overfitting"] * 4


def test_no_validation_and_diverged():
    assert diagnose({"loss": [1.0, 0.5]}).status == "no-validation"
    d = diagnose({"loss": [1.0, 0.5, float("nan"), float("nan")], "val_loss": [1.1, 0.6, 0.7, 0.8]})
    assert d.status == "diverged" and d.diverged_at == 2
    assert d.best_epoch == 1  # judged on the epochs before the divergence
    d = diagnose({"loss": [1.0, math.inf]})
    assert d.status == "diverged" and d.diverged_at == 1


def test_plateau_when_validation_stalls():
    flat = {
        "loss": [1.0, 0.5, 0.3, 0.299, 0.299, 0.299, 0.299],
        "val_loss": [1.0, 0.6, 0.45, 0.451, 0.45, 0.452, 0.451],
    }
    d = diagnose(flat)
    assert d.status == "plateau"
    assert "flat" in d.reason


def test_validation_worse_without_training_progress_is_not_overfitting():
    unstable = {
        "loss": [1.0, 0.5, 0.3, 0.31, 0.32, 0.33],
        "val_loss": [1.0, 0.6, 0.5, 0.6, 0.7, 0.8],
    }
    assert diagnose(unstable).status == "plateau"


def test_a_training_spike_is_instability_not_overfitting():
    # Validation bumps because the optimiser jumped (training loss +60%), as
    # in the fixtures whose validation later recovers.
    bumpy = {
        "loss": [1.0, 0.5, 0.3, 0.2, 0.32, 0.15, 0.1],
        "val_loss": [1.0, 0.6, 0.45, 0.4, 0.5, 0.45, 0.43],
    }
    d = diagnose(bumpy)
    assert d.status == "plateau" and "unstable optimiser" in d.reason


def test_no_verdict_during_warm_up():
    early = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.0, 0.6, 0.9]}
    assert diagnose(early).status == "improving"


def test_not_learning_when_stuck_at_chance():
    stuck = {
        "loss": [33.0, 2.43, 2.42, 2.43, 2.43, 2.43],
        "val_loss": [2.31, 2.31, 2.32, 2.31, 2.33, 2.31],
        "accuracy": [0.09, 0.1, 0.1, 0.09, 0.1, 0.1],
    }
    d = diagnose(stuck)
    assert d.status == "not-learning"
    assert "smaller learning rate" in d.reason
    assert d.to_markdown().startswith("**Not learning**")
    # Loss falling but accuracy at chance: still not learning.
    falling = {**stuck, "loss": [7797.0, 4.17, 2.43, 2.38, 2.32, 2.3]}
    assert diagnose(falling).status == "not-learning"


def test_accuracy_monitor_uses_max_direction():
    h = {
        "accuracy": [0.5, 0.7, 0.8, 0.9, 0.95, 0.97],
        "val_accuracy": [0.5, 0.7, 0.65, 0.6, 0.55, 0.5],
    }
    d = diagnose(h, monitor="val_accuracy")
    assert d.direction == "max" and d.status == "overfitting" and d.onset_epoch == 1


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        diagnose({})
    with pytest.raises(ValueError, match="mode"):
        diagnose(TUTORIAL, mode="up")
    with pytest.raises(ValueError, match="patience"):
        DetectorSettings(patience=0)
    with pytest.raises(TypeError, match="History"):
        diagnose([1, 2, 3])


def test_markdown_note_is_specific():
    note = diagnose(TUTORIAL).to_markdown(final=True)
    assert "Final diagnosis after 10 epochs" in note
    assert "**Overfitting** since epoch 4 (step 3)" in note
    assert "Best val\\_loss: 0.068 at epoch 4 (step 3)" in note
    assert 'EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)' in note
    assert "would have stopped after epoch 7 (step 6) and restored epoch 4 (step 3)" in note
    assert "saving 3 epochs" in note
    assert (
        'the soonest stop that keeps the best epoch: `EarlyStopping(monitor="val_loss", '
        "patience=1, restore_best_weights=True)` stops after epoch 5 (step 4) and restores "
        "epoch 4 (step 3)" in note
    )
    assert "| accuracy | epoch 4 (step 3) |" in note


def test_hostile_metric_names_are_escaped_in_markdown():
    h = {
        "loss": [1.0, 0.5],
        "val_loss": [1.0, 0.6],
        "a|<script>x": [1, 2],
        "val_a|<script>x": [1, 2],
    }
    note = diagnose(h).to_markdown()
    assert "<script>" not in note
    assert "a\\|&lt;script&gt;x" in note


def test_dict_round_trip_is_json():
    d = diagnose(TUTORIAL)
    data = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert data["version"] == 1 and data["status"] == "overfitting"
    assert Diagnosis.from_dict(data) == d


def test_non_finite_values_become_null_in_dict():
    d = diagnose({"loss": [1.0, float("nan")], "val_loss": [1.0, float("nan")]})
    json.dumps(d.to_dict(), allow_nan=False)


@pytest.mark.parametrize("patience", [1, 2, 3, 5])
def test_early_stopping_replay_matches_keras(patience):
    import keras

    curve = [0.9, 0.7, 0.72, 0.69, 0.71, 0.73, 0.68, 0.7, 0.74, 0.75, 0.8, 0.81]
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    callback = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
    callback.set_model(model)
    callback.on_train_begin()
    stopped = None
    for epoch, value in enumerate(curve):
        callback.on_epoch_end(epoch, {"val_loss": value})
        if getattr(model, "stop_training", False):
            stopped = epoch
            break
    replay = simulate_early_stopping(curve, "min", patience)
    assert replay.stopped_epoch == stopped
    assert replay.restored_epoch == callback.best_epoch


def test_patience_needed_to_keep_the_best_epoch():
    curve = [0.9, 0.7, 0.72, 0.69, 0.71, 0.73, 0.68, 0.7]
    assert simulate_early_stopping(curve, "min", 2).patience_to_keep_best == 3


def test_diagnosis_does_not_import_tensorflow():
    code = (
        "import sys, tbviz, tbviz.figures, tbviz.event_reader, tbviz.trainer.cli; "
        "tbviz.diagnose({'loss': [1]}); print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


finite_curve = st.lists(st.floats(min_value=1e-3, max_value=10), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=1e-3, max_value=10), min_size=1, max_size=30), st.data())
def test_monotonically_improving_run_is_never_overfitting(values, data):
    val = sorted(values, reverse=True)
    train = sorted(
        data.draw(st.lists(st.floats(1e-3, 10), min_size=len(val), max_size=len(val))), reverse=True
    )
    assert diagnose({"loss": train, "val_loss": val}).status != "overfitting"


@settings(max_examples=200, deadline=None)
@given(
    finite_curve,
    finite_curve,
    st.integers(min_value=0, max_value=29),
    st.sampled_from([float("nan"), float("inf"), -float("inf")]),
)
def test_any_non_finite_loss_means_diverged_at_its_first_epoch(train, val, where, bad):
    n = min(len(train), len(val))
    train, val = train[:n], val[:n]
    where = where % n
    train = [*train[:where], bad, *train[where + 1 :]]
    d = diagnose({"loss": train, "val_loss": val})
    assert d.status == "diverged" and d.diverged_at == where


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0)),
        min_size=1,
        max_size=25,
    ),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=25),
)
def test_arbitrary_histories_never_crash(train, val):
    d = diagnose(
        {"loss": train, "val_loss": val, "accuracy": list(np.clip(np.nan_to_num(val), 0, 1))}
    )
    assert d.status in STATUSES
    json.dumps(d.to_dict(), allow_nan=False)
    d.to_markdown(final=True)


@settings(max_examples=100, deadline=None)
@given(finite_curve, finite_curve)
def test_streaming_prefixes_never_contradict_a_later_verdict(train, val):
    n = min(len(train), len(val))
    stream = [diagnose({"loss": train[:end], "val_loss": val[:end]}) for end in range(1, n + 1)]
    for before, after in itertools.pairwise(stream):
        assert after.best_value <= before.best_value
        assert after.epochs_since_best in (0, before.epochs_since_best + 1)
        if after.status == "overfitting":
            assert after.onset_epoch == after.best_epoch
            assert after.last_epoch - after.onset_epoch >= DetectorSettings().confirm_epochs
