#!/usr/bin/env python3
"""How fast do ``tbviz leaderboard`` and ``tbviz compare`` read big log directories?

Writes synthetic log directories of 250, 500 and 1000 runs laid out as
``keras.callbacks.TensorBoard`` writes them (``<run>/train`` and
``<run>/validation``, 50 epochs, 4 metrics, one event per scalar, float32
scalar tensors), or with ``--layout flat`` as PyTorch users write them (one
folder per run, ``train/<metric>`` and ``val/<metric>`` tags, simple_value
scalars as ``torch.utils.tensorboard`` and tensorboardX write), then times, as
whole processes (interpreter start and imports included), each of:

  tbparse      python -c "tbparse.SummaryReader(LOGDIR).tensors"  (the baseline;
               ``.scalars`` for the flat layout: simple_value scalars are not
               tensors to tbparse, and ``.tensors`` would read them into nothing)
  leaderboard  tbviz leaderboard LOGDIR
  grouped      tbviz leaderboard LOGDIR --group-over seed   (issue 25: <= 1.1x leaderboard)
  compare      tbviz compare LOGDIR   (figures and the _compare run included)

and prints the median of ``--repeats`` runs, the ratio to tbparse, time per
run (flat means linear growth) and the peak RSS of the largest process. It also checks
that a corrupted record is still reported.

    python scripts/bench_compare.py [--sizes 250,500,1000] [--repeats 3] [--layout flat]

Goals (issue 4): leaderboard >= 10x faster than tbparse; compare faster than
tbparse; time linear in runs; memory bounded by one run plus the results.
Issue 20: the leaderboard 10x in both layouts, and compare within 1 s of the
leaderboard; a line per size gives both per round (the tools run interleaved,
so a slow phase of the machine hits a round's tools alike), as medians.
tbparse is only needed here: ``pip install tbparse``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METRICS = ("loss", "accuracy", "top_k", "auc")
EPOCHS = 50

#: Runs a command in-process, then prints its peak RSS (KiB) on the last stderr line:
#: the largest of the process and its worker processes (tbviz reads big log
#: directories with one worker per core).
_WRAPPER = """
import resource, sys
sys.argv = sys.argv[1:]
code = 0
try:
    if sys.argv[0] == "tbparse":
        import tbparse
        frame = getattr(tbparse.SummaryReader(sys.argv[1]), sys.argv[2])
        assert len(frame), "tbparse read no values: the baseline would time nothing"
    else:
        from tbviz.commands.cli import main
        code = main(sys.argv)
