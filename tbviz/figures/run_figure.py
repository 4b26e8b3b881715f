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

import dataclasses
import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.transforms import ScaledTranslation

from tbviz.core.diagnosis import LEARNING_RATE_KEYS, Diagnosis
from tbviz.core.history import History, Series, base_name
from tbviz.core.rendered import RenderedFigure
from tbviz.figures.scales import Range, epoch_extent, epoch_ticks, grow_range
from tbviz.figures.stamps import LabelStamps

TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#ff7f0e"
BEST_COLOR = "#2ca02c"
ALARM_COLOR = "#d62728"

#: Size of one panel in inches; the tutorial's 2x2 grid comes out 8 x 6 in.
PANEL_SIZE = (4.0, 3.0)
#: Height of the strip under the panels (the monitored metric's distance from its best).
STRIP_HEIGHT = 1.3
#: Colours kept in the palette PNG: plenty for lines on white, and 3-4x smaller.
PALETTE_COLORS = 64


#: Whether this process has drawn a figure yet (matplotlib's caches are warm).
_WARM = False


def grid_shape(panels: int) -> tuple[int, int]:
    """Rows and columns for ``panels`` panels: 1x2 for two, 2x2 for four, 3x3 for nine."""
    if panels < 1:
        raise ValueError("a figure needs at least one panel")
    cols = math.ceil(math.sqrt(panels))
    rows = math.ceil(panels / cols)
    return rows, cols


