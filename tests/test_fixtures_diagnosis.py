"""The detector on real training histories (tests/fixtures/histories, made by
scripts/make_history_fixtures.py): known cases, streaming consistency, and the
benchmark's ordering against EarlyStopping."""

import itertools
import json
import math
import sys

import pytest

from tbviz import diagnose
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "histories"
sys.path.insert(0, str(ROOT / "scripts"))
import bench_diagnosis  # noqa: E402


def load(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())["history"]


def prefixes(history):
    n = len(history["loss"])
    return [diagnose({k: v[:end] for k, v in history.items()}) for end in range(1, n + 1)]


def argmin(values):
    finite = [v if math.isfinite(v) else math.inf for v in values]
    return min(range(len(finite)), key=finite.__getitem__)


def test_there_are_at_least_60_real_histories_of_every_kind():
    runs = [json.loads(p.read_text()) for p in FIXTURES.glob("*.json")]
    assert len(runs) >= 60
    assert all(len(r["history"]["loss"]) >= 30 for r in runs)
    assert {r["config"]["dataset"] for r in runs} == {
        "mnist-5k",
        "fashion",
        "digits",
        "cancer",
        "diabetes",
    }
    monitors = {r.get("monitor", "val_loss") for r in runs}
    assert {"val_loss", "val_mse", "val_mae", "val_auc"} <= monitors
    assert sum(len(r["history"]["loss"]) >= 50 for r in runs) >= 8
    assert sum("learning_rate" in r["history"] for r in runs) >= 6
    # Heavy regularisation: validation below training for most of the run.
    below = [
        r
        for r in runs
        if sum(v < t for v, t in zip(r["history"]["val_loss"], r["history"]["loss"], strict=True))
        > 20
    ]
    assert len(below) >= 3
    assert sum(min(r["history"]["loss"]) < 0.01 for r in runs) >= 5


@pytest.mark.parametrize(
    "name", ["cnn-mnist-500", "mlp-mnist-4000", "cnn-fashion-4000", "big-fashion-2000"]
)
def test_clear_overfitting_runs_are_flagged_with_the_right_onset(name):
    history = load(name)
    final = diagnose(history)
    assert final.status == "overfitting"
    assert final.onset_epoch == argmin(history["val_loss"])


@pytest.mark.parametrize(
    "name", ["mlp-mnist-4000-lr1e-4", "cnn-fashion-4000-lr3e-4", "cnn-mnist-2000-sgd"]
)
def test_slow_steady_runs_are_never_called_overfitting(name):
    assert "overfitting" not in {d.status for d in prefixes(load(name))}


@pytest.mark.parametrize(
    "name", ["cnn-mnist-2000-stuck", "mlp-fashion-2000-stuck", "mlp-mnist-2000-sgd20-stuck"]
)
def test_runs_that_never_learn_are_not_learning_not_overfitting(name):
    statuses = [d.status for d in prefixes(load(name))]
    assert statuses[-1] == "not-learning"
    assert "overfitting" not in statuses


def test_a_run_that_goes_nan_is_diverged_from_its_first_nan():
    history = load("big-fashion-2000-nan")
    first = min(i for i, v in enumerate(history["loss"]) if not math.isfinite(v))
    assert all(d.status == "diverged" and d.diverged_at == first for d in prefixes(history)[first:])


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_streaming_never_contradicts_itself(path):
    """What an epoch-by-epoch stream says can only move in possible directions."""
    stream = prefixes(json.loads(path.read_text())["history"])
    for before, after in itertools.pairwise(stream):
        if before.status == "diverged":
            assert after.status == "diverged" and after.diverged_at == before.diverged_at
        if (
            before.best_value is not None
            and after.best_value is not None
            and after.status != "diverged"
        ):
            assert after.best_value <= before.best_value  # the best never gets worse
            assert after.epochs_since_best in (0, before.epochs_since_best + 1)
        if after.onset_epoch is not None:
            assert after.onset_epoch == after.best_epoch <= after.last_epoch
    # Where the final diagnosis says OverfittingStopping would have stopped is where
    # the stream first says stop: the first overfitting or diverged epoch.
    first = next((d for d in stream if d.status in ("overfitting", "diverged")), None)
    ours = stream[-1].overfitting_stopping
    assert (ours and ours.stopped_epoch) == (first and first.last_epoch)


