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

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tbviz.commands.discovery import check_metric, diagnose_runs
from tbviz.commands.drawer import Drawer, Job
from tbviz.commands.leaderboard import leaderboard_markdown
from tbviz.core.detector import DetectorSettings
from tbviz.core.results import RunResult
from tbviz.core.text import md_code
from tbviz.errors import OutputError
from tbviz.figures.plans import RUN_COLORS, plan_overlay, plan_small_multiples
from tbviz.logdir import metadata, storage, summaries
from tbviz.logdir.layouts import TagMapping
from tbviz.logdir.reader import CorruptEventFile, tag_steps
from tbviz.logdir.writer import EventFileWriter

OUTPUT_SUFFIXES = (".json", ".md", ".png")

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
#: What each drawing function draws: the tag its figure goes under, the tag's
#: description, and the figure's name in a problem.
_FIGURES = {
    "draw_overlay": (metadata.TAG_OVERLAY, OVERLAY_DESCRIPTION, "overlay"),
    "render_group_overlay": (metadata.TAG_GROUP_OVERLAY, GROUP_OVERLAY_DESCRIPTION, "group"),
    "draw_small_multiples": (
        metadata.TAG_SMALL_MULTIPLES,
        SMALL_MULTIPLES_DESCRIPTION,
        "small-multiples",
    ),
}
#: Each figure tag's description, from the map above.
_DESCRIPTIONS = {tag: description for tag, description, _ in _FIGURES.values()}


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
    # Forked before the readers, so that it imports matplotlib beside them.
    with Drawer(fork=workers > 1, ahead=[("prepare_small_multiples", ())]) as drawer:
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
        )
        said = check_metric(results, metric)  # no run has it: raises, nothing written
        if said:
            problems.append(said)
        compare_dir = storage.join(logdir, metadata.COMPARE_RUN)
        step = _next_step(compare_dir, problems)
        comparison = Comparison(results, step, problems=problems)
        if not results:
            return comparison
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
        figures = _draw_figures(drawer, results, metric, comparison.groups, problems)
    values = [
        summaries.text_value(metadata.TAG_LEADERBOARD, markdown, LEADERBOARD_DESCRIPTION),
        summaries.json_value(
            metadata.TAG_LEADERBOARD_JSON, payload, "leaderboard", LEADERBOARD_DESCRIPTION
        ),
    ]
    overlay = figures.get(metadata.TAG_OVERLAY, [None])[0]
    values += [
        summaries.image_value(tag, images, _DESCRIPTIONS[tag])
        for tag, images in figures.items()
        if images
    ]
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


def _draw_figures(
    drawer: Drawer,
    results: list[RunResult],
    metric: str,
    groups: list,
    problems: list[str],
) -> dict[str, list]:
    """The comparison's figures by tag: the overlay (and the groups' figure)
    in one lane, the small-multiple pages in the other. A figure that cannot
    be drawn (no validation values anywhere) is a problem, not an error: the
    table still stands."""
    overlay: list[Job] = []
    try:
        overlay.append(("draw_overlay", (plan_overlay(results, metric),)))
    except ValueError as err:
        problems.append(f"no overlay figure: {err}")
    if groups:
        overlay.append(("render_group_overlay", (groups[: len(RUN_COLORS)], metric)))
    pages: list[Job] = [("draw_small_multiples", (plan_small_multiples(results, metric),))]
    figures: dict[str, list] = {}
    for (name, _), (value, err) in zip(overlay + pages, drawer.draw(overlay, pages), strict=True):
        tag, _, noun = _FIGURES[name]
        if isinstance(err, ValueError):
            problems.append(f"no {noun} figure: {err}")
        elif err is not None:
            raise err
        else:
            figures[tag] = value if isinstance(value, list) else [value]
    return figures


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
