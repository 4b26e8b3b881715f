#!/usr/bin/env python3
"""What does logging cost a real ``fit``? tbviz against Keras' TensorBoard and the TF guide.

Fits the tutorial's CNN on MNIST-5k (4,000 / 1,000 images, batch 32) four ways,
interleaved so that machine noise hits all of them alike, and prints medians
and ratios to the bare ``fit``:

  bare        no callback
  keras-tb    + keras.callbacks.TensorBoard
  tf-guide    + a callback that follows the TensorFlow guide's plot_to_image
              recipe step for step on the training thread: a 2x2 matplotlib
              figure (10 x 10 in, 100 dpi) saved to PNG, decode_png,
              tf.summary.image, every epoch
  tbviz       + TBVizCallback, a figure requested every epoch (default budget)

Ratios are given two ways: of the medians, and the median of each repeat's
ratio to the bare fit run next to it (less sensitive to slow drifts), with a
90% bootstrap interval (``bench_stats.py``). Each repeat starts with the next
way.

Also: the median time ``on_epoch_end`` holds the training thread, the PNG
sizes, figures drawn, and peak RSS. ``--long`` repeats MNIST-5k to 40,000
training images (full-size epochs); ``--soak N`` logs N synthetic epochs with
a figure each and prints RSS and live figure count every 100 epochs.

``--figures`` times the comparison figure alone, epoch after epoch of real
training curves (the fixtures in tests/fixtures/histories), three ways:
``fresh`` builds a new figure every epoch (the tutorial's way), ``full``
reuses one figure but lays it all out again every epoch (tbviz until issue
15), ``tbviz`` is the plotter as it is (background kept, axes laid out only
when a range changes), ``reused`` is that plotter handed from run to run
as the renderer does in one process (a notebook's fits, a sweep's trials),
and ``sparse`` draws with it only the figures a fit that keeps every core
busy gets within the budget: the first epoch, each epoch whose status
changed, and the last (each of them changes a range or the legend, so they
cost the most). Per panel layout (1x2, 2x2) it prints the median and mean
milliseconds per figure and the ratio to ``full``.

    python scripts/bench_overhead.py [--repeats 5] [--epochs 10] [--long] [--soak 500]
    python scripts/bench_overhead.py --figures

Goals: tbviz/bare <= 1.03, on_epoch_end <= 5 ms, PNG <= 60 KB, tbviz
cheaper than keras-tb (issue 7); the 2x2 figure <= 40 ms and >= 5 figures in
the default 10-epoch fit (issue 15).
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_stats import median_interval  # noqa: E402 - beside this script


def rss_mb() -> float:
    """Current resident set size in MB (Linux)."""
    with open("/proc/self/statm") as stream:
        pages = int(stream.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def guide_callback(logdir: str):
    """The TF guide's image recipe, step for step, on the training thread."""
    import keras
    import tensorflow as tf
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    class GuideFigures(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.writer = tf.summary.create_file_writer(logdir)
            self.history: dict[str, list[float]] = {}

        def on_epoch_end(self, epoch, logs=None):
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(float(value))
            figure = Figure(figsize=(10, 10), dpi=100)
            FigureCanvasAgg(figure)
            names = [k for k in self.history if not k.startswith("val_")][:4]
            for i, ax in enumerate(figure.subplots(2, 2).ravel()):
                if i < len(names):
                    ax.plot(self.history[names[i]], label="train")
                    ax.plot(self.history.get("val_" + names[i], []), label="validation")
                    ax.set_title(names[i])
                    ax.legend()
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            image = tf.expand_dims(tf.image.decode_png(buffer.getvalue(), channels=4), 0)
            with self.writer.as_default():
                tf.summary.image("comparison", image, step=epoch)
            self.writer.flush()

        def on_train_end(self, logs=None):
            self.writer.close()

    return GuideFigures()


#: The figure budget the tbviz fits use (--figure-budget; default: tbviz's own).
BUDGET: dict = {}


def timed_tbviz(logdir: str, holds: list[float], **options):
    from tbviz import TBVizCallback

    class Timed(TBVizCallback):
        def on_epoch_end(self, epoch, logs=None):
            start = time.perf_counter()
            super().on_epoch_end(epoch, logs)
            holds.append(time.perf_counter() - start)

    return Timed(log_dir=logdir, run_name="bench", **{**BUDGET, **options})


def tbviz_options(way: str) -> dict:
    """``tbviz`` (the defaults), ``tbviz@0.03`` (that figure budget), ``tbviz@0``
    (no figures)."""
    if "@" not in way:
        return {}
    budget = float(way.split("@")[1])
    return {"figure_every": 0} if budget == 0 else {"figure_budget": budget}


def fit_once(way: str, data, epochs: int, holds: list[float], figures: dict) -> float:
    import keras

    from tbviz.trainer.model import build_cnn

    x, y, xv, yv = data
    keras.utils.set_random_seed(0)
    model = build_cnn((28, 28, 1), 10, [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    with tempfile.TemporaryDirectory() as logdir:
        callbacks = {
            "bare": [],
            "keras-tb": [keras.callbacks.TensorBoard(log_dir=logdir)],
            "tf-guide": [guide_callback(logdir)],
        }.get(way) or [timed_tbviz(logdir, holds, **tbviz_options(way))]
        start = time.perf_counter()
        model.fit(
            x,
            y,
            validation_data=(xv, yv),
            epochs=epochs,
            batch_size=32,
            verbose=0,
            callbacks=callbacks,
        )
        seconds = time.perf_counter() - start
        if way.startswith("tbviz") and not way.endswith("@0"):
            from tbviz.logdir.reader import read_run

            images = read_run(os.path.join(logdir, "bench")).images()
            figures.setdefault("tbviz", []).extend(len(png) for *_, png in images)
            figures.setdefault(f"drawn {way}", []).append(len(images))
        if way == "tf-guide":
            from tbviz.logdir.reader import read_folder

            tag = read_folder(logdir).get("comparison")
            figures.setdefault("tf-guide", []).extend(len(v[2]) for v in tag.values)
    return seconds


def run_fits(args) -> None:
    import numpy as np

    from tbviz.trainer.datasets import load_mnist_5k, prepare

    x, y, xv, yv = prepare(load_mnist_5k(0))
    if args.long:
        x, y = np.concatenate([x] * 10), np.concatenate([y] * 10)
    data = (x, y, xv, yv)
    ways = ["bare", "keras-tb", "tf-guide", "tbviz"]
    if args.budgets:  # the figures' own cost: tbviz without figures and at each budget
        ways = ["bare", "tbviz@0", *(f"tbviz@{b}" for b in args.budgets.split(","))]
    times = {w: [] for w in ways}
    holds: list[float] = []
    figures: dict = {}
    fit_once("bare", data, 1, [], {})  # warm-up: graph tracing, caches
    for repeat in range(args.repeats):
        order = ways[repeat % len(ways) :] + ways[: repeat % len(ways)]
        for way in order:
            times[way].append(fit_once(way, data, args.epochs, holds, figures))
        print(
            f"repeat {repeat + 1}/{args.repeats}: "
            + ", ".join(f"{w} {times[w][-1]:.2f}s" for w in ways),
            flush=True,
        )
    bare = statistics.median(times["bare"])
    print(
        f"\n{len(x)} training images, {args.epochs} epochs, {args.repeats} repeats "
        f"(median wall time of fit)\n"
    )
    print("| way | median fit | ratio of medians | median of paired ratios (90%) |")
    print("|---|---|---|---|")
    for way in ways:
        median = statistics.median(times[way])
        ratios = [t / b for t, b in zip(times[way], times["bare"], strict=True)]
        low, high = median_interval(ratios)
        print(
            f"| {way} | {median:.2f} s | {median / bare:.3f} "
            f"| {statistics.median(ratios):.3f} ({low:.3f}-{high:.3f}) |"
        )
    print(
        f"\ntbviz on_epoch_end holds the training thread: median "
        f"{statistics.median(holds) * 1000:.1f} ms, max {max(holds) * 1000:.1f} ms"
    )
    for key, drawn in figures.items():
        if key.startswith("drawn "):
            print(
                f"{key[6:]} figures written per fit: median {statistics.median(drawn):.0f} of "
                f"{args.epochs} requested"
            )
    if figures.get("tbviz"):
        print(
            f"tbviz PNG: median {statistics.median(figures['tbviz']) / 1024:.0f} KB, "
            f"max {max(figures['tbviz']) / 1024:.0f} KB"
        )
    if figures.get("tf-guide"):
        print(f"tf-guide PNG: median {statistics.median(figures['tf-guide']) / 1024:.0f} KB")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the benchmark process: {peak:.0f} MB")


def run_soak(epochs: int) -> None:
    from matplotlib.figure import Figure

    from tbviz import RunLogger

    def live_figures() -> int:
        gc.collect()
        return sum(isinstance(o, Figure) for o in gc.get_objects())

    with tempfile.TemporaryDirectory() as logdir:
        run = RunLogger(logdir, "soak", figure_budget=None)
        print("| epoch | RSS MB | live figures |")
        print("|---|---|---|")
        for epoch in range(epochs):
            run.log_epoch(
                epoch,
                {
                    "loss": 1 / (epoch + 1),
                    "accuracy": 1 - 1 / (epoch + 2),
                    "val_loss": 1 / (epoch + 1) + 0.001 * epoch,
                    "val_accuracy": 1 - 1 / (epoch + 2) - 0.001 * epoch,
                },
            )
            if (epoch + 1) % 100 == 0:
                run.renderer.wait_idle()  # let the worker catch up before measuring
                print(f"| {epoch + 1} | {rss_mb():.0f} | {live_figures()} |", flush=True)
        run.close()


def _curves(panels: int) -> list[dict[str, list[float]]]:
    """Real training curves with ``panels`` metrics (2: loss, accuracy; 4: + two made up)."""
    import json

    histories = []
    for path in sorted((ROOT / "tests" / "fixtures" / "histories").glob("*.json")):
        history = json.loads(path.read_text())["history"]
        if not {"loss", "val_loss", "accuracy", "val_accuracy"} <= history.keys():
            continue
        history = {k: history[k] for k in ("loss", "val_loss", "accuracy", "val_accuracy")}
        if panels == 4:  # two more panels with curves of another shape
            history["error"] = [1 - v for v in history["accuracy"]]
            history["val_error"] = [1 - v for v in history["val_accuracy"]]
            history["log_loss"] = [-v for v in history["loss"]]
            history["val_log_loss"] = [-v for v in history["val_loss"]]
        histories.append(history)
    return histories


def run_figures() -> None:
    """Milliseconds per comparison figure, redrawn epoch after epoch."""
    from tbviz.core.diagnosis import diagnose
    from tbviz.core.history import History
    from tbviz.core.text import figure_title
    from tbviz.figures.run_figure import ComparisonPlotter

    ComparisonPlotter().warm_up()
    print("| layout | way | figures | median ms | mean ms | mean vs full | full draws |")
    print("|---|---|---|---|---|---|---|")
    for panels, layout in ((2, "1x2"), (4, "2x2")):
        curves = _curves(panels)[::3]  # a third of the fixtures is plenty
        results = {}
        reused = ComparisonPlotter()
        for way in ("fresh", "full", "tbviz", "reused", "sparse"):
            took: list[float] = []
            full_draws, reused_before = 0, reused.full_draws
            for history in curves:
                epochs = len(history["loss"])
                plotter = ComparisonPlotter()
                if way in ("reused", "sparse"):
                    plotter = reused
                    plotter.start_run()
                status = None
                for epoch in range(1, epochs + 1):
                    partial = History.from_keras({k: v[:epoch] for k, v in history.items()})
                    diagnosis = diagnose(partial)
                    changed, status = diagnosis.status != status, diagnosis.status
                    if way == "sparse" and not changed and epoch < epochs:
                        continue
                    title = figure_title("bench", epoch - 1, diagnosis.status)
                    if way == "fresh":
                        plotter = ComparisonPlotter()
                    elif way == "full":
                        plotter._frame_key = None  # forget the background: lay out again
                    start = time.perf_counter()
                    plotter.render(partial, diagnosis, title, epochs=epochs)
                    took.append(time.perf_counter() - start)
                full_draws += plotter.full_draws if way == "tbviz" else 0
            if way in ("reused", "sparse"):
                full_draws = reused.full_draws - reused_before
            results[way] = (took, len(took) if way in ("fresh", "full") else full_draws)
        full_mean = statistics.mean(results["full"][0])
        for way, (took, full_draws) in results.items():
            mean = statistics.mean(took)
            print(
                f"| {layout} | {way} | {len(took)} | {statistics.median(took) * 1000:.1f} | "
                f"{mean * 1000:.1f} | {mean / full_mean:.2f} | {full_draws} |",
                flush=True,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--figure-budget", type=float, help="tbviz's figure_budget (default: tbviz's default)"
    )
    parser.add_argument(
        "--budgets",
        metavar="B1,B2",
        help="instead of the four ways: bare, tbviz without figures, and tbviz at each "
        "figure budget (e.g. 0.03,0.05), to measure what the figures alone cost",
    )
    parser.add_argument("--long", action="store_true", help="40,000 training images")
    parser.add_argument(
        "--soak",
        type=int,
        metavar="N",
        help="instead: N epochs of RunLogger with a figure each; RSS and figures",
    )
    parser.add_argument(
        "--figures", action="store_true", help="instead: milliseconds per comparison figure"
    )
    args = parser.parse_args()
    if args.figure_budget is not None:
        BUDGET["figure_budget"] = args.figure_budget
    if args.figures:
        run_figures()
    elif args.soak:
        run_soak(args.soak)
    else:
        run_fits(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
