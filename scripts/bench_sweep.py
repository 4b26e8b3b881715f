#!/usr/bin/env python3
"""Stopping a sweep's overfitting trials: tbviz's stopper against EarlyStopping(patience=3),
and the local executor against Ray Tune's.

A sweep of 8 runs of the tutorial's CNN on MNIST-5k subsets (training size
300 / 1000, learning rate 1e-3 / 3e-3, 8 / 16 filters; 1,000 validation
images; up to 30 epochs) is trained three ways, one run after another:

  none      all 30 epochs
  es3       keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
  tbviz     tbviz.OverfittingStopping (restores the best epoch's weights)

and prints, per way, the epochs trained in all, which run the sweep keeps as
its best (the lowest restored validation loss: the minimum over the epochs
it trained), and per run the epochs trained and the regret: the restored
validation loss minus the best of the full 30 epochs. Then the tbviz way once more on Ray Tune
(``--executor ray``, 2 trials at a time on a local instance) for wall time.
Goal: fewer epochs than patience=3, best run within 1%. On 2 cores parallel
trials cannot be much faster than sequential ones: each already uses both.

    python scripts/bench_sweep.py [--epochs 30] [--no-ray]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SWEEP = {"train_size": [300, 1000], "learning_rate": [1e-3, 3e-3], "filters": [8, 16]}


def combos() -> list[tuple[str, dict]]:
    import itertools

    keys = list(SWEEP)
    return [
        (
            ",".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)),
            dict(zip(keys, values, strict=True)),
        )
        for values in itertools.product(*SWEEP.values())
    ]


def run_way(way: str, dataset, base) -> tuple[float, dict[str, list[float]]]:
    """Train every combination; (seconds, run -> validation losses trained)."""
    import keras

    from tbviz.trainer.training import train

    curves = {}
    start = time.perf_counter()
    for name, changes in combos():
        config = dataclasses.replace(
            base, run_name=f"{way}/{name}", stop_on_overfitting=way == "tbviz", **changes
        )
        extra = []
        if way == "es3":
            extra.append(keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True))
        result = train(dataset, config, callbacks=extra)
        curves[name] = result.history["val_loss"]
    return time.perf_counter() - start, curves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    from tbviz.trainer.datasets import load_mnist_5k
    from tbviz.trainer.training import TrainConfig

    dataset = load_mnist_5k(0)
    with tempfile.TemporaryDirectory() as logdir:
        base = TrainConfig(epochs=args.epochs, logdir=logdir, verbose=0, val_size=1000)
        results = {way: run_way(way, dataset, base) for way in ("none", "es3", "tbviz")}
        full = results["none"][1]
        best_run = min(full, key=lambda r: min(full[r]))
        print(f"\n{len(full)} runs, up to {args.epochs} epochs; best run: {best_run}\n")
        print("| way | epochs trained | wall time | best run's restored val_loss | vs full |")
        print("|---|---|---|---|---|")
        for way, (seconds, curves) in results.items():
            epochs = sum(len(c) for c in curves.values())
            best = min(curves[best_run])
            ratio = best / min(full[best_run]) - 1
            print(f"| {way} | {epochs} | {seconds:.0f} s | {best:.4f} | {ratio:+.2%} |")
        kept = {way: min(c, key=lambda r, c=c: min(c[r])) for way, (_, c) in results.items()}
        print("\nkept as best: " + ", ".join(f"{way} {run}" for way, run in kept.items()))
        print("\n| run | " + " | ".join(f"{w} epochs | {w} regret" for w in results) + " |")
        print("|---" * (1 + 2 * len(results)) + "|")
        for run in full:
            cells = []
            for _, curves in results.values():
                cells += [str(len(curves[run])), f"{min(curves[run]) - min(full[run]):+.4f}"]
            print(f"| {run} | " + " | ".join(cells) + " |")
        if not args.no_ray:
            from tbviz.trainer.ray_sweep import run_sweep

            config = dataclasses.replace(base, stop_on_overfitting=True)
            start = time.perf_counter()
            rows = run_sweep(dataset, config, combos(), "ray", parallel=2, num_cpus=2)
            seconds = time.perf_counter() - start
            epochs = sum(r["epochs"] for r in rows)
            print(f"| tbviz on Ray Tune, 2 at a time | {epochs} | {seconds:.0f} s | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
