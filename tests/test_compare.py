"""``tbviz compare`` and ``tbviz annotate`` on a real log directory: tbviz runs, a
Keras TensorBoard run, an empty run, an unrelated folder and a corrupt file."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from tbviz.commands.cli import main
from tbviz.logdir import metadata
from tbviz.logdir.reader import read_run


@pytest.fixture
def work(mixed_logdir, tmp_path):
    """A private copy: compare and annotate write into it."""
    copy = tmp_path / "runs"
    shutil.copytree(mixed_logdir, copy)
    return copy


def python(script: str) -> str:
    """What ``script`` prints, run in a fresh interpreter (forking beside this test
    process's threads is not safe); its standard error if it fails."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_compare_writes_figures_and_leaderboard_into_compare_run(work, capsys):
    assert main(["compare", str(work), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "skipping run 'corrupt'" in captured.err and "events.out.tfevents.1.host" in captured.err
    lines = captured.out.splitlines()
    assert "sweep/better" in lines[1] and "overfit" in lines[2]

    compare = read_run(str(work / "_compare"))
    ((step, payload),) = compare.json_values(metadata.TAG_LEADERBOARD_JSON)
    assert step == 0 and payload["metric"] == "val_loss"
    rows = payload["runs"]
    assert [r["run"] for r in rows] == ["sweep/better", "overfit", "plain-keras"]
    assert rows[0]["hparams"] == {"lr": 0.01, "optimizer": "adam"}
    assert rows[1]["status"] == "overfitting" and rows[1]["onset_epoch"] == 3

    ((_, markdown),) = compare.texts(metadata.TAG_LEADERBOARD)
    # A table where it fits the Text dashboard, else a list: the runs best first.
    names = ["sweep/better", "overfit", "plain"]
    places = [markdown.index(name) for name in names]
    assert places == sorted(places)
    assert "lr=0\\.01" in markdown and "optimizer=adam" in markdown

    ((_, width, height, overlay),) = compare.images(metadata.TAG_OVERLAY)
    image = png(overlay)
    assert image.size == (width, height) and width > 600
    # The best run is drawn in the first run colour (matplotlib's C0 blue).
    rgb = image.convert("RGB")
    assert any(
        rgb.getpixel((x, y)) == (31, 119, 180)
        for x in range(0, width, 2)
        for y in range(0, height, 2)
    )
    pages = compare.root[metadata.TAG_SMALL_MULTIPLES].values[0]
    assert len(pages) == 3  # width, height, one page
    assert png(pages[2]).size == (int(pages[0]), int(pages[1]))
    assert int(pages[0]) >= 2 * 250  # two panels of at least 250 px side by side


def test_figure_labels_drop_what_run_names_share_but_never_a_knob():
    from tbviz.core.text import display_names

    sweep = "sweep-20261129-101500/"
    shown = display_names([f"{sweep}lr=0.01,filters=16", f"{sweep}lr=0.001,filters=16"])
    assert shown == {
        f"{sweep}lr=0.01,filters=16": "lr=0.01",
        f"{sweep}lr=0.001,filters=16": "lr=0.001",
    }
    shown = display_names(["sweep/lr=0.1-seed0001", "sweep/lr=0.01-seed0002"])
    assert list(shown.values()) == ["lr=0.1-seed0001", "lr=0.01-seed0002"]
    assert display_names(["logs/version_0", "logs/version_1"])["logs/version_1"] == "version_1"
    assert display_names(["only-run"]) == {"only-run": "only-run"}
    long = display_names(["a/" + "x" * 60 + "lr=1", "b/" + "x" * 60 + "lr=2"])
    assert all(label.endswith(("lr=1", "lr=2")) and len(label) <= 36 for label in long.values())


def test_one_runs_large_early_loss_does_not_squash_the_overlay():
    import numpy as np
    from matplotlib.figure import Figure

    from tbviz.figures.cross_run import _set_limits

    epochs = np.arange(1, 41)
    calm = [np.column_stack([epochs, 0.4 + 0.1 * np.cos(epochs / (5 + i))]) for i in range(4)]
    wild = np.column_stack([epochs, np.r_[25.0, 6.0, 0.45 + 0.05 * np.sin(epochs[2:])]])
    ax = Figure().add_subplot()
    assert _set_limits(ax, [*calm, wild])  # values left the axis...
    low, high = ax.get_ylim()
    assert high < 1.0 and low > 0.2  # ...and the curves fill it
    assert ax.get_xlim() == (0.5, 40.5)  # the epochs the runs have, not a round 50
    edge = [line for line in ax.get_lines() if line.get_marker() == "^"]
    assert len(edge) == 1 and list(edge[0].get_xdata()) == [1.0, 2.0]  # marked where


def test_small_multiples_pages_are_alike_and_name_every_run(tmp_path):
    from tbviz.commands.discovery import diagnose_runs
    from tbviz.figures.cross_run import render_small_multiples
    from tests.conftest import log_history

    for i in range(5):
        history = {"loss": [1, 0.5, 0.4], "val_loss": [1, 0.6, 0.5 + i / 10]}
        log_history(tmp_path, f"sweep-2026/lr={i}", history, figure_every=0)
    results = diagnose_runs(str(tmp_path), None, "val_loss", keep_history=True)
    pages = render_small_multiples(results, "val_loss", per_page=4)
    assert len(pages) == 2
    assert {(p.width, p.height) for p in pages} == {(pages[0].width, pages[0].height)}
    assert pages[0].width >= 2 * 256
    first, last = (png(p.png).convert("L") for p in pages)
    # The last page holds one run: the three empty panels are painted white.
    assert sum(first.histogram()[:200]) > 2 * sum(last.histogram()[:200])
    # ...but its panel keeps the epoch labels the blank one below it took away:
    # just under the panel's bottom frame (the lowest long black line on the
    # page) there is text, as under the first page's bottom row.
    import numpy as np

    def under_frame(page):
        pixels = np.asarray(page)
        frames = [y for y in range(pixels.shape[0]) if (pixels[y] < 60).sum() > 150]
        bottom = frames[-1]
        return int((pixels[bottom + 2 : bottom + 16] < 128).sum())

    assert under_frame(last) > 10
    assert under_frame(last) >= under_frame(first) / 3


def test_compare_again_adds_a_step_and_runs_filter(work, capsys):
    assert main(["compare", str(work), "--no-progress"]) == 0
    assert main(["compare", str(work), "--runs", "^sweep/", "--no-progress"]) == 0
    assert "_compare (step 1)" in capsys.readouterr().out
    history = read_run(str(work / "_compare")).json_values(metadata.TAG_LEADERBOARD_JSON)
    assert [step for step, _ in history] == [0, 1]
    assert [r["run"] for r in history[1][1]["runs"]] == ["sweep/better"]
    assert history[1][1]["runs_filter"] == "^sweep/"
    # _compare itself is never a run to rank.
    assert main(["leaderboard", str(work), "--json"]) == 0
    assert "_compare" not in capsys.readouterr().out


def test_a_compare_run_written_into_a_sub_folder_is_no_run_of_the_folder_above(work, capsys):
    assert main(["compare", str(work / "sweep"), "--no-progress"]) == 0
    assert (work / "sweep" / "_compare").is_dir()
    capsys.readouterr()
    assert main(["leaderboard", str(work), "--json"]) == 0
    out, err = capsys.readouterr()
    assert not [r["run"] for r in json.loads(out) if "_compare" in r["run"]]
    assert "sweep/_compare" not in err  # not even warned about as a folder without scalars
    from tests.writers import tab_rows

    assert not [run for run in tab_rows(work) if "_compare" in run]


def test_compare_out_files(work, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    args = ["compare", str(work), "--no-progress"]
    for name in ("board.json", "board.md", "overlay.png"):
        args += ["--out", str(out / name)]
    assert main(args) == 0
    rows = json.loads((out / "board.json").read_text())["runs"]
    assert rows[0]["run"] == "sweep/better"
    assert (out / "board.md").read_text().startswith("**Leaderboard**")
    assert png((out / "overlay.png").read_bytes()).size[0] > 600


def test_compare_bad_out_fails_before_writing(work, tmp_path, capsys):
    assert main(["compare", str(work), "--out", str(tmp_path / "x.pdf")]) == 2
    assert ".json" in capsys.readouterr().err
    assert main(["compare", str(work), "--out", str(tmp_path / "nope" / "x.md")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (work / "_compare").exists()


def test_annotate_fills_in_plain_keras_runs_once(work, capsys):
    before = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()}
    assert main(["annotate", str(work), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "annotated plain-keras" in captured.out
    assert "1 annotated, 0 brought up to date, 2 already current, 1 skipped" in captured.out
    assert "corrupt" in captured.err
    # Nothing that existed was touched; only new files appeared.
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())

    run = read_run(str(work / "plain-keras"))
    diagnoses = run.diagnoses()
    assert [step for step, _ in diagnoses] == [0, 1]
    assert diagnoses[-1][1]["epochs"] == 2
    notes = run.texts(metadata.TAG_NOTES)
    assert notes and "tbviz annotate" in notes[0][1]
    ((step, width, height, figure),) = run.images(metadata.TAG_FIGURE)
    assert step == 1 and png(figure).size == (width, height)
    assert run.texts(metadata.TAG_SUMMARY)[0][0] == 1

    files = sorted(str(p) for p in work.rglob("*") if p.is_file())
    assert main(["annotate", str(work), "--no-progress"]) == 0
    assert "0 annotated, 0 brought up to date, 3 already" in capsys.readouterr().out
    assert sorted(str(p) for p in work.rglob("*") if p.is_file()) == files


def test_an_interrupted_annotation_leaves_nothing(work, monkeypatch):
    import tbviz.commands.annotate as annotate_module

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(annotate_module.ComparisonPlotter, "render", explode)
    with pytest.raises(KeyboardInterrupt):
        annotate_module.annotate(str(work), runs="plain")
    leftovers = [
        n for n in os.listdir(work / "plain-keras") if not os.path.isdir(work / "plain-keras" / n)
    ]
    assert leftovers == []
    assert read_run(str(work / "plain-keras")).diagnoses() == []


def test_truncated_files_and_a_damaged_compare_run_do_not_stop_compare(work, capsys):
    # A writer killed mid-record leaves a truncated file: the records before it count.
    [events] = (work / "overfit" / "validation").iterdir()
    data = events.read_bytes()
    events.write_bytes(data[: len(data) - 7])
    # Garbage where earlier comparisons were kept.
    (work / "_compare").mkdir()
    (work / "_compare" / "events.out.tfevents.0.junk").write_bytes(b"\xff" * 40)
    assert main(["compare", str(work), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "earlier comparisons unreadable" in captured.err
    assert "events.out.tfevents.0.junk" in captured.err
    rows = {r["run"]: r for r in _leaderboard_rows(work)}
    # The last validation record was cut off: the final value is epoch 9's.
    assert rows["overfit"]["final_value"] == pytest.approx(0.090)
    assert rows["overfit"]["status"] == "overfitting"


def _leaderboard_rows(work):
    """The newest leaderboard, read from tbviz's own file (read_run would stop at the junk)."""
    from tbviz.logdir.reader import iter_events

    newest = sorted(p for p in (work / "_compare").iterdir() if p.name.endswith(".tbviz"))[-1]
    for event in iter_events(str(newest)):
        for value in event.summary.value:
            if value.tag == metadata.TAG_LEADERBOARD_JSON:
                return json.loads(value.tensor.string_val[0])["runs"]
    raise AssertionError("no leaderboard in the newest comparison")


def test_progress_bar_draws_on_a_terminal_only(monkeypatch):
    from tbviz.commands.cli import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    with ProgressBar("reading runs") as bar:
        for done in range(1, 201):
            bar.update(done, 200)
    lines = screen.getvalue().split("\r")
    assert lines[-1] == "reading runs [" + "#" * 30 + "] 200/200\n"
    assert len(lines) <= 102  # redrawn per percent, not per run
    quiet = io.StringIO()  # not a terminal: piped output stays clean
    monkeypatch.setattr("sys.stderr", quiet)
    with ProgressBar("reading runs") as bar:
        bar.update(200, 200)
    assert quiet.getvalue() == ""


def test_worker_processes_give_the_same_ranking_and_warnings(tmp_path):
    """Big log directories are read by forked workers: same rows, same order, and a
    broken file's warning still reaches the caller."""
    from tbviz.commands.discovery import PARALLEL_MIN_RUNS, diagnose_runs
    from tbviz.logdir import summaries
    from tbviz.logdir.writer import EventFileWriter

    for i in range(PARALLEL_MIN_RUNS + 6):
        for split, offset in (("train", 0.0), ("validation", 0.05 + i / 1000)):
            with EventFileWriter(str(tmp_path / f"run{i:03d}" / split)) as writer:
                for epoch in range(4):
                    loss = 1 / (epoch + 1) + offset
                    writer.add(epoch, summaries.scalar_values({"epoch_loss": loss}))
    (tmp_path / "run007" / "validation" / "events.out.tfevents.9.bad").write_bytes(b"\x01" * 30)
    with pytest.warns(RuntimeWarning, match="run007.*events.out.tfevents.9.bad"):
        sequential = diagnose_runs(str(tmp_path))
    # The command uses one worker per core; run it in a fresh process, as users do
    # (this test process may hold TensorFlow's threads, which forking does not mix with).
    result = subprocess.run(
        [sys.executable, "-m", "tbviz", "leaderboard", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TBVIZ_WORKERS": "2"},
    )
    parallel = json.loads(result.stdout)
    assert parallel == [r.to_dict() for r in sequential]
    assert len(parallel) == PARALLEL_MIN_RUNS + 6 and parallel[0]["run"] == "run000"
    # The broken file costs only itself: run007 is ranked, marked as read in part.
    run007 = next(r for r in parallel if r["run"] == "run007")
    assert run007["partial"] and run007["epochs"] == 4
    assert "run007" in result.stderr and "events.out.tfevents.9.bad" in result.stderr


def test_leaderboard_markdown_says_the_shared_folder_once(tmp_path):
    """Run names lose the folder every run shares, so the table fits TensorBoard's
    Text dashboard (tests/test_browser.py checks no word breaks there)."""
    from tbviz.commands.discovery import diagnose_runs
    from tbviz.commands.leaderboard import leaderboard_markdown
    from tests.conftest import log_history

    for lr in (0.01, 0.001):
        history = {"loss": [1, 0.5], "val_loss": [1, 0.6 + lr]}
        log_history(tmp_path, f"sweep-20261129-101500/lr={lr}", history, figure_every=0)
    results = diagnose_runs(str(tmp_path), None, "val_loss")
    markdown = leaderboard_markdown(results, "val_loss")
    assert "Run names below follow `sweep-20261129-101500/`." in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| 1 ")]
    assert rows[0].split("|")[2].strip() == "lr=0\\.001"  # the lower val_loss


def test_a_rise_after_the_best_fills_the_small_multiples_panel_as_drawn(tmp_path):
    """The panels share a y axis fitted from just before each run's best epoch on:
    the first epochs' steep fall leaves at the top, and a rise of 0.1 after a
    fall from 2.3 (a few pixels on an axis fitted to the fall) is read at a
    glance, on the PNG itself. A page of one panel keeps its legend whole."""
    import math

    import numpy as np

    from tbviz.commands.discovery import diagnose_runs
    from tbviz.figures.cross_run import render_small_multiples
    from tbviz.figures.run_figure import VALIDATION_COLOR
    from tests.conftest import log_history

    loss = [2.3 * math.exp(-0.25 * e) + 0.02 for e in range(36)]
    val = [v + 0.03 + 0.01 * max(0, e - 25) for e, v in enumerate(loss)]
    log_history(tmp_path, "run", {"loss": loss, "val_loss": val}, figure_every=0)
    results = diagnose_runs(str(tmp_path), None, "val_loss", keep_history=True)
    [page] = render_small_multiples(results, "val_loss", per_page=1)
    image = np.asarray(png(page.png).convert("RGB")).astype(int)
    orange = np.array([int(VALIDATION_COLOR[i : i + 2], 16) for i in (1, 3, 5)])
    rows, columns = np.nonzero(np.abs(image - orange).max(axis=-1) < 40)
    after_best = columns > columns.min() + 0.75 * (columns.max() - columns.min())
    rise = rows[after_best].max() - rows[after_best].min()
    # On an axis fitted to the whole fall it spanned 11 px of the 297.
    assert rise >= 0.15 * image.shape[0], f"the rise spans {rise} of {image.shape[0]} px"
    edges = np.concatenate([image[:, :3], image[:, -3:]], axis=1)
    assert not (edges.max(axis=-1) < 120).any(), "text runs off the page's edge"


def test_forked_drawing_gives_the_figures_drawn_in_process(tmp_path):
    """With workers, compare draws in a process forked before the reading (it
    imports matplotlib meanwhile) and a second forked from it: the event file
    holds the same overlay, group figure and pages, byte for byte, as when
    everything is drawn in this process; and no drawing process outlives it."""
    from tbviz.commands.compare import compare
    from tests.conftest import log_history

    for lr in (0.1, 0.01, 0.001):
        for seed in (1, 2):
            rise = 0.3 * lr * 10
            history = {
                "loss": [1.0, 0.6, 0.4, 0.3, 0.2],
                "val_loss": [1.1, 0.8, 0.7 + seed / 100, 0.75 + rise, 0.8 + rise],
            }
            log_history(tmp_path / "here", f"lr={lr},seed={seed}", history, figure_every=0)
    shutil.copytree(tmp_path / "here", tmp_path / "forked")
    compare(str(tmp_path / "here"), group_over=["lr"])  # workers=1: all in this process
    # Forking beside this test process's threads (TensorFlow's) is not safe: the
    # command runs in a fresh process, as users run it.
    script = (
        "import multiprocessing, sys\n"
        "from tbviz.commands.compare import compare\n"
        "from tbviz.errors import UnknownMetricError\n"
        "compare(sys.argv[1], group_over=['lr'], workers=2)\n"
        "assert not multiprocessing.active_children(), multiprocessing.active_children()\n"
        "try:  # a mistyped metric: the drawing process is ended with nothing drawn\n"
        "    compare(sys.argv[1], metric='val_los', workers=2)\n"
        "except UnknownMetricError:\n"
        "    pass\n"
        "assert not multiprocessing.active_children(), multiprocessing.active_children()\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "forked")], check=True)
    here = read_run(str(tmp_path / "here" / metadata.COMPARE_RUN))
    forked = read_run(str(tmp_path / "forked" / metadata.COMPARE_RUN))
    tags = (metadata.TAG_OVERLAY, metadata.TAG_GROUP_OVERLAY, metadata.TAG_SMALL_MULTIPLES)
    for tag in tags:
        assert here.images(tag), tag
        assert forked.images(tag) == here.images(tag), tag


def test_a_drawing_process_that_died_loses_no_figure():
    """If a drawing process is killed (out of memory, say), its figures are drawn
    in the process above it instead, and the error of a figure that cannot be
    drawn comes back as it was raised."""
    script = (
        "import multiprocessing, os, signal, time\n"
        "from tbviz.commands.drawer import Drawer\n"
        "from tbviz.figures.plans import OverlayPlan\n"
        "empty = OverlayPlan('val_loss', [], [], [], {}, 0, 1)\n"
        "jobs = [('draw_small_multiples', (None,))], [('draw_overlay', (empty,))]\n"
        "def check(outcomes):\n"
        "    pages, (value, err) = outcomes\n"
        "    assert pages == ([], None), pages\n"
        "    assert value is None and isinstance(err, ValueError), err\n"
        "    assert 'at least one panel' in str(err), err\n"
        "with Drawer(fork=True) as drawer:  # the second lane's process dies\n"
        "    pid = drawer._process.pid\n"
        "    children = f'/proc/{pid}/task/{pid}/children'\n"
        "    while not open(children).read().split():\n"
        "        time.sleep(0.05)\n"
        "    os.kill(int(open(children).read().split()[0]), signal.SIGKILL)\n"
        "    check(drawer.draw(*jobs))\n"
        "with Drawer(fork=True) as drawer:  # the first lane's process dies\n"
        "    drawer._process.kill()\n"
        "    drawer._process.join()\n"
        "    check(drawer.draw(*jobs))\n"
        "assert not multiprocessing.active_children()\n"
        "print('drawn all the same')\n"
    )
    assert python(script) == "drawn all the same\n"


def test_no_drawing_process_is_forked_beside_other_threads():
    """A process forked while another thread holds a lock waits on it forever (a
    test process holding TensorFlow's threads left two such children behind):
    beside a running thread, compare draws in its own process."""
    import threading

    from tbviz.commands.discovery import can_fork, fork_pool
    from tbviz.commands.drawer import Drawer

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not can_fork()
        assert fork_pool(2, 1000) is None
        with Drawer(fork=True) as drawer:
            assert drawer._process is None
            ((pages, err),) = drawer.draw([("draw_small_multiples", (None,))], [])
            assert pages == [] and err is None
    finally:
        stop.set()
        thread.join()


def test_a_bug_in_a_drawing_process_comes_back_with_its_traceback():
    """A figure function that fails on a bug (not a figure with nothing to draw)
    comes back as an error carrying the drawing process' traceback as text:
    whatever the exception, it survives the pipe."""
    script = (
        "from tbviz.commands.drawer import Drawer\n"
        "with Drawer(fork=True) as drawer:\n"
        "    ((value, err),) = drawer.draw([('draw_overlay', ('not a plan',))], [])\n"
        "assert value is None and isinstance(err, RuntimeError), err\n"
        "assert 'drawing draw_overlay failed' in str(err), err\n"
        "assert \"AttributeError: 'str' object has no attribute\" in str(err), err\n"
        "print('told')\n"
    )
    assert python(script) == "told\n"