finally:
    peak = max(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print("maxrss", peak, file=sys.stderr)
sys.exit(code)
"""


def write_run(run_dir: str, seed: int) -> None:
    """One run as Keras writes it: a scalar event per tag and step, train and validation."""
    from tbviz.logdir import metadata, summaries
    from tbviz.logdir.writer import EventFileWriter

    rng = random.Random(seed)
    onset = rng.randint(5, 60)  # some runs never overfit within 50 epochs
    speed = rng.uniform(0.05, 0.2)
    for split in (metadata.TRAIN_DIR, metadata.VALIDATION_DIR):
        with EventFileWriter(os.path.join(run_dir, split)) as writer:
            for epoch in range(EPOCHS):
                loss = 2.3 * math.exp(-speed * epoch) + rng.gauss(0, 0.01)
                if split == metadata.VALIDATION_DIR:
                    loss += 0.05 + max(0, epoch - onset) * 0.03
                values = {
                    "loss": loss,
                    "accuracy": 1 - loss / 2.5,
                    "top_k": 1 - loss / 5,
                    "auc": 1 - loss / 4,
                }
                for name in METRICS:
                    writer.add(
                        epoch, summaries.scalar_values({metadata.scalar_tag(name): values[name]})
                    )


def write_flat_run(run_dir: str, seed: int) -> None:
    """One run as a PyTorch loop writes it: one folder, the split in the tag."""
    from tensorboard.compat.proto import summary_pb2

    from tbviz.logdir.writer import EventFileWriter

    rng = random.Random(seed)
    onset = rng.randint(5, 60)
    speed = rng.uniform(0.05, 0.2)
    with EventFileWriter(run_dir) as writer:
        for epoch in range(EPOCHS):
            for split in ("train", "val"):
                loss = 2.3 * math.exp(-speed * epoch) + rng.gauss(0, 0.01)
                if split == "val":
                    loss += 0.05 + max(0, epoch - onset) * 0.03
                values = {"loss": loss, "accuracy": 1 - loss / 2.5, "top_k": 1 - loss / 5}
                values["auc"] = 1 - loss / 4
                for name in METRICS:
                    value = summary_pb2.Summary.Value(
                        tag=f"{split}/{name}", simple_value=values[name]
                    )
                    writer.add(epoch, [value])


def make_logdir(path: str, runs: int, layout: str = "keras") -> str:
    """A log directory of ``runs`` synthetic runs (cached between calls by its name)."""
    done = os.path.join(path, ".complete")
    if os.path.exists(done):
        return path
    shutil.rmtree(path, ignore_errors=True)
    write = write_flat_run if layout == "flat" else write_run
    for i in range(runs):
        write(os.path.join(path, f"sweep/lr={10 ** -(1 + i % 4)},seed={i:04d}"), seed=i)
    Path(done).touch()
    return path


def timed(args: list[str]) -> tuple[float, int, str]:
    """Seconds, peak RSS in MiB and stderr of one whole-process run."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed:\n{proc.stderr[-2000:]}")
    rss = int(proc.stderr.strip().splitlines()[-1].split()[1]) // 1024
    return elapsed, rss, proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,500,1000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--layout", choices=("keras", "flat"), default="keras", help="how the runs are laid out"
    )
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "tbviz-bench"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{EPOCHS} epochs x {len(METRICS)} metrics x train+validation per run, {args.layout}")
    print(
        f"{'runs':>5} {'tool':<12} {'median s':>9} {'x tbparse':>10} {'ms/run':>7} {'peak MiB':>9}"
    )
    for size in sizes:
        started = time.perf_counter()
        logdir = make_logdir(
            os.path.join(args.workdir, f"runs2-{args.layout}-{size}"), size, args.layout
        )
        if time.perf_counter() - started > 1:
            print(f"(wrote {size} runs in {time.perf_counter() - started:.1f} s)")
        commands = {
            "tbparse": ["tbparse", logdir, "scalars" if args.layout == "flat" else "tensors"],
            "leaderboard": ["leaderboard", logdir],
            "grouped": ["leaderboard", logdir, "--group-over", "seed"],
            "compare": ["compare", logdir, "--no-progress"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        rss: dict[str, int] = {}
        for _ in range(args.repeats):  # interleaved: noise hits every tool alike
            for name, command in commands.items():
                shutil.rmtree(os.path.join(logdir, "_compare"), ignore_errors=True)
                seconds, peak, _ = timed(command)
                times[name].append(seconds)
                rss[name] = max(rss.get(name, 0), peak)
        base = statistics.median(times["tbparse"])
        grouped = statistics.median(times["grouped"]) / statistics.median(times["leaderboard"])
        print(f"{size:>5} grouping costs {grouped:.3f}x the plain leaderboard")
        # Per round, where machine noise hits both alike (goals: >= 10x, within 1 s).
        rounds = list(zip(times["tbparse"], times["leaderboard"], times["compare"], strict=True))
        faster = statistics.median(t / b for t, b, _ in rounds)
        adds = statistics.median(c - b for _, b, c in rounds)
        print(
            f"{size:>5} per round: leaderboard {faster:.1f}x faster than tbparse, "
            f"compare {adds:.2f} s more than leaderboard (medians)"
        )
        for name, values in times.items():
            median = statistics.median(values)
            print(
                f"{size:>5} {name:<12} {median:>9.2f} {base / median:>9.1f}x "
                f"{1000 * median / size:>7.2f} {rss[name]:>9}"
            )
        shutil.rmtree(os.path.join(logdir, "_compare"), ignore_errors=True)
    check_corruption(os.path.join(args.workdir, "corrupt"))


def check_corruption(path: str) -> None:
    """Flip one byte in one run: the leaderboard must name the file and rank the rest."""
    shutil.rmtree(path, ignore_errors=True)
    for i in range(3):
        write_run(os.path.join(path, f"run{i}"), seed=i)
    folder = os.path.join(path, "run1", "validation")
    victim = os.path.join(folder, os.listdir(folder)[0])
    data = bytearray(Path(victim).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(victim).write_bytes(bytes(data))
    _, _, stderr = timed(["leaderboard", path])
    reported = victim in stderr and "checksum" in stderr
    print(f"corrupt record reported with its file: {'yes' if reported else 'NO'}")
    board = subprocess.run(
        [sys.executable, "-m", "tbviz", "leaderboard", path],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    ).stdout
    print(f"the broken run ranked, marked partial: {'yes' if '(partial)' in board else 'NO'}")


if __name__ == "__main__":
    main()
