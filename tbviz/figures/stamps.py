"""Tick labels rendered once, then copied into place.

matplotlib 3.11 renders text glyph by glyph: a label such as ``0.25`` costs
about 0.6 ms each time it is drawn. The comparison figure draws its y axes
again whenever a range grows, with the same few labels (``0.2``, ``0.4``,
``1%``), and a fit that keeps every core busy gets few figures, each of which
changes a range: their labels were a third of such a figure's cost. A
:class:`LabelStamps` renders each label once into a small transparent image
and later copies it where the label goes (about 0.08 ms), at the nearest
whole pixel, which is within half a pixel of where matplotlib puts it.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

#: Space around a label in its image, in pixels (antialiasing spills over).
_MARGIN = 3


class LabelStamps:
    """Images of the labels drawn so far, by text, font, colour, alignment and dpi.

    One per plotter (a plotter is used by one thread), so the images live as
    long as the plotter: a later run in the same process finds its labels
    ready. At most ``limit`` images are kept; past that the cache starts again.
    """

    def __init__(self, limit: int = 512) -> None:
        self.limit = limit
        self._images: dict[tuple, tuple[np.ndarray, float, float]] = {}

    def __len__(self) -> int:
        return len(self._images)

    def draw(self, text: Text, renderer) -> None:
        """Draw ``text`` (unrotated, as tick labels are) with ``renderer`` as
        ``text.draw`` would, from its image."""
        if not text.get_visible() or not text.get_text():
            return
        key = (
            text.get_text(),
            hash(text.get_fontproperties()),
            str(text.get_color()),
            text.get_horizontalalignment(),
            text.get_verticalalignment(),
            renderer.dpi,
        )
        stamp = self._images.get(key)
        if stamp is None:
            if len(self._images) >= self.limit:
                self._images.clear()
            stamp = self._images[key] = _render(text, renderer)
        image, dx, dy = stamp
        x, y = text.get_transform().transform(text.get_unitless_position())
        gc = renderer.new_gc()
        try:
            renderer.draw_image(gc, round(x - dx), round(y - dy), image)
        finally:
            gc.restore()


def _render(text: Text, renderer) -> tuple[np.ndarray, float, float]:
    """``text`` alone on a transparent canvas just big enough: the image (rows
    bottom up, as ``draw_image`` takes them) and where the text's anchor is in it."""
    x, y = text.get_transform().transform(text.get_unitless_position())
    box = text.get_window_extent(renderer)
    width = math.ceil(box.width) + 2 * _MARGIN
    height = math.ceil(box.height) + 2 * _MARGIN
    figure = Figure(figsize=(width / renderer.dpi, height / renderer.dpi), dpi=renderer.dpi)
    figure.patch.set_alpha(0)
    canvas = FigureCanvasAgg(figure)
    # The anchor where the text's box starts _MARGIN pixels in from the corner.
    ax_, ay_ = _MARGIN + (x - box.x0), _MARGIN + (y - box.y0)
    figure.text(
        ax_ / width,
        ay_ / height,
        text.get_text(),
        fontproperties=text.get_fontproperties(),
        color=text.get_color(),
        ha=text.get_horizontalalignment(),
        va=text.get_verticalalignment(),
    )
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[::-1].copy()
    return image, ax_, ay_
