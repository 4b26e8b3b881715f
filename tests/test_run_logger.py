import contextlib
import io
import itertools
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from matplotlib.image import imread

from tbviz import RunLogger
from tbviz.core.diagnosis import DIAGNOSIS_VERSION
from tbviz.errors import LogDirError
from tbviz.live.run_logger import validate_run_name
from tbviz.logdir import metadata as md
from tbviz.logdir.reader import read_folder, read_run
from tests.conftest import TUTORIAL


def epochs_of(history):
    n = len(next(iter(history.values())))
    return [{k: v[i] for k, v in history.items()} for i in range(n)]


def test_every_epoch_is_written_and_reads_back(tmp_path):
    with RunLogger(tmp_path, "tutorial") as run:
        for epoch, logs in enumerate(epochs_of(TUTORIAL)):
            run.log_epoch(epoch, logs)
    data = read_run(str(tmp_path / "tutorial"))
    assert sorted(data.history.keys()) == sorted(TUTORIAL)
    for key, values in TUTORIAL.items():
        assert data.history[key].epochs == list(range(10))
        assert data.history[key].values == pytest.approx(values, rel=1e-6)
    # Keras' layout: same tag in train/ and validation/.
    assert set(read_folder(str(tmp_path / "tutorial" / "train"))) == {
        "epoch_loss",
        "epoch_accuracy",
    }
    assert set(read_folder(str(tmp_path / "tutorial" / "validation"))) == {
        "epoch_loss",
        "epoch_accuracy",
    }


def test_notes_only_when_the_status_changes_and_a_final_summary(tmp_path):
    with RunLogger(tmp_path, "r") as run:
        for epoch, logs in enumerate(epochs_of(TUTORIAL)):
            run.log_epoch(epoch, logs)
    data = read_run(str(tmp_path / "r"))
    notes = data.texts(md.TAG_NOTES)
    assert [step for step, _ in notes] == [0, 6]
    assert notes[0][1].startswith("**Improving**")
    assert notes[1][1].startswith("**Overfitting** since epoch 4")
    [(step, summary)] = data.texts(md.TAG_SUMMARY)
    assert step == 9 and "Final diagnosis after 10 epochs" in summary
    diagnoses = data.diagnoses()
    assert [s for s, _ in diagnoses] == list(range(10))
    assert diagnoses[-1][1]["status"] == "overfitting" and diagnoses[-1][1]["onset_epoch"] == 3


def test_diagnosis_tensor_carries_versioned_tbviz_metadata(tmp_path):
    with RunLogger(tmp_path, "r") as run:
        run.log_epoch(0, {"loss": 1.0, "val_loss": 1.2})
    tags = read_folder(str(tmp_path / "r"))
    assert tags[md.TAG_DIAGNOSIS].plugin == md.PLUGIN_NAME
    assert tags[md.TAG_FIGURE].plugin == "images"
    assert tags[md.TAG_NOTES].plugin == "text"
    assert json.loads(tags[md.TAG_DIAGNOSIS].values[0])["version"] == DIAGNOSIS_VERSION == 2
    from tbviz.logdir.reader import event_files, iter_events

    [path] = event_files(str(tmp_path / "r"))
    contents = [
        v.metadata.plugin_data.content
        for e in iter_events(path)
        for v in e.summary.value
        if v.metadata.plugin_data.plugin_name == md.PLUGIN_NAME
    ]
    assert md.parse_plugin_content(contents[0]) == {"version": 1, "kind": "diagnosis"}


def test_figure_every_thins_figures_but_always_draws_the_last_epoch(tmp_path):
    with RunLogger(tmp_path, "r", figure_every=4, figure_budget=None) as run:
        for epoch, logs in enumerate(epochs_of(TUTORIAL)):
            run.log_epoch(epoch, logs)
    data = read_run(str(tmp_path / "r"))
    images = data.images()
    # Every 4th epoch, the last, and the epochs where the status changed (its notes).
    noted = {step for step, _ in data.texts(md.TAG_NOTES)}
    assert noted and not noted <= {3, 7, 9}
    assert [step for step, *_ in images] == sorted({3, 7, 9} | noted)
    _step, width, height, png = images[-1]
    assert imread(io.BytesIO(png), format="png").shape[:2] == (height, width)


