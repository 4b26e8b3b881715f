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

A one-line title that changes a little every epoch ("cnn — epoch 4:
improving", then "epoch 5") is stamped word by word
(:meth:`LabelStamps.draw_line`): only the new word is rendered. Drawn whole,
such a title was half of a live figure's cost (about 5 ms of 10 for 37
characters).
"""

from __future__ import annotations

import math
import unicodedata

import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.text import Text
from matplotlib.transforms import IdentityTransform

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
        self._widths: dict[tuple, tuple] = {}  # words' metrics, by font and dpi
        self._word: Text | None = None  # places one word of a line

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

    def draw_line(self, text: Text, renderer: RendererAgg) -> None:
        """Draw a one-line ``text`` (unrotated; aligned ``top`` or ``baseline``)
        as matplotlib would, from one stamp per word.

        Words are laid out left to right by their advance widths (measured
        once per word), on the baseline matplotlib puts a line of the font's
        usual extent on: within a pixel of its own layout. Text of several
        lines, rotated, otherwise aligned, or in a script written right to
        left or with combining marks (whose words shape across spaces) is
        drawn whole.
        """
        line = text.get_text()
        if not text.get_visible() or not line:
            return
        va = text.get_verticalalignment()
        if (
            "\n" in line
            or text.get_rotation()
            or va not in ("top", "baseline")
            or not _words_stand_alone(line)
        ):
            text.draw(renderer)
            return
        prop = text.get_fontproperties()
        words = line.split(" ")
        space = self._width("x x", prop, renderer) - self._width("xx", prop, renderer)
        widths = [self._width(w, prop, renderer) if w else 0.0 for w in words]
        total = sum(widths) + space * (len(words) - 1)
        x, y = text.get_transform().transform(text.get_unitless_position())
        x -= {"left": 0.0, "center": total / 2, "right": total}[text.get_horizontalalignment()]
        if va == "top":  # a line's box is at least as tall as "lp" (Text._get_layout)
            _, height, descent = self._metrics("lp", prop, renderer)
            y -= height - descent
        word = self._word
        if word is None or word.get_figure() is not text.get_figure():
            word = self._word = Text(transform=IdentityTransform())  # display pixels
            word.set_figure(text.get_figure())
        word.set_color(text.get_color())
        word.set_fontproperties(prop)
        word.set_horizontalalignment("left")
        word.set_verticalalignment("baseline")
        for piece, width in zip(words, widths, strict=True):
            if piece:
                word.set_text(piece)
                word.set_position((x, y))
                self.draw(word, renderer)
            x += width + space

    def _width(self, text: str, prop, renderer: RendererAgg) -> float:
        return self._metrics(text, prop, renderer)[0]

    def _metrics(self, text: str, prop, renderer: RendererAgg) -> tuple[float, float, float]:
        """Width, height and descent of ``text`` as matplotlib lays it out, measured
        once per text, font and dpi."""
        key = (text, hash(prop), renderer.dpi)
        metrics = self._widths.get(key)
        if metrics is None:
            if len(self._widths) >= self.limit:
                self._widths.clear()
            metrics = self._widths[key] = renderer.get_text_width_height_descent(
                text, prop, ismath=False
            )
        return metrics

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


def _words_stand_alone(line: str) -> bool:
    """No character of ``line`` shapes across words or reorders them: no
    right-to-left script, no combining mark."""
    return line.isascii() or not any(
        unicodedata.bidirectional(c) in ("R", "AL", "AN") or unicodedata.combining(c) for c in line
    )
