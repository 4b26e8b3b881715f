"""Tick labels rendered once, then copied into place.

matplotlib 3.11 renders text glyph by glyph: a label such as ``0.25`` costs
about 0.6 ms each time it is drawn. The comparison figure draws its y axes
again whenever a range grows, with the same few labels (``0.2``, ``0.4``,
``1%``), and a fit that keeps every core busy gets few figures, each of which
changes a range: their labels were a third of such a figure's cost. A
:class:`LabelStamps` has matplotlib draw each label once, on a transparent
canvas, cuts it out, and later copies that image where the label goes
(about 0.08 ms). Its anchor is put on the nearest whole pixel, the first
time and every time: within half a pixel of where matplotlib would draw it,
and the same image wherever the label is first drawn.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
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
        self._images: dict[tuple, tuple[np.ndarray, int, int]] = {}
        self._scratch: RendererAgg | None = None  # where a new label is rendered

    def __len__(self) -> int:
        return len(self._images)

    def draw(self, text: Text, renderer: RendererAgg) -> None:
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
            stamp = self._images[key] = self._render(text, renderer)
        image, dx, dy = stamp
        x, y = text.get_transform().transform(text.get_unitless_position())
        gc = renderer.new_gc()
        try:
            renderer.draw_image(gc, round(x) - dx, round(y) - dy, image)
        finally:
            gc.restore()

    def _render(self, text: Text, renderer: RendererAgg) -> tuple[np.ndarray, int, int]:
        """``text`` drawn by matplotlib near where it goes (its anchor on a whole
        pixel), on a transparent canvas the size of ``renderer``'s, and cut
        out: the image (rows bottom up, as ``draw_image`` takes them) and where
        the text's anchor is in it."""
        size = (int(renderer.width), int(renderer.height), renderer.dpi)
        scratch = self._scratch
        if scratch is None or (int(scratch.width), int(scratch.height), scratch.dpi) != size:
            scratch = self._scratch = RendererAgg(*size)
        scratch.clear()
        # Drawn with its anchor on a whole pixel, as every copy is placed: the
        # image is the same wherever the label is first drawn.
        transform, position = text.get_transform(), text.get_position()
        x, y = (round(v) for v in transform.transform(text.get_unitless_position()))
        text.set_position(transform.inverted().transform((x, y)))
        try:
            text.draw(scratch)
            box = text.get_window_extent(renderer)
        finally:
            text.set_position(position)
        height = size[1]
        x0, x1 = max(math.floor(box.x0) - _MARGIN, 0), min(math.ceil(box.x1) + _MARGIN, size[0])
        y0, y1 = max(math.floor(box.y0) - _MARGIN, 0), min(math.ceil(box.y1) + _MARGIN, height)
        pixels = np.asarray(scratch.buffer_rgba())  # rows top down
        return pixels[height - y1 : height - y0, x0:x1][::-1].copy(), x - x0, y - y0
