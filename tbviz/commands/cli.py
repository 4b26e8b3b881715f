"""The ``tbviz`` command: read log directories without TensorFlow.

    tbviz leaderboard LOGDIR [--runs REGEX] [--metric val_loss] [--json]
    tbviz compare LOGDIR [--runs REGEX] [--metric val_loss] [--out FILE ...]
    tbviz annotate LOGDIR [--runs REGEX] [--metric val_loss]

Only the standard library is imported up front, so ``tbviz --help`` answers at
once; each command imports what it needs (TensorBoard's protobuf classes,
numpy, matplotlib for ``compare`` and ``annotate``), never TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence

from tbviz.errors import TbvizError


def build_parser() -> argparse.ArgumentParser:
    """The ``tbviz`` command line."""
    parser = argparse.ArgumentParser(
        prog="tbviz",
        description="Diagnose and compare training runs in a TensorBoard log directory, "
        "written by tbviz or by the library that trained them (Keras, torch.utils.tensorboard, "
        "tensorboardX, Lightning, the Hugging Face Trainer, Ray Tune, fastai, skorch, fairseq, "
        "CatBoost; see the README's layout table).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    board = _add_command(
        commands,
        "leaderboard",
        help="diagnose every run and print them best first (writes nothing)",
        description="Read every run under LOGDIR, diagnose it, and print the runs best first.",
    )
    board.add_argument("--json", action="store_true", help="print JSON instead of a table")
    compare = _add_command(
        commands,
        "compare",
        help="rank the runs and write cross-run figures and a leaderboard to LOGDIR/_compare",
        description="Read and diagnose every run under LOGDIR, print the leaderboard and write "
        "into LOGDIR/_compare (shown by TensorBoard as a run): an overlay figure of "
        "every run's validation curves, small multiples (one panel per run), and the "
        "leaderboard as text and JSON.",
    )
    compare.add_argument(
        "--out",
        action="append",
        default=[],
        metavar="FILE",
        help="also write the leaderboard to FILE.json or FILE.md, or the overlay figure to "
        "FILE.png (repeatable)",
    )
    _add_command(
        commands,
        "annotate",
        help="write tbviz figures, notes and diagnosis into runs logged without tbviz",
        description="For every run under LOGDIR logged without tbviz (by Keras' own "
        "callback, a PyTorch loop, Lightning, ...), write into its folder the comparison "
        "figure, overfitting notes and diagnosis tbviz would have written. Runs whose tbviz "
        "output covers their last epoch are left alone and runs that went on are brought up "
        "to date, so running it twice changes nothing.",
    )
    return parser


def _add_command(commands, name: str, **texts: str) -> argparse.ArgumentParser:
    command = commands.add_parser(name, **texts)
    command.set_defaults(parser=command)  # so a bad flag is answered with this usage
    command.add_argument("logdir", metavar="LOGDIR")
    command.add_argument("--runs", metavar="REGEX", help="only runs whose name matches REGEX")
    command.add_argument(
        "--metric",
        default="val_loss",
        help="the metric to rank and diagnose by (default: %(default)s)",
    )
    command.add_argument(
        "--mode",
        choices=("auto", "min", "max"),
        default="auto",
        help="whether lower (min) or higher (max) --metric is better; auto reads it from "
        "Keras' metric names (default: %(default)s)",
    )
    command.add_argument(
        "--train-tag",
        metavar="PATTERN",
        help="for logs in a layout tbviz does not know: the training scalars' tag, with "
        "{metric} where the metric name goes (e.g. 'loss/{metric}/ours'); needs --val-tag",
    )
    command.add_argument(
        "--val-tag", metavar="PATTERN", help="the validation scalars' tag, as --train-tag"
    )
    if name != "annotate":
        command.add_argument(
            "--group-over",
            action="append",
            default=[],
            metavar="KNOB",
            help="fold runs whose hparams (or names) differ only in KNOB (e.g. seed) into "
            "one group: mean, spread, how many overfit, and whether each group beats the "
            "next (repeatable)",
        )
    command.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a detector threshold, e.g. confirm_epochs=4 (fewer premature alarms, one "
        "epoch later: see the README's trade-off table); repeatable; the names are "
        "tbviz.DetectorSettings' fields; runs with a stored tbviz diagnosis are judged "
        "again by these",
    )
    command.add_argument(
        "--settings",
        metavar="FILE.json",
        help="detector thresholds from a JSON object of NAME: VALUE (--setting wins)",
    )
    if name != "leaderboard":
        command.add_argument(
            "--no-progress", action="store_true", help="no progress bar on standard error"
        )
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tbviz`` command; return the exit code."""
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):  # a first try: what can it do?
        parser.print_help(sys.stderr)
        return 2
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # answered by the subcommand, whose usage lists the flags it takes
        args.parser.error(_unknown_message(args.command, unknown))
    command = {"leaderboard": _leaderboard, "compare": _compare, "annotate": _annotate}
    if args.runs:
        try:
            re.compile(args.runs)
        except re.error as err:
            return _error(f"--runs {args.runs!r} is not a regular expression: {err}")
    args.mapping = None
    if args.train_tag or args.val_tag:
        from tbviz.logdir.layouts import TagMapping

        if not (args.train_tag and args.val_tag):
            return _error("--train-tag and --val-tag go together: give both")
        try:
            args.mapping = TagMapping(args.train_tag, args.val_tag)
        except ValueError as err:
            return _error(str(err))
    try:
        args.detector = detector_settings(args)
    except ValueError as err:
        return _error(str(err))
    try:
        return command[args.command](args)
    except TbvizError as err:  # the user's to fix; anything else is a bug, shown in full
        return _error(str(err))
    except BrokenPipeError:  # `tbviz leaderboard ... | head`
        sys.stderr.close()
        return 0