class _Panel:
    """The artists of one metric's panel, created once and updated every epoch.

    The curves, the marks and the y axis' labels and grid lines are
    *animated* artists: a full draw (frame, title, epoch axis) leaves them out,
    so it can be kept as a background. The y axis is drawn on top of it only
    when its range changes, and the curves on top of that every epoch.
    """

    def __init__(self, ax, suffix: str = "") -> None:
        self.ax = ax
        self.suffix = suffix
        # Texts at fixed offsets rather than set_title/set_xlabel: matplotlib
        # measures every tick label to place those, on every full draw.
        self.name = ax.text(
            0.5, 1.0, "", transform=_offset(ax, 0, 4), ha="center", va="bottom", fontsize=11
        )
        self.unit = ax.text(
            0.5, 0.0, "epoch", transform=_offset(ax, 0, -16), ha="center", va="top", fontsize=9
        )
        # The epoch axis' grid and labels are drawn by hand too: matplotlib's
        # tick objects cost a first figure 30 of its 90 ms.
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_autoscale_on(False)
        x_axis = ax.get_xaxis_transform()  # x in data, y in axes fractions
        (self.x_grid,) = ax.plot(
            [], [], color="#b0b0b0", alpha=0.3, linewidth=0.8, transform=x_axis
        )
        self._x_label_transform = x_axis + ScaledTranslation(0, -4 / 72, ax.figure.dpi_scale_trans)
        self.x_labels: list = []
        self.x_ticks: list[int] = []
        y_axis = ax.get_yaxis_transform()  # x in axes fractions, y in data
        (self.grid,) = ax.plot(
            [], [], color="#b0b0b0", alpha=0.3, linewidth=0.8, transform=y_axis, animated=True
        )
        self._label_transform = y_axis + ScaledTranslation(-4 / 72, 0, ax.figure.dpi_scale_trans)
        self.labels: list = []
        style = dict(marker="o", markersize=3, linewidth=1.6, animated=True)
        self.band = epoch_band(ax, color=ALARM_COLOR, alpha=0.12, animated=True)
        self.best_line = ax.axvline(
            1, color=BEST_COLOR, linestyle=":", linewidth=1.2, animated=True
        )
        self.diverged_line = ax.axvline(
            1, color=ALARM_COLOR, linestyle="--", linewidth=1.2, animated=True
        )
        (self.train,) = ax.plot([], [], color=TRAIN_COLOR, **style)
        (self.validation,) = ax.plot([], [], color=VALIDATION_COLOR, **style)
        (self.best,) = ax.plot(
            [], [], marker="*", markersize=11, color=BEST_COLOR, linestyle="none", animated=True
        )
        self.range: Range | None = None
        self._extent: int | None = None
        self._y_shown: Range | None = None

    def update(
        self, pair, metric, diagnosis: Diagnosis | None, last_epoch: int, shade: bool = True
    ) -> None:
        """Move the curves and marks to this epoch and grow the y range if they left it.

        ``shade``: this panel shows the run's overfitting region (the monitored
        metric's panel); the others show only their own best epoch.
        """
        _set_series(self.train, pair.train)
        _set_series(self.validation, pair.validation)
        has_best = metric is not None and metric.best_epoch is not None
        self.best.set_visible(has_best)
        self.best_line.set_visible(has_best)
        if has_best:
            x = metric.best_epoch + 1
            self.best.set_data([x], [metric.best_value])
            self.best_line.set_xdata([x, x])
        onset = diagnosis.onset_epoch if diagnosis and shade else None
        self.band.set_visible(onset is not None)
        if onset is not None:
            set_span(self.band, onset + 1, last_epoch + 1)
        diverged = diagnosis.diverged_at if diagnosis else None
        self.diverged_line.set_visible(diverged is not None)
        if diverged is not None:
            self.diverged_line.set_xdata([diverged + 1, diverged + 1])
        values = np.concatenate([self.train.get_ydata(), self.validation.get_ydata()])
        values = values[np.isfinite(values)]
        if values.size:
            self.range = grow_range(self.range, float(values.min()), float(values.max()))

    def set_extent(self, extent: int) -> int:
        """Lay the epoch axis out from 1 to ``extent`` (part of the full draw)."""
        if extent != self._extent:
            self.ax.set_xlim(0.5, extent + 0.5)
            self.x_ticks = epoch_ticks(extent)
            _place_labels(
                self.ax,
                self.x_labels,
                [(t, 0) for t in self.x_ticks],
                [str(t) for t in self.x_ticks],
                transform=self._x_label_transform,
                ha="center",
                va="top",
            )
            self.x_grid.set_data(
                np.repeat(self.x_ticks, 3), np.tile([0.0, 1.0, np.nan], len(self.x_ticks))
            )
            self._extent = extent
        return extent

    def set_y_range(self) -> Range | None:
        """Move the y limits, labels and grid lines to the current range."""
        if self.range is not None and self.range != self._y_shown:
            self.ax.set_ylim(self.range.low, self.range.high)
            ticks = self.range.ticks()
            labels = [label + self.suffix for label in self.range.labels()]
            _place_labels(
                self.ax,
                self.labels,
                [(0, t) for t in ticks],
                labels,
                transform=self._label_transform,
                ha="right",
                va="center",
                animated=True,
            )
            self.grid.set_data(np.tile([0.0, 1.0, np.nan], len(ticks)), np.repeat(ticks, 3))
            self._y_shown = self.range
        return self._y_shown

    def draw_y_axis(self, stamps: LabelStamps) -> None:
        self.ax.draw_artist(self.grid)
        renderer = self.ax.figure.canvas.get_renderer()
        for text in self.labels:
            stamps.draw(text, renderer)

    def draw_marks(self) -> None:
        for artist in (
            self.band, self.best_line, self.diverged_line, self.train, self.validation, self.best
        ):  # fmt: skip
            if artist.get_visible():
                self.ax.draw_artist(artist)

    def marks(self) -> tuple[bool, bool, bool]:
        """Which optional marks show: best epoch, overfitting band, divergence line."""
        return (
            self.best.get_visible(),
            self.band.get_visible(),
            self.diverged_line.get_visible(),
        )


