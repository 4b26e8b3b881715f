#!/usr/bin/env python3
"""Can the curve so far tell a premature first alarm from a right one?

At each run's first overfitting alarm (the default detector, streamed as
``bench_diagnosis.py`` streams it), measure what the detector could see then,
and ask how well each measure, and a model of all of them, separates the
alarms that were premature (validation later beat the best by more than 2%)
from the right ones: the area under the ROC curve (0.5 is chance), one
measure at a time and 5-fold cross-validated (the median over ten shuffled
splits, with their range) for a logistic model and boosted trees, with and
without the epochs since the best (which is the trade-off itself: premature
alarms come soonest). Last, how many right alarms a hold on the
highest-scored alarms would delay to hold half the premature ones.

    python scripts/bench_premature.py [DIR ...]   (default: the fixtures)

Needs scikit-learn (the test extra brings it).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_diagnosis as bench

#: Shuffled 5-fold splits the cross-validated numbers are the median of: one
#: split of 26 premature alarms moves an AUC by a few hundredths.
REPEATS = 10

#: Measures that restate the waiting itself, left out of the second model.
WAITING = ("epochs since best", "best / alarm epoch")


def measures(run: bench.Run, alarm: int, best: int) -> dict[str, float] | None:
    """What the detector could see at ``alarm`` with its best at ``best``."""
    val = run.finite_val()
    train = run.history.get("loss") or []
    if alarm >= len(val) or len(train) <= alarm or not val[best]:
        return None
    at_best = val[best]
    before = val[max(0, best - 3) : best + 1]
    d2 = [val[i] - 2 * val[i - 1] + val[i - 2] for i in range(2, best + 1)][-8:]
    noise = statistics.median(abs(x) for x in d2) / abs(at_best) if d2 else 0.0
    rise = statistics.fmean(val[alarm - 2 : alarm + 1]) / at_best - 1
    after = val[best + 1 : alarm + 1]
    steps = [after[i] - after[i - 1] for i in range(1, len(after))]
    accuracy = run.history.get("val_accuracy")
    return {
        "epochs since best": alarm - best,
        "best / alarm epoch": best / alarm,
        "best epoch": best,
        "rise since best": rise,
        "rise / noise": rise / noise if noise > 0 else 50.0,
        "fall before best": before[0] / at_best - 1,
        "noise": noise,
        "share of rising epochs": sum(s > 0 for s in steps) / max(1, len(steps)),
        "largest step / rise": max((abs(s) for s in steps), default=0.0)
        / abs(at_best)
        / max(rise, 1e-9),
        "training drop since best": 1 - train[alarm] / train[best] if train[best] else 0.0,
        "training / its first": train[best] / train[0] if train[0] else 1.0,
        "gap / validation": (val[alarm] - train[alarm]) / abs(val[alarm]) if val[alarm] else 0.0,
        "validation accuracy still sets bests": float(
            max(accuracy[best + 1 : alarm + 1]) > max(accuracy[: best + 1])
        )
        if accuracy and len(accuracy) > alarm
        else 0.5,
    }


def main() -> int:
    folders = [Path(a) for a in sys.argv[1:]] or [bench.ROOT / "tests" / "fixtures" / "histories"]
    runs = [run for folder in folders for run in bench.load_runs(folder)]
    rows = bench.evaluate(runs, lambda run: bench.tbviz_outcome(run, None))["rows"]
    table, labels = [], []
    for run, row in zip(runs, rows, strict=True):
        if row["alarm"] is None or row["onset"] is None or row["truth"] == "not-learning":
            continue
        found = measures(run, row["alarm"], row["onset"])
        if found is not None:
            table.append(found)
            labels.append(int(row["premature"]))
    names = list(table[0])
    x = np.nan_to_num(np.array([[t[n] for n in names] for t in table], float))
    y = np.array(labels)
    print(f"{len(runs)} runs, {len(y)} first alarms, {y.sum()} premature\n")
    for i, name in enumerate(names):
        auc = roc_auc_score(y, x[:, i])
        side = "higher" if auc > 0.5 else "lower"
        print(f"  {name:38s} AUC {max(auc, 1 - auc):.2f} ({side} when premature)")
    for title, keep in (
        ("every measure", names),
        ("without the waiting", [n for n in names if n not in WAITING]),
    ):
        cols = [names.index(n) for n in keep]
        z = x[:, cols]
        scaled = (z - z.mean(0)) / (z.std(0) + 1e-9)
        logistic_aucs, tree_aucs, held_right = [], [], []
        for repeat in range(REPEATS):
            folds = StratifiedKFold(5, shuffle=True, random_state=repeat)
            logistic = cross_val_predict(
                LogisticRegression(C=0.5, max_iter=1000),
                scaled,
                y,
                cv=folds,
                method="predict_proba",
            )[:, 1]
            trees = cross_val_predict(
                GradientBoostingClassifier(max_depth=2, random_state=0),
                z,
                y,
                cv=folds,
                method="predict_proba",
            )[:, 1]
            logistic_aucs.append(roc_auc_score(y, logistic))
            tree_aucs.append(roc_auc_score(y, trees))
            held = np.cumsum(y[np.argsort(-trees, kind="stable")])
            k = int(np.argmax(held >= y.sum() / 2)) + 1
            held_right.append(k - int(held[k - 1]))
        print(
            f"\n{title}: 5-fold AUC (median of {REPEATS} shuffles, range) logistic "
            f"{_spread(logistic_aucs)}, trees {_spread(tree_aucs)}"
        )
        print(
            f"  holding half the premature alarms ({int(np.ceil(y.sum() / 2))}) by the trees' "
            f"score holds {_spread(held_right, '.0f')} right ones too"
        )
    return 0


def _spread(values: list[float], spec: str = ".2f") -> str:
    """The median and range of ``values``: '0.70 (0.68-0.73)'."""
    return f"{statistics.median(values):{spec}} ({min(values):{spec}}-{max(values):{spec}})"


if __name__ == "__main__":
    sys.exit(main())