def detector_settings(args: argparse.Namespace):
    """``--settings FILE`` then ``--setting NAME=VALUE``, as DetectorSettings (None: defaults).

    ``scripts/bench_diagnosis.py`` reads its ``--setting`` with this too."""
    if not (args.settings or args.setting):
        return None
    from tbviz.core.detector import settings_from

    values: dict[str, object] = {}
    if args.settings:
        try:
            with open(args.settings) as stream:
                loaded = json.load(stream)
        except (OSError, ValueError) as err:
            raise ValueError(f"--settings {args.settings}: {err}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"--settings {args.settings}: a JSON object of NAME: VALUE, please")
        values.update(loaded)
    for item in args.setting:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--setting {item!r}: write NAME=VALUE, e.g. noise_multiplier=6")
        values[name.strip()] = value.strip()
    return settings_from(values)


def _unknown_message(command: str, unknown: list[str]) -> str:
    message = f"unrecognized arguments: {' '.join(unknown)}"
    if command == "compare" and "--json" in unknown:
        message += (
            " (compare writes JSON with --out FILE.json; `tbviz leaderboard LOGDIR --json` "
            "prints it)"
        )
    return message


def _workers() -> int:
    """Processes to read runs with: ``TBVIZ_WORKERS``, else the cores this process may use."""
    import os

    if os.environ.get("TBVIZ_WORKERS", "").isdigit():
        return max(1, int(os.environ["TBVIZ_WORKERS"]))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _warn(problems: list[str]) -> None:
    """What the user should hear about runs, one line each on standard error."""
    for problem in problems:
        print(f"tbviz: warning: {problem}", file=sys.stderr)


def _error(message: str) -> int:
    print(f"tbviz: error: {message}", file=sys.stderr)
    return 2


def _leaderboard(args: argparse.Namespace) -> int:
    from tbviz.commands.discovery import check_metric, diagnose_runs

    problems: list[str] = []
    results = diagnose_runs(
        args.logdir,
        args.runs,
        args.metric,
        mode=args.mode,
        settings=args.detector,
        mapping=args.mapping,
        workers=_workers(),
        problems=problems,
    )
    said = check_metric(results, args.metric)
    _warn([*problems, *([said] if said else [])])
    if args.group_over and results:
        from tbviz.commands.groups import group_runs, groups_text

        groups = group_runs(results, args.group_over)
        if args.json:
            print(json.dumps([g.to_dict() for g in groups], indent=1))
        else:
            print(groups_text(groups, args.metric))
        return 0
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
        return 0 if results else 1
    return _print_board(results, args, warned=bool(problems))


def _compare(args: argparse.Namespace) -> int:
    from tbviz.commands.compare import compare

    with ProgressBar("reading runs", enabled=not args.no_progress) as bar:
        comparison = compare(
            args.logdir,
            args.runs,
            args.metric,
            mode=args.mode,
            settings=args.detector,
            mapping=args.mapping,
            outputs=args.out,
            progress=bar.update,
            workers=_workers(),
            group_over=args.group_over,
        )
    _warn(comparison.problems)
    if _print_board(comparison.results, args, warned=bool(comparison.problems)):
        return 1
    if comparison.groups:
        from tbviz.commands.groups import groups_text

        print(f"\ngroups over {', '.join(args.group_over)}:")
        print(groups_text(comparison.groups, args.metric))
    if comparison.event_file:
        print(f"\nwrote {args.logdir.rstrip('/')}/_compare (step {comparison.step})")
    for path in comparison.outputs:
        print(f"wrote {path}")
    return 0


def _annotate(args: argparse.Namespace) -> int:
    from tbviz.commands.annotate import annotate

    with ProgressBar("annotating runs", enabled=not args.no_progress) as bar:
        outcome = annotate(
            args.logdir,
            args.runs,
            args.metric,
            mode=args.mode,
            settings=args.detector,
            mapping=args.mapping,
            progress=bar.update,
        )
    _warn(outcome.problems)
    for run in outcome.annotated:
        print(f"annotated {run}")
    for run in outcome.updated:
        print(f"brought up to date {run}")
    print(
        f"{len(outcome.annotated)} annotated, {len(outcome.updated)} brought up to date, "
        f"{len(outcome.already)} already current, {len(outcome.skipped)} skipped"
    )
    if not (outcome.annotated or outcome.updated or outcome.already):
        print(f"tbviz: error: {_none_found(args, bool(outcome.problems))}", file=sys.stderr)
        return 1
    return 0


def _print_board(results, args: argparse.Namespace, warned: bool = True) -> int:
    """Print the leaderboard; with no runs, say so on standard error and return 1."""
    from tbviz.commands.leaderboard import leaderboard_text, stopping_lines

    if results:
        print(leaderboard_text(results, args.metric))
        for result in results:
            for remark in result.remarks:
                print(f"note: {result.run}: {remark}")
        for line in stopping_lines(results):
            print(line)
        return 0
    print(f"tbviz: error: {_none_found(args, warned)}", file=sys.stderr)
    return 1


def _none_found(args: argparse.Namespace, warned: bool = True) -> str:
    where = f"{args.logdir}" + (f" matching --runs {args.runs!r}" if args.runs else "")
    if not warned:
        return f"no event files under {where}: is it the folder you point TensorBoard at?"
    return (
        f"no runs with training/validation scalars under {where} (the warnings above name "
        "the folders that have event files, and their tags)"
    )


class ProgressBar:
    """A one-line progress bar on standard error, drawn only on a terminal.

    Shown once there are more than ``threshold`` items; redrawn at most every
    1% so a thousand runs cost a hundred writes.
    """

    def __init__(self, label: str, *, enabled: bool = True, threshold: int = 20) -> None:
        self.label = label
        self.enabled = enabled and sys.stderr.isatty()
        self.threshold = threshold
        self._shown = -1

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total <= self.threshold:
            return
        percent = done * 100 // total
        if percent == self._shown:
            return
        self._shown = percent
        filled = percent * 30 // 100
        bar = "#" * filled + "-" * (30 - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {done}/{total}")
        sys.stderr.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._shown >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
