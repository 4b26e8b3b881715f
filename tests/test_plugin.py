"""The tbviz TensorBoard tab's routes, through werkzeug over a real log directory
(TensorBoard's own plugin-test pattern). tests/test_browser.py looks at the tab
in a real browser served by a real TensorBoard."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request

import pytest
from PIL import Image

from tbviz import RunLogger
from tests.conftest import TUTORIAL, write_keras_layout_run
from tests.writers import tab_client

HOSTILE = "<img src=x onerror=alert(1)>|`x`"
SWEEP = "sweep/lr=0.01,filters=8"  # the trainer's sweep names hold commas


def _log(logdir, name, history, **options):
    with RunLogger(logdir, name, figure_budget=None, **options) as run:
        for epoch in range(len(history["loss"])):
            run.log_epoch(epoch, {k: v[epoch] for k, v in history.items()})


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin") / "runs"
    _log(root, "overfit", TUTORIAL, figure_every=3)
    _log(root, SWEEP, {"loss": [0.5, 0.2, 0.1], "val_loss": [0.3, 0.05, 0.04]})
    _log(root, HOSTILE, {"loss": [0.5, 0.4], "val_loss": [0.6, 0.5]}, figure_every=0)
    write_keras_layout_run(root / "plain-keras")
    return root


@pytest.fixture(scope="module")
def client(logdir):
    return tab_client(logdir)


def get_json(client, path):
    response = client.get("/data/plugin/tbviz" + path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.get_data())


def test_runs_route_lists_every_run_with_its_diagnosis(client):
    rows = {r["run"]: r for r in get_json(client, "/runs")["runs"]}
    assert set(rows) == {"overfit", SWEEP, HOSTILE, "plain-keras"}
    overfit = rows["overfit"]
    assert overfit["source"] == "tbviz" and overfit["status"] == "overfitting"
    assert overfit["best_epoch"] == 3 and overfit["onset_epoch"] == 3
    assert overfit["best_value"] == pytest.approx(0.068)
    assert overfit["gap"] == pytest.approx(0.088) and overfit["has_figure"]
    assert rows[SWEEP]["status"] == "improving"
    # Plain Keras scalars are diagnosed by the tab itself.
    keras_row = rows["plain-keras"]
    assert keras_row["source"] == "scalars" and keras_row["epochs"] == 2
    assert not keras_row["has_figure"] and not rows[HOSTILE]["has_figure"]


def test_each_row_says_what_the_stoppers_would_have_done(client):
    """The tutorial's run: OverfittingStopping and EarlyStopping(patience=3) both stop
    after epoch 7 and save 3 of its 10 epochs, restoring its best (not too soon):
    the numbers the tab's header sums, as the leaderboard's stopping lines do."""
    rows = {r["run"]: r for r in get_json(client, "/runs")["runs"]}
    stopping = rows["overfit"]["stopping"]
    assert stopping == {"ours": [3, False], "early": [3, False], "epochs": 10, "patience": 3}
    assert rows["plain-keras"]["stopping"]["ours"] is None  # 2 epochs: nothing to stop


def test_the_tab_draws_statuses_from_the_one_status_table(client):
    from tbviz.core.verdicts import STATUS_TABLE, STATUSES

    served = get_json(client, "/runs")["statuses"]
    assert [s["status"] for s in served] == list(STATUS_TABLE)  # worst first
    assert set(STATUS_TABLE) == set(STATUSES)
    assert all(s["color"].startswith("#") and s["meaning"] for s in served)


def test_notes_route_returns_the_notes_and_summary(client):
    notes = get_json(client, "/notes?run=overfit")["notes"]
    kinds = [n["kind"] for n in notes]
    assert kinds.count("summary") == 1 and kinds.count("note") >= 2
    assert any("overfitting" in n["markdown"].lower() for n in notes)


def test_figure_route_serves_the_latest_png(client):
    response = client.get("/data/plugin/tbviz/figure?run=overfit")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.get_data()))
    assert image.size[0] > 300
    assert client.get("/data/plugin/tbviz/figure?run=nope").status_code == 404
    assert client.get("/data/plugin/tbviz/figure").status_code == 400


def test_a_run_that_logged_no_figure_gets_one_drawn_from_its_scalars(client, logdir):
    """Plain Keras scalars, and a tbviz run logged with figures off: the tab draws
    the comparison figure the run would have logged, once, until it gets new data."""
    from tbviz.figures.run_figure import ComparisonPlotter
    from tbviz.logdir.reader import read_run

    for run in ("plain-keras", HOSTILE):
        response = client.get("/data/plugin/tbviz/figure?run=" + urllib.parse.quote(run))
        assert response.status_code == 200, run
        assert response.headers["Content-Type"] == "image/png"
        image = Image.open(io.BytesIO(response.get_data()))
        assert image.size[0] > 300 and len(image.convert("RGB").getcolors(1 << 16)) > 8
    # The very figure annotate would write, with the verdict the row shows.
    response = client.get("/data/plugin/tbviz/figure?run=plain-keras&metric=val_loss")
    data = read_run(str(logdir / "plain-keras"))
    from tbviz.core.diagnosis import diagnose
    from tbviz.core.text import figure_title

    diagnosis = diagnose(data.history, "val_loss")
    expected = ComparisonPlotter().render(
        data.history, diagnosis, figure_title("plain-keras", 1, diagnosis.status), epochs=2
    )
    assert response.get_data() == expected.png


def test_a_run_that_logged_no_notes_gets_the_note_annotate_would_write(client, logdir):
    """Plain Keras scalars: the tab writes the final note from them, judged by the
    metric it is asked for; runs with notes of their own get only those."""
    from tbviz.core.diagnosis import diagnose
    from tbviz.core.notes import note
    from tbviz.logdir.reader import read_run

    history = read_run(str(logdir / "plain-keras")).history
    for metric in ("val_loss", "val_accuracy"):
        (drawn,) = get_json(client, f"/notes?run=plain-keras&metric={metric}")["notes"]
        assert drawn["kind"] == "drawn" and drawn["step"] == 1
        assert drawn["markdown"] == note(diagnose(history, metric), final=True)
        assert f"Best {metric.replace('_', chr(92) + '_')}" in drawn["markdown"]
    assert "drawn" not in [n["kind"] for n in get_json(client, "/notes?run=overfit")["notes"]]
    assert get_json(client, "/notes?run=nope")["notes"] == []


def test_overlay_route_gives_the_monitored_metric_with_onsets(client):
    query = "&".join(f"run={urllib.parse.quote(r)}" for r in ["overfit", "plain-keras", "nope"])
    series = get_json(client, "/overlay?" + query)["series"]
    assert [s["run"] for s in series] == ["overfit", "plain-keras"]
    overfit = series[0]
    assert overfit["monitor"] == "val_loss" and overfit["steps"] == list(range(10))
    assert overfit["values"] == pytest.approx(TUTORIAL["val_loss"], rel=1e-6)
    assert overfit["onset_epoch"] == 3
    assert len(series[1]["values"]) == 2
    (sweep,) = get_json(client, "/overlay?run=" + urllib.parse.quote(SWEEP))["series"]
    assert sweep["run"] == SWEEP and sweep["values"] == pytest.approx([0.3, 0.05, 0.04])


def test_the_module_is_served_as_javascript(client):
    response = client.get("/data/plugin/tbviz/index.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    source = response.get_data(as_text=True)
    assert "export async function render()" in source
    assert "innerHTML" not in source  # strings from the logs go in as text only


def test_runs_without_a_stored_verdict_are_judged_by_the_metric_the_tab_asks_for(tmp_path):
    """A run logging only val/box_loss (Ultralytics' names) is no-monitor by val_loss;
    the tab offers its validation metrics and judges by the one chosen, as
    ``tbviz leaderboard --metric`` does. Runs with a stored verdict keep theirs."""
    from tests import writers

    writers.write_torch_flat(tmp_path / "detect", "train/box_loss", "val/box_loss", first=0)
    writers.write_torch_flat(tmp_path / "plain", first=0)
    with RunLogger(tmp_path, "logged", figure_every=0) as run:
        for epoch, (train, val) in enumerate(zip(writers.TRAIN, writers.VAL, strict=True)):
            run.log_epoch(epoch, {"loss": train, "val_loss": val, "val_auc": 1 - val / 2})
    client = tab_client(tmp_path)

    def runs(query: str = "") -> dict:
        response = client.get("/data/plugin/tbviz/runs" + query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return json.loads(response.get_data())

    default = runs()
    rows = {row["run"]: row for row in default["runs"]}
    # Not val_auc: only the logged run has it, and it keeps the verdict it was logged with.
    assert default["metric"] == "val_loss" and default["metrics"] == ["val_box_loss", "val_loss"]
    assert rows["detect"]["status"] == "no-monitor" and rows["plain"]["status"] == "overfitting"
    chosen = runs("?metric=val_box_loss")
    rows = {row["run"]: row for row in chosen["runs"]}
    assert rows["detect"]["monitor"] == "val_box_loss" and rows["detect"]["status"] == "overfitting"
    assert rows["detect"]["best_epoch"] == writers.BEST_EPOCH
    assert rows["plain"]["status"] == "no-monitor"
    assert rows["logged"]["monitor"] == "val_loss" and rows["logged"]["source"] == "tbviz"
    overlay = client.get("/data/plugin/tbviz/overlay?run=detect&metric=val_box_loss")
    [series] = json.loads(overlay.get_data())["series"]
    assert series["monitor"] == "val_box_loss" and len(series["values"]) == len(writers.VAL)
