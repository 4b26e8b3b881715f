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
from tbviz.core.diagnosis import (
    STATUSES,
    DetectorSettings,
    DiagnosisFormatError,
    OverfittingStoppingWhatIf,
    parse_diagnosis,
    simulate_early_stopping,
)
from tbviz.core.notes import note
from tbviz.core.verdicts import headline
from tbviz.live.judge import StopJudge
from tests.conftest import TUTORIAL


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


def test_validation_worse_while_training_gets_worse_is_instability():
    unstable = {
        "loss": [1.0, 0.5, 0.3, 0.35, 0.4, 0.45],
        "val_loss": [1.0, 0.6, 0.5, 0.6, 0.7, 0.8],
    }
    d = diagnose(unstable)
    assert d.status == "plateau" and d.reason_code == "training-unstable"
    assert "unstable optimiser" in d.reason


def test_a_bump_on_its_way_back_is_not_overfitting():
    # Validation jumped with the training loss and is coming back down.
    bumpy = {
        "loss": [1.0, 0.5, 0.3, 0.2, 0.32, 0.15, 0.1],
        "val_loss": [1.0, 0.6, 0.45, 0.4, 0.5, 0.45, 0.43],
    }
    d = diagnose(bumpy)
    # The bump itself is in the noise it is judged against, or the trend back is seen.
    assert d.status == "plateau" and d.reason_code in ("no-new-best", "recovering")


def test_noise_near_zero_training_loss_does_not_cancel_overfitting():
    # The training loss doubling near zero (0.0078 -> 0.014) is noise on its own
    # range, not an unstable optimiser: the verdict stays overfitting.
    loss = [2.3, 0.9, 0.4, 0.2, 0.08, 0.03, 0.012, 0.0078, 0.014, 0.009, 0.0081, 0.013]
    val = [2.2, 0.95, 0.5, 0.35, 0.3, 0.31, 0.33, 0.36, 0.38, 0.41, 0.43, 0.45]
    stream = [diagnose({"loss": loss[:n], "val_loss": val[:n]}) for n in range(1, 13)]
    first = next(i for i, d in enumerate(stream) if d.status == "overfitting")
    assert first <= 8
    assert all(d.status == "overfitting" and d.onset_epoch == 4 for d in stream[first:])


def test_verdict_holds_until_a_new_best():
    loss = [1.0, 0.6, 0.4, 0.3, 0.25, 0.2, 0.17, 0.15, 0.13, 0.12, 0.11, 0.1]
    val = [1.0, 0.7, 0.5, 0.55, 0.6, 0.62, 0.58, 0.56, 0.55, 0.53, 0.49, 0.6]
    stream = [diagnose({"loss": loss[:n], "val_loss": val[:n]}) for n in range(1, 13)]
    statuses = [d.status for d in stream]
    first = statuses.index("overfitting")
    # Validation eases back towards its best (0.5) but stays above it: still overfitting.
    assert statuses[first:10] == ["overfitting"] * (10 - first)
    # A new best (0.49 at epoch 11, step 10) withdraws it.
    assert stream[10].status == "improving" and stream[10].reason_code == "new-best"


def test_learning_rate_drop_gets_its_chance():
    loss = [1.0, 0.6, 0.4, 0.3, 0.25, 0.2, 0.17]
    val = [1.0, 0.7, 0.5, 0.53, 0.56, 0.58, 0.57]
    lr = [1e-3] * 4 + [1e-4] * 3
    d = diagnose({"loss": loss, "val_loss": val, "learning_rate": lr})
    assert d.status == "plateau" and d.reason_code == "lr-drop" and d.lr_drop_epoch == 4
    assert diagnose({"loss": loss, "val_loss": val}).status == "overfitting"


