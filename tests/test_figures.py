import io

import numpy as np
import pytest
from matplotlib.image import imread

from tbviz import History, diagnose
from tbviz.figures.run_figure import (
    ALARM_COLOR,
    BEST_COLOR,
    TRAIN_COLOR,
    VALIDATION_COLOR,
    ComparisonPlotter,
    grid_shape,
    render_comparison,
)
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


def legend_texts(plotter: ComparisonPlotter) -> list[str]:
    return [t.get_text() for t in plotter._figure.legends[0].get_texts()]


def test_the_legend_names_only_the_marks_drawn():
    plotter = ComparisonPlotter()
    improving = History.from_keras({k: v[:3] for k, v in TUTORIAL.items()})
    plotter.render(improving, diagnose(improving), title="run")
    assert legend_texts(plotter) == ["training", "validation", "best validation epoch"]
    history = History.from_keras(TUTORIAL)
    plotter.render(history, diagnose(history), title="run")
    assert "overfitting" in legend_texts(plotter)
    assert "diverged" not in legend_texts(plotter)


def test_a_one_point_figure_has_whole_epoch_ticks():
    plotter = ComparisonPlotter()
    plotter.render(History.from_keras({"loss": [0.7], "val_loss": [0.8]}), title="run")
    panel = plotter._panels["loss"]
    assert panel.x_ticks == [1, 2, 3, 4, 5]
    assert [t.get_text() for t in panel.x_labels if t.get_visible()] == ["1", "2", "3", "4", "5"]


def test_tiny_values_get_short_labels_inside_the_figure():
    tiny = [1e-3 * 0.5**i for i in range(8)]
    history = History.from_keras({"mse": tiny, "val_mse": [v * 1.2 for v in tiny]})
    plotter = ComparisonPlotter()
    plotter.render(history, title="run")
    renderer = plotter._canvas.get_renderer()
    labels = [t for t in plotter._panels["mse"].labels if t.get_visible()]
    assert labels and all(len(t.get_text()) <= 7 for t in labels)
    for text in labels:
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0, f"{text.get_text()!r} is clipped at the figure's edge"


def test_most_epochs_only_move_the_curves():
    """A 40-epoch run lays its axes out a few times, not every epoch, and the
    incremental figure shows the curves drawn since."""
    losses = [2.0 / (i + 1) + 0.01 * i for i in range(40)]
    full = {
        "loss": [v * 0.8 for v in losses],
        "val_loss": losses,
        "accuracy": [1 - v / 3 for v in losses],
        "val_accuracy": [1 - v / 2.5 for v in losses],
    }
    plotter = ComparisonPlotter()
    images = []
    for epoch in range(1, 41):
        history = History.from_keras({k: v[:epoch] for k, v in full.items()})
        images.append(decode(plotter.render(history, diagnose(history), "run", epochs=40).png))
    assert plotter.full_draws <= 3
    assert images[0].shape == images[-1].shape
    orange = np.array([int(VALIDATION_COLOR[i : i + 2], 16) for i in (1, 3, 5)]) / 255

    def validation_pixels(image):
        return int((np.abs(image[..., :3] - orange).max(axis=-1) < 0.05).sum())

    assert validation_pixels(images[-1]) > 5 * validation_pixels(images[0])


def test_only_training_vs_validation_metrics_get_a_panel():
    """A learning rate (Keras 3 logs ``epoch_learning_rate``) or a metric without a
    validation twin is not a comparison."""
    history = History.from_keras(
        {
            "loss": [1.0, 0.5, 0.3],
            "val_loss": [1.1, 0.7, 0.6],
            "learning_rate": [1e-3, 1e-3, 1e-4],
            "grad_norm": [3.0, 2.0, 1.0],
        }
    )
    plotter = ComparisonPlotter()
    plotter.render(history, diagnose(history, "val_loss"), title="run")
    assert list(plotter._panels) == ["loss"]


def test_the_metric_the_verdict_speaks_of_comes_first():
    """CatBoost's ``Logloss`` (judged by ``--metric val_Logloss``) or a run judged by
    accuracy: its panel opens the figure, beside the strip drawn for it; loss
    first otherwise."""
    curves = {"Accuracy": [0.8, 0.9, 0.95], "val_Accuracy": [0.7, 0.75, 0.74],
              "Logloss": [0.6, 0.4, 0.2], "val_Logloss": [0.65, 0.55, 0.6]}  # fmt: skip
    history = History.from_keras(curves)
    plotter = ComparisonPlotter()
    plotter.render(history, diagnose(history, "val_Logloss"), title="catboost_info")
    assert list(plotter._panels) == ["Logloss", "Accuracy"]
    plotter.render(history, diagnose(history, "val_Accuracy"), title="catboost_info")
    assert list(plotter._panels) == ["Accuracy", "Logloss"]
    keras = History.from_keras(TUTORIAL)
    plotter.render(keras, diagnose(keras, "val_accuracy"), title="run")
    assert list(plotter._panels) == ["accuracy", "loss"]
    plotter.render(keras, None, title="run")
    assert list(plotter._panels) == ["loss", "accuracy"]