class _Strip(_Panel):
    """The monitored validation metric as its distance from its best, in percent:
    a zoom that makes a rise of a few percent after the best epoch readable when
    the panel above spans the first epochs' large values. Its range is fitted to
    the epochs from just before the best on (and only grows until a new best);
    earlier epochs leave it at the top."""

    def __init__(self, ax) -> None:
        super().__init__(ax, suffix="%")
        self.name.set_fontsize(9)
        self.name.set_animated(True)  # named once the run has a best, over the frame
        self._best_seen: int | None = None

    def update_from(self, history: History, diagnosis: Diagnosis, last_epoch: int) -> None:
        series = history.get(diagnosis.monitor)
        best = diagnosis.best_value
        if series is None or best is None or not math.isfinite(best) or best == 0:
            self.range = None
            self.train.set_data([], [])
            self.validation.set_data([], [])
            return
        sign = 1.0 if diagnosis.direction == "min" else -1.0
        values = [sign * (v - best) / abs(best) * 100 for v in series.values]
        distance = Series(list(series.epochs), values)
        marks = dataclasses.replace(diagnosis, best_value=0.0)
        fitted = self.range
        self.update(_Distance(distance), marks, diagnosis, last_epoch)
        self.range = fitted  # the strip fits its own range, below
        from_epoch = max(0, (diagnosis.best_epoch or 0) - 2)
        near = [
            v
            for e, v in zip(series.epochs, values, strict=True)
            if e >= from_epoch and math.isfinite(v)
        ]
        if diagnosis.best_epoch == last_epoch and self.range is not None:
            return  # still improving: nothing past the best to fit, nor to redraw
        if diagnosis.best_epoch != self._best_seen:  # a new best: fit the range anew
            self.range, self._best_seen = None, diagnosis.best_epoch
        self.range = grow_range(self.range, 0.0, max(max(near, default=0.0), 1.0))
        self.name.set_text(f"{diagnosis.monitor}: % {'above' if sign > 0 else 'below'} its best")


@dataclasses.dataclass(frozen=True)
class _Distance:
    """A MetricPair-like view with only a validation curve (the strip's)."""

    validation: Series
    train: None = None


