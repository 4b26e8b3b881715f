"""Comparison figures: training vs validation per metric, drawn with matplotlib.

The picture every Keras tutorial draws by hand after ``fit`` (one panel per
metric, ``history.history[m]`` against ``history.history["val_" + m]``), plus
what a person would pencil onto it: the best validation epoch, the region where
the run overfits, the epoch where it diverged.

Uses matplotlib's object API on the Agg canvas only: no pyplot, no global
figure registry, so nothing leaks between calls and it is safe off the main
thread. Returns PNG bytes ready for an image summary.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tbviz.diagnosis import Diagnosis
from tbviz.history import History, Series

TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#ff7f0e"
BEST_COLOR = "#2ca02c"
ALARM_COLOR = "#d62728"

#: Size of one panel in inches; the tutorial's 2x2 grid comes out 8 x 6 in.
PANEL_SIZE = (4.0, 3.0)


@dataclass(frozen=True)
class RenderedFigure:
    """A PNG image and its size in pixels."""

    png: bytes
    width: int
    height: int


def grid_shape(panels: int) -> tuple[int, int]:
    """Rows and columns for ``panels`` panels: 1x2 for two, 2x2 for four, 3x3 for nine."""
    if panels < 1:
        raise ValueError("a figure needs at least one panel")
    cols = math.ceil(math.sqrt(panels))
    rows = math.ceil(panels / cols)
    return rows, cols


def render_comparison(
    history: History,
    diagnosis: Diagnosis | None = None,
    *,
    title: str | None = None,
    dpi: int = 80,
) -> RenderedFigure:
    """Draw one training-vs-validation panel per metric and return it as PNG.

    ``diagnosis`` adds the marks: the best validation epoch of each metric, the
    overfitting region of the monitored metric from its onset, and the epoch a
    diverged run first produced a non-finite loss.
    """
    pairs = [p for p in history.pairs() if p.train is not None or p.validation is not None]
    if not pairs:
        raise ValueError("the history has no metric to draw")
    rows, cols = grid_shape(len(pairs))
    width_in, height_in = PANEL_SIZE[0] * cols, PANEL_SIZE[1] * rows + (0.3 if title else 0.0)
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    by_name = {m.name: m for m in diagnosis.metrics} if diagnosis else {}
    for index, (ax, pair) in enumerate(zip(axes, pairs, strict=False)):
        _draw_series(ax, pair.train, "training", TRAIN_COLOR)
        _draw_series(ax, pair.validation, "validation", VALIDATION_COLOR)
        metric = by_name.get(pair.name)
        if metric is not None and metric.best_epoch is not None:
            x = metric.best_epoch + 1
            ax.axvline(x, color=BEST_COLOR, linestyle=":", linewidth=1.2)
            ax.plot(
                [x],
                [metric.best_value],
                marker="*",
                markersize=11,
                color=BEST_COLOR,
                linestyle="none",
                label=f"best (epoch {x})",
            )
        if diagnosis is not None:
            _draw_alarms(ax, diagnosis, history.last_epoch)
        ax.set_title(pair.name, fontsize=11)
        ax.set_xlabel("epoch", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best" if index else "upper right", framealpha=0.7)
    for ax in axes[len(pairs) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=12)
    # Fixed margins in inches: cheaper than tight or constrained layout, and
    # the same for every epoch, so successive images do not jump around.
    top_in = 0.75 if title else 0.4
    fig.subplots_adjust(
        left=0.55 / width_in,
        right=1 - 0.15 / width_in,
        bottom=0.5 / height_in,
        top=1 - top_in / height_in,
        wspace=0.25,
        hspace=0.55,
    )
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    width, height = canvas.get_width_height()
    return RenderedFigure(buffer.getvalue(), int(width), int(height))


def _draw_series(ax, series: Series | None, label: str, color: str) -> None:
    if series is None or len(series) == 0:
        return
    x = [e + 1 for e in series.epochs]
    y = [v if math.isfinite(v) else math.nan for v in series.values]
    ax.plot(x, y, marker="o", markersize=3, linewidth=1.6, color=color, label=label)


def _draw_alarms(ax, diagnosis: Diagnosis, last_epoch: int | None) -> None:
    """Shade the run's overfitting region (from the onset) and mark where it diverged."""
    if diagnosis.onset_epoch is not None and last_epoch is not None:
        ax.axvspan(
            diagnosis.onset_epoch + 1,
            last_epoch + 1,
            color=ALARM_COLOR,
            alpha=0.12,
            label="overfitting",
        )
    if diagnosis.diverged_at is not None:
        ax.axvline(
            diagnosis.diverged_at + 1,
            color=ALARM_COLOR,
            linestyle="--",
            linewidth=1.2,
            label=f"diverged (epoch {diagnosis.diverged_at + 1})",
        )
