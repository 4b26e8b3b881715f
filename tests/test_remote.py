"""Remote log directories: a real S3 API on loopback (moto's server) through s3fs."""

from __future__ import annotations

import json

import pytest

from tbviz import RunLogger
from tbviz.commands.cli import main
from tbviz.logdir.reader import read_run
from tests.conftest import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3():
    """An S3 server on 127.0.0.1 with an empty bucket; s3fs pointed at it."""
    import boto3
    import fsspec
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"]).create_bucket(Bucket="logs")
        fsspec.filesystem("s3").invalidate_cache()
        yield "s3://logs"
    server.stop()


def test_a_run_logged_to_s3_is_read_compared_and_annotated(s3, capsys):
    logdir = f"{s3}/runs"
    with RunLogger(logdir, "remote", figure_budget=None) as run:
        for epoch, (train, val) in enumerate(
            [(1.0, 1.0), (0.5, 0.6), (0.3, 0.5), (0.2, 0.7), (0.1, 0.8), (0.05, 0.9)]
        ):
            run.log_epoch(epoch, {"loss": train, "val_loss": val})
    data = read_run(f"{logdir}/remote")
    assert data.history["val_loss"].values == pytest.approx([1.0, 0.6, 0.5, 0.7, 0.8, 0.9])
    assert [step for step, *_ in data.images()] == list(range(6))
    assert data.diagnoses()[-1][1]["status"] == "overfitting"

    assert main(["leaderboard", logdir, "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["run"] == "remote" and row["best_epoch"] == 2
    assert main(["compare", logdir, "--no-progress"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert read_run(f"{logdir}/_compare").json_values("tbviz/leaderboard_json")
    assert main(["annotate", logdir, "--no-progress"]) == 0
    assert "1 already current" in capsys.readouterr().out