def test_a_rate_that_keeps_dropping_gets_one_chance_per_best():
    # ReduceLROnPlateau(patience=2) with Keras' default min_lr=0 halves the rate every
    # 2 epochs while validation does not improve: each drop used to restart the grace,
    # so a clearly overfitting run was never called overfitting.
    loss = [1.0, 0.6, 0.4, 0.3, 0.25, 0.2, 0.17, 0.15, 0.13, 0.12, 0.11, 0.1, 0.09, 0.08]
    val = [1.0, 0.7, 0.5, 0.53, 0.56, 0.58, 0.6, 0.62, 0.63, 0.65, 0.66, 0.68, 0.69, 0.7]
    lr = [1e-3 * 0.5 ** max(0, (e - 3) // 2) for e in range(14)]  # drops at 5, 7, 9, ...
    stream = [
        diagnose({"loss": loss[:n], "val_loss": val[:n], "learning_rate": lr[:n]})
        for n in range(1, 15)
    ]
    # The first drop after the best (epoch 5) earns its grace...
    assert stream[6].reason_code == "lr-drop" and stream[6].lr_drop_epoch == 5
    # ...the later ones do not renew it.
    assert stream[-1].status == "overfitting" and stream[-1].onset_epoch == 2
    first = next(i for i, d in enumerate(stream) if d.status == "overfitting")
    assert first <= 9


def test_a_rising_learning_rate_is_not_taken_for_overfitting():
    # A learning-rate range test: the rate doubles every epoch and validation worsens.
    loss = [2.0, 0.9, 0.56, 0.54, 0.52, 0.5, 0.49]
    val = [1.6, 0.62, 0.83, 1.18, 1.66, 1.9, 2.2]
    lr = [0.02 * 2**i for i in range(7)]
    d = diagnose({"loss": loss, "val_loss": val, "learning_rate": lr})
    assert d.status == "plateau" and d.reason_code == "lr-rise" and d.lr_rise_epoch == 6
    assert "learning rate rose at epoch 7" in d.reason
    # The same curves without the rate, or with a rate that held, are overfitting.
    assert diagnose({"loss": loss, "val_loss": val}).status == "overfitting"
    held = lr[:3] + [lr[2]] * 4
    assert diagnose({"loss": loss, "val_loss": val, "learning_rate": held}).status == "overfitting"


def test_a_cycling_rate_gets_one_chance_per_best():
    # A triangular cyclic rate (up 2 epochs, down 2): each new rise used to restart
    # the grace a rise earns, so no overfitting run under it was ever called.
    loss = [1.0, 0.6, 0.4, 0.3, 0.25, 0.2, 0.17, 0.15, 0.13, 0.12, 0.11, 0.1, 0.09, 0.08]
    val = [1.0, 0.7, 0.5, 0.53, 0.56, 0.58, 0.6, 0.62, 0.63, 0.65, 0.66, 0.68, 0.69, 0.7]
    lr = [[0.001, 0.01, 0.02, 0.01][e % 4] for e in range(14)]  # rises at 1, 2, 5, 6, 9, ...
    stream = [
        diagnose({"loss": loss[:n], "val_loss": val[:n], "learning_rate": lr[:n]})
        for n in range(1, 15)
    ]
    assert stream[-1].status == "overfitting" and stream[-1].onset_epoch == 2
    assert next(i for i, d in enumerate(stream) if d.status == "overfitting") <= 8
    # A rate still climbing since the best (a range test, a warm-up) keeps its grace.
    climbing = [0.001 * 1.5**e for e in range(14)]
    d = diagnose({"loss": loss, "val_loss": val, "learning_rate": climbing})
    assert d.reason_code == "lr-rise" and d.lr_rise_epoch == 13


def test_a_best_that_was_a_dip_of_a_noisier_phase_is_not_a_level_lost():
    """A real run (SGD at 0.1, the rate cut tenfold at epoch 13): the best, 0.2918, is
    one dip of a phase whose values scatter by 0.025; after the cut validation settles
    at 0.305, 4-5% above that dip, and creeps up 0.7% while training sits at zero."""
    val = [0.4333, 0.3001, 0.3086, 0.3058, 0.3486, 0.2926, 0.334, 0.3698, 0.3114, 0.3244,
           0.2918, 0.3053, 0.3048, 0.3045, 0.3044, 0.3044, 0.3046, 0.3047, 0.3049, 0.3052,
           0.3054, 0.3057, 0.306, 0.3062]  # fmt: skip
    loss = [0.84, 0.31, 0.19, 0.14, 0.089, 0.084, 0.085, 0.047, 0.02, 0.0068, 0.0048, 0.0014]
    loss += [0.0006] * 4 + [0.0005] * 8
    lr = [0.1] * 12 + [0.01] * 12
    d = diagnose({"loss": loss, "val_loss": val, "learning_rate": lr})
    assert d.status == "plateau" and d.reason_code == "noisy-best"
    assert d.best_epoch == 10 and 0.02 < d.noise < 0.03 and d.threshold == d.noise
    assert "set before the learning rate dropped" in d.reason and "lucky dip" in d.reason
    # The rule off, or without the rate, the same curve is overfitting since its dip.
    off = diagnose(
        {"loss": loss, "val_loss": val, "learning_rate": lr},
        settings=DetectorSettings(noisy_best_multiplier=0),
    )
    assert off.status == "overfitting" and off.onset_epoch == 10
    assert diagnose({"loss": loss, "val_loss": val}).status == "overfitting"
    # A rise beyond that phase's noise after the cut is overfitting still.
    rising = val[:12] + [0.3053 + 0.006 * i for i in range(1, 13)]
    d = diagnose({"loss": loss, "val_loss": rising, "learning_rate": lr})
    assert d.status == "overfitting" and d.onset_epoch == 10


def test_missing_monitor_names_the_keys_that_exist():
    d = diagnose(TUTORIAL, monitor="val_acc")
    assert d.status == "no-monitor" and d.available == ("val_loss", "val_accuracy")
    assert "val_accuracy" in d.reason and "monitor=" in d.reason
    assert "validation_data" not in d.reason


@pytest.mark.parametrize(
    "name",
    [
        "val_cosine_similarity",
        "val_mean_io_u",
        "val_mean_iou",
        "val_auc_1",
        "val_r2_score",
        "val_f1_score",
        "val_precision",
    ],
)
def test_rising_higher_is_better_metrics_are_improving(name):
    values = [0.1 + 0.08 * i for i in range(10)]
    h = {"loss": [1.0 - 0.09 * i for i in range(10)], name: values, name[4:]: values}
    d = diagnose(h, monitor=name)
    assert d.direction == "max" and d.status == "improving" and d.best_epoch == 9


def test_directions_given_by_the_user_win():
    h = {"loss": [1.0, 0.5, 0.3, 0.2], "score": [1, 2, 3, 4], "val_score": [1, 2, 3, 4]}
    assert diagnose(h, monitor="val_score").direction_source == "guess"
    d = diagnose(h, monitor="val_score", directions={"score": "max"})
    assert d.direction == "max" and d.direction_source == "given" and d.best_epoch == 3
    assert diagnose(h, monitor="val_score", mode="max").direction_source == "mode"
    with pytest.raises(ValueError, match="min"):
        diagnose(h, directions={"score": "up"})


def test_no_verdict_during_warm_up():
    early = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.0, 0.6, 0.9]}
    assert diagnose(early).status == "improving"