def test_a_plotter_reused_by_a_later_run_draws_what_a_fresh_one_draws():
    """The renderer hands a finished run's plotter to the next run in the
    process: nothing of the first run (its ranges, its strip's metric) may
    show in the second run's figures."""
    first = History.from_keras(
        {"loss": [9.0, 4.0, 3.0], "val_loss": [9.5, 5.0, 6.0], "accuracy": [0.1, 0.2, 0.3],
         "val_accuracy": [0.1, 0.3, 0.2]}
    )  # fmt: skip
    second = {k: [v / 10 for v in vs] for k, vs in TUTORIAL.items()}
    reused = ComparisonPlotter()
    reused.render(first, diagnose(first, "val_loss"), "first", epochs=12)
    reused.start_run()
    fresh = ComparisonPlotter()
    for epoch in (1, 4, 10):
        prefix = History.from_keras({k: v[:epoch] for k, v in second.items()})
        diagnosis = diagnose(prefix, "val_accuracy")
        expected = decode(fresh.render(prefix, diagnosis, "second", epochs=12).png)
        got = decode(reused.render(prefix, diagnosis, "second", epochs=12).png)
        assert np.array_equal(got, expected), f"epoch {epoch}: the first run shows through"


def test_kept_legend_layers_show_each_epochs_own_marks():
    """The legend is drawn over the frame once per set of marks and kept: a
    second run that reaches the same legends (a best epoch, then an
    overfitting band) reuses them, and every figure still equals a fresh
    plotter's (compared in full colour: each plotter keeps the palettes it
    chose, see the next test)."""
    first = {k: [v * 1.5 for v in vs] for k, vs in TUTORIAL.items() if "loss" in k}
    reused = ComparisonPlotter(palette=None)
    for epoch in range(1, 11):
        prefix = History.from_keras({k: v[:epoch] for k, v in first.items()})
        reused.render(prefix, diagnose(prefix), "first", epochs=10)
    layers = len(reused._labelled)
    assert layers >= 2  # a legend without, then with, the overfitting band
    reused.start_run()
    second = {k: vs for k, vs in TUTORIAL.items() if "loss" in k}
    fresh = ComparisonPlotter(palette=None)
    for epoch in range(1, 11):
        prefix = History.from_keras({k: v[:epoch] for k, v in second.items()})
        diagnosis = diagnose(prefix)
        expected = decode(fresh.render(prefix, diagnosis, "second", epochs=10).png)
        got = decode(reused.render(prefix, diagnosis, "second", epochs=10).png)
        assert np.array_equal(got, expected), f"epoch {epoch}: a kept legend is stale"
    assert len(reused._labelled) == layers  # the second run drew no legend anew


def test_a_kept_palette_keeps_the_colours_drawn():
    """A figure with the same marks as an earlier one is mapped onto the palette
    chosen then (cheaper than choosing again): over a run whose overfitting band
    widens from one epoch to six, every figure stays as close to the colours
    matplotlib drew as a palette chosen for that figure alone, and shows the
    curves' and the band's colours."""
    exact, kept, afresh = (
        ComparisonPlotter(palette=None),
        ComparisonPlotter(),
        ComparisonPlotter(),
    )
    drawn = 0
    for epoch in range(1, 11):
        prefix = History.from_keras({k: v[:epoch] for k, v in TUTORIAL.items()})
        diagnosis = diagnose(prefix)
        truth = decode(exact.render(prefix, diagnosis, "run", epochs=10).png)[..., :3]
        got = decode(kept.render(prefix, diagnosis, "run", epochs=10).png)[..., :3]
        afresh._palettes.clear()
        alone = decode(afresh.render(prefix, diagnosis, "run", epochs=10).png)[..., :3]
        error, fresh_error = np.abs(got - truth).mean(), np.abs(alone - truth).mean()
        assert error <= 1.25 * fresh_error + 1e-3, f"epoch {epoch}: {error} vs {fresh_error}"
        for color in (TRAIN_COLOR, VALIDATION_COLOR, BEST_COLOR):
            assert has_color(got, color, tolerance=0.06), f"epoch {epoch}: no {color}"
        drawn += 1
    assert diagnosis.status == "overfitting"
    # the band: a red tint over white, as drawn
    red, green, blue = truth[..., 0], truth[..., 1], truth[..., 2]
    band = truth[(red > 0.95) & (red - green > 0.05) & (np.abs(green - blue) < 0.01)]
    assert len(band) > 1000
    tint = "#" + "".join(f"{round(v * 255):02x}" for v in np.median(band, axis=0))
    assert has_color(got, tint)
    assert len(kept._palettes) < drawn  # palettes were kept and used again
