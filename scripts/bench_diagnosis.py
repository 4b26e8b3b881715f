#!/usr/bin/env python3
"""How rightly, how early and how steadily does tbviz call overfitting? Against EarlyStopping.

Streams every real history in ``tests/fixtures/histories/`` epoch by epoch
through ``tbviz.core.diagnosis.RunDiagnoser`` (as the callback does during
training), each judged by the metric its fixture names (``val_loss``,
``val_mse``, ``val_mae``, ``val_auc``), and replays Keras'
``EarlyStopping(patience=P)`` for P = 1..5 on the same curves.

Ground truth, from the whole finished curve (hindsight the detector never has),
on the loss-like scale (``1 - value`` for metrics like accuracy or AUC):

- diverged: a loss went NaN or infinite;
- not learning: the training loss ends (mean of the last 3) above 70% of its
  first value, or validation accuracy never reached 0.3;
- overfits: the mean of the last 3 validation values is worse than the best
  3-epoch mean by at least 5% and by 3 times the run's noise, the best is 4+
  epochs before the end, and training ended better than at the best epoch;
- fine (improving or plateau: not told apart): the last 3 are within 2% (or
  1.5 times the noise) of that best;
- ambiguous: in between; left out of the final-verdict score (their count is
  printed).

Per detector:

- **final**: share of runs whose status at the end is right (overfitting,
  diverged, not-learning, or one of improving/plateau), and among overfitting
  runs, the share whose final onset is within 2 epochs of the best epoch;
- **premature**: share of runs whose first alarm was wrong (validation later
  beats the best seen at the alarm by more than 2%, or the run never learned);
- **latency**: epochs from the run's best epoch to the first alarm, median over
  overfitting runs that were flagged; **missed**: overfitting runs never flagged;
- **dropped**: runs whose alarm was withdrawn before validation set a new best;
- **stopping**: stop at the first alarm and restore the best epoch seen
  (tbviz: the onset it names; EarlyStopping: its best): mean epochs saved,
  and regret = how much worse the restored value is than the full run's best
  (median %, and runs with regret over 1%).

    python scripts/bench_diagnosis.py [--fixtures DIR [DIR ...]] [--details]
        [--setting NAME=VALUE ...]   (a detector setting, as ``tbviz --setting``)

No TensorFlow is imported; it runs in a few seconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tbviz.commands.cli import detector_settings  # noqa: E402
from tbviz.core.detector import DetectorSettings, changed_settings  # noqa: E402
from tbviz.core.diagnosis import RunDiagnoser, simulate_early_stopping  # noqa: E402
from tbviz.core.directions import base_name, resolve  # noqa: E402

OVERFIT_FINAL_GL = 5.0
OVERFIT_NOISE = 3.0
PREMATURE_IMPROVEMENT = 2.0
FINE_GL = 2.0
FINE_NOISE = 1.5
LEARNED_ACCURACY = 0.3
#: Fixture names of the first set (tuned on in earlier sessions); the rest came later.
FIRST_SET_SIZE = 36


@dataclass
class Run:
    name: str
    history: dict[str, list[float]]
    monitor: str = "val_loss"
    new: bool = False
    third: bool = False  # the PyTorch set of issue 23
    direction: str = field(init=False)
    bounded: bool = field(init=False)

    def __post_init__(self) -> None:
        self.direction = resolve(self.monitor).direction
        finite = [v for v in self.history[self.monitor] if math.isfinite(v)]
        self.bounded = self.direction == "max" and all(v <= 1 for v in finite)

    def loss_like(self, value: float) -> float:
        if self.direction == "min":
            return value
        return 1 - value if self.bounded else -value

    @property
    def epochs(self) -> int:
        return len(self.history[self.monitor])

    def first_non_finite(self) -> int | None:
        losses = [k for k in self.history if "loss" in base_name(k)]
        firsts = [i for k in losses for i, v in enumerate(self.history[k]) if not math.isfinite(v)]
        return min(firsts) if firsts else None

    def finite_val(self) -> list[float]:
        stop = self.first_non_finite()
        values = [self.loss_like(v) for v in self.history[self.monitor]]
        return values if stop is None else values[:stop]

    def best_epoch(self, until: int | None = None) -> int | None:
        values = self.finite_val()[: None if until is None else until + 1]
        return min(range(len(values)), key=values.__getitem__) if values else None

    def learned(self) -> bool:
        loss = [v for v in self.history.get("loss", []) if math.isfinite(v)]
        if loss and statistics.fmean(loss[-3:]) > 0.7 * loss[0]:
            return False
        accuracy = [v for v in self.history.get("val_accuracy", []) if math.isfinite(v)]
        return not accuracy or max(accuracy) >= LEARNED_ACCURACY

    def noise(self) -> float:
        values = self.finite_val()[3:]
        if len(values) < 5:
            return 0.0
        d2 = [values[i] - 2 * values[i - 1] + values[i - 2] for i in range(2, len(values))]
        med = statistics.median(d2)
        return 1.4826 * statistics.median(abs(d - med) for d in d2) / math.sqrt(6)

    def truth(self) -> str:
        if self.first_non_finite() is not None:
            return "diverged"
        if not self.learned():
            return "not-learning"
        values = self.finite_val()
        best = self.best_epoch()
        smooth = [statistics.fmean(values[max(0, i - 1) : i + 2]) for i in range(len(values))]
        floor = min(smooth)
        worse = statistics.fmean(values[-3:]) - floor
        train = [self.loss_like(v) for v in self.history.get(base_name(self.monitor), [])]
        trained = bool(train) and statistics.fmean(train[-3:]) <= train[best]
        noise = self.noise()
        if (
            best <= len(values) - 5
            and worse >= OVERFIT_FINAL_GL / 100 * abs(floor)
            and worse >= OVERFIT_NOISE * noise
            and trained
        ):
            return "overfitting"
        if worse <= max(FINE_GL / 100 * abs(floor), FINE_NOISE * noise) or not trained:
            return "fine"
        return "ambiguous"


def load_runs(folder: Path) -> list[Run]:
    runs = []
    for index, path in enumerate(sorted(folder.glob("*.json"), key=_age)):
        record = json.loads(path.read_text())
        runs.append(
            Run(
                record["name"],
                record["history"],
                record.get("monitor", "val_loss"),
                new=index >= FIRST_SET_SIZE,
                third=record["config"].get("framework") == "pytorch",
            )
        )
    return runs


def _age(path: Path) -> tuple[int, str]:
    """First-set fixtures (no ``monitor`` field) before the second set, by name."""
    return ('"monitor"' in path.read_text(), path.name)


def stream(run: Run, settings: DetectorSettings | None = None) -> list:
    """The diagnosis after every epoch, as the callback sees it (with ``settings``;
    None: the defaults)."""
    diagnoser = RunDiagnoser(run.monitor, settings=settings)
    keys = list(run.history)
    return [
        diagnoser.update(
            epoch, {k: run.history[k][epoch] for k in keys if epoch < len(run.history[k])}
        )
        for epoch in range(run.epochs)
    ]


@dataclass
class Outcome:
    """What one detector did on one run."""

    final_status: str
    final_onset: int | None
    alarm: int | None
    alarm_onset: int | None
    dropped: bool


def tbviz_outcome(run: Run, settings: DetectorSettings | None = None) -> Outcome:
    verdicts = stream(run, settings)
    alarm = next((i for i, d in enumerate(verdicts) if d.status == "overfitting"), None)
    dropped = False
    for before, after in itertools.pairwise(verdicts):
        if (
            before.status == "overfitting"
            and after.status not in ("overfitting", "diverged")
            and after.epochs_since_best != 0
        ):
            dropped = True
    last = verdicts[-1]
    return Outcome(
        last.status,
        last.onset_epoch,
        alarm,
        verdicts[alarm].onset_epoch if alarm is not None else None,
        dropped,
    )


def early_stopping_outcome(run: Run, patience: int) -> Outcome:
    replay = simulate_early_stopping(run.history[run.monitor], run.direction, patience)
    return Outcome("", None, replay.stopped_epoch, replay.restored_epoch, False)


def premature(run: Run, alarm: int) -> bool:
    if not run.learned():
        return True
    values = run.finite_val()
    seen = min(values[: alarm + 1])
    later = values[alarm + 1 :]
    return bool(later) and min(later) < seen - PREMATURE_IMPROVEMENT / 100 * abs(seen)


def final_right(run: Run, outcome: Outcome) -> bool | None:
    truth = run.truth()
    if truth == "ambiguous":
        return None
    if truth == "fine":
        return outcome.final_status in ("improving", "plateau")
    return outcome.final_status == truth


def evaluate(runs: list[Run], detector) -> dict:
    rows = []
    for run in runs:
        outcome = detector(run)
        truth = run.truth()
        nan_at = run.first_non_finite()
        best = run.best_epoch()
        alarm = outcome.alarm if nan_at is None or (outcome.alarm or 0) < nan_at else None
        values = run.finite_val()
        row = {
            "run": run.name,
            "truth": truth,
            "final": outcome.final_status,
            "final_onset": outcome.final_onset,
            "alarm": alarm,
            "onset": outcome.alarm_onset,
            "best": best,
            "dropped": outcome.dropped,
            "premature": alarm is not None and premature(run, alarm),
            "final_right": final_right(run, outcome),
        }
        if alarm is not None and truth != "diverged" and values:
            restored = outcome.alarm_onset if outcome.alarm_onset is not None else alarm
            restored = min(restored, len(values) - 1)
            full_best = values[best]
            row["saved"] = run.epochs - 1 - alarm
            # Percent of the best, which near zero (1 - AUC = 0) is floored at 1% of the
            # curve's range so a perfect best does not divide by zero.
            scale = max(abs(full_best), 0.01 * (max(values) - min(values)), 1e-12)
            row["regret"] = 100 * (values[restored] - full_best) / scale
        else:
            row["saved"], row["regret"] = 0, 0.0
        rows.append(row)
    over = [r for r in rows if r["truth"] == "overfitting"]
    flagged = [r for r in over if r["alarm"] is not None]
    onset_final = [r for r in over if r["final_onset"] is not None]
    learned = [r for r in rows if r["truth"] in ("overfitting", "fine")]
    judged = [r for r in rows if r["final_right"] is not None]
    return {
        "final": sum(r["final_right"] for r in judged) / len(judged),
        "final_onset": (
            sum(abs(r["final_onset"] - r["best"]) <= 2 for r in onset_final) / len(over)
            if over
            else math.nan
        ),
        "premature": sum(r["premature"] for r in rows) / len(rows),
        "latency": statistics.median(r["alarm"] - r["best"] for r in flagged)
        if flagged
        else math.nan,
        "missed": len(over) - len(flagged),
        "overfitting": len(over),
        "onset_error": (
            statistics.median(
                abs(r["onset"] - r["best"]) for r in flagged if r["onset"] is not None
            )
            if flagged
            else math.nan
        ),
        "dropped": sum(r["dropped"] for r in rows),
        "saved": statistics.fmean(r["saved"] for r in learned) if learned else math.nan,
        "regret": statistics.median(r["regret"] for r in learned) if learned else math.nan,
        "regret_mean": statistics.fmean(r["regret"] for r in learned) if learned else math.nan,
        "regret_over_1": sum(r["regret"] > 1 for r in learned),
        "rows": rows,
    }


def table(
    runs: list[Run], title: str, settings: DetectorSettings | None = None
) -> list[tuple[str, dict]]:
    truths = [r.truth() for r in runs]
    print(
        f"\n## {title}: {len(runs)} real histories: {truths.count('overfitting')} overfit, "
        f"{truths.count('fine')} fine, {truths.count('ambiguous')} ambiguous, "
        f"{truths.count('not-learning')} never learn, "
        f"{truths.count('diverged')} go NaN\n"
    )
    results = [
        (
            f"EarlyStopping(patience={p})",
            evaluate(runs, lambda r, p=p: early_stopping_outcome(r, p)),
        )
        for p in range(1, 6)
    ]
    results.append(("tbviz", evaluate(runs, lambda r: tbviz_outcome(r, settings))))
    print(
        "| detector | final right | final onset ±2 | premature | latency | missed | onset err "
        "| dropped | epochs saved | regret median | regret mean | regret >1% |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results:
        final = f"{r['final']:.0%}" if name == "tbviz" else "-"
        onset = f"{r['final_onset']:.0%}" if name == "tbviz" else "-"
        dropped = str(r["dropped"]) if name == "tbviz" else "-"
        print(
            f"| {name} | {final} | {onset} | {r['premature']:.0%} | {r['latency']:.1f} "
            f"| {r['missed']}/{r['overfitting']} | {r['onset_error']:.1f} | {dropped} "
            f"| {r['saved']:.1f} | {r['regret']:.2f}% | {r['regret_mean']:.2f}% "
            f"| {r['regret_over_1']} |"
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fixtures",
        type=Path,
        nargs="+",
        default=[ROOT / "tests" / "fixtures" / "histories"],
        help="folders of histories; several are judged as one pool",
    )
    parser.add_argument("--details", action="store_true", help="print every run's outcome")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="judge with this detector setting (repeatable), e.g. confirm_epochs=4, "
        "as `tbviz --setting` takes it",
    )
    args = parser.parse_args()
    try:  # read as `tbviz --setting` reads it
        settings = detector_settings(argparse.Namespace(settings=None, setting=args.setting))
    except ValueError as err:
        parser.error(str(err))
    runs = [run for folder in args.fixtures for run in load_runs(folder)]
    if not runs:
        print(f"no histories in {', '.join(map(str, args.fixtures))}", file=sys.stderr)
        return 2
    changed = changed_settings(settings) if settings else {}
    if changed:
        print("tbviz judged with", ", ".join(f"{k}={v}" for k, v in changed.items()))
    results = table(runs, "all fixtures", settings)
    first = [r for r in runs if not r.new]
    second = [r for r in runs if r.new and not r.third]
    third = [r for r in runs if r.third]
    if first and second:
        table(first, "first set (tuned on by the v1 detector)", settings)
        table(second, "second set (longer runs, schedules, regularised, regression, AUC)", settings)
    if third:
        table(
            third,
            "third set (PyTorch: high learning rates, noisy and staying above their best; "
            "ReduceLROnPlateau dropping to the end)",
            settings,
        )
    if args.details:
        for row in results[-1][1]["rows"]:
            mark = "  <-- final wrong" if row["final_right"] is False else ""
            print(row | {"regret": round(row["regret"], 2)}, mark)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `bench_diagnosis.py | head`, as `tbviz leaderboard` takes it
        sys.stderr.close()
