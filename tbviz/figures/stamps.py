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
        # By look: (image, where the anchor is in it (x, y), the text's advance width).
        self._images: dict[tuple, tuple[np.ndarray, int, int, float]] = {}
        self._scratch: RendererAgg | None = None  # where a new label is rendered
        self._metrics: dict[tuple, tuple[float, float, float]] = {}  # by text, font, dpi
        self._seen: set[str] = set()  # words of the lines drawn so far
        self._word: Text | None = None  # places one word of a line

    def __len__(self) -> int:
        return len(self._images)

    def draw(self, text: Text, renderer: RendererAgg) -> None:
        """Draw ``text`` (unrotated, as tick labels are) with ``renderer`` as
        ``text.draw`` would, from its image."""
        if not text.get_visible() or not text.get_text():
            return
        image, dx, dy, _ = self._stamp(text, renderer)
        x, y = text.get_transform().transform(text.get_unitless_position())
        self._paste(image, round(x) - dx, round(y) - dy, renderer)

    def _stamp(self, text: Text, renderer: RendererAgg) -> tuple[np.ndarray, int, int, float]:
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
        return stamp

    @staticmethod
    def _paste(image: np.ndarray, x: int, y: int, renderer: RendererAgg) -> None:
        gc = renderer.new_gc()
        try:
            renderer.draw_image(gc, x, y, image)
        finally:
            gc.restore()

    def draw_line(self, text: Text, renderer: RendererAgg) -> None:
        """Draw a one-line ``text`` (unrotated; aligned ``top`` or ``baseline``)
        as matplotlib would, from one stamp per word, once its words are known.

        Words are laid out left to right by their advance widths, on the
        baseline matplotlib puts a line of the font's usual extent on: within
        a pixel of its own layout. Rendering a word alone costs about as much
        as a whole line (matplotlib's layout has a large fixed cost), so a
        line with more than one word not seen in an earlier line (the first
        figure, a one-off figure, another run's name) is drawn whole. Text of
        several lines, rotated, otherwise aligned, or in a script written
        right to left or with combining marks (whose words shape across
        spaces) is always drawn whole.
        """
        line = text.get_text()
        if not text.get_visible() or not line:
            return
        va = text.get_verticalalignment()
        words = line.split(" ")
        new = {w for w in words if w} - self._seen
        if len(self._seen) >= self.limit:  # an epoch number a line: start again
            self._seen.clear()
        self._seen.update(w for w in words if w)
        if (
            len(new) > 1
            or "\n" in line
            or text.get_rotation()
            or va not in ("top", "baseline")
            or not _words_stand_alone(line)
        ):
            text.draw(renderer)
            return
        x, y = text.get_transform().transform(text.get_unitless_position())
        prop = text.get_fontproperties()
        if va == "top":  # a line's box is at least as tall as "lp" (Text._get_layout)
            _, height, descent = self._measure("lp", prop, renderer)
            y -= height - descent
        word = self._word
        if word is None or word.get_figure() is not text.get_figure():
            word = self._word = Text(transform=IdentityTransform())  # display pixels
            word.set_figure(text.get_figure())
        word.set_color(text.get_color())
        word.set_fontproperties(prop)
        word.set_horizontalalignment("left")
        word.set_verticalalignment("baseline")
        # A new word is rendered from the canvas' left edge: a word of a line
        # that fits the canvas fits there too (its stamp is the same anywhere).
        word.set_position((2 * _MARGIN, y))
        stamps = []
        for piece in words:
            if piece:
                word.set_text(piece)
                stamps.append(self._stamp(word, renderer))
            else:
                stamps.append(None)
        space = self._measure("x x", prop, renderer)[0] - self._measure("xx", prop, renderer)[0]
        total = sum(s[3] for s in stamps if s) + space * (len(words) - 1)
        x -= {"left": 0.0, "center": total / 2, "right": total}[text.get_horizontalalignment()]
        for stamp in stamps:
            if stamp is not None:
                image, dx, dy, _ = stamp
                self._paste(image, round(x) - dx, round(y) - dy, renderer)
            x += (stamp[3] if stamp else 0.0) + space

    def _measure(self, text: str, prop, renderer: RendererAgg) -> tuple[float, float, float]:
        """Width, height and descent of ``text`` as matplotlib lays it out, measured
        once per text, font and dpi."""
        key = (text, hash(prop), renderer.dpi)
        metrics = self._metrics.get(key)
        if metrics is None:
            if len(self._metrics) >= self.limit:
                self._metrics.clear()
            metrics = self._metrics[key] = renderer.get_text_width_height_descent(
                text, prop, ismath=False
            )
        return metrics

    def _render(self, text: Text, renderer: RendererAgg) -> tuple[np.ndarray, int, int, float]:
        """``text`` drawn by matplotlib near where it goes (its anchor on a whole
        pixel), on a transparent canvas the size of ``renderer``'s, and cut
        out: the image (rows bottom up, as ``draw_image`` takes them), where
        the text's anchor is in it, and the text's advance width."""
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
        image = pixels[height - y1 : height - y0, x0:x1][::-1].copy()
        return image, x - x0, y - y0, box.width


def _words_stand_alone(line: str) -> bool:
    """No character of ``line`` shapes across words or reorders them: no
    right-to-left script, no combining mark."""
    return line.isascii() or not any(
        unicodedata.bidirectional(c) in ("R", "AL", "AN") or unicodedata.combining(c) for c in line
    )