def test_three_rising_epochs_are_weighed_against_the_noise_of_both_sides():
    # A jumpy descent (about 0.02 around its trend), then three epochs that happen to
    # rise almost on a line: the line's own 2-degree-of-freedom scatter (0.008) would
    # set the bar alone; pooled with the descent's, the rise is within the noise.
    val = [1.0, 0.6, 0.45, 0.40, 0.36, 0.38, 0.33, 0.35, 0.31, 0.33, 0.30, 0.325, 0.325, 0.35]
    loss = [0.8**i for i in range(len(val))]
    pooled = diagnose({"loss": loss, "val_loss": val})
    assert pooled.status == "plateau" and pooled.noise == pytest.approx(0.0166, abs=5e-4)
    smaller_side = diagnose(
        {"loss": loss, "val_loss": val}, settings=DetectorSettings(noise_pool_ratio=1.0)
    )
    assert smaller_side.status == "overfitting" and smaller_side.noise < 0.01


def test_not_learning_when_stuck_at_chance():
    stuck = {
        "loss": [33.0, 2.43, 2.42, 2.43, 2.43, 2.43],
        "val_loss": [2.31, 2.31, 2.32, 2.31, 2.33, 2.31],
        "accuracy": [0.09, 0.1, 0.1, 0.09, 0.1, 0.1],
    }
    d = diagnose(stuck)
    assert d.status == "not-learning"
    assert "smaller learning rate" in d.reason
    assert note(d).startswith("**Not learning**")
    # Loss falling but accuracy at chance: still not learning.
    falling = {**stuck, "loss": [7797.0, 4.17, 2.43, 2.38, 2.32, 2.3]}
    assert diagnose(falling).status == "not-learning"
    # A blown-up first step dips the second epoch's accuracy (0.144 -> 0.119); the
    # climb back to 0.176 is no rise: a held-out run that was called overfitting.
    dipped = {**falling, "accuracy": [0.144, 0.119, 0.135, 0.171, 0.182, 0.176]}
    d = diagnose(dipped)
    assert d.status == "not-learning" and "above its first two epochs'" in d.reason
    learning = {**falling, "accuracy": [0.144, 0.119, 0.2, 0.28, 0.35, 0.41]}
    assert diagnose(learning).status != "not-learning"


