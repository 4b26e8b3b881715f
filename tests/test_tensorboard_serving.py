"""A real TensorBoard process serves what tbviz wrote: scalars, the figure, the notes."""

import io
import json
import urllib.parse

import pytest
from matplotlib.image import imread

from tbviz import TBVizCallback
from tbviz.logdir import metadata as md
from tests.conftest import tiny_cnn, tiny_mnist

pytestmark = pytest.mark.slow


def q(**params):
    return urllib.parse.urlencode(params)


def test_tensorboard_serves_scalars_images_and_text(tmp_path, tensorboard_server):
    logdir = tmp_path / "runs"
    x, y, xv, yv = tiny_mnist(192, 64)
    history = (
        tiny_cnn()
        .fit(
            x,
            y,
            validation_data=(xv, yv),
            epochs=2,
            verbose=0,
            callbacks=[TBVizCallback(log_dir=str(logdir), run_name="cnn-adam", figure_budget=None)],
        )
        .history
    )
    server = tensorboard_server(logdir)

    def has_runs(body):
        tags = json.loads(body)
        return "cnn-adam/train" in tags and "cnn-adam/validation" in tags

    tags = json.loads(server.wait_for("/data/plugin/scalars/tags", has_runs))
    assert {"epoch_loss", "epoch_accuracy"} <= set(tags["cnn-adam/train"])
    assert {"epoch_loss", "epoch_accuracy"} <= set(tags["cnn-adam/validation"])

    points = json.loads(
        server.get("/data/plugin/scalars/scalars?" + q(run="cnn-adam/validation", tag="epoch_loss"))
    )
    assert [p[1] for p in points] == [0, 1]
    assert [p[2] for p in points] == pytest.approx(history["val_loss"], rel=1e-6)

    images = json.loads(server.wait_for("/data/plugin/images/tags", lambda b: b"cnn-adam" in b))
    assert md.TAG_FIGURE in images["cnn-adam"]
    entries = json.loads(
        server.get("/data/plugin/images/images?" + q(run="cnn-adam", tag=md.TAG_FIGURE, sample=0))
    )
    assert [e["step"] for e in entries] == [0, 1]
    png = server.get("/data/plugin/images/individualImage?" + entries[-1]["query"])
    assert imread(io.BytesIO(png), format="png").shape[:2] == (384, 640)

    texts = json.loads(server.wait_for("/data/plugin/text/tags", lambda b: b"cnn-adam" in b))
    assert {md.TAG_NOTES, md.TAG_SUMMARY} <= set(texts["cnn-adam"])
    [summary] = json.loads(
        server.get("/data/plugin/text/text?" + q(run="cnn-adam", tag=md.TAG_SUMMARY))
    )
    assert summary["step"] == 1
    best = min(range(2), key=history["val_loss"].__getitem__)
    assert f"at epoch {best + 1}" in summary["text"]
    assert "<strong>" in summary["text"]  # rendered as markdown by TensorBoard


def test_hostile_names_render_harmlessly_in_the_text_dashboard(tmp_path, tensorboard_server):
    from tbviz import RunLogger

    logdir = tmp_path / "runs"
    run_name = "<b>bold</b>|run"
    metric = "a|<script>alert(1)</script>`x`"
    with RunLogger(logdir, run_name, figure_every=0) as run:
        for epoch in range(2):
            run.log_epoch(
                epoch,
                {
                    "loss": 1.0 / (epoch + 1),
                    "val_loss": 1.2 / (epoch + 1),
                    metric: 0.5,
                    "val_" + metric: 0.4,
                },
            )
    server = tensorboard_server(logdir)
    texts = json.loads(server.wait_for("/data/plugin/text/tags", lambda b: b"bold" in b))
    [served_run] = texts
    assert served_run == run_name
    [summary] = json.loads(
        server.get("/data/plugin/text/text?" + q(run=run_name, tag=md.TAG_SUMMARY))
    )
    html = summary["text"]
    assert "<script" not in html and "alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Header + loss + the hostile metric, five cells a row: "|" split nothing.
    assert "<table>" in html and html.count("<tr>") == 3
    assert html.count("<td>") == 2 * 5


def test_hparams_dashboard_compares_runs_at_their_best_epoch(tmp_path, tensorboard_server):
    """TensorBoard's hparams plugin reads tbviz's hparams and best-epoch metrics
    (not the last epoch's: tensorflow/tensorboard#4630)."""
    from tbviz import RunLogger

    logdir = tmp_path / "runs"
    runs = {"lr-0.01": (0.01, [0.5, 0.3, 0.4, 0.6]), "lr-0.1": (0.1, [0.6, 0.2, 0.25, 0.3])}
    for name, (lr, val_loss) in runs.items():
        with RunLogger(logdir, name, figure_every=0, hparams={"lr": lr, "opt": "adam"}) as run:
            for epoch, value in enumerate(val_loss):
                run.log_epoch(epoch, {"loss": 1 / (epoch + 1), "val_loss": value})
    server = tensorboard_server(logdir)
    request = {
        "startIndex": 0,
        "sliceSize": 10,
        "allowedStatuses": ["STATUS_UNKNOWN"],
        "colParams": [{"metric": {"tag": md.best_tag("val_loss")}}, {"hparam": "lr"}],
    }
    body = server.wait_for(
        "/data/plugin/hparams/session_groups?" + q(request=json.dumps(request)),
        lambda b: len(json.loads(b).get("sessionGroups", [])) == 2,
    )
    groups = {g["name"]: g for g in json.loads(body)["sessionGroups"]}
    assert groups["lr-0.01"]["hparams"] == {"lr": 0.01, "opt": "adam"}

    def metric(group, tag):
        return next(m["value"] for m in group["metricValues"] if m["name"]["tag"] == tag)

    assert metric(groups["lr-0.01"], md.best_tag("val_loss")) == pytest.approx(0.3)
    assert metric(groups["lr-0.1"], md.best_tag("val_loss")) == pytest.approx(0.2)
    assert metric(groups["lr-0.1"], md.TAG_BEST_STEP) == 1
    experiment = json.loads(server.get("/data/plugin/hparams/experiment?" + q(request="{}")))
    tags = [m["name"]["tag"] for m in experiment["metricInfos"]]
    assert md.best_tag("val_loss") in tags and md.TAG_BEST_STEP in tags
    # One experiment for the log directory, built by TensorBoard from every
    # run: the hparam the runs vary differs, the one they share does not.
    differs = {h["name"]: h.get("differs", False) for h in experiment["hparamInfos"]}
    assert differs == {"lr": True, "opt": False}
