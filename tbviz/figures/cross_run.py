"""Cross-run figures for ``tbviz compare``: an overlay and small multiples.

* The **overlay** puts every run's validation curve of a metric in one panel
  (one panel per metric). The best runs get a colour, a legend entry, their
  training curve (dashed, faint), their best epoch (dot) and their
  overfitting onset (cross); every other run is a thin grey line behind them,
  so the figure stays readable at 20 runs and at 1,000.
* **Small multiples** give each run its own training-vs-validation panel of
  the monitored metric, all on the same axes, best run first, a page of
  ``per_page`` panels per image; pages are capped. The y axis fits the runs
  from just before their best epoch on (a rise of a few percent is a pixel
  or two on an axis that also holds the first epochs' fall).

matplotlib object API on Agg only, as in :mod:`tbviz.figures.run_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import IdentityTransform, ScaledTranslation

from tbviz.core.history import VALIDATION_PREFIX, Series
from tbviz.core.results import RunResult
from tbviz.figures.plans import (
    MAX_PAGES,
    OVERLAY_TOP,
    PER_PAGE,
    RUN_COLORS,
    OverlayPlan,
    PagesPlan,
    pair_series,
    plan_overlay,
    plan_small_multiples,
)
from tbviz.figures.run_figure import (
    ALARM_COLOR,
    BEST_COLOR,
    TRAIN_COLOR,
    VALIDATION_COLOR,
    RenderedFigure,
    encode_png,
    epoch_band,
    fit_text,
    grid_shape,
    line_data,
    set_margins,
    set_span,
)
from tbviz.figures.scales import fenced, snap_range

#: Width of a small-multiple panel: 256 px at the default 80 dpi.
PANEL_INCHES = 3.2
_OTHER_COLOR = "#c8c8c8"
#: Triangles on an axis' edge where values lie beyond it.
OFF_AXIS_COLOR = "#555555"


def render_overlay(
    results: Sequence[RunResult], metric: str, *, top: int = OVERLAY_TOP, dpi: int = 80
) -> RenderedFigure:
    """Every run's validation curves, one panel per metric; the ``top`` best in colour.

    ``results`` are best first (as :func:`tbviz.commands.discovery.diagnose_runs` returns
    them) and carry their histories.

    Raises:
        ValueError: no result has a validation series to draw.
    """
    return draw_overlay(plan_overlay(results, metric, top=top), dpi=dpi)


def draw_overlay(plan: OverlayPlan, *, dpi: int = 80) -> RenderedFigure:
    """The overlay of :func:`render_overlay`, for a plan made beforehand."""
    names, leaders, metric = plan.names, plan.leaders, plan.metric
    rows, cols = grid_shape(len(names))
    width_in, height_in = 4.6 * cols + 3.2, 3.4 * rows + 0.7
    figure = Figure(figsize=(width_in, height_in), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    off_axis = False
    for ax, name in zip(axes, names, strict=False):
        key = VALIDATION_PREFIX + name
        _style_axes(ax, key)
        # Only the lines drawn are made, and fit the axis.
        segments = [_xy(series) for series in plan.grey[key]]
        curves = segments + [_xy(r.history[key]) for r in leaders if r.history and key in r.history]
        if segments:
            ax.add_collection(
                LineCollection(segments, colors=_OTHER_COLOR, linewidths=0.7, zorder=1)
            )
        for rank, result in enumerate(leaders):
            _draw_leader(ax, result, name, RUN_COLORS[rank])
        off_axis |= _set_limits(ax, curves)
    handles = [
        Line2D([], [], color=RUN_COLORS[i], linewidth=1.8, label=f"{i + 1}. {label}")
        for i, label in enumerate(plan.labels)
    ]
    if plan.others:
        every = plan.every
        said = f"{plan.others} more runs" + (f" (every {every}th drawn)" if every > 1 else "")
        handles.append(Line2D([], [], color=_OTHER_COLOR, linewidth=1.5, label=said))
    handles += [
        Line2D([], [], color="#555555", linestyle="--", alpha=0.6, label="training"),
        Line2D([], [], color="#555555", marker="o", linestyle="none", label="best epoch"),
        Line2D([], [], color=ALARM_COLOR, marker="X", linestyle="none", label="overfitting onset"),
    ]
    if off_axis:
        handles.append(
            Line2D([], [], color=OFF_AXIS_COLOR, marker="^", linestyle="none",
                   label="value off the axis")
        )  # fmt: skip
    figure.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1 - 3.1 / width_in, 1 - 0.6 / height_in),
        fontsize=8,
        frameon=False,
    )
    shown = f"the best {len(leaders)} in colour" if plan.others else "best first"
    runs = len(leaders) + plan.others
    figure.suptitle(
        f"Validation curves of {runs} run{'s' if runs != 1 else ''}, ranked by {metric} ({shown})",
        fontsize=12,
    )
    set_margins(figure, left=0.6, right=3.3, bottom=0.5, top=0.65, wspace=0.25, hspace=0.45)
    canvas.draw()
    return encode_png(canvas)


def render_small_multiples(
    results: Sequence[RunResult],
    metric: str,
    *,
    per_page: int = PER_PAGE,
    max_pages: int = MAX_PAGES,
    dpi: int = 80,
) -> list[RenderedFigure]:
    """One training-vs-validation panel of ``metric`` per run, same axes, best first.

    Returns one PNG per page, all the same size (TensorBoard shows them as
    the samples of one image); each panel is at least 250 px wide and is
    titled with the run's name less what every run's name shares. Runs after
    ``per_page * max_pages`` are left out, and the title of the last page
    says how many. The axes, ticks and legend are drawn once; each page only
    draws its curves and titles on top of them.
    """
    plan = plan_small_multiples(results, metric, per_page=per_page, max_pages=max_pages)
    return draw_small_multiples(plan, dpi=dpi)


def draw_small_multiples(plan: PagesPlan | None, *, dpi: int = 80) -> list[RenderedFigure]:
    """The pages of :func:`render_small_multiples`, for a plan made beforehand
    (none for no plan)."""
    if plan is None:
        return []
    metric, name, shown, labels = plan.metric, plan.name, plan.shown, plan.labels
    per_page = plan.per_page
    rows, cols = grid_shape(min(per_page, len(shown)))
    page = _AHEAD.pop((rows, cols, dpi), None) or _PagesFrame(rows, cols, dpi)
    axes, width_in = page.axes, page.width_in
    # Shared limits, set on the first panel; a curve past them leaves its panel.
    # The y axis fits each run from just before its best epoch on, where a rise
    # shows; the first epochs' steep fall leaves the panels at the top (on an
    # axis fitted to it, a rise of a few percent is a pixel or two).
    curves, late = [], []
    for r in shown:
        start = max(0, (r.diagnosis.best_epoch or 0) - 2) + 1  # _xy counts epochs from 1
        for series in pair_series(r.history, name):
            xy = _xy(series)
            curves.append(xy)
            late.append(xy[xy[:, 0] >= start])
    _set_limits(axes[0], curves, mark=False, fit=late)
    (x_lo, x_hi), (y_lo, y_hi) = axes[0].get_xlim(), axes[0].get_ylim()
    x_ticks = [
        t for t in MaxNLocator(nbins=5, integer=True).tick_values(x_lo, x_hi) if x_lo <= t <= x_hi
    ]
    y_range = snap_range(y_lo, y_hi)
    y_ticks = [t for t in y_range.ticks() if y_lo <= t <= y_hi]
    y_labels = dict(zip(y_range.ticks(), y_range.labels(), strict=True))
    for i, ax in enumerate(axes):
        # Grid lines and outer tick labels drawn by hand: matplotlib's tick
        # objects for 16 axes cost more than the rest of the page.
        grid = [[(t, y_lo), (t, y_hi)] for t in x_ticks] + [[(x_lo, t), (x_hi, t)] for t in y_ticks]
        ax.add_collection(LineCollection(grid, colors="#b0b0b0", alpha=0.3, linewidths=0.8))
        if i % cols == 0:
            for t in y_ticks:
                ax.text(x_lo, t, y_labels[t] + " ", ha="right", va="center", fontsize=8)
        if i >= (rows - 1) * cols:
            for t in x_ticks:
                _epoch_label(ax, t, y_lo)
    canvas = page.canvas
    canvas.draw()  # frames, ticks and legend; every page draws on a copy of them
    background = canvas.copy_from_bbox(page.figure.bbox)
    pages = []
    for start in range(0, len(shown), per_page):
        chunk = shown[start : start + per_page]
        canvas.restore_region(background)
        for i, panel in enumerate(page.panels):
            if i < len(chunk):
                panel.draw(chunk[i], labels[chunk[i].run], name, start + i + 1)
            else:
                panel.blank(canvas)
        # A last page's blank panels took the bottom row's epoch labels with them:
        # the lowest drawn panel of such a column gets its own.
        for i in range(max(0, len(chunk) - cols), len(chunk)):
            if i < (rows - 1) * cols:
                for t in x_ticks:
                    label = _epoch_label(axes[i], t, y_lo)
                    axes[i].draw_artist(label)
                    label.remove()
        left_out = plan.total - len(shown)
        more = f"; {left_out} more not shown" if left_out and start + per_page >= len(shown) else ""
        shown_runs = f"runs {start + 1}-{start + len(chunk)} of {plan.total}"
        page.title.set_text(fit_text(f"{metric}, {shown_runs}, best first{more}", width_in, 12))
        page.figure.draw_artist(page.title)
        pages.append(encode_png(canvas))
    return pages


def prepare_small_multiples(per_page: int = PER_PAGE, *, dpi: int = 80) -> None:
    """Build a full page's frame ahead, for this process' next
    :func:`draw_small_multiples` of that size: a drawing process does it
    while the runs are read (:mod:`tbviz.commands.drawer`), so that its
    hundred milliseconds are not spent after the reading."""
    rows, cols = grid_shape(per_page)
    _AHEAD[(rows, cols, dpi)] = _PagesFrame(rows, cols, dpi)


class _PagesFrame:
    """What the pages of small multiples are drawn on and that does not depend
    on the runs: the figure, its panels (their artists empty), the legend and
    the page title. Its axes' limits, grid and tick labels come with a plan."""

    def __init__(self, rows: int, cols: int, dpi: int) -> None:
        # At least 5.6 inches: the legend's one row and the page title fit on a
        # page of one panel too (a comparison of a single run).
        self.width_in = max(PANEL_INCHES * cols + 0.7, 5.6)
        height_in = PANEL_INCHES * 0.85 * rows + 1.0
        self.figure = Figure(figsize=(self.width_in, height_in), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        grid = self.figure.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
        self.axes = grid.ravel()
        for ax in self.axes:
            ax.set_xticks([])
            ax.set_yticks([])
        self.panels = [_MultiplePanel(ax) for ax in self.axes]
        self.figure.legend(
            handles=[
                Line2D([], [], color=TRAIN_COLOR, label="training"),
                Line2D([], [], color=VALIDATION_COLOR, label="validation"),
                Line2D([], [], color=BEST_COLOR, marker="*", linestyle="none", label="best epoch"),
                Patch(color=ALARM_COLOR, alpha=0.2, label="overfitting"),
            ],
            loc="upper center",
            ncol=4,
            fontsize=9,
            frameon=False,
            bbox_to_anchor=(0.5, 1 - 0.4 / height_in),
        )
        self.title = self.figure.suptitle(
            "", fontsize=12, y=1 - 0.08 / height_in, va="top", animated=True
        )
        set_margins(
            self.figure, left=0.55, right=0.15, bottom=0.4, top=1.25, wspace=0.06, hspace=0.32
        )


#: Frames built ahead by :func:`prepare_small_multiples`, by (rows, cols, dpi).
_AHEAD: dict[tuple[int, int, int], _PagesFrame] = {}


class _MultiplePanel:
    """The artists of one run's small-multiple panel, drawn page after page."""

    def __init__(self, ax) -> None:
        self.ax = ax  # its grid and tick labels are drawn by hand (draw_small_multiples)
        # A text, not set_title: matplotlib re-measures every axis to place a title.
        self.title = ax.text(
            0.5, 1.03, "", transform=ax.transAxes, ha="center", va="bottom", fontsize=8.5,
            animated=True,
        )  # fmt: skip
        (self.train,) = ax.plot([], [], color=TRAIN_COLOR, linewidth=1.2, animated=True)
        (self.validation,) = ax.plot([], [], color=VALIDATION_COLOR, linewidth=1.4, animated=True)
        (self.best,) = ax.plot(
            [], [], marker="*", markersize=9, color=BEST_COLOR, ls="none", animated=True
        )
        self.band = epoch_band(ax, color=ALARM_COLOR, alpha=0.15, animated=True)

    def draw(self, result: RunResult, label: str, name: str, rank: int) -> None:
        d = result.diagnosis
        self.title.set_text(f"{rank}. {label}\n{d.status}")
        validation = result.history.get(VALIDATION_PREFIX + name)
        self.train.set_data(*line_data(result.history.get(name)))
        self.validation.set_data(*line_data(validation))
        best = None
        if validation is not None and d.best_epoch is not None:
            best = validation.value_at(d.best_epoch)
        self.best.set_visible(best is not None)
        if best is not None:
            self.best.set_data([d.best_epoch + 1], [best])
        onset = d.onset_epoch
        self.band.set_visible(onset is not None)
        if onset is not None:
            set_span(self.band, onset + 1, (result.history.last_epoch or onset) + 1)
        for artist in (self.band, self.train, self.validation, self.best, self.title):
            if artist.get_visible():
                self.ax.draw_artist(artist)

    def blank(self, canvas: FigureCanvasAgg) -> None:
        """Paint an unused panel of the last page white, its frame and tick labels too."""
        box = self.ax.get_tightbbox(canvas.get_renderer())
        cover = Rectangle(
            (box.x0 - 1, box.y0 - 1), box.width + 2, box.height + 2,
            transform=IdentityTransform(), facecolor="white", edgecolor="none",
        )  # fmt: skip
        cover.set_figure(self.ax.figure)
        self.ax.figure.draw_artist(cover)


def _below(ax):
    """Data coordinates moved 3 points down: where an x tick label goes."""
    return ax.transData + ScaledTranslation(0, -3 / 72, ax.figure.dpi_scale_trans)


def _epoch_label(ax, epoch: float, y: float):
    """The x tick label for ``epoch`` under a panel whose y axis starts at ``y``."""
    return ax.text(epoch, y, f"{epoch:g}", transform=_below(ax), ha="center", va="top", fontsize=8)


def _draw_leader(ax, result: RunResult, name: str, color: str) -> None:
    history, d = result.history, result.diagnosis
    validation = history.get(VALIDATION_PREFIX + name)
    train = history.get(name)
    if train is not None:
        ax.plot(*line_data(train), color=color, linestyle="--", linewidth=1.0, alpha=0.45)
    if validation is None:
        return
    ax.plot(*line_data(validation), color=color, linewidth=1.8, zorder=3)
    by_name = {m.name: m for m in d.metrics}
    best_epoch = by_name[name].best_epoch if name in by_name else None
    best = validation.value_at(best_epoch) if best_epoch is not None else None
    if best is not None and math.isfinite(best):
        ax.plot([best_epoch + 1], [best], marker="o", color=color, markersize=6, zorder=4)
    onset = validation.value_at(d.onset_epoch) if d.onset_epoch is not None else None
    if onset is not None and math.isfinite(onset):
        ax.plot(
            [d.onset_epoch + 1], [onset], marker="X", color=ALARM_COLOR, markersize=8,
            markeredgecolor="white", zorder=5,
        )  # fmt: skip


def _style_axes(ax, title: str) -> None:
    ax.set_title(title, fontsize=11, y=1.0)  # a fixed place: not measured from the ticks
    ax.set_xlabel("epoch", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)


def _set_limits(
    ax, curves: list[np.ndarray], *, mark: bool = True, fit: list[np.ndarray] | None = None
) -> bool:
    """Limits that fit the runs: the epochs they have, and the y span of
    :func:`tbviz.figures.scales.fenced`, so one run's large early loss does
    not flatten the rest; or, given ``fit`` (parts of ``curves``), the whole
    span of those. With ``mark``, values off the axis get a small triangle
    on its edge. Returns whether any value is off the axis.
    """
    points = [c for c in curves if len(c)]
    if not points:
        return False
    xy = np.concatenate(points)
    x_max = float(np.nanmax(xy[:, 0]))
    ax.set_xlim(0.5, max(x_max, 1.0) + 0.5)
    if fit is None:
        span = fenced(xy[:, 1])
    else:  # the parts to show in full, rises included: no fence
        ys = np.concatenate([c for c in fit if len(c)] or [xy])[:, 1]
        ys = ys[np.isfinite(ys)]
        span = (float(ys.min()), float(ys.max())) if ys.size else None
    if span is None:
        return False
    lo, hi = span
    pad = (hi - lo) * 0.06 or abs(hi) * 0.06 or 0.1
    ax.set_ylim(lo - pad, hi + pad)
    above, below = xy[xy[:, 1] > hi + pad], xy[xy[:, 1] < lo - pad]
    for off, edge, marker in ((above, hi + pad, "^"), (below, lo - pad, "v")):
        if mark and len(off):
            ax.plot(
                off[:, 0], np.full(len(off), edge), linestyle="none", marker=marker,
                color=OFF_AXIS_COLOR, markersize=5, clip_on=False, zorder=6,
            )  # fmt: skip
    return bool(len(above) or len(below))


def _xy(series: Series) -> np.ndarray:
    """(epoch + 1, value) rows, non-finite values as NaN (a gap in the line)."""
    return np.column_stack(line_data(series))


def render_group_overlay(groups, metric: str, *, dpi: int = 80) -> RenderedFigure:
    """One curve per group of runs (``tbviz.commands.groups``): the mean of its
    members' ``metric`` curves at each epoch, a band from their minimum to their
    maximum, dashed where fewer members reached that epoch (a stopped seed),
    and the spread of the members' best epochs (mean ± std) marked under it.

    Raises:
        ValueError: no member of any group has ``metric`` to draw.
    """
    figure = Figure(figsize=(8.2, 4.6), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    _style_axes(ax, metric)
    curves, drawn, stopped = [], 0, False
    for rank, group in enumerate(groups[: len(RUN_COLORS)]):
        color = RUN_COLORS[rank]
        by_epoch: dict[int, list[float]] = {}
        for member in group.members:
            series = member.history.get(metric) if member.history else None
            for epoch, value in zip(series.epochs, series.values, strict=True) if series else ():
                if math.isfinite(value):
                    by_epoch.setdefault(epoch, []).append(value)
        if not by_epoch:
            continue
        drawn += 1
        epochs = sorted(by_epoch)
        x = np.array(epochs, dtype=float) + 1
        mean = np.array([np.mean(by_epoch[e]) for e in epochs])
        low = np.array([min(by_epoch[e]) for e in epochs])
        high = np.array([max(by_epoch[e]) for e in epochs])
        counts = np.array([len(by_epoch[e]) for e in epochs])
        full = counts == len(group.members)
        ax.fill_between(x, low, high, color=color, alpha=0.15, linewidth=0)
        ax.plot(x, np.where(full, mean, np.nan), color=color, linewidth=2,
                label=f"{rank + 1}. {group.group} (n={len(group.members)})")  # fmt: skip
        if not full.all():  # where a member had stopped: the mean of fewer runs, dashed
            stopped = True
            partial = ~full | np.roll(~full, -1)  # the dashes join the full line
            ax.plot(x, np.where(partial, mean, np.nan), color=color, linewidth=1.5,
                    linestyle="--")  # fmt: skip
        best = [m.diagnosis.best_epoch for m in group.members if m.diagnosis.best_epoch is not None]
        if best:
            centre = float(np.mean(best)) + 1
            spread = float(np.std(best, ddof=1)) if len(best) > 1 else 0.0
            at = float(np.interp(centre, x, mean))
            ax.errorbar([centre], [at], xerr=[[spread], [spread]], fmt="o", color=color,
                        markersize=5, capsize=3, zorder=5)  # fmt: skip
        curves.append(np.column_stack([x, low]))
        curves.append(np.column_stack([x, high]))
    if not drawn:
        raise ValueError(f"no group has {metric} to draw")
    _set_limits(ax, curves, mark=False)
    handles = ax.get_legend_handles_labels()[0]
    handles += [
        Patch(color="#555555", alpha=0.15, label="band: min to max of the runs"),
        *(
            [Line2D([], [], color="#555555", linestyle="--", label="fewer runs (some stopped)")]
            if stopped
            else []
        ),
        Line2D(
            [], [], color="#555555", marker="o", linestyle="none", label="best epoch, mean ± std"
        ),
    ]
    figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.66, 0.88), fontsize=8,
                  frameon=False)  # fmt: skip
    figure.suptitle(f"Groups of runs by {metric}: mean of each group, best first", fontsize=12)
    set_margins(figure, left=0.6, right=2.9, bottom=0.5, top=0.6, wspace=0.2, hspace=0.3)
    canvas.draw()
    return encode_png(canvas)
