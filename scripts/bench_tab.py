#!/usr/bin/env python3
"""What does one refresh of the tbviz tab's run list cost?

The tab asks ``/runs`` every 30 seconds. Over the synthetic log directories of
``bench_compare.py`` (Keras or flat layout, 50 epochs, 4 metrics), served by
TensorBoard's own multiplexer data provider in this process, it times:

  first       the first ``/runs`` (every run read and diagnosed)
  unchanged   a refresh in which no run has new data (goal: under 0.3 s at 1,000 runs)
  one grew    a refresh after one run got a new epoch (only that run is read again)

and prints the seconds and the ratio to the first refresh.

    python scripts/bench_tab.py [--sizes 250,1000] [--layout keras|flat] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
# TensorBoard's multiplexer without TensorFlow, as `tensorboard` runs with TensorBoard's stub.
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))


def grow(logdir: str, layout: str) -> None:
    """Append a 51st epoch to the first run, as a live training run would."""
    from tbviz.logdir import summaries
    from tbviz.logdir.writer import EventFileWriter

    run = os.path.join(logdir, "sweep", sorted(os.listdir(os.path.join(logdir, "sweep")))[0])
    if layout == "flat":
        from tensorboard.compat.proto import summary_pb2

        with EventFileWriter(run) as writer:
            writer.add(50, [summary_pb2.Summary.Value(tag="val/loss", simple_value=3.0)])
            writer.add(50, [summary_pb2.Summary.Value(tag="train/loss", simple_value=0.1)])
        return
    for split, value in (("train", 0.1), ("validation", 3.0)):
        with EventFileWriter(os.path.join(run, split)) as writer:
            writer.add(50, summaries.scalar_values({"epoch_loss": value}))


def measure(logdir: str, layout: str) -> dict[str, float]:
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.context import RequestContext
    from tensorboard.plugins import base_plugin

    from tbviz.dashboard.plugin import TbvizPlugin

    multiplexer = plugin_event_multiplexer.EventMultiplexer(max_reload_threads=2)
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
    plugin = TbvizPlugin(base_plugin.TBContext(logdir=logdir, data_provider=provider))
    ctx = RequestContext()
    times = {}
    for label in ("first", "unchanged"):
        start = time.perf_counter()
        rows, _ = plugin.runs(ctx, "")
        times[label] = time.perf_counter() - start
    grow(logdir, layout)
    multiplexer.Reload()
    start = time.perf_counter()
    rows_after, _ = plugin.runs(ctx, "")
    times["one grew"] = time.perf_counter() - start
    assert len(rows) == len(rows_after), "a run went missing"
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="250,1000")
    parser.add_argument("--layout", choices=("keras", "flat"), default="keras")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "tbviz-bench"))
    args = parser.parse_args()
    from bench_compare import make_logdir

    print(f"tab refresh, {args.layout} layout, median of {args.repeats}")
    print(" runs  refresh     seconds  x first")
    for size in (int(s) for s in args.sizes.split(",")):
        found: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            logdir = os.path.join(args.workdir, f"tab-{args.layout}-{size}")
            import shutil

            shutil.rmtree(logdir, ignore_errors=True)  # grow() changes it
            make_logdir(logdir, size, args.layout)
            for label, seconds in measure(logdir, args.layout).items():
                found.setdefault(label, []).append(seconds)
        first = statistics.median(found["first"])
        for label, seconds in found.items():
            median = statistics.median(seconds)
            print(f"{size:5d}  {label:10s} {median:8.3f}  {median / first:7.3f}")


if __name__ == "__main__":
    main()
