"""Tick labels stamped from images look where and as matplotlib draws them."""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tbviz.figures.stamps import LabelStamps


def _axes_with_labels(color="black"):
    figure = Figure(figsize=(3, 2), dpi=80)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_axes([0.3, 0.2, 0.6, 0.7])
    canvas.draw()
    labels = [
        ax.text(-0.04, y, text, transform=ax.transAxes, fontsize=8, ha="right", va="center",
                color=color, animated=True)
        for y, text in ((0.05, "0.25"), (0.5, "12.5%"), (0.93, "-1e-05"))
    ]  # fmt: skip
    return canvas, ax, labels


def _ink(canvas) -> np.ndarray:
    """How dark each pixel is (0 white, 1 black)."""
    rgb = np.asarray(canvas.buffer_rgba())[..., :3].astype(float) / 255
    return 1 - rgb.mean(axis=-1)


def test_a_stamped_label_matches_the_text_matplotlib_draws():
    direct, ax, labels = _axes_with_labels()
    for text in labels:
        ax.draw_artist(text)
    stamped, _, labels2 = _axes_with_labels()
    stamps = LabelStamps()
    renderer = stamped.get_renderer()
    for text in labels2:
        stamps.draw(text, renderer)
    a, b = _ink(direct), _ink(stamped)
    assert a.sum() > 50  # the labels are there
    # The same ink, within half a pixel's shift of each glyph's edges.
    assert abs(a.sum() - b.sum()) < 0.02 * a.sum()
    ys, xs = np.nonzero(a > 0.3)
    ys2, xs2 = np.nonzero(b > 0.3)
    assert abs(xs.min() - xs2.min()) <= 1 and abs(xs.max() - xs2.max()) <= 1
    assert abs(ys.min() - ys2.min()) <= 1 and abs(ys.max() - ys2.max()) <= 1
    assert np.abs(a - b).max() < 0.8  # no glyph missing or misplaced


def test_each_label_is_rendered_once_per_look():
    canvas, _, labels = _axes_with_labels()
    stamps = LabelStamps()
    renderer = canvas.get_renderer()
    for _ in range(3):
        for text in labels:
            stamps.draw(text, renderer)
    assert len(stamps) == 3
    labels[0].set_color("red")  # another colour is another image
    stamps.draw(labels[0], renderer)
    assert len(stamps) == 4
    red = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    assert ((red[..., 0] > 200) & (red[..., 1] < 80)).any()


def test_the_cache_is_bounded():
    canvas, _, labels = _axes_with_labels()
    stamps = LabelStamps(limit=4)
    renderer = canvas.get_renderer()
    for i in range(10):
        labels[0].set_text(f"{i / 10:g}")
        stamps.draw(labels[0], renderer)
    assert len(stamps) <= 4