def test_a_loss_that_fell_in_its_first_epoch_and_stays_has_learned():
    """A linear regression fitted within its first epoch (a held-out run called
    not-learning): its loss halves, then stays. Measured from the second epoch
    it 'never fell'; the second epoch is the yardstick only after a blown-up
    first step (``blown_up_first`` times the second), and a regression has no
    accuracy to tell the two apart."""
    fitted = {
        "loss": [1.0, 0.5, 0.49, 0.5, 0.49, 0.5, 0.49, 0.5],
        "val_loss": [0.6, 0.58, 0.57, 0.58, 0.57, 0.57, 0.58, 0.57],
    }
    assert diagnose(fitted).status == "plateau"
    blown_up = {**fitted, "loss": [40.0, *fitted["loss"][1:]]}
    d = diagnose(blown_up)
    assert d.status == "not-learning"
    assert "not 10% below its second epoch's 0.5" in d.reason
    # The threshold is a setting: past 2x, this run's first epoch counts as blown up.
    d = diagnose(fitted, settings=DetectorSettings(blown_up_first=1.5))
    assert d.status == "not-learning" and "its second epoch's" in d.reason
    # A loss that never fell 30% from its first value is named by its first.
    flat = {**fitted, "loss": [1.0, 0.9, 0.85, 0.8, 0.8, 0.8, 0.8, 0.8]}
    d = diagnose(flat)
    assert d.status == "not-learning" and "not 30% below its first epoch's 1" in d.reason


def test_a_loss_still_falling_slowly_is_learning():
    # A small model on 60 examples (Keras, validation_freq=2): the loss falls about 2%
    # an epoch, 20% in 12 epochs, while validation sets a new best at every evaluation.
    loss = [0.714, 0.696, 0.682, 0.667, 0.653, 0.638, 0.626, 0.614, 0.602, 0.59, 0.579, 0.568]
    history = {"loss": loss, "val_loss": [0.7 - 0.01 * i for i in range(12)]}
    assert diagnose(history).status == "improving"
    # Stalled at the same height, it is not learning, and the words say it stopped falling.
    stalled = {"loss": loss[:6] + [loss[5]] * 6, "val_loss": [0.7] * 12}
    stuck = diagnose(stalled)
    assert stuck.status == "not-learning"
    assert "its lowest fell less than 5% in the last 3 epochs" in stuck.reason
    # The threshold is a setting: asked to fall 10% in 3 epochs, the slow learner is stuck.
    strict = diagnose(history, settings=DetectorSettings(stuck_progress=10.0))
    assert strict.status == "not-learning" and "less than 10%" in strict.reason


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
    text = note(diagnose(TUTORIAL), final=True)
    assert "Final diagnosis after 10 epochs" in text
    assert "**Overfitting** since epoch 4" in text
    assert "Best val\\_loss: 0.068 at epoch 4" in text
    assert 'EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)' in text
    assert "would have stopped after epoch 7 and restored epoch 4" in text
    assert "saving 3 epochs" in text
    assert (
        'the soonest stop that keeps the best epoch: `EarlyStopping(monitor="val_loss", '
        "patience=1, restore_best_weights=True)` stops after epoch 5 and restores "
        "epoch 4" in text
    )
    assert "| accuracy | epoch 4 |" in text
    assert (
        "`OverfittingStopping()` would have stopped after epoch 7 and restored epoch 4 "
        "(val\\_loss 0.068), saving 3 epochs." in text
    )