class ComparisonPlotter:
    """Draws the comparison figure again and again, reusing one matplotlib figure.

    The layout (one panel per metric) is built on the first call and rebuilt
    only when the set of metrics changes. The frame (axes, epoch axis, panel
    names) is drawn once; the legend over it once per set of marks it names
    (and kept, for the next run in the process); the y axes over that when a
    range changes (ranges snap to round numbers and grow with room to spare,
    see :mod:`tbviz.figures.scales`). Each epoch copies those layers back and
    draws the curves, marks and title on top: several times cheaper than a
    full draw. Not thread-safe: give each thread its own plotter.
    """

    def __init__(self, dpi: int = 80, palette: int | None = PALETTE_COLORS) -> None:
        self.dpi = dpi
        self.palette = palette
        self._names: tuple[str, ...] | None = None
        self._count = 0
        self._unit = "epoch"
        self._title_shown = False
        self._figure: Figure | None = None
        self._canvas: FigureCanvasAgg | None = None
        self._panels: dict[str, _Panel] = {}
        self._strip: _Strip | None = None
        self._strip_shown = False
        self._legend_rows = 1
        self._title = None
        self._legend = None
        self._legend_marks: tuple | None = None
        # Three layers, each drawn over the one before and kept: the frame (a
        # full draw), the legend (one layer per legend shown), the y axes; the
        # curves go on top of the last.
        self._frame = self._background = None
        self._labelled: dict[tuple, object] = {}
        self._stamps = LabelStamps()  # the y axes' labels and the title's words
        self._frame_key: tuple | None = None
        self._legend_key: tuple | None = None
        self._y_key: tuple | None = None
        self._palettes: dict[tuple, object] = {}  # see encode_png
        #: Full draws so far (the rest were incremental); for benchmarks and tests.
        self.full_draws = 0

    def warm_up(self) -> None:
        """Pay matplotlib's one-time costs early: fonts, glyph caches, Pillow, a layout.

        The first time in a process, builds, draws and encodes the most common
        figure (two panels, loss and one metric, with a title and the strip
        of the monitored metric), which the first real figure reuses if it
        has that shape. Later runs in the same process skip it: the caches it
        fills are per process, and a figure built ahead may not have the
        run's shape. The renderer's thread does this when a run starts, while
        the first epoch trains.
        """
        global _WARM
        if _WARM:
            return
        self._build(2, True, True)
        self._canvas.draw()
        self._encode()
        _WARM = True

    def start_run(self) -> None:
        """Forget the last run's ranges and keep the figure built for the next run.

        A plotter reused by a later run in the same process (a notebook that
        fits again, a sweep's trials) keeps its layout and its drawn frame if
        the run has the same shape: its first figure then costs about 10 ms
        instead of 55-70. The ranges grow with each run's values, so they start
        again from nothing.
        """
        for panel in [*self._panels.values(), *([self._strip] if self._strip else [])]:
            panel.range = None
        if self._strip is not None:
            self._strip._best_seen = None

    def render(
        self,
        history: History,
        diagnosis: Diagnosis | None = None,
        title: str | None = None,
        *,
        epochs: int | None = None,
        unit: str = "epoch",
    ) -> RenderedFigure:
        """Draw ``history`` (and the marks of ``diagnosis``) and return a PNG.

        ``unit`` names the x axis: ``"epoch"``, or ``"evaluation"`` for a run
        evaluated every N steps (its points are evaluations).

        ``epochs``, the number of epochs the run plans, lays the epoch axis
        out once for the whole run (cheaper, and the step slider shows the
        curves growing across a fixed axis); without it the axis grows in
        round lengths (5, 10, 20, 30, 50, ...) as epochs come.
        """
        pairs = comparison_pairs(history)
        if not pairs:
            raise ValueError("the history has no metric to draw")
        if diagnosis is not None:  # the metric the verdict speaks of comes first
            monitored = base_name(diagnosis.monitor)
            pairs.sort(key=lambda p: p.name != monitored)
        names = tuple(p.name for p in pairs)
        strip = diagnosis is not None and diagnosis.monitor in history
        if (len(names), bool(title), strip) != (self._count, self._title_shown, self._strip_shown):
            self._build(len(names), bool(title), strip)
        if unit != self._unit:
            for panel in [*self._panels.values(), *([self._strip] if self._strip else [])]:
                panel.unit.set_text(unit)
            self._unit = unit
            self._frame_key = None
        if names != self._names:
            self._panels = dict(zip(names, self._panels.values(), strict=True))
            for name, panel in self._panels.items():
                panel.name.set_text(name)
                panel.range = None
            self._names = names
            self._frame_key = None
        by_name = {m.name: m for m in diagnosis.metrics} if diagnosis else {}
        last = history.last_epoch or 0
        extent = epoch_extent(last + 1) if not epochs or last >= epochs else epochs
        monitored = base_name(diagnosis.monitor) if diagnosis else None
        for pair in pairs:
            panel = self._panels[pair.name]
            panel.update(pair, by_name.get(pair.name), diagnosis, last, pair.name == monitored)
        if self._strip is not None:
            self._strip.update_from(history, diagnosis, last)
        every = [*self._panels.values(), *([self._strip] if self._strip else [])]
        marks = tuple(map(any, zip(*(p.marks() for p in every), strict=True)))
        key = (names, tuple(p.set_extent(extent) for p in every))
        if key != self._frame_key:
            self._canvas.draw()  # animated artists are left out of it
            self._frame = self._canvas.copy_from_bbox(self._figure.bbox)
            self._frame_key = key
            self._legend_key = None
            self._labelled = {}
            self.full_draws += 1
        # The legend and the strip's name change a few times a run (a best
        # epoch, then an overfitting band, appear): drawn over the frame as a
        # layer of their own, kept for each legend the frame has had (the next
        # run in this process shows the same ones), they cost a third of
        # laying the frame out again, and nothing the second time.
        legend_key = (marks, self._strip.name.get_text() if self._strip else None)
        if legend_key != self._legend_key:
            if legend_key not in self._labelled:
                if marks != self._legend_marks:
                    self._set_legend(*marks)
                self._canvas.restore_region(self._frame)
                self._figure.draw_artist(self._legend)
                if self._strip is not None:
                    self._strip.ax.draw_artist(self._strip.name)
                self._labelled[legend_key] = self._canvas.copy_from_bbox(self._figure.bbox)
            self._legend_key = legend_key
            self._y_key = None
        y_key = tuple(p.set_y_range() for p in every)
        if y_key != self._y_key:
            self._canvas.restore_region(self._labelled[self._legend_key])
            for panel in every:
                panel.draw_y_axis(self._stamps)
            self._background = self._canvas.copy_from_bbox(self._figure.bbox)
            self._y_key = y_key
        else:
            self._canvas.restore_region(self._background)
        for panel in every:
            panel.draw_marks()
        if self._title is not None:
            self._title.set_text(fit_text(title or "", self._figure.get_size_inches()[0], 12))
            self._stamps.draw_line(self._title, self._canvas.get_renderer())
        return self._encode()

    def _build(self, count: int, with_title: bool, with_strip: bool = False) -> None:
        """A figure of ``count`` panels (named later, by :meth:`render`), and below
        them, with ``with_strip``, the monitored metric's distance from its best."""
        rows, cols = grid_shape(count)
        width_in = PANEL_SIZE[0] * cols
        legend_rows = 2 if cols == 1 else 1
        height_in = (
            PANEL_SIZE[1] * rows
            + (0.3 if with_title else 0.0)
            + (STRIP_HEIGHT + 0.2 if with_strip else 0.0)
            + 0.18 * (legend_rows - 1)
        )
        fig = Figure(figsize=(width_in, height_in), dpi=self.dpi)
        self._canvas = FigureCanvasAgg(fig)
        ratios = [PANEL_SIZE[1]] * rows + ([STRIP_HEIGHT] if with_strip else [])
        grid = fig.add_gridspec(len(ratios), cols, height_ratios=ratios)
        axes = [fig.add_subplot(grid[r, c]) for r in range(rows) for c in range(cols)]
        self._panels = {str(i): _Panel(ax) for i, ax in enumerate(axes[:count])}
        for ax in axes[count:]:
            ax.set_visible(False)
        self._strip = _Strip(fig.add_subplot(grid[rows, :])) if with_strip else None
        self._strip_shown = with_strip
        self._legend_rows = legend_rows
        self._title = (
            fig.suptitle("", fontsize=12, y=1 - 0.05 / height_in, va="top", animated=True)
            if with_title
            else None
        )
        top = (0.95 if with_title else 0.65) + 0.18 * (legend_rows - 1)
        # hspace is a share of the mean axes height: 0.8 in between rows, for the
        # "epoch" label of one row and the panel title of the next.
        inner, n = height_in - top - 0.5, len(ratios)
        set_margins(
            fig,
            left=0.6,
            right=0.15,
            bottom=0.5,
            top=top,
            wspace=0.3,
            hspace=0.8 * n / (inner - 0.8 * (n - 1)) if n > 1 else 0.0,
        )
        self._figure = fig
        self._count = count
        self._unit = "epoch"
        self._names = None
        self._title_shown = with_title
        self._legend = None
        self._legend_marks: tuple | None = None
        self._frame_key = None

    def _set_legend(self, best: bool, overfitting: bool, diverged: bool) -> None:
        """One legend for the whole figure, naming only the marks it shows."""
        handles = [
            Line2D([], [], color=TRAIN_COLOR, marker="o", markersize=3, label="training"),
            Line2D([], [], color=VALIDATION_COLOR, marker="o", markersize=3, label="validation"),
        ]
        if best:
            handles.append(
                Line2D(
                    [],
                    [],
                    color=BEST_COLOR,
                    marker="*",
                    markersize=9,
                    linestyle=":",
                    label="best validation epoch",
                )
            )
        if overfitting:
            handles.append(Patch(color=ALARM_COLOR, alpha=0.25, label="overfitting"))
        if diverged:
            handles.append(Line2D([], [], color=ALARM_COLOR, linestyle="--", label="diverged"))
        if self._legend is not None:
            self._legend.remove()
        self._legend_marks = (best, overfitting, diverged)
        height_in = self._figure.get_size_inches()[1]
        self._legend = self._figure.legend(
            handles=handles,
            loc="upper center",
            ncol=math.ceil(len(handles) / self._legend_rows),
            fontsize=8,
            frameon=False,
            bbox_to_anchor=(0.5, 1 - (0.3 if self._title_shown else 0.02) / height_in),
        )
        self._legend.set_animated(True)  # a layer over the frame: see render()

    def _encode(self) -> RenderedFigure:
        # The colours a figure holds are set by its marks (the legend) and its
        # strip's name; the panels' count is in the key so a palette is never
        # reused across layouts.
        key = (self._count, self._legend_key)
        return encode_png(self._canvas, self.palette, chosen=self._palettes, key=key)


