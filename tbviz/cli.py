"""The ``tbviz`` command: read log directories without TensorFlow.

    tbviz leaderboard LOGDIR [--runs REGEX] [--metric val_loss] [--json]

Only ``argparse`` is imported up front, so ``tbviz --help`` answers at once;
each command imports what it needs (TensorBoard's protobuf classes, numpy),
never TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The ``tbviz`` command line."""
    parser = argparse.ArgumentParser(
        prog="tbviz",
        description="Diagnose and compare training runs in a TensorBoard log directory.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    board = commands.add_parser(
        "leaderboard",
        help="diagnose every run and print them best first (writes nothing)",
        description="Read every run under LOGDIR (tbviz or plain keras.callbacks.TensorBoard "
        "logs), diagnose it, and print the runs best first.",
    )
    board.add_argument("logdir", metavar="LOGDIR")
    board.add_argument("--runs", metavar="REGEX", help="only runs whose name matches REGEX")
    board.add_argument(
        "--metric",
        default="val_loss",
        help="the metric to rank and diagnose by (default: %(default)s)",
    )
    board.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tbviz`` command; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _leaderboard(args)
    except BrokenPipeError:  # `tbviz leaderboard ... | head`
        sys.stderr.close()
        return 0


def _leaderboard(args: argparse.Namespace) -> int:
    import re

    from tbviz.runs import diagnose_runs, leaderboard_text

    if args.runs:
        try:
            re.compile(args.runs)
        except re.error as err:
            print(
                f"tbviz: error: --runs {args.runs!r} is not a regular expression: {err}",
                file=sys.stderr,
            )
            return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            results = diagnose_runs(args.logdir, args.runs, args.metric)
        except FileNotFoundError as err:
            print(f"tbviz: error: {err}", file=sys.stderr)
            return 2
    for warning in caught:
        print(f"tbviz: warning: {warning.message}", file=sys.stderr)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    elif not results:
        print(f"no runs with epoch_* scalars under {args.logdir}")
    else:
        print(leaderboard_text(results, args.metric))
    return 0
