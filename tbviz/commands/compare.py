"""``tbviz compare``: diagnose every run of a log directory and write the comparison.

Writes into ``LOGDIR/_compare`` (a run TensorBoard lists next to the others):
the overlay figure, the small multiples (one image sample per page), the
leaderboard as markdown text and as a tbviz JSON tensor. Each ``compare``
adds one step, so TensorBoard's step slider goes back through earlier
comparisons and nothing is ever rewritten under a running TensorBoard.
Optionally the leaderboard also goes to ``.json``/``.md`` files and the overlay
to a ``.png``. No TensorFlow.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from tbviz.commands.discovery import check_metric, diagnose_runs, fork_pool
from tbviz.commands.leaderboard import leaderboard_markdown
from tbviz.core.detector import DetectorSettings
from tbviz.core.results import RunResult
from tbviz.core.text import md_code
from tbviz.errors import OutputError
from tbviz.logdir import metadata, storage, summaries
from tbviz.logdir.layouts import TagMapping
from tbviz.logdir.reader import CorruptEventFile, tag_steps
from tbviz.logdir.writer import EventFileWriter

OUTPUT_SUFFIXES = (".json", ".md", ".png")
_FIGURES = "tbviz.figures.cross_run"

OVERLAY_DESCRIPTION = (
    "Validation curves of every run per metric; the best runs in colour with their "
    "training curves dashed, best epochs (dots) and overfitting onsets (crosses)."
)
SMALL_MULTIPLES_DESCRIPTION = (
    "One training-vs-validation panel per run on shared axes, best first; one sample per page."
)
LEADERBOARD_DESCRIPTION = "Runs ranked best first, with their overfitting diagnosis."
GROUP_OVERLAY_DESCRIPTION = (
    "One curve per group of runs (compare --group-over): the mean of its members, a band "
    "from their minimum to their maximum, dashed where some had stopped."
)


@dataclass
class Comparison:
    """What one ``compare`` produced."""

    results: list[RunResult]
    step: int
    event_file: str | None = None
    outputs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    groups: list = field(default_factory=list)  # tbviz.commands.groups.GroupResult


def check_outputs(paths: Sequence[str]) -> None:
    """Raise OutputError for an ``--out`` path tbviz cannot write (before any reading)."""
    for path in paths:
        if os.path.splitext(path)[1].lower() not in OUTPUT_SUFFIXES:
            raise OutputError(
                f"--out {path!r}: the file name must end in .json (leaderboard data), "
                ".md (leaderboard table) or .png (overlay figure)"
            )
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise OutputError(f"--out {path!r}: folder {folder!r} does not exist")


def compare(
    logdir: str,
    runs: str | None = None,
    metric: str = "val_loss",
    *,
    mode: str = "auto",
    mapping: TagMapping | None = None,
    outputs: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    settings: DetectorSettings | None = None,
    group_over: Sequence[str] = (),
) -> Comparison:
    """Read, diagnose and rank every run; write ``LOGDIR/_compare`` and ``outputs``.

    What the user should hear (runs skipped or read in part, naming the file;
    a figure that could not be drawn) is in ``Comparison.problems`` (see
    :func:`tbviz.commands.discovery.diagnose_runs`, also for ``workers``). With no
    readable run, nothing is written.

    Raises:
        LogDirError: ``logdir`` does not exist.
        UnknownMetricError: no run has ``metric`` (nothing is written).
        OutputError: an ``outputs`` path has an unknown suffix or no folder.
    """
    check_outputs(outputs)
    problems: list[str] = []
    results = diagnose_runs(
        logdir,
        runs,
        metric,
        mode=mode,
        settings=settings,
        mapping=mapping,
        keep_history=True,
        progress=progress,
        workers=workers,
        problems=problems,
        # matplotlib takes 0.4 s to import: on a core the readers leave free, if any.
        meanwhile=functools.partial(importlib.import_module, _FIGURES),
    )
    said = check_metric(results, metric)  # no run has it: raises, nothing written
    if said:
        problems.append(said)
    compare_dir = storage.join(logdir, metadata.COMPARE_RUN)
    step = _next_step(compare_dir, problems)
    comparison = Comparison(results, step, problems=problems)
    if not results:
        return comparison
    from tbviz.figures.cross_run import draw_small_multiples, plan_small_multiples, render_overlay

    note = f"Runs matching {md_code(runs)}." if runs else ""
    markdown = leaderboard_markdown(results, metric, note)
    payload = {"metric": metric, "runs_filter": runs, "runs": [r.to_dict() for r in results]}
    if group_over:
        from tbviz.commands.groups import group_runs, groups_text

        comparison.groups = group_runs(results, group_over)
        payload["group_over"] = list(group_over)
        payload["groups"] = [g.to_dict() for g in comparison.groups]
        markdown += (
            f"\n\n**Groups** over {', '.join(md_code(k) for k in group_over)}:\n\n```\n"
            + groups_text(comparison.groups, metric)
            + "\n```"
        )
    values = [
        summaries.text_value(metadata.TAG_LEADERBOARD, markdown, LEADERBOARD_DESCRIPTION),
        summaries.json_value(
            metadata.TAG_LEADERBOARD_JSON, payload, "leaderboard", LEADERBOARD_DESCRIPTION
        ),
    ]
    overlay = None
    pool = fork_pool(workers, len(results))
    # Only the runs the pages show travel to the process that draws them.
    plan = plan_small_multiples(results, metric)
    with _beside(pool, draw_small_multiples, plan) as pages_done:
        try:
            overlay = render_overlay(results, metric)
            values.append(
                summaries.image_value(metadata.TAG_OVERLAY, [overlay], OVERLAY_DESCRIPTION)
            )
        except ValueError as err:  # no validation data anywhere: the table still stands
            problems.append(f"no overlay figure: {err}")
        pages = pages_done()
    if comparison.groups:
        from tbviz.figures.cross_run import render_group_overlay

        try:
            grouped = render_group_overlay(comparison.groups, metric)
            values.append(
                summaries.image_value(
                    metadata.TAG_GROUP_OVERLAY, [grouped], GROUP_OVERLAY_DESCRIPTION
                )
            )
        except ValueError as err:
            problems.append(f"no group figure: {err}")
    if pages:
        values.append(
            summaries.image_value(metadata.TAG_SMALL_MULTIPLES, pages, SMALL_MULTIPLES_DESCRIPTION)
        )
    with EventFileWriter(compare_dir) as writer:
        writer.add(step, values)
    comparison.event_file = writer.path
    for path in outputs:
        if path.lower().endswith(".png") and overlay is None:
            problems.append(f"{path} not written: no overlay figure")
            continue
        _write_output(path, payload, markdown, overlay)
        comparison.outputs.append(path)
    return comparison


@contextlib.contextmanager
def _beside(pool, function: Callable, *args) -> Iterator[Callable[[], object]]:
    """Run ``function(*args)`` in ``pool`` while the block runs; yields a getter
    for its result. Without a pool it runs in the getter, here. Drawing is
    CPU-bound, so on two cores the two figures take the time of the longer one.
    """
    if pool is None:
        yield lambda: function(*args)
        return
    with pool:
        yield pool.submit(function, *args).result


def _next_step(compare_dir: str, problems: list[str]) -> int:
    """One more than the last comparison's step; 0 for the first."""
    try:
        steps = tag_steps(compare_dir, metadata.TAG_LEADERBOARD_JSON)
    except (CorruptEventFile, OSError) as err:
        problems.append(f"earlier comparisons unreadable ({err})")
        return 0
    return steps[-1] + 1 if steps else 0


def _write_output(path: str, payload: dict, markdown: str, overlay) -> None:
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".json":
        with open(path, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=1)
            out.write("\n")
    elif suffix == ".md":
        with open(path, "w", encoding="utf-8") as out:
            out.write(markdown + "\n")
    else:
        with open(path, "wb") as out:
            out.write(overlay.png)
