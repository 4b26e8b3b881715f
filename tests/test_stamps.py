"""Tick labels stamped from images look where and as matplotlib draws them."""

import numpy as np
import pytest
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


def _title_canvas(title: str):
    figure = Figure(figsize=(8, 0.5), dpi=80)
    canvas = FigureCanvasAgg(figure)
    text = figure.suptitle(title, fontsize=12, y=0.9, va="top", animated=True)
    canvas.draw()
    return canvas, text


@pytest.mark.parametrize(
    "title",
    [
        "20261130-122159 — epoch 1: improving",
        "a_very-long run name (lr=1e-3, bs 64) — step 1,200 (epoch 2.4): plateau",
        "Ünïcode näme — epoch 3: overfitting",
    ],
)
def test_a_line_stamped_word_by_word_matches_the_line_matplotlib_draws(title):
    direct, text = _title_canvas(title)
    text.draw(direct.get_renderer())
    stamps = LabelStamps()
    earlier, before = _title_canvas(title.replace("epoch", "after"))
    stamps.draw_line(before, earlier.get_renderer())  # the words but one are known now
    assert len(stamps) == 0  # a line of new words is drawn whole
    stamped, text2 = _title_canvas(title)
    stamps.draw_line(text2, stamped.get_renderer())
    assert len(stamps) == len(title.split())  # stamped, word by word
    a, b = _ink(direct), _ink(stamped)
    assert a.sum() > 300
    assert abs(a.sum() - b.sum()) < 0.02 * a.sum()
    ys, xs = np.nonzero(a > 0.3)
    ys2, xs2 = np.nonzero(b > 0.3)
    assert abs(xs.min() - xs2.min()) <= 1 and abs(xs.max() - xs2.max()) <= 1
    assert abs(ys.min() - ys2.min()) <= 1 and abs(ys.max() - ys2.max()) <= 1
    assert np.abs(a - b).max() < 0.8


def test_the_next_epochs_title_renders_only_its_new_word():
    stamps = LabelStamps()
    canvas, text = _title_canvas("cnn — epoch 1: improving")
    stamps.draw_line(text, canvas.get_renderer())
    assert len(stamps) == 0  # the first line: drawn whole, its words noted
    text.set_text("cnn — epoch 2: improving")
    stamps.draw_line(text, canvas.get_renderer())
    assert len(stamps) == 5  # one new word: stamped
    text.set_text("cnn — epoch 3: improving")
    stamps.draw_line(text, canvas.get_renderer())
    assert len(stamps) == 6  # "3:" only
    text.set_text("other — epoch 4: improving")
    stamps.draw_line(text, canvas.get_renderer())
    assert len(stamps) == 6  # two new words: drawn whole


def test_a_right_to_left_line_is_drawn_whole():
    """Hebrew words are shaped and ordered across spaces: no word-by-word layout."""
    title = "ריצה — epoch 1: improving"
    direct, text = _title_canvas(title)
    text.draw(direct.get_renderer())
    stamps = LabelStamps()
    earlier, before = _title_canvas(title)
    stamps.draw_line(before, earlier.get_renderer())  # its words are known now
    stamped, text2 = _title_canvas(title)
    stamps.draw_line(text2, stamped.get_renderer())
    assert len(stamps) == 0
    assert np.array_equal(_ink(direct), _ink(stamped))
