"""What ``compare``'s cross-run figures show, chosen without matplotlib.

A plan picks the runs and curves a figure draws (cheaply, where every run's
result is) so that only those travel to the process that draws it, and so
that the process which reads the runs never has to import matplotlib
(:mod:`tbviz.commands.drawer`). :mod:`tbviz.figures.cross_run` draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tbviz.core.history import VALIDATION_PREFIX, History, Series, base_name, is_validation
from tbviz.core.results import RunResult
from tbviz.core.text import display_names

#: The overlay's colours, one per leading run: runs drawn in colour at most.
RUN_COLORS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
]  # fmt: skip
#: Runs drawn in colour, with a legend entry, in the overlay.
OVERLAY_TOP = 10
#: At most this many metric panels in the overlay (the monitored one first).
OVERLAY_PANELS = 4
#: The most grey lines the overlay draws for the runs below the top ones.
OVERLAY_OTHERS = 300
#: Small-multiple panels per page, and pages at most.
PER_PAGE = 16
MAX_PAGES = 4


@dataclass(frozen=True)
class OverlayPlan:
    """The overlay's panels and lines: the leading runs whole, and of the rest
    only the curves drawn in grey."""

    metric: str
    names: list[str]  # base names, one panel each, the monitored one first
    leaders: list[RunResult]  # best first, with their histories
    labels: list[str]  # the leaders' legend names, less what every run's name shares
    grey: dict[str, list[Series]]  # validation key -> the other runs' curves drawn
    others: int  # runs after the leaders, drawn or not
    every: int  # every n-th of them is drawn


@dataclass(frozen=True)
class PagesPlan:
    """Which runs the small multiples show, and as what."""

    metric: str
    name: str  # the metric's name without ``val_``: the panels' training/validation pair
    shown: list[RunResult]
    labels: dict[str, str]  # run -> its panel title, less what every run's name shares
    total: int  # runs that have the metric's curves, shown or not
    per_page: int


def plan_overlay(
    results: Sequence[RunResult], metric: str, *, top: int = OVERLAY_TOP
) -> OverlayPlan:
    """What :func:`tbviz.figures.cross_run.render_overlay` draws for ``results``
    (best first, with their histories).

    The grey context is at most ``OVERLAY_OTHERS`` lines per panel, evenly over
    the ranking: a thousand lines draw as the same grey band at ten times the cost.

    Raises:
        ValueError: no result has a validation series to draw.
    """
    names = overlay_metrics(results, metric)
    if not names:
        raise ValueError("no run has validation values to draw")
    top = max(1, min(top, len(RUN_COLORS)))
    leaders, others = list(results[:top]), results[top:]
    every = max(1, -(-len(others) // OVERLAY_OTHERS))  # ceil: draw every n-th of the rest
    grey = {}
    for name in names:
        key = VALIDATION_PREFIX + name
        rest = [r.history[key] for r in others if r.history and key in r.history]
        grey[key] = rest[::every]
    everyone = display_names([r.run for r in results])
    labels = [everyone[r.run] for r in leaders]
    return OverlayPlan(metric, names, leaders, labels, grey, len(others), every)


def plan_small_multiples(
    results: Sequence[RunResult],
    metric: str,
    *,
    per_page: int = PER_PAGE,
    max_pages: int = MAX_PAGES,
) -> PagesPlan | None:
    """The runs :func:`tbviz.figures.cross_run.render_small_multiples` would
    draw; None if none has ``metric``."""
    name = base_name(metric) if is_validation(metric) else metric
    drawable = [r for r in results if r.history and pair_series(r.history, name)]
    if not drawable:
        return None
    shown = drawable[: per_page * max_pages]
    labels = display_names([r.run for r in drawable])
    titles = {r.run: labels[r.run] for r in shown}
    return PagesPlan(metric, name, shown, titles, len(drawable), per_page)


def overlay_metrics(results: Sequence[RunResult], metric: str) -> list[str]:
    """Base names with validation values in some run, the monitored one first."""
    monitored = base_name(metric) if is_validation(metric) else metric
    names: list[str] = []
    for result in results:
        for key in result.history.keys() if result.history else []:
            if is_validation(key) and base_name(key) not in names:
                names.append(base_name(key))
    if monitored in names:
        names.remove(monitored)
        names.insert(0, monitored)
    return names[:OVERLAY_PANELS]


def pair_series(history: History, name: str) -> list[Series]:
    """The training and validation series of ``name`` that have values."""
    return [s for s in (history.get(name), history.get(VALIDATION_PREFIX + name)) if s]
