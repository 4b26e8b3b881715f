#!/usr/bin/env python3
"""What does ``tbviz.lightning.TBVizCallback`` cost a Lightning fit? Beside Lightning's own
``TensorBoardLogger``.

A small MLP on 4,000 random 64-feature samples (batch 64, 20 epochs, CPU) is
fit these ways, interleaved so machine noise hits each alike:

  bare          logger=False, no callbacks
  tb-logger     Lightning's TensorBoardLogger (its default logger)
  tbviz-nofig   logger=False + TBVizCallback(figure_every=0): all but the figures
  tbviz         logger=False + tbviz.lightning.TBVizCallback (goal: within 3% of bare)
  tbviz@B       as tbviz with figure_budget=B, for each B of ``--budgets``
  tbviz+stop    as tbviz, plus tbviz.lightning.OverfittingStopping; the labels are
                random, so validation loss rises and the stopper may end the
                fit early: this row shows what stopping saves, not a cost

each round starting with the next way (so no way always comes first) and
each fit after a garbage collection, and prints the median fit time of
``--repeats`` rounds, the ratio of medians to ``bare``, the median of
per-round ratios with a 90% bootstrap interval (resampling the rounds: how
far the median could move on this machine's noise; an interval wholly under
1.03 reads as "within 3% of bare") and the figures tbviz wrote. The
wall-time ratios swing by a few percent between runs of this bench on a
shared machine, as much as the cost they measure; so it also prints the CPU
time tbviz itself spent (its callback's hooks on the training thread, plus
the figure thread's drawing), a median over rounds and as a share of the
bare fit's median wall time: what tbviz would cost a fit that keeps every
core busy. No timing is asserted anywhere: these machines are shared and
noisy.

    python scripts/bench_lightning.py [--repeats 5] [--epochs 20] [--budgets 0.03,0.01]
        [--ways bare,tbviz]   (only those ways: more rounds in the same time, a
                               narrower interval)
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_stats import median_interval  # noqa: E402 - beside this script


def make_module():
    import lightning
    import torch

    class Mlp(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
            )

        def training_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self.net(x), y)
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch, _):
            x, y = batch
            logits = self.net(x)
            self.log("val_loss", torch.nn.functional.cross_entropy(logits, y))
            self.log("val_acc", (logits.argmax(1) == y).float().mean())

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    return Mlp


def loaders():
    import torch

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4000, 64, generator=g), torch.randint(0, 10, (4000,), generator=g)
    xv, yv = torch.randn(1000, 64, generator=g), torch.randint(0, 10, (1000,), generator=g)
    data = torch.utils.data.TensorDataset
    return (
        torch.utils.data.DataLoader(data(x, y), batch_size=64, shuffle=True),
        torch.utils.data.DataLoader(data(xv, yv), batch_size=256),
    )


def timed_callback():
    """``TBVizCallback`` counting the CPU time of its hooks and of its figures."""
    from tbviz.lightning import TBVizCallback

    class Timed(TBVizCallback):
        cpu = 0.0

        def on_train_start(self, trainer, pl_module) -> None:
            start = time.thread_time()
            super().on_train_start(trainer, pl_module)
            self.cpu += time.thread_time() - start

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            start = time.thread_time()
            super().on_train_epoch_end(trainer, pl_module)
            self.cpu += time.thread_time() - start

        def on_train_end(self, trainer, pl_module) -> None:
            renderer = self.logger.renderer if self.logger else None
            start = time.thread_time()
            super().on_train_end(trainer, pl_module)  # waits for the last figures
            self.cpu += time.thread_time() - start
            self.cpu += renderer.cpu_drawing if renderer else 0.0

    return Timed


def fit(way: str, epochs: int, workdir: str) -> tuple[float, int, float]:
    """Seconds ``trainer.fit`` took, the figures tbviz wrote and the CPU seconds
    tbviz spent (0 for other ways)."""
    import lightning
    import torch

    from tbviz.lightning import OverfittingStopping
    from tbviz.logdir.reader import read_run

    TBVizCallback = timed_callback()

    torch.manual_seed(0)
    logger = False
    callbacks = []
    if way == "tb-logger":
        logger = lightning.pytorch.loggers.TensorBoardLogger(workdir, name="tb")
    if way == "tbviz-nofig":  # what the callback costs without its figures
        callbacks.append(TBVizCallback(log_dir=workdir, figure_every=0))
    elif way.startswith("tbviz@"):  # another figure budget
        callbacks.append(TBVizCallback(log_dir=workdir, figure_budget=float(way[6:])))
    elif way.startswith("tbviz"):
        callbacks.append(TBVizCallback(log_dir=workdir))
    if way == "tbviz+stop":
        callbacks.append(OverfittingStopping())
    trainer = lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    train, val = loaders()
    start = time.perf_counter()
    trainer.fit(make_module()(), train, val)
    seconds = time.perf_counter() - start
    figures, cpu = 0, 0.0
    if callbacks and isinstance(callbacks[0], TBVizCallback):
        figures = len(read_run(os.path.join(workdir, callbacks[0].run_name)).images())
        cpu = callbacks[0].cpu
    return seconds, figures, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--budgets",
        default="",
        help="other figure budgets to fit with too, e.g. 0.03,0.01 (ways tbviz@0.03, ...)",
    )
    parser.add_argument(
        "--ways", default="", help="fit only these ways (bare is always fit), e.g. tbviz"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    ways = ["bare", "tb-logger", "tbviz-nofig", "tbviz", "tbviz+stop"]
    ways[4:4] = [f"tbviz@{float(b):g}" for b in args.budgets.split(",") if b.strip()]
    if args.ways:
        wanted = ["bare", *(w.strip() for w in args.ways.split(",") if w.strip() != "bare")]
        unknown = [w for w in wanted if w not in ways]
        if unknown:
            parser.error(f"--ways: unknown {', '.join(unknown)}; the ways are {', '.join(ways)}")
        ways = wanted
    times: dict[str, list[float]] = {w: [] for w in ways}
    figures: dict[str, list[int]] = {w: [] for w in ways}
    cpus: dict[str, list[float]] = {w: [] for w in ways}
    with tempfile.TemporaryDirectory() as workdir:
        fit("bare", 1, workdir)  # warm-up: imports, first-call costs
        for round_ in range(args.repeats):
            # Each round starts with another way: a fit's place in the round (what
            # the fit before it left the allocator and the collector) weighs on
            # every way alike.
            shift = round_ % len(ways)
            for way in ways[shift:] + ways[:shift]:
                gc.collect()  # no fit pays for the garbage of the one before it
                seconds, drawn, cpu = fit(way, args.epochs, workdir)
                times[way].append(seconds)
                figures[way].append(drawn)
                cpus[way].append(cpu)
            print(
                f"round {round_ + 1}/{args.repeats}: "
                + ", ".join(f"{w} {times[w][-1]:.2f}s" for w in ways),
                flush=True,
            )
    bare = statistics.median(times["bare"])
    print(
        "\n| way | median fit | ratio of medians | median of paired ratios (90%) | figures "
        "| tbviz CPU | CPU / bare fit |"
    )
    print("|---|---|---|---|---|---|---|")
    for way in ways:
        ratios = [t / b for t, b in zip(times[way], times["bare"], strict=True)]
        paired = statistics.median(ratios)
        low, high = median_interval(ratios)
        median = statistics.median(times[way])
        drawn, cpu, share = "-", "-", "-"
        if way.startswith("tbviz"):
            drawn = f"{statistics.median(figures[way]):g}"
            cpu_median = statistics.median(cpus[way])
            cpu, share = f"{cpu_median * 1000:.0f} ms", f"{cpu_median / bare:.1%}"
        print(
            f"| {way} | {median:.2f} s | {median / bare:.3f} "
            f"| {paired:.3f} ({low:.3f}-{high:.3f}) | {drawn} "
            f"| {cpu} | {share} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