def test_detector_beats_early_stopping_on_real_curves():
    """The benchmark's headline, held as a test: right at the end, steady on the way."""
    runs = bench_diagnosis.load_runs(FIXTURES)
    ours = bench_diagnosis.evaluate(runs, bench_diagnosis.tbviz_outcome)
    keras3 = bench_diagnosis.evaluate(runs, lambda r: bench_diagnosis.early_stopping_outcome(r, 3))
    assert ours["final"] >= 0.9 and ours["final_onset"] >= 0.9
    # Withdrawn alarms: at most 5% of runs (issue 23); one here, a PyTorch run at a
    # learning rate so high its training loss jumps back up (training-unstable).
    assert ours["dropped"] <= 0.05 * len(runs)
    # Missed: one, cnn-mnist-2000-step, whose best (0.279) is a one-epoch dip of a phase
    # whose noise is 0.06; after the learning rate drops, validation settles 12-14%
    # above it and creeps up 2%. The truth calls it overfitting by 5.5% against a
    # floor that averages the dip in (5% is the line); the noisy-best rule calls it a
    # plateau, and so gets right the four runs of this shape in the three fresh sets
    # (truth: fine) and the fixtures' cnn-mnist-1000-plateau.
    assert ours["missed"] <= 1
    assert ours["premature"] < keras3["premature"] / 2
    assert ours["regret_mean"] < keras3["regret_mean"]


@pytest.mark.parametrize(
    "name",
    ["torch-mlp-mnist-500-adam-lr0.003-plateau", "torch-mlp-mnist-1000-adam-lr0.001-plateau-s1"],
)
def test_a_rate_halving_to_the_end_does_not_hide_overfitting(name):
    """PyTorch's ReduceLROnPlateau(patience=2) halves the rate every 3 epochs once
    validation stops improving, and validation settles 10-20% above its best. Each
    drop used to restart the grace a drop earns, and these runs were never called."""
    history = load(name)
    drops = [
        e
        for e in range(1, len(history["learning_rate"]))
        if history["learning_rate"][e] < history["learning_rate"][e - 1]
    ]
    assert len(drops) >= 8  # the rate keeps dropping to the end
    best = argmin(history["val_loss"])
    assert min(history["val_loss"][-3:]) > 1.08 * history["val_loss"][best]
    final = diagnose(history)
    assert final.status == "overfitting" and final.onset_epoch == best
    first = next(i for i, d in enumerate(prefixes(history)) if d.status == "overfitting")
    assert first < drops[3]  # called while the rate still drops, not held off by each drop


@pytest.mark.parametrize(
    "name",
    ["torch-mlp-mnist-1000-sgd-lr0.001-cyclic", "torch-mlp-mnist-1000-sgd-lr0.001-cyclic-s1"],
)
def test_a_cycling_rate_does_not_hide_overfitting(name):
    """A triangular CyclicLR (2 epochs up, 2 down) rises again every 4 epochs while
    validation climbs 20% above its best; each rise used to restart the grace a
    rise earns, and these runs were never called."""
    history = load(name)
    best = argmin(history["val_loss"])
    assert min(history["val_loss"][-3:]) > 1.2 * history["val_loss"][best]
    final = diagnose(history)
    assert final.status == "overfitting" and final.onset_epoch == best
    first = next(i for i, d in enumerate(prefixes(history)) if d.status == "overfitting")
    assert first <= best + 12


def test_a_jumpy_curve_that_never_returns_to_its_best_is_overfitting():
    """Issue 23: after its best, validation stays 24-52% above it, jumping so much
    that its noise sets a bar (4x noise) the mean of 3 epochs never clears, while
    training falls to nothing; the sustained rule calls it 6 epochs after its best."""
    from tbviz.core.detector import DetectorSettings, MetricDetector
    from tbviz.core.verdicts import reason_text

    val = [1.0, 0.7, 0.55, 0.5, 0.75, 0.62, 0.72, 0.64, 0.76, 0.63, 0.74, 0.65, 0.75, 0.62]
    train = [1.0, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.03, 0.02, 0.01, 0.005, 0.004, 0.003, 0.002]
    called = []
    for settings in (DetectorSettings(), DetectorSettings(sustained_epochs=100)):
        detector = MetricDetector("min", settings)
        pairs = enumerate(zip(val, train, strict=True))
        verdicts = [detector.update(e, v, t) for e, (v, t) in pairs]
        called.append(next((e for e, v in enumerate(verdicts) if v.status == "overfitting"), None))
    assert called[0] == 3 + 6 and called[1] is None  # the old rule alone never calls it
    detector = MetricDetector("min")
    for e, (v, t) in enumerate(zip(val, train, strict=True)):
        verdict = detector.update(e, v, t)
    assert verdict.reason_code == "sustained" and verdict.onset_epoch == 3
    from tbviz.core.diagnosis import diagnose

    d = diagnose({"loss": train, "val_loss": val})
    assert d.reason_code == "sustained"
    assert "has stayed above its best (0.5) for 10 epochs" in reason_text(d)


