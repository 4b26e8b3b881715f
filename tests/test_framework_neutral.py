"""RunLogger without TensorFlow: a plain loop's run, served by a real TensorBoard,
remote log directories through fsspec, and the README's PyTorch example."""

import json
import subprocess
import sys
import urllib.parse

import pytest

from tbviz import RunLogger
from tbviz.logdir import metadata as md
from tbviz.logdir.reader import read_run
from tests.conftest import readme_python

LOOP = """
import sys
from tbviz import RunLogger
with RunLogger(sys.argv[1], "plain", figure_budget=None, hparams={"lr": 0.1}) as run:
    for epoch in range(6):
        train = 1.0 / (epoch + 1)
        val = [1.0, 0.7, 0.6, 0.65, 0.72, 0.8][epoch]
        run.log_epoch(epoch, {"loss": train, "val_loss": val, "accuracy": 1 - train / 2})
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))))
"""


def q(**params):
    return urllib.parse.urlencode(params)


@pytest.mark.slow
def test_a_plain_loop_logs_without_tensorflow_and_tensorboard_serves_it(
    tmp_path, tensorboard_server
):
    logdir = tmp_path / "runs"
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + LOOP, str(logdir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []  # no TensorFlow, no Keras
    server = tensorboard_server(logdir)
    tags = json.loads(
        server.wait_for("/data/plugin/scalars/tags", lambda b: b"plain/validation" in b)
    )
    assert "epoch_loss" in tags["plain/validation"] and "epoch_accuracy" in tags["plain/train"]
    points = json.loads(
        server.get("/data/plugin/scalars/scalars?" + q(run="plain/validation", tag="epoch_loss"))
    )
    assert [p[2] for p in points] == pytest.approx([1.0, 0.7, 0.6, 0.65, 0.72, 0.8])
    images = json.loads(server.wait_for("/data/plugin/images/tags", lambda b: b"plain" in b))
    assert md.TAG_FIGURE in images["plain"]
    [summary] = json.loads(
        server.wait_for(
            "/data/plugin/text/text?" + q(run="plain", tag=md.TAG_SUMMARY), lambda b: b"text" in b
        )
    )
    assert "<strong>Overfitting</strong> since epoch 3" in summary["text"]


def test_memory_urls_go_through_fsspec():
    logdir = "memory://tbviz-test/runs"
    with RunLogger(logdir, "remote", figure_budget=None) as run:
        for epoch in range(3):
            run.log_epoch(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 1.1 / (epoch + 1)})
    data = read_run(f"{logdir}/remote")
    assert data.history["val_loss"].values == pytest.approx([1.1, 0.55, 1.1 / 3])
    assert [step for step, *_ in data.images()] == [0, 1, 2]
    assert data.diagnoses()[-1][1]["epochs"] == 3


def test_a_missing_filesystem_package_is_named():
    # In a process without TensorFlow, as a PyTorch user's (this test process may
    # hold TensorFlow, whose tf.io.gfile would then serve gs://).
    code = (
        "from tbviz import RunLogger\n"
        "from tbviz.logdir.reader import read_run\n"
        "from tbviz.logdir.storage import StorageError\n"
        "for attempt in (lambda: RunLogger('gs://bucket/runs', 'x'),\n"
        "                lambda: read_run('nosuchscheme://bucket/runs/x')):\n"
        "    try:\n"
        "        attempt()\n"
        "    except StorageError as err:\n"
        "        print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    gcs, unknown = out.stdout.strip().splitlines()
    assert "pip install gcsfs" in gcs
    assert "no file system knows nosuchscheme://" in unknown


@pytest.mark.slow
def test_the_readme_pytorch_loop_runs_as_written(tmp_path, shots):
    code = readme_python("## In a PyTorch (or any) training loop")
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('tensorflow' in sys.modules)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    headline, tf_loaded = out.stdout.strip().splitlines()[-2:]
    assert tf_loaded == "False"
    assert headline.startswith(("Overfitting", "Plateau"))
    data = read_run(str(tmp_path / "runs" / "torch-mlp"))
    assert data.history["val_loss"].epochs == list(range(30))
    assert data.hparams() == {"lr": 0.01}
    # One metric, one panel: the README's picture of a plain loop's figure.
    (shots / "pytorch-one-panel.png").write_bytes(data.images(md.TAG_FIGURE)[-1][-1])


HIDE_TENSORFLOW = "import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None\n"


@pytest.mark.parametrize(
    "code, what",
    [
        ("from tbviz import TBVizCallback", "TBVizCallback"),
        ("from tbviz import OverfittingStopping", "OverfittingStopping"),
        ("from tbviz.trainer.cli import main; sys.exit(main(['--epochs', '1']))", "the trainer"),
    ],
)
def test_without_tensorflow_the_keras_parts_name_the_extra(code, what):
    out = subprocess.run(
        [sys.executable, "-c", HIDE_TENSORFLOW + code], capture_output=True, text=True
    )
    assert out.returncode != 0
    assert what in out.stderr and "pip install 'tbviz[keras]'" in out.stderr
    assert "RunLogger" in out.stderr  # and what still works without it
