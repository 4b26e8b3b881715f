#!/usr/bin/env python3
"""How early and how rightly does ``tbviz.diagnose`` call overfitting? Against EarlyStopping.

Streams every real history in ``tests/fixtures/histories/`` epoch by epoch
through ``diagnose`` (as the callback does during training) and replays
Keras' ``EarlyStopping(patience=P)`` for P = 1..5 on the same curves as the
anchor rows. Prints one table row per detector:

- premature: share of runs whose first alarm was wrong: validation loss later
  improved by more than 2% on the best value seen at the moment of the alarm,
  or the run never learned at all;
- latency: epochs from the best validation epoch (of the whole run) to the
  first alarm, median over the runs that do overfit and were flagged;
- missed: overfitting runs never flagged;
- onset error: |onset epoch - argmin(val_loss)| at the first alarm, median over
  overfitting runs (for EarlyStopping, the epoch it would restore);
- diverged exact: runs that went NaN whose ``diverged_at`` is the first
  non-finite epoch.

    python scripts/bench_diagnosis.py [--fixtures DIR] [--details]

No TensorFlow is imported; it runs in a second or two.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tbviz.diagnosis import diagnose, simulate_early_stopping  # noqa: E402

#: A run "overfits" when its last validation loss is this much (%) above its best
#: while its training loss ended below its value at that best epoch.
OVERFIT_FINAL_GL = 5.0
#: An alarm is premature when validation later beats the best seen by this much (%).
PREMATURE_IMPROVEMENT = 2.0
#: A run "never learned" when its best validation accuracy stays below this.
LEARNED_ACCURACY = 0.3


@dataclass
class Run:
    name: str
    history: dict[str, list[float]]

    @property
    def val_loss(self) -> list[float]:
        return self.history["val_loss"]

    def first_non_finite(self) -> int | None:
        for key in ("loss", "val_loss"):
            for i, v in enumerate(self.history[key]):
                if not math.isfinite(v):
                    return i
        return None

    def finite_val(self) -> list[float]:
        stop = self.first_non_finite()
        return self.val_loss if stop is None else self.val_loss[:stop]

    def best_epoch(self) -> int | None:
        values = self.finite_val()
        return min(range(len(values)), key=values.__getitem__) if values else None

    def learned(self) -> bool:
        accuracy = self.history.get("val_accuracy", [])
        finite = [a for a in accuracy if math.isfinite(a)]
        return bool(finite) and max(finite) >= LEARNED_ACCURACY

    def overfits(self) -> bool:
        values = self.finite_val()
        if not values or not self.learned() or self.first_non_finite() is not None:
            return False
        best_epoch = self.best_epoch()
        train = self.history["loss"]
        return (
            100 * (values[-1] / values[best_epoch] - 1) >= OVERFIT_FINAL_GL
            and train[-1] < train[best_epoch]
        )


def load_runs(folder: Path) -> list[Run]:
    runs = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        runs.append(Run(record["name"], record["history"]))
    return runs


def premature(run: Run, alarm: int) -> bool:
    """Validation later improves by > 2% on the best seen at ``alarm``, or no learning."""
    if not run.learned():
        return True
    values = run.finite_val()
    seen = min(values[: alarm + 1])
    later = values[alarm + 1 :]
    return bool(later) and min(later) < seen * (1 - PREMATURE_IMPROVEMENT / 100)


def tbviz_alarm(run: Run) -> tuple[int | None, int | None]:
    """First epoch diagnose() says overfitting, and the onset it names then."""
    n = len(run.val_loss)
    for end in range(1, n + 1):
        d = diagnose({k: v[:end] for k, v in run.history.items()})
        if d.status == "overfitting":
            return end - 1, d.onset_epoch
    return None, None


def early_stopping_alarm(run: Run, patience: int) -> tuple[int | None, int | None]:
    replay = simulate_early_stopping(run.val_loss, "min", patience)
    return replay.stopped_epoch, replay.restored_epoch


def evaluate(runs: list[Run], detector) -> dict:
    alarms = premature_count = 0
    latencies, onset_errors, missed = [], [], 0
    details = []
    for run in runs:
        alarm, onset = detector(run)
        best = run.best_epoch()
        row = {
            "run": run.name,
            "alarm": alarm,
            "onset": onset,
            "best": best,
            "overfits": run.overfits(),
            "learned": run.learned(),
        }
        if alarm is not None and (run.first_non_finite() is None or alarm < run.first_non_finite()):
            alarms += 1
            row["premature"] = premature(run, alarm)
            premature_count += row["premature"]
        if run.overfits():
            if alarm is None:
                missed += 1
            else:
                latencies.append(alarm - best)
                if onset is not None:
                    onset_errors.append(abs(onset - best))
        details.append(row)
    return {
        "premature": premature_count / len(runs),
        "alarms": alarms,
        "latency": statistics.median(latencies) if latencies else math.nan,
        "missed": missed,
        "onset_error": statistics.median(onset_errors) if onset_errors else math.nan,
        "details": details,
    }


def divergence_exact(runs: list[Run]) -> tuple[int, int]:
    nan_runs = [r for r in runs if r.first_non_finite() is not None]
    exact = sum(diagnose(r.history).diverged_at == r.first_non_finite() for r in nan_runs)
    return exact, len(nan_runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT / "tests" / "fixtures" / "histories")
    parser.add_argument("--details", action="store_true", help="print every run's alarm")
    args = parser.parse_args()
    runs = load_runs(args.fixtures)
    if not runs:
        print(f"no histories in {args.fixtures}", file=sys.stderr)
        return 2
    overfitting = sum(r.overfits() for r in runs)
    never = sum(not r.learned() for r in runs)
    nan = sum(r.first_non_finite() is not None for r in runs)
    print(f"{len(runs)} real histories: {overfitting} overfit, {never} never learn, {nan} go NaN\n")
    rows = [
        (f"EarlyStopping(patience={p})", evaluate(runs, lambda r, p=p: early_stopping_alarm(r, p)))
        for p in range(1, 6)
    ]
    rows.append(("tbviz.diagnose", evaluate(runs, tbviz_alarm)))
    header = f"| {'detector':26s} | premature | latency (median) | missed | onset error (median) |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, r in rows:
        print(
            f"| {name:26s} | {r['premature']:8.0%}  | {r['latency']:16.1f} | "
            f"{r['missed']:3d}/{overfitting:<2d} | {r['onset_error']:20.1f} |"
        )
    exact, total = divergence_exact(runs)
    print(f"\ndiverged_at exact: {exact}/{total} runs that go NaN")
    if args.details:
        for name, r in rows:
            print(f"\n{name}")
            for d in r["details"]:
                print("  ", d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