def test_the_notes_say_where_tbviz_would_have_stopped_even_when_a_later_best_withdrew_it():
    """A run that turns, rises for five epochs while training improves, then beats its
    best: the alarm was premature, and the note says so where a user reads it. The
    what-if is where the stopper really stops on the same epochs."""
    val = [1.0, 0.8, 0.6, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.45, 0.4, 0.38]
    history = {"loss": [0.8**i for i in range(len(val))], "val_loss": val}
    d = diagnose(history)
    assert d.status == "improving" and d.best_epoch == 11
    judge = StopJudge()
    stop = next(
        e
        for e in range(len(val))
        if judge.stops(judge.judge(e, {k: v[e] for k, v in history.items()}))
    )
    assert d.overfitting_stopping == OverfittingStoppingWhatIf(stop, 3, 0.5, 11 - stop)
    text = note(d)
    assert (
        f"`OverfittingStopping()` would have stopped after epoch {stop + 1} and restored "
        "epoch 4 (val\\_loss 0.5)" in text
    )
    assert "the run did better later: 0.38 at epoch 12" in text
    # A run no alarm ever came to, where EarlyStopping would have stopped, says so;
    # the stored form keeps the what-if, and older payloads without it still read.
    calm = diagnose({"loss": [1.0, 0.9, 0.8, 0.7, 0.6], "val_loss": [1.0, 0.9, 0.9, 0.9, 0.9]})
    assert calm.overfitting_stopping is None
    assert "`OverfittingStopping()` would not have stopped" in note(calm)
    assert parse_diagnosis(json.dumps(d.to_dict())) == d
    older = {k: v for k, v in d.to_dict().items() if k != "overfitting_stopping"}
    assert parse_diagnosis(older).overfitting_stopping is None
    # A loss that stops being finite stops it too, restoring the best epoch.
    blown = {"loss": [1.0, 0.5, 0.4, math.nan, math.nan], "val_loss": [1.0, 0.6, 0.5, 0.7, 0.9]}
    d = diagnose(blown)
    judge = StopJudge()
    stop = next(
        e for e in range(5) if judge.stops(judge.judge(e, {k: v[e] for k, v in blown.items()}))
    )
    assert d.status == "diverged" and d.overfitting_stopping == OverfittingStoppingWhatIf(
        stop, 2, 0.5, 4 - stop
    )
    text = note(d)  # the numbers stop before the blow-up: no "last" value after it
    assert "- Best val\\_loss: 0.5 at epoch 3.\n" in text and "last:" not in text
    assert "`OverfittingStopping()` would have stopped after epoch 4 and restored epoch 3" in text


def test_reason_is_plain_text_and_headline_markdown():
    d = diagnose(TUTORIAL)
    assert d.reason_code == "overfitting" and "\\" not in d.reason and "val_loss" in d.reason
    assert headline(d).startswith("**Overfitting**") and "val\\_loss" in headline(d)
    assert d.plain_headline().startswith("Overfitting since epoch 4: val_loss")


def test_hostile_metric_names_are_escaped_in_markdown():
    h = {
        "loss": [1.0, 0.5],
        "val_loss": [1.0, 0.6],
        "a|<script>x": [1, 2],
        "val_a|<script>x": [1, 2],
    }
    text = note(diagnose(h))
    assert "<script>" not in text
    assert "a\\|&lt;script&gt;x" in text


def test_dict_round_trip_is_json():
    d = diagnose(TUTORIAL)
    data = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert data["version"] == 2 and data["status"] == "overfitting"
    assert Diagnosis.from_dict(data) == d == parse_diagnosis(json.dumps(data))


def test_stored_diagnoses_are_checked_when_read():
    old = {
        "version": 1,
        "status": "plateau",
        "reason": "no new best val\\_loss",
        "monitor": "val_loss",
        "direction": "min",
        "epochs": 3,
        "last_epoch": 2,
    }
    d = parse_diagnosis(old)
    assert d.reason == "no new best val_loss" and d.reason_code == "v1"
    with pytest.raises(DiagnosisFormatError, match="newer tbviz"):
        parse_diagnosis({**old, "version": 99})
    with pytest.raises(DiagnosisFormatError, match="not JSON"):
        parse_diagnosis(b"{oops")
    with pytest.raises(DiagnosisFormatError, match="missing fields"):
        parse_diagnosis({"version": 2, "status": "plateau"})


def test_non_finite_values_become_null_in_dict():
    d = diagnose({"loss": [1.0, float("nan")], "val_loss": [1.0, float("nan")]})
    json.dumps(d.to_dict(), allow_nan=False)