def test_the_bench_judges_a_pool_of_folders_with_other_settings(tmp_path, monkeypatch, capsys):
    """`--setting` changes the detector the bench replays (one more confirming
    epoch: no alarm sooner, some later), several `--fixtures` folders are one
    pool, and a mistyped setting is a usage error naming the setting meant."""
    for name in ("mlp-mnist-500", "cnn-mnist-2000"):
        (tmp_path / f"{name}.json").write_text((FIXTURES / f"{name}.json").read_text())
    other = tmp_path / "other"
    other.mkdir()
    (other / "mlp-mnist-1000.json").write_text((FIXTURES / "mlp-mnist-1000.json").read_text())
    argv = ["bench_diagnosis.py", "--fixtures", str(tmp_path), str(other), "--details"]

    def alarms(*extra: str) -> dict[str, int]:
        monkeypatch.setattr(sys, "argv", [*argv, *extra])
        assert bench_diagnosis.main() == 0
        out = capsys.readouterr().out
        assert "3 real histories" in out
        assert ("tbviz judged with confirm_epochs=4" in out) == bool(extra)
        rows = [line.split("  <--")[0] for line in out.splitlines() if line.startswith("{")]
        return {r["run"]: r["alarm"] for r in map(eval, rows)}

    default, patient = alarms(), alarms("--setting", "confirm_epochs=4")
    assert len(default) == 3 and all(default.values())
    assert all(patient[run] >= default[run] for run in default)
    assert any(patient[run] > default[run] for run in default)
    monkeypatch.setattr(sys, "argv", [*argv, "--setting", "confirm_epoch=4"])
    with pytest.raises(SystemExit) as exit_:
        bench_diagnosis.main()
    assert exit_.value.code == 2
    assert "did you mean confirm_epochs?" in capsys.readouterr().err


def test_the_premature_alarm_study_counts_the_alarms_the_bench_counts(monkeypatch, capsys):
    """scripts/bench_premature.py (the README's "Can the curve so far tell...") studies
    the same first alarms bench_diagnosis finds premature, and scores each measure."""
    import bench_premature

    runs = bench_diagnosis.load_runs(FIXTURES)
    rows = bench_diagnosis.evaluate(runs, bench_diagnosis.tbviz_outcome)["rows"]
    premature = sum(r["premature"] for r in rows if r["truth"] != "not-learning")
    monkeypatch.setattr(sys, "argv", ["bench_premature.py", str(FIXTURES)])
    assert bench_premature.main() == 0
    out = capsys.readouterr().out
    assert f"{len(runs)} runs, " in out and f", {premature} premature" in out
    measured = [line for line in out.splitlines() if line.startswith("  ") and " AUC " in line]
    aucs = [float(line.split(" AUC ")[1].split()[0]) for line in measured]
    assert len(aucs) == 13 and all(0.5 <= a <= 1 for a in aucs)
    assert out.count("holding half the premature alarms") == 2


def test_the_torch_held_out_generator_trains_every_schedule_it_names():
    """scripts/make_torch_heldout.py: each schedule builds, and a short run of a
    classification and a regression kind logs what the bench reads."""
    import dataclasses

    import make_torch_heldout as heldout
    import torch

    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), 0.1)
    for kind in heldout.KINDS.values():
        schedule, _ = heldout.scheduler(kind.schedule, optimizer, batches=4, epochs=8)
        assert (schedule is None) == (kind.schedule is None)
    cyclic = heldout.train(dataclasses.replace(heldout.KINDS["cyclic2-mlp-1000"], epochs=3), 0)
    assert set(cyclic) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert len(cyclic["val_loss"]) == 3 and cyclic["learning_rate"][1] > cyclic["learning_rate"][0]
    regression = heldout.train(dataclasses.replace(heldout.KINDS["diabetes-deep"], epochs=2), 0)
    assert set(regression) == {"loss", "val_loss"} and all(map(math.isfinite, regression["loss"]))
