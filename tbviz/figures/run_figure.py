"""Comparison figures: training vs validation per metric, drawn with matplotlib.

The picture every Keras tutorial draws by hand after ``fit`` (one panel per
metric, ``history.history[m]`` against ``history.history["val_" + m]``), plus
what a person would pencil onto it: the best validation epoch, the region where
the run overfits, the epoch where it diverged.

Uses matplotlib's object API on the Agg canvas only: no pyplot, no global
figure registry, so nothing leaks between calls and it is safe off the main
thread. :class:`ComparisonPlotter` keeps one figure and its artists alive and
only updates the data between epochs (cheaper than drawing anew), and encodes
a small palette PNG ready for an image summary.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from tbviz.core.diagnosis import Diagnosis
from tbviz.core.history import History, Series

TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#ff7f0e"
BEST_COLOR = "#2ca02c"
ALARM_COLOR = "#d62728"

#: Size of one panel in inches; the tutorial's 2x2 grid comes out 8 x 6 in.
PANEL_SIZE = (4.0, 3.0)
#: Colours kept in the palette PNG: plenty for lines on white, and 3-4x smaller.
PALETTE_COLORS = 64


@dataclass(frozen=True)
class RenderedFigure:
    """A PNG image and its size in pixels."""

    png: bytes
    width: int
    height: int


def figure_title(run: str, epoch: int, status: str) -> str:
    """The comparison figure's title: ``"cnn — epoch 4: overfitting"`` (``epoch`` 0-based)."""
    return f"{run} — epoch {epoch + 1}: {status}"


def grid_shape(panels: int) -> tuple[int, int]:
    """Rows and columns for ``panels`` panels: 1x2 for two, 2x2 for four, 3x3 for nine."""
    if panels < 1:
        raise ValueError("a figure needs at least one panel")
    cols = math.ceil(math.sqrt(panels))
    rows = math.ceil(panels / cols)
    return rows, cols


class _Panel:
    """The artists of one metric's panel, created once and updated every epoch."""

    def __init__(self, ax, name: str) -> None:
        self.ax = ax
        ax.set_title(name, fontsize=11)
        ax.set_xlabel("epoch", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        style = dict(marker="o", markersize=3, linewidth=1.6)
        (self.train,) = ax.plot([], [], color=TRAIN_COLOR, **style)
        (self.validation,) = ax.plot([], [], color=VALIDATION_COLOR, **style)
        (self.best,) = ax.plot(
            [], [], marker="*", markersize=11, color=BEST_COLOR, linestyle="none"
        )
        self.best_line = ax.axvline(1, color=BEST_COLOR, linestyle=":", linewidth=1.2)
        self.diverged_line = ax.axvline(1, color=ALARM_COLOR, linestyle="--", linewidth=1.2)
        self.band = ax.axvspan(1, 2, color=ALARM_COLOR, alpha=0.12, linewidth=0)

    def update(self, pair, metric, diagnosis: Diagnosis | None, last_epoch: int) -> None:
        _set_series(self.train, pair.train)
        _set_series(self.validation, pair.validation)
        has_best = metric is not None and metric.best_epoch is not None
        self.best.set_visible(has_best)
        self.best_line.set_visible(has_best)
        if has_best:
            x = metric.best_epoch + 1
            self.best.set_data([x], [metric.best_value])
            self.best_line.set_xdata([x, x])
        onset = diagnosis.onset_epoch if diagnosis else None
        self.band.set_visible(onset is not None)
        if onset is not None:
            _set_span(self.band, onset + 1, last_epoch + 1)
        diverged = diagnosis.diverged_at if diagnosis else None
        self.diverged_line.set_visible(diverged is not None)
        if diverged is not None:
            self.diverged_line.set_xdata([diverged + 1, diverged + 1])
        self.ax.relim(visible_only=True)
        self.ax.autoscale_view()


class ComparisonPlotter:
    """Draws the comparison figure again and again, reusing one matplotlib figure.

    The layout (one panel per metric) is built on the first call and rebuilt
    only when the set of metrics changes; later calls move data and marks.
    Not thread-safe: give each thread its own plotter.
    """

    def __init__(self, dpi: int = 80, palette: int | None = PALETTE_COLORS) -> None:
        self.dpi = dpi
        self.palette = palette
        self._names: tuple[str, ...] | None = None
        self._title_shown = False
        self._figure: Figure | None = None
        self._canvas: FigureCanvasAgg | None = None
        self._panels: dict[str, _Panel] = {}
        self._title = None

    def render(
        self, history: History, diagnosis: Diagnosis | None = None, title: str | None = None
    ) -> RenderedFigure:
        """Draw ``history`` (and the marks of ``diagnosis``) and return a PNG."""
        pairs = [p for p in history.pairs() if p.train is not None or p.validation is not None]
        if not pairs:
            raise ValueError("the history has no metric to draw")
        names = tuple(p.name for p in pairs)
        if names != self._names or bool(title) != self._title_shown:
            self._build(names, bool(title))
        by_name = {m.name: m for m in diagnosis.metrics} if diagnosis else {}
        last = history.last_epoch or 0
        for pair in pairs:
            self._panels[pair.name].update(pair, by_name.get(pair.name), diagnosis, last)
        if self._title is not None:
            self._title.set_text(title or "")
        self._canvas.draw()
        return self._encode()

    def _build(self, names: tuple[str, ...], with_title: bool) -> None:
        rows, cols = grid_shape(len(names))
        width_in = PANEL_SIZE[0] * cols
        height_in = PANEL_SIZE[1] * rows + (0.3 if with_title else 0.0)
        fig = Figure(figsize=(width_in, height_in), dpi=self.dpi)
        self._canvas = FigureCanvasAgg(fig)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        self._panels = {name: _Panel(ax, name) for ax, name in zip(axes, names, strict=False)}
        for ax in axes[len(names) :]:
            ax.set_visible(False)
        # One legend for the whole figure, drawn once: cheaper than one per
        # panel with loc="best", and it never covers a curve.
        handles = [
            Line2D([], [], color=TRAIN_COLOR, marker="o", markersize=3, label="training"),
            Line2D([], [], color=VALIDATION_COLOR, marker="o", markersize=3, label="validation"),
            Line2D(
                [],
                [],
                color=BEST_COLOR,
                marker="*",
                markersize=9,
                linestyle=":",
                label="best validation epoch",
            ),
            Patch(color=ALARM_COLOR, alpha=0.25, label="overfitting"),
            Line2D([], [], color=ALARM_COLOR, linestyle="--", label="diverged"),
        ]
        top_in = 0.95 if with_title else 0.65
        fig.legend(
            handles=handles,
            loc="upper center",
            ncol=len(handles),
            fontsize=8,
            frameon=False,
            bbox_to_anchor=(0.5, 1 - (0.3 if with_title else 0.02) / height_in),
        )
        self._title = (
            fig.suptitle("", fontsize=12, y=1 - 0.05 / height_in, va="top") if with_title else None
        )
        set_margins(fig, left=0.55, right=0.15, bottom=0.5, top=top_in, wspace=0.25, hspace=0.55)
        self._figure = fig
        self._names = names
        self._title_shown = with_title

    def _encode(self) -> RenderedFigure:
        return encode_png(self._canvas, self.palette)


def set_margins(
    figure: Figure,
    *,
    left: float,
    right: float,
    bottom: float,
    top: float,
    wspace: float,
    hspace: float,
) -> None:
    """Fixed margins in inches (not fractions): the same room for labels at any size.

    Cheaper than tight or constrained layout, and stable from one drawing to
    the next, so successive images do not jump around.
    """
    width, height = figure.get_size_inches()
    figure.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=wspace,
        hspace=hspace,
    )


