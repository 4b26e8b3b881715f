import io

import numpy as np
import pytest
from matplotlib.image import imread

from tbviz import History, diagnose
from tbviz.figures.run_figure import ALARM_COLOR, BEST_COLOR, grid_shape, render_comparison
from tests.conftest import TUTORIAL


def decode(png: bytes) -> np.ndarray:
    return imread(io.BytesIO(png), format="png")


def has_color(image: np.ndarray, hex_color: str, tolerance: float = 0.02) -> bool:
    rgb = np.array([int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return bool((np.abs(image[..., :3] - rgb).max(axis=-1) < tolerance).any())


@pytest.mark.parametrize(
    ("panels", "shape"),
    [(1, (1, 1)), (2, (1, 2)), (3, (2, 2)), (4, (2, 2)), (5, (2, 3)), (9, (3, 3))],
)
def test_grid_grows_like_the_tutorial(panels, shape):
    assert grid_shape(panels) == shape


def test_two_metrics_make_a_one_by_two_png():
    history = History.from_keras(TUTORIAL)
    figure = render_comparison(history, diagnose(history), title="run")
    image = decode(figure.png)
    assert figure.png.startswith(b"\x89PNG")
    assert image.shape[:2] == (figure.height, figure.width)
    assert figure.width > figure.height  # one row of two panels
    assert has_color(image, BEST_COLOR)
    assert has_color(image, ALARM_COLOR, tolerance=0.5)  # the shaded overfitting band


def test_four_metrics_make_a_two_by_two_grid():
    history = History.from_keras(
        {
            **TUTORIAL,
            "auc": [0.5] * 10,
            "val_auc": [0.6] * 10,
            "mae": [1.0] * 10,
            "val_mae": [1.0] * 10,
        }
    )
    two_by_two = render_comparison(history)
    one_by_two = render_comparison(History.from_keras(TUTORIAL))
    assert two_by_two.width == one_by_two.width
    assert two_by_two.height > 1.8 * one_by_two.height


def test_no_overfitting_band_while_improving():
    history = History.from_keras({k: v[:3] for k, v in TUTORIAL.items()})
    image = decode(render_comparison(history, diagnose(history)).png)
    red = np.array([0xD6, 0x27, 0x28]) / 255
    band = 1 - 0.12 * (1 - red)  # the band's colour blended on white
    assert not (np.abs(image[..., :3] - band).max(axis=-1) < 0.01).any()
    assert has_color(image, BEST_COLOR)


def test_diverged_run_draws_finite_part_and_marks_divergence():
    history = History.from_keras(
        {"loss": [1.0, 0.5, float("nan")], "val_loss": [1.0, 0.6, float("inf")]}
    )
    diagnosis = diagnose(history)
    image = decode(render_comparison(history, diagnosis).png)
    assert diagnosis.diverged_at == 2
    assert has_color(image, ALARM_COLOR)


def test_training_only_metrics_get_a_panel():
    figure = render_comparison(History.from_keras({"loss": [1.0, 0.5]}))
    assert decode(figure.png).shape[0] == figure.height


def test_empty_history_is_refused():
    with pytest.raises(ValueError, match="no metric"):
        render_comparison(History())
