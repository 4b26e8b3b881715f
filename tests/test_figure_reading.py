"""The comparison figure read as a person reads it, on the PNG's pixels: the rise after
the best epoch is visible, no panel contradicts itself, nothing is cut off.

The curves are a real Keras run (tests/fixtures/histories/big-mnist-500.json: the
big CNN on 500 MNIST digits, validation best at epoch 14, then 26% worse by epoch
30); the tests measure the PNG TensorBoard would show.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tbviz import History, diagnose
from tbviz.core.text import figure_title
from tbviz.figures.run_figure import (
    ALARM_COLOR,
    BEST_COLOR,
    VALIDATION_COLOR,
    ComparisonPlotter,
)
from tests.conftest import ROOT

REAL = ROOT / "tests" / "fixtures" / "histories" / "big-mnist-500.json"


def real_history(keys=None) -> History:
    logged = json.loads(REAL.read_text())["history"]
    return History.from_keras(
        {k: v for k, v in logged.items() if isinstance(v, list) and (keys is None or k in keys)}
    )


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def near(image: np.ndarray, color: str, tolerance: int = 40) -> np.ndarray:
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return np.abs(image - rgb).sum(axis=2) <= tolerance


def box(plotter, ax, image) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of an axes in PNG pixel rows and columns."""
    b = ax.get_window_extent()
    height = image.shape[0]
    return int(b.x0), int(height - b.y1), int(b.x1), int(height - b.y0)


def render(history: History, name: str = "cnn-500-digits"):
    diagnosis = diagnose(history, "val_loss")
    plotter = ComparisonPlotter()
    figure = plotter.render(history, diagnosis, figure_title(name, history.last_epoch, "x"))
    return plotter, diagnosis, pixels(figure.png)


def test_the_rise_after_the_best_epoch_spans_a_visible_share_of_the_figure():
    plotter, diagnosis, image = render(real_history())
    assert diagnosis.status == "overfitting"
    strip = plotter._strip.ax
    _, top, right, bottom = box(plotter, strip, image)
    best_x = strip.transData.transform((diagnosis.best_epoch + 1, 0))[0]
    region = near(image, VALIDATION_COLOR)[top:bottom, int(best_x) + 4 : right]
    rows = np.nonzero(region.any(axis=1))[0]
    rise = (rows.max() - rows.min()) / image.shape[0]
    assert rise >= 0.08, f"the rise spans {rise:.1%} of the figure's height"
    # In the loss panel above, the same rise is about one pixel: the strip is the zoom.
    assert plotter._strip.name.get_text() == "val_loss: % above its best"


def test_only_the_monitored_panel_is_shaded_and_each_star_is_its_own_best():
    plotter, diagnosis, image = render(real_history())
    shade = near(image, "#fbe4e4", tolerance=12)  # the band: 12% red on white
    loss = box(plotter, plotter._panels["loss"].ax, image)
    accuracy = box(plotter, plotter._panels["accuracy"].ax, image)
    # Thousands of band pixels in the loss panel; a few edge pixels of lines elsewhere.
    assert shade[loss[1] : loss[3], loss[0] : loss[2]].sum() > 3000
    assert shade[accuracy[1] : accuracy[3], accuracy[0] : accuracy[2]].sum() < 200
    star = near(image, BEST_COLOR)[accuracy[1] : accuracy[3], accuracy[0] : accuracy[2]]
    columns = np.nonzero(star.any(axis=0))[0]
    ax = plotter._panels["accuracy"].ax
    own_best = next(m for m in diagnosis.metrics if m.name == "accuracy").best_epoch
    x = ax.transData.transform((own_best + 1, 0))[0] - accuracy[0]
    assert columns.min() - 8 <= x <= columns.max() + 8
    assert near(image, ALARM_COLOR).sum() == 0 or diagnosis.diverged_at is not None


@pytest.mark.parametrize(
    ("keys", "name"),
    [
        (("loss", "val_loss"), "a-pytorch-loop-logging-only-its-loss-with-a-long-name"),
        (None, "sweep-20261129-101010/lr=0.001,filters=32,optimizer=adam,dropout=0.25"),
    ],
)
def test_nothing_is_cut_off(keys, name):
    plotter, _, image = render(real_history(keys), name)
    ink = np.abs(image - 255).sum(axis=2) > 60
    assert not ink[:, :2].any() and not ink[:, -2:].any(), "something touches a side"
    assert not ink[:2, :].any(), "something touches the top"
    figure = plotter._figure.bbox
    renderer = plotter._canvas.get_renderer()
    for artist in (plotter._legend, plotter._title):
        extent = artist.get_window_extent(renderer)
        assert extent.x0 >= 0 and extent.x1 <= figure.x1, artist
    assert plotter._title.get_text().endswith("— epoch 30: x")