def test_every_epoch_is_drawn_without_a_budget(tmp_path):
    with RunLogger(tmp_path, "r", figure_budget=None) as run:
        for epoch, logs in enumerate(epochs_of(TUTORIAL)):
            run.log_epoch(epoch, logs)
    assert [step for step, *_ in read_run(str(tmp_path / "r")).images()] == list(range(10))


def test_over_budget_figures_wait_and_the_last_and_changed_epochs_are_always_drawn(tmp_path):
    # A tiny budget: drawing never fits, so figures wait and are dropped at
    # close, but for the first (drawn at once), the last, and the epochs where
    # the status changed (their notes), which the step slider must show.
    run = RunLogger(tmp_path, "r", figure_budget=1e-6)
    for epoch, logs in enumerate(epochs_of(TUTORIAL)):
        run.log_epoch(epoch, logs)
    run.close()
    data = read_run(str(tmp_path / "r"))
    noted = {step for step, _ in data.texts(md.TAG_NOTES)}
    steps = [step for step, *_ in data.images()]
    assert steps == sorted({0, 9} | noted)
    assert run.renderer.coalesced == 10 - len(steps)


def _spin(seconds: float) -> None:
    """Keep this thread's CPU busy for ``seconds``."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_time_charged_by_the_training_thread_comes_out_of_the_figure_budget(tmp_path):
    # Half the fit's time for tbviz, and tbviz's own logging takes a tenth of a
    # second an epoch: charged, it spends the budget and only the figures that
    # must be drawn are; the same work outside tbviz leaves figures free.
    drawn = {}
    for charged in (True, False):
        run = RunLogger(tmp_path, f"charged-{charged}", figure_budget=0.5)
        for epoch, logs in enumerate(epochs_of(TUTORIAL)):
            with run.charged() if charged else contextlib.nullcontext():
                _spin(0.1)
                run.log_epoch(epoch, logs)
        run.close()
        drawn[charged] = run.renderer.drawn
        assert (run.renderer.seconds_logging >= 0.9) is charged
    noted = {step for step, _ in read_run(str(tmp_path / "charged-True")).texts(md.TAG_NOTES)}
    assert drawn[True] == sorted({0, 9} | noted)
    assert len(drawn[False]) > len(drawn[True])


def test_figures_over_budget_are_thinned_evenly_and_written_in_order():
    from tbviz.core.history import History
    from tbviz.figures.renderer import BACKLOG, FigureRenderer

    written: list[int] = []
    renderer = FigureRenderer(lambda figure, epoch: written.append(epoch), budget=1e-6)
    history = History()
    for epoch, logs in enumerate(epochs_of(TUTORIAL) * 6):
        history.record(epoch, logs)
        renderer.submit(epoch, history, None, "r", keep=epoch == 40)
        if epoch == 0:
            assert renderer.wait_idle(timeout=60)  # the first is drawn at once
    waiting = [job.epoch for job in renderer._pending]
    assert len(waiting) <= BACKLOG and 40 in waiting and waiting[-1] == 59
    gaps = [b - a for a, b in itertools.pairwise(waiting)]
    assert max(gaps) <= 3 * min(gaps) + 3  # spread over the run, not bunched
    renderer.close()
    # Nothing fits at close but what must be drawn: the first (drawn at once),
    # the one to keep and the last; not the oldest waiting one as well.
    assert written == [0, 40, 59]


def test_the_first_epoch_is_drawn_at_once_whatever_the_budget(tmp_path):
    """A run killed after its first epoch still has a figure to show."""
    run = RunLogger(tmp_path, "r", figure_budget=1e-6)
    first, second = epochs_of(TUTORIAL)[:2]
    run.log_epoch(0, first)
    assert run.renderer.wait_idle(timeout=60)
    run.log_epoch(1, second)
    time.sleep(0.2)  # the budget is spent: epoch 1 waits for close()
    assert run.renderer.drawn == [0]
    assert [step for step, *_ in read_run(str(tmp_path / "r")).images()] == [0]
    run.close()


@pytest.mark.parametrize(
    ("broken", "message"),
    [("render", "matplotlib had a bad day"), ("__init__", "no matplotlib here")],
    ids=["a figure fails", "no plotter can be built"],
)
def test_figures_that_cannot_be_drawn_warn_once_and_logging_goes_on(
    tmp_path, monkeypatch, broken, message
):
    """A figure fails, or matplotlib fails on the drawing thread as it starts (a
    broken install, no fonts): one warning, no figure, every epoch and the
    summary still logged."""
    from tbviz.figures.run_figure import ComparisonPlotter

    def fails(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr("tbviz.figures.renderer._IDLE", [])  # no plotter left built
    monkeypatch.setattr(ComparisonPlotter, broken, fails)
    with (
        pytest.warns(RuntimeWarning, match=message) as caught,
        RunLogger(tmp_path, "r", figure_budget=None) as run,
    ):
        for epoch, logs in enumerate(epochs_of(TUTORIAL)):
            run.log_epoch(epoch, logs)
    assert len([w for w in caught if message in str(w.message)]) == 1
    data = read_run(str(tmp_path / "r"))
    assert data.images() == []
    assert data.history["val_loss"].epochs == list(range(10))
    assert data.texts(md.TAG_SUMMARY)


def run_python(script: str, *args) -> subprocess.CompletedProcess:
    """``script`` run by a fresh interpreter (``sys.argv[1:]`` = ``args``)."""
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_importing_and_logging_without_figures_leaves_matplotlib_unimported(tmp_path):
    """matplotlib (half a second) is imported by the drawing thread when a run
    first draws, not by ``import tbviz``: a script that logs without figures
    never pays it, one that draws pays it beside its first epoch."""
    script = (
        "import sys\n"
        "from tbviz import RunLogger\n"
        "assert 'matplotlib' not in sys.modules, 'imported by import tbviz'\n"
        "with RunLogger(sys.argv[1], 'plain', figure_every=0) as run:\n"
        "    for epoch in range(3):\n"
        "        run.log_epoch(epoch, {'loss': 1.0 / (epoch + 1), 'val_loss': 1.1 - epoch / 10})\n"
        "assert 'matplotlib' not in sys.modules, 'imported by logging without figures'\n"
        "with RunLogger(sys.argv[1], 'drawn') as run:\n"
        "    run.log_epoch(0, {'loss': 1.0, 'val_loss': 1.1})\n"
        "assert 'matplotlib' in sys.modules\n"
    )
    result = run_python(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert [step for step, *_ in read_run(str(tmp_path / "drawn")).images()] == [0]


def test_figures_do_not_leak(tmp_path):
    import gc

    from matplotlib.figure import Figure

    def figures():
        gc.collect()
        return sum(isinstance(o, Figure) for o in gc.get_objects())

    before = figures()
    with RunLogger(tmp_path, "r", figure_budget=None) as run:
        for epoch in range(40):
            run.log_epoch(
                epoch, {"loss": 1 / (epoch + 1), "val_loss": 1 / (epoch + 1) + 0.01 * epoch}
            )
        assert run.renderer.wait_idle(timeout=120)  # at rest, not mid-rebuild
        assert figures() - before <= 1  # one reusable figure
    assert len(read_run(str(tmp_path / "r")).images()) == 40


def test_figures_off(tmp_path):
    with RunLogger(tmp_path, "r", figure_every=0) as run:
        run.log_epoch(0, {"loss": 1.0})
    assert read_run(str(tmp_path / "r")).images() == []


def test_values_may_be_numpy_scalars_and_non_numbers_are_skipped(tmp_path):
    with RunLogger(tmp_path, "r") as run:
        run.log_epoch(0, {"loss": np.float32(0.5), "val_loss": np.array(0.7), "lr_name": "adam"})
    history = read_run(str(tmp_path / "r")).history
    assert history["loss"].values == pytest.approx([0.5])
    assert history["val_loss"].values == pytest.approx([0.7])
    assert "lr_name" not in history


def test_epochs_are_flushed_before_log_epoch_returns(tmp_path):
    run = RunLogger(tmp_path, "live")
    run.log_epoch(0, {"loss": 1.0, "val_loss": 1.1})
    run.log_epoch(1, {"loss": 0.5, "val_loss": 0.9})
    history = read_run(str(tmp_path / "live")).history  # not closed yet
    assert history["val_loss"].values == pytest.approx([1.1, 0.9])
    run.close()
    run.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        run.log_epoch(2, {"loss": 0.1})


def test_generated_run_names_are_timestamped_and_unique(tmp_path):
    first = RunLogger(tmp_path)
    second = RunLogger(tmp_path)
    assert first.run_name != second.run_name
    assert first.run_name[:8].isdigit()
    first.close()
    second.close()


@pytest.mark.parametrize("bad", ["../x", "a/../../b", "/abs/path", "C:\\x", "", "  ", "gs://b/x"])
def test_run_names_that_leave_the_logdir_are_refused(bad):
    with pytest.raises(ValueError):
        validate_run_name(bad)


def test_nested_run_names_are_allowed():
    assert validate_run_name("sweep/lr=0.01/") == "sweep/lr=0.01"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"figure_every": -1}, "figure_every"),
        ({"figure_budget": 0}, "figure_budget"),
        ({"figure_budget": 2.0}, "figure_budget"),
        ({"patience": 0}, "patience"),
        ({"monitor": ""}, "monitor"),
    ],
)
def test_bad_options_are_refused(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        RunLogger(tmp_path, "r", **kwargs)


def test_a_file_in_the_way_is_a_clear_error(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(LogDirError, match="taken"):
        RunLogger(tmp_path, "taken")


def test_bad_epoch_is_refused(tmp_path):
    with RunLogger(tmp_path, "r") as run, pytest.raises(ValueError, match="epoch"):
        run.log_epoch(-1, {"loss": 1.0})


def test_by_default_the_scalars_dashboard_gets_the_charts_a_person_reads(tmp_path):
    with RunLogger(tmp_path, "r") as run:
        for epoch, logs in enumerate(epochs_of(TUTORIAL)):
            run.log_epoch(epoch, logs)
    charts = {t for t, d in read_folder(str(tmp_path / "r")).items() if d.plugin == "scalars"}
    assert charts == {
        md.TAG_GENERALIZATION_LOSS,
        md.best_tag("val_loss"),
        md.best_tag("val_accuracy"),
        md.TAG_BEST_STEP,
    }


def test_detector_state_is_charted_as_scalars_when_asked(tmp_path):
    with RunLogger(tmp_path, "r", detector_scalars=True) as run:
        for epoch, logs in enumerate(epochs_of(TUTORIAL)):
            run.log_epoch(epoch, logs)
    tags = read_folder(str(tmp_path / "r"))
    assert md.best_tag("accuracy") in tags
    assert tags[md.TAG_EPOCHS_SINCE_BEST].values == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]
    gl = tags[md.TAG_GENERALIZATION_LOSS].values
    assert gl[-1] == pytest.approx(100 * (0.097 / 0.068 - 1), rel=1e-5)
    assert tags[md.gap_tag("loss")].values[-1] == pytest.approx(0.097 - 0.009, rel=1e-5)
    assert tags[md.gap_tag("accuracy")].steps == list(range(10))
    # Only the run folder holds them: train/ and validation/ keep Keras' tags alone.
    assert set(read_folder(str(tmp_path / "r" / "train"))) == {"epoch_loss", "epoch_accuracy"}


def test_a_run_left_open_by_an_exception_is_closed_at_exit(tmp_path):
    script = (
        "import sys\n"
        "from tbviz import RunLogger\n"
        "run = RunLogger(sys.argv[1], 'crashed', figure_budget=1e-6)\n"
        "for epoch in range(3):\n"
        "    run.log_epoch(epoch, {'loss': 1.0 / (epoch + 1), 'val_loss': 1.2 / (epoch + 1)})\n"
        "raise RuntimeError('training blew up')\n"
    )
    result = run_python(script, tmp_path)
    assert result.returncode == 1 and "training blew up" in result.stderr
    data = read_run(str(tmp_path / "crashed"))
    assert data.history["val_loss"].epochs == [0, 1, 2]
    # The first epoch's figure at once, the final one at exit.
    assert [step for step, *_ in data.images()] == [0, 2]
    [(step, summary)] = data.texts(md.TAG_SUMMARY)
    assert step == 2 and "Final diagnosis after 3 epochs" in summary
    assert summary.startswith("**Interrupted** after epoch 3")


def test_leaving_the_with_block_by_an_exception_marks_the_run_interrupted(tmp_path):
    with pytest.raises(KeyboardInterrupt), RunLogger(tmp_path, "r", figure_every=0) as run:
        run.log_epoch(0, {"loss": 1.0, "val_loss": 1.1})
        raise KeyboardInterrupt
    [(_, summary)] = read_run(str(tmp_path / "r")).texts(md.TAG_SUMMARY)
    assert summary.startswith("**Interrupted** after epoch 1")


def test_non_finite_values_keep_logging_without_warnings(tmp_path):
    import warnings

    logs = [
        {"loss": 1.0, "val_loss": 1.1},
        {"loss": 0.5, "val_loss": 0.6},
        {"loss": float("nan"), "val_loss": float("inf")},
        {"loss": float("nan"), "val_loss": float("nan")},
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with RunLogger(tmp_path, "nan", figure_budget=None) as run:
            for epoch, entry in enumerate(logs):
                run.log_epoch(epoch, entry)
    assert [str(w.message) for w in caught] == []
    data = read_run(str(tmp_path / "nan"))
    assert len(data.history["loss"].values) == 4
    assert [s for s, *_ in data.images()] == [0, 1, 2, 3]
    notes = dict(data.texts(md.TAG_NOTES))
    assert notes[2].startswith("**Diverged** at epoch 3")


def test_hparams_are_checked_before_anything_is_written(tmp_path):
    import numpy as np

    from tbviz.live.options import RunOptions

    hparams = RunOptions(hparams={"lr": np.float32(0.5), "n": np.int64(3)}).hparams
    assert hparams == {"lr": 0.5, "n": 3}
    with pytest.raises(ValueError, match="bool, int, float or str"):
        RunLogger(tmp_path, "r", hparams={"layers": [1, 2]})
    with pytest.raises(ValueError, match="dict"):
        RunLogger(tmp_path, "r", hparams=[("lr", 0.1)])
    assert not (tmp_path / "r").exists()


def test_a_run_stopped_early_ends_on_an_axis_that_fits_it(tmp_path):
    """Planned for 40 epochs, stopped after 10: the final figure spans 1..10, and
    the epoch is drawn once."""
    run = RunLogger(tmp_path, "r", figure_budget=1e-6, epochs=40)
    for epoch, logs in enumerate(epochs_of(TUTORIAL)):
        run.log_epoch(epoch, logs)
    run.close()
    ticks = run.renderer._plotter._panels["loss"].x_ticks
    assert ticks == [2, 4, 6, 8, 10]
    steps = [step for step, *_ in read_run(str(tmp_path / "r")).images()]
    assert steps[-1] == 9 and steps.count(9) == 1


def test_a_stopped_run_whose_last_epoch_was_drawn_still_ends_on_a_fitted_axis(tmp_path):
    """Figures cheap enough to be drawn as epochs end (no budget here): the run
    planned for 40 epochs draws epoch 10 on the planned axis, stops there, and
    its final figure, written after it at the same step (the one TensorBoard
    shows last, and tbviz reads), spans 1..10."""
    run = RunLogger(tmp_path, "r", figure_budget=None, epochs=40)
    for epoch, logs in enumerate(epochs_of(TUTORIAL)):
        run.log_epoch(epoch, logs)
        assert run.renderer.wait_idle(timeout=30)  # an epoch outlasts a figure
    assert run.renderer.drawn[-1] == 9
    assert run.renderer._plotter._panels["loss"].x_ticks[-1] == 40
    run.close()
    assert run.renderer._plotter._panels["loss"].x_ticks == [2, 4, 6, 8, 10]
    figures = read_run(str(tmp_path / "r")).images()
    assert [step for step, *_ in figures] == list(range(10))  # step 9's last figure kept
    image = imread(io.BytesIO(figures[-1][3]), format="png")
    orange = np.array([0xFF, 0x7F, 0x0E]) / 255  # the validation curves
    upper = image[: image.shape[0] * 3 // 5, :, :3]  # the two panels, not the strip
    columns = np.nonzero((np.abs(upper - orange).max(axis=-1) < 0.1).any(axis=0))[0]
    # On the planned axis the curves would end a quarter of the way across.
    assert columns.max() > 0.85 * image.shape[1]


def test_a_run_evaluated_every_n_steps_is_named_by_step_and_epoch(tmp_path):
    """log_eval: the detector counts evaluations, TensorBoard's axis is the global
    step, and words say "step 400 (epoch 2)"; the command reads the run back alike."""
    from tbviz.commands.discovery import diagnose_runs

    with RunLogger(tmp_path, "steps", figure_budget=None) as run:
        for i, logs in enumerate(epochs_of(TUTORIAL)):
            run.log_eval(100 * (i + 1), logs, epoch=(i + 1) / 2)
        with pytest.raises(ValueError, match="not after the last evaluation"):
            run.log_eval(1000, epochs_of(TUTORIAL)[-1])
        with pytest.raises(ValueError, match="cannot mix"):
            run.log_epoch(10, epochs_of(TUTORIAL)[-1])
    data = read_run(str(tmp_path / "steps"))
    steps = [100 * (i + 1) for i in range(10)]
    assert [step for step, *_ in data.images()] == steps
    notes = data.texts(md.TAG_NOTES)
    assert notes[-1][1].startswith("**Overfitting** since step 400 (epoch 2)")
    assert notes[-1][0] in steps
    [(step, summary)] = data.texts(md.TAG_SUMMARY)
    assert step == 1000 and "Final diagnosis after 10 evaluations" in summary
    plotter = run.renderer._plotter
    assert plotter._panels["loss"].unit.get_text() == "evaluation"  # the figure's x axis
    stored = data.diagnoses()[-1][1]
    assert stored["best_epoch"] == 3 and stored["status"] == "overfitting"  # the 4th evaluation
    [result] = diagnose_runs(str(tmp_path), None, "val_loss")
    assert result.diagnosis.best_epoch == 3 and result.diagnosis.status == "overfitting"
    assert result.diagnosis.epochs == 10


def test_a_lagging_renderer_draws_halfway_to_the_newest_never_past_a_figure_to_keep():
    """Over budget, drawing the oldest waiting figure first spends the budget on the
    first epochs; the next figure is the one halfway to the newest instead."""
    from tbviz.figures.renderer import halfway

    waiting = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]
    assert waiting[halfway(0, waiting, [False] * 10)] == 11  # 0 drawn, 19 newest
    keeps = [e == 5 for e in waiting]
    assert waiting[halfway(0, waiting, keeps)] == 5  # drawn before anything later
    assert halfway(18, [19], [False]) == 0
    assert halfway(-1, [0, 1, 2], [False] * 3) == 1


def test_a_run_hands_its_built_figure_to_the_next_run_in_the_process(tmp_path):
    """A notebook that fits again, or a sweep's trials in one process, reuse the
    finished run's plotter (its figure built and laid out) instead of a new one,
    and a run still drawing never shares its plotter."""
    first = RunLogger(tmp_path, "first")
    for epoch, logs in enumerate(epochs_of(TUTORIAL)[:3]):
        first.log_epoch(epoch, logs)
    first.close()
    plotter = first.renderer._plotter
    second, third = RunLogger(tmp_path, "second"), RunLogger(tmp_path, "third")
    for run in (second, third):
        run.log_epoch(0, epochs_of(TUTORIAL)[0])
        run.close()
    # Each drawing thread takes a plotter as it starts: one of the two runs
    # open at once gets the finished run's, the other a new one.
    assert sorted([second.renderer._plotter is plotter, third.renderer._plotter is plotter]) == [
        False,
        True,
    ]
    assert [step for step, *_ in read_run(str(tmp_path / "second")).images()] == [0]
