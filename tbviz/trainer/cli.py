"""``scripts/train.py`` / ``tbviz-train``: train the tutorial CNN into a TensorBoard logdir."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Sequence

from tbviz.errors import TbvizError
from tbviz.live.options import FIGURE_BUDGET
from tbviz.trainer.datasets import DATASETS, load_dataset
from tbviz.trainer.metrics import TUTORIAL_METRICS, plan_metrics
from tbviz.trainer.quiet import native_noise_filtered


def _int_at_least(minimum: int):
    """An argparse type: a whole number >= ``minimum``, with a one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _float_in(low: float, high: float, *, example: str, what: str, closed: str = "()"):
    """An argparse type: a float inside an interval, with one-line errors.

    ``closed`` says which ends belong to the interval: ``"()"``, ``"[)"``, ``"(]"``.
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number such as {example}, got {text!r}"
            ) from None
        above = value >= low if closed[0] == "[" else value > low
        below = value <= high if closed[1] == "]" else value < high
        if not (above and below):
            raise argparse.ArgumentTypeError(
                f"expected {what} in {closed[0]}{low:g}, {high:g}{closed[1]}, got {value}"
            )
        return value

    return parse


_share = _float_in(0, 1, example="0.03 (or none)", what="a share", closed="(]")
_learning_rate = _float_in(0, 10, example="1e-3", what="a learning rate")
_dropout = _float_in(0, 1, example="0.25", what="a dropout rate", closed="[)")


def _budget(text: str) -> float | None:
    return None if text.lower() == "none" else _share(text)


#: The names tbviz.trainer.model.OPTIMIZERS takes (not imported: that imports Keras).
_OPTIMIZER_NAMES = ("adam", "sgd", "rmsprop")


def _optimizer(text: str) -> str:
    if text not in _OPTIMIZER_NAMES:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(_OPTIMIZER_NAMES)}, got {text!r}"
        )
    return text


#: What ``--sweep`` may vary: the TrainConfig field and how to parse one value.
SWEEPABLE = {
    "lr": ("learning_rate", _learning_rate),
    "filters": ("filters", _positive_int),
    "optimizer": ("optimizer", _optimizer),
    "dropout": ("dropout", _dropout),
    "batch_size": ("batch_size", _positive_int),
    "seed": ("seed", int),
}


def _sweep(text: str) -> tuple[str, list]:
    """``lr=1e-3,1e-2`` -> ``("lr", [0.001, 0.01])``, each value checked like its flag."""
    key, sep, values = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or key not in SWEEPABLE:
        raise argparse.ArgumentTypeError(
            f"expected KNOB=V1,V2,... with KNOB one of {', '.join(SWEEPABLE)}; got {text!r}"
        )
    parse = SWEEPABLE[key][1]
    parsed = []
    for raw in (v.strip() for v in values.split(",")):
        if not raw:
            continue
        try:
            value = parse(raw)
        except (argparse.ArgumentTypeError, ValueError) as err:
            raise argparse.ArgumentTypeError(f"{key}: {err}") from None
        if value not in parsed:
            parsed.append(value)
    if not parsed:
        raise argparse.ArgumentTypeError(f"{key}: no values given in {text!r}")
    return key, parsed


def _metric_list(text: str) -> list[str]:
    return [m.strip() for m in text.replace(" ", ",").split(",") if m.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The command line of the trainer."""
    parser = argparse.ArgumentParser(
        prog="train.py",
        description=(
            "Train the tutorial's MNIST CNN (Conv2D 16 -> MaxPool -> Flatten -> Dense 10, "
            "Adam) and log scalars, comparison figures and overfitting notes for TensorBoard."
        ),
    )
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="mnist",
        help="mnist falls back to mnist-5k when it cannot be downloaded (default: %(default)s)",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="an .npz with x_train, y_train, x_test, y_test (overrides --dataset)",
    )
    parser.add_argument("--epochs", type=_positive_int, default=10, help="(default: %(default)s)")
    parser.add_argument(
        "--batch-size", type=_positive_int, default=32, help="(default: %(default)s)"
    )
    parser.add_argument(
        "--metrics",
        type=_metric_list,
        default=["accuracy"],
        help="comma-separated Keras metric names; the tutorial's "
        f"{','.join(TUTORIAL_METRICS)} work with integer labels "
        "(default: accuracy)",
    )
    parser.add_argument("--logdir", default="runs", help="(default: %(default)s)")
    parser.add_argument(
        "--run-name", help="run folder inside the logdir (default: cnn-<dataset>-<date>-<time>)"
    )
    parser.add_argument(
        "--figure-every",
        type=_non_negative_int,
        default=1,
        help="draw the comparison figure every N epochs, 0 for never; the "
        "last epoch is always drawn (default: %(default)s)",
    )
    parser.add_argument(
        "--figure-budget",
        type=_budget,
        default=FIGURE_BUDGET,
        help="share of training time tbviz may take (logging first, figures from the rest); "
        "over it, figures wait and "
        "catch up when training ends; 'none' draws every requested epoch "
        "(default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    model = parser.add_argument_group("model knobs (each can be swept)")
    model.add_argument(
        "--lr", type=_learning_rate, default=1e-3, help="learning rate (default: %(default)s)"
    )
    model.add_argument(
        "--filters", type=_positive_int, default=16, help="Conv2D filters (default: %(default)s)"
    )
    model.add_argument(
        "--optimizer", choices=_OPTIMIZER_NAMES, default="adam", help="(default: %(default)s)"
    )
    model.add_argument(
        "--dropout",
        type=_dropout,
        default=0.0,
        help="dropout before the dense layer, 0 for none (default: %(default)s)",
    )
    parser.add_argument(
        "--sweep",
        type=_sweep,
        action="append",
        default=[],
        metavar="KNOB=V1,V2",
        help="train every combination of the values given (repeatable: --sweep lr=1e-3,1e-2 "
        f"--sweep filters=8,16); KNOB is one of {', '.join(SWEEPABLE)}. Runs are named "
        "<run-name>/<knob>=<value>,... and compared with `tbviz compare` at the end",
    )
    parser.add_argument(
        "--stop-on-overfitting",
        action="store_true",
        help="stop a run once tbviz confirms overfitting and restore its best epoch's "
        "weights (tbviz.OverfittingStopping)",
    )
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where a --sweep runs: one run after another here (local), or as Ray Tune "
        "trials (ray; pip install 'tbviz[ray]') (default: %(default)s)",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="with --executor ray: join this Ray cluster instead of starting a local one",
    )
    parser.add_argument(
        "--tune-output",
        action="store_true",
        help="with --executor ray: keep Ray Tune's own console table and its records "
        "(~/ray_results); by default the trainer prints its own progress only",
    )
    parser.add_argument(
        "--parallel",
        type=_positive_int,
        metavar="N",
        help="with --executor ray: at most N trials at once (default: as many as Ray fits)",
    )
    parser.add_argument(
        "--train-size", type=_positive_int, help="use only the first N training images"
    )
    parser.add_argument(
        "--val-size", type=_positive_int, help="use only the first N validation images"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trainer; return the process exit code."""
    args = build_parser().parse_args(argv)
    # What of TensorFlow's start-up chatter this still stops; quiet.py does the rest.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return _run(args)
    except TbvizError as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("train.py: interrupted; the epochs finished so far are logged", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:

    from tbviz.errors import missing_extra
    from tbviz.live.run_logger import validate_run_name
    from tbviz.logdir.writer import prepare_run_dir

    if not _installed("tensorflow"):
        raise missing_extra("tensorflow", "the trainer", "keras")
    if args.executor == "ray" and not _installed("ray"):
        raise missing_extra("ray", "--executor ray", "ray")

    # Everything a user can get wrong is checked here, in well under a second,
    # before TensorFlow (2 s) is imported and the data loaded.
    if args.run_name is not None:
        try:
            validate_run_name(args.run_name)
        except ValueError as err:
            raise _UsageError(str(err)) from None
    plan_metrics(args.metrics)  # raises MetricError for a name Keras does not know
    dataset, notes = load_dataset(args.dataset, args.data, seed=args.seed)  # no TensorFlow
    prepare_run_dir(args.logdir)  # raises LogDirError for a folder that cannot be made
    for note in notes:
        print(f"note: {note}")
    n_train = min(len(dataset.y_train), args.train_size or len(dataset.y_train))
    n_val = min(len(dataset.y_test), args.val_size or len(dataset.y_test))
    print(
        f"data: {dataset.name}, {n_train} training / {n_val} validation images "
        f"from {dataset.source}"
    )
    from tbviz.trainer.training import TrainConfig, train

    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        metrics=args.metrics,
        logdir=args.logdir,
        run_name=args.run_name,
        figure_every=args.figure_every,
        figure_budget=args.figure_budget,
        seed=args.seed,
        train_size=args.train_size,
        val_size=args.val_size,
        filters=args.filters,
        learning_rate=args.lr,
        optimizer=args.optimizer,
        dropout=args.dropout,
        stop_on_overfitting=args.stop_on_overfitting,
        # A progress bar on a terminal; one line per epoch in a file or a pipe.
        verbose=1 if sys.stdout.isatty() else 2,
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if args.sweep:
        prefix = args.run_name or f"sweep-{stamp}"
        if args.executor == "ray":
            return _run_ray_sweep(dataset, config, dict(args.sweep), prefix, args)
        with native_noise_filtered():
            return _run_sweep(dataset, config, dict(args.sweep), prefix)
    config = dataclasses.replace(config, run_name=args.run_name or f"cnn-{dataset.name}-{stamp}")
    with native_noise_filtered():
        result = train(dataset, config, on_note=lambda note: print(f"note: {note}"))
    print()
    print(f"Logged run {result.run_name!r} to {result.run_dir}")
    if result.diagnosis is not None:
        print(f"Diagnosis: {result.diagnosis.plain_headline()}")
    if result.stopped:
        print(result.stopped)
    _print_open_hint(args)
    return 0


def sweep_runs(sweep: dict[str, list]) -> list[tuple[str, dict]]:
    """(run-name suffix, TrainConfig changes) for every combination, in flag order.

    ``{"lr": [0.001, 0.01], "filters": [8]}`` gives ``lr=0.001,filters=8`` and
    ``lr=0.01,filters=8``.
    """
    combos = []
    for values in itertools.product(*sweep.values()):
        chosen = dict(zip(sweep, values, strict=True))
        name = ",".join(f"{knob}={value}" for knob, value in chosen.items())
        changes = {SWEEPABLE[knob][0]: value for knob, value in chosen.items()}
        combos.append((name, changes))
    return combos


def _run_sweep(dataset, config, sweep: dict[str, list], prefix: str) -> int:
    from tbviz.trainer.training import train

    combos = sweep_runs(sweep)
    print(f"sweep: {len(combos)} runs under {config.logdir}/{prefix}/")
    notes_shown = False
    for i, (name, changes) in enumerate(combos, 1):
        run_config = config.sweep_run(prefix, name, changes)
        print(f"\n[{i}/{len(combos)}] {run_config.run_name}")
        show = (lambda note: print(f"note: {note}")) if not notes_shown else (lambda _: None)
        result = train(dataset, run_config, on_note=show)
        notes_shown = True
        if result.diagnosis is not None:
            print(f"  {result.diagnosis.plain_headline()}")
    return _compare_sweep(config, prefix, sweep)


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (TensorFlow takes 2 s)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules as None: hidden on purpose
        return False


def _run_ray_sweep(dataset, config, sweep: dict[str, list], prefix: str, args) -> int:
    if args.ray_address:  # before Ray is imported, which reads it then
        from tbviz.ray_auth import send_token_if_at_hand

        send_token_if_at_hand()
    from tbviz.trainer.ray_sweep import run_sweep  # raises MissingExtra naming [ray]

    combos = sweep_runs(sweep)
    print(f"sweep: {len(combos)} Ray Tune trials under {config.logdir}/{prefix}/")
    rows = run_sweep(
        dataset,
        config,
        combos,
        prefix,
        address=args.ray_address,
        parallel=args.parallel,
        tune_output=args.tune_output,
    )
    for row in rows:
        said = row["error"] or f"{row['epochs']} epochs, ends {row['status']}"
        print(f"  {row['run']}: {said}")
    return _compare_sweep(config, prefix, sweep)


def _compare_sweep(config, prefix: str, sweep: dict[str, list]) -> int:
    """Rank the sweep; when it repeats over seeds, also as groups over ``seed``."""
    from tbviz.commands.compare import compare
    from tbviz.commands.groups import groups_text
    from tbviz.commands.leaderboard import leaderboard_text

    over = ["seed"] if len(sweep.get("seed", ())) > 1 else []
    comparison = compare(config.logdir, runs=f"^{re.escape(prefix)}/", group_over=over)
    print()
    print(leaderboard_text(comparison.results, "val_loss"))
    if comparison.groups:
        print("\nover seeds, one row per configuration:")
        print(groups_text(comparison.groups, "val_loss"))
    print(f"\nCross-run figures and the leaderboard are in {config.logdir}/_compare.")
    _print_open_hint(config)
    return 0


def _print_open_hint(args) -> None:
    print("Open it in TensorBoard:")
    print(f"  {_tensorboard_command()} --logdir {shlex.quote(args.logdir)}")
    if args.figure_every and args.epochs // args.figure_every > 10:
        print("  (add --samples_per_plugin images=100 to see every figure, not only 10)")


def _tensorboard_command() -> str:
    """``tensorboard``, or the path of the one beside this Python if it is not on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    on_path = shutil.which("tensorboard")
    if not os.path.isfile(beside) or (on_path and os.path.samefile(on_path, beside)):
        return "tensorboard"
    relative = os.path.relpath(beside)
    return shlex.quote(relative if not relative.startswith("..") else beside)


class _UsageError(TbvizError):
    """A flag value that passed argparse but is still wrong."""