def encode_png(canvas: FigureCanvasAgg, palette: int | None = PALETTE_COLORS) -> RenderedFigure:
    """The drawn ``canvas`` as a PNG; ``palette`` colours (a small file) or full RGBA (None)."""
    width, height = (int(v) for v in canvas.get_width_height())
    buffer = io.BytesIO()
    if palette:
        from PIL import Image  # Pillow comes with matplotlib

        rgba = np.asarray(canvas.buffer_rgba())
        image = Image.fromarray(rgba[..., :3]).quantize(
            colors=palette, method=Image.Quantize.FASTOCTREE
        )
        image.save(buffer, format="PNG", compress_level=6)
    else:
        canvas.print_png(buffer)
    return RenderedFigure(buffer.getvalue(), width, height)


def render_comparison(
    history: History,
    diagnosis: Diagnosis | None = None,
    *,
    title: str | None = None,
    dpi: int = 80,
) -> RenderedFigure:
    """Draw one training-vs-validation panel per metric and return it as PNG.

    ``diagnosis`` adds the marks: the best validation epoch of each metric, the
    run's overfitting region from its onset, and the epoch a diverged run first
    produced a non-finite loss. For repeated drawing, keep a
    :class:`ComparisonPlotter` instead.
    """
    return ComparisonPlotter(dpi=dpi).render(history, diagnosis, title)


def line_data(series: Series | None) -> tuple[np.ndarray, np.ndarray]:
    """x (1-based epochs, as people count) and y of a series for plotting.

    Non-finite values become NaN, a gap in the line; None or an empty series
    gives empty arrays.
    """
    if series is None or not len(series):
        return np.empty(0), np.empty(0)
    values = np.asarray(series.values, dtype=float)
    values[~np.isfinite(values)] = np.nan
    return np.asarray(series.epochs, dtype=float) + 1, values


def _set_series(line: Line2D, series: Series | None) -> None:
    line.set_data(*line_data(series))


def _set_span(patch, x0: float, x1: float) -> None:
    """Move an ``axvspan`` (a Rectangle in new matplotlib, a Polygon in old)."""
    if hasattr(patch, "set_x") and hasattr(patch, "set_width"):
        patch.set_x(x0)
        patch.set_width(x1 - x0)
    else:
        patch.set_xy([[x0, 0], [x0, 1], [x1, 1], [x1, 0], [x0, 0]])