@pytest.mark.slow
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
        "import sys, tbviz, tbviz.figures.run_figure, tbviz.logdir.reader, tbviz.trainer.cli; "
        "tbviz.diagnose({'loss': [1]}); "
        "print('tensorflow' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


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
    note(d, final=True)


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


def stream_of(train, val, key="val_loss"):
    base = key.removeprefix("val_")
    return [diagnose({base: train[:n], key: val[:n]}, monitor=key) for n in range(1, len(val) + 1)]


@settings(max_examples=150, deadline=None)
@given(finite_curve, finite_curve)
def test_overfitting_persists_until_a_new_best(train, val):
    n = min(len(train), len(val))
    stream = stream_of(train[:n], val[:n])
    for i, d in enumerate(stream):
        if d.status != "overfitting":
            continue
        for later in stream[i + 1 :]:
            if later.best_epoch != d.best_epoch:  # validation set a new best
                break
            if later.reason_code in ("training-unstable", "not-learning"):
                break  # the only verdicts that may withdraw it
            assert later.status == "overfitting" and later.onset_epoch == d.onset_epoch


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-4, max_value=0.05), min_size=8, max_size=30, unique=True),
    st.sampled_from(["val_accuracy", "val_auc", "val_cosine_similarity", "val_mean_io_u"]),
)
def test_a_rising_higher_is_better_metric_is_improving(steps, key):
    val = list(np.cumsum(sorted(steps)) / (1 + sum(steps)))  # rising, below 1
    train = [v + 0.01 for v in val]
    assert all(d.status == "improving" for d in stream_of(train, val, key))


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=3, max_value=12),
    st.integers(min_value=4, max_value=15),
    st.floats(min_value=0.03, max_value=0.3),
    st.floats(min_value=1e-4, max_value=0.05),
)
def test_converged_training_with_rising_validation_is_overfitting(best, after, rise, floor):
    n = best + after + 1
    # Training falls to its floor and stays there (tiny jitter near zero).
    train = [max(floor, 2.0 * 0.5**i) + (1e-5 if i % 2 else 0.0) for i in range(n)]
    # Validation falls to its best, then rises steadily.
    val = [0.3 + 2.0 * 0.6**i for i in range(best + 1)]
    val += [val[-1] * (1 + rise * (k + 1) / 3) for k in range(after)]
    last = stream_of(train, val)[-1]
    assert last.status == "overfitting" and last.onset_epoch == best


def test_the_leaderboard_path_and_the_full_path_give_the_same_gaps():
    """Issue 23: with a NaN last val_accuracy, both read the gap at the last epoch
    that has a value (it was -0.1 one way and None the other)."""
    history = {
        "loss": [1.0, 0.8, 0.6],
        "val_loss": [1.1, 0.9, 0.7],
        "accuracy": [0.5, 0.6, 0.7],
        "val_accuracy": [0.5, 0.6, float("nan")],
    }
    full, quick = (
        {m.name: m.gap for m in diagnose(history, every_metric=every).metrics}
        for every in (True, False)
    )
    assert full == quick and full["accuracy"] == pytest.approx(0.0)


def test_one_step_of_a_stepped_metric_is_not_a_turn():
    """Accuracy over 400 examples moves in steps of 1/400. Sitting one step below
    its best, epoch after epoch, its scatter says ~0 noise; one example is not
    overfitting. Several steps down, held, is."""
    step = 1 / 400
    kept = [300, 340, 360, 372, 380, 384, 386, 388, 389, 389, 390, 389, 389, 389, 389, 389, 389]
    train = [0.70 + 0.017 * i for i in range(len(kept))]
    one_step = {"accuracy": train, "val_accuracy": [step * k for k in kept]}
    assert diagnose(one_step, "val_accuracy").status != "overfitting"
    # The step rule is what keeps it quiet: without it, the same curve alarms.
    blind = DetectorSettings(resolution_steps=0.0)
    assert diagnose(one_step, "val_accuracy", settings=blind).status == "overfitting"
    falling = [*kept[:11], 388, 387, 386, 386, 385, 385]
    many = {"accuracy": train, "val_accuracy": [step * k for k in falling]}
    verdict = diagnose(many, "val_accuracy")
    assert (verdict.status, verdict.onset_epoch) == ("overfitting", 10)