def comparison_pairs(history: History) -> list:
    """The metrics worth a training-vs-validation panel: those logged for both
    splits (a learning rate or a metric without a validation twin is not a
    comparison); if none is, those with a validation curve, else all."""
    pairs = [p for p in history.pairs() if p.name not in LEARNING_RATE_KEYS]
    for keep in (
        lambda p: p.train is not None and p.validation is not None,
        lambda p: p.validation is not None,
        lambda p: p.train is not None,
    ):
        chosen = [p for p in pairs if keep(p)]
        if chosen:
            return chosen
    return []


def fit_text(text: str, width_in: float, points: float) -> str:
    """``text`` shortened in the middle to fit ``width_in`` inches at ``points`` size."""
    room = int(width_in * 72 / (points * 0.6)) - 2
    if len(text) <= room:
        return text
    head, sep, tail = text.rpartition(" — ")  # a figure title: the run name gives way
    if not sep:
        head, tail = text, ""
    keep = max(room - len(sep) - len(tail) - 1, 4)
    return head[: keep // 2] + "…" + head[len(head) - (keep - keep // 2) :] + sep + tail


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


def encode_png(
    canvas: FigureCanvasAgg,
    palette: int | None = PALETTE_COLORS,
    *,
    chosen: dict | None = None,
    key: object = None,
) -> RenderedFigure:
    """The drawn ``canvas`` as a PNG; ``palette`` colours (a small file) or full RGBA (None).

    Choosing the palette is most of the encoding's cost (2.5 of 3.5 ms for a
    two-panel figure). Given ``chosen`` (a dict kept by the caller), the
    palette chosen for ``key`` is kept there, and a later figure of the same
    ``key`` is mapped onto it, nearest colour each pixel: 1.3 ms instead of
    3.5. ``key`` must name what decides a figure's colours (for a run's
    figure: which marks it shows); the curves move, their colours and their
    blends do not. On a 40-epoch run the colours come out as close to the
    drawn ones as a palette chosen afresh (mean error 3.30 against 3.33, of
    765, over the 40 figures).
    """
    from PIL import Image  # Pillow comes with matplotlib

    width, height = (int(v) for v in canvas.get_width_height())
    buffer = io.BytesIO()
    # Read in place (a numpy slice copies 4x slower), as drawn: ``print_png``
    # would draw the figure again, without its animated layers (the curves).
    rgba = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    if palette:
        rgb = rgba.convert("RGB")
        known = chosen.get(key) if chosen is not None else None
        if known is not None:
            image = rgb.quantize(palette=known, dither=Image.Dither.NONE)
        else:
            image = rgb.quantize(colors=palette, method=Image.Quantize.FASTOCTREE)
            if chosen is not None:  # the palette alone, on a 1-pixel image
                chosen[key] = Image.new("P", (1, 1))
                chosen[key].putpalette(image.getpalette())
    else:
        image = rgba
    # zlib level 3 is twice as fast as 6 for 15% more bytes.
    image.save(buffer, format="PNG", compress_level=3)
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


def _place_labels(ax, pool: list, positions: list, texts: list[str], **style) -> None:
    """Show ``texts`` at ``positions`` with the text artists of ``pool`` (tick labels
    drawn by hand), adding artists made with ``style`` as needed and hiding the rest."""
    while len(pool) < len(texts):
        pool.append(ax.text(0, 0, "", fontsize=8, **style))
    for i, text in enumerate(pool):
        text.set_visible(i < len(texts))
        if i < len(texts):
            text.set_position(positions[i])
            text.set_text(texts[i])


def _offset(ax, x_points: float, y_points: float):
    """Axes coordinates moved by a fixed number of points (1/72 in)."""
    return ax.transAxes + ScaledTranslation(x_points / 72, y_points / 72, ax.figure.dpi_scale_trans)


def _set_series(line: Line2D, series: Series | None) -> None:
    line.set_data(*line_data(series))


def epoch_band(ax, **style) -> Rectangle:
    """A band over the axes' full height, placed later with :func:`set_span`
    (in epochs). What ``axvspan`` draws, without its data-limit update, which
    walks the patch's Bézier segments: 0.5-2 ms a band, a panel built."""
    band = Rectangle((0, 0), 1, 1, transform=ax.get_xaxis_transform(), linewidth=0, **style)
    ax.add_artist(band)
    return band


def set_span(band: Rectangle, x0: float, x1: float) -> None:
    """Place an :func:`epoch_band` from ``x0`` to ``x1``."""
    band.set_x(x0)
    band.set_width(x1 - x0)
