"""Shared test helpers: tiny real Keras training, free ports, a real TensorBoard."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import types
import urllib.request
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_MODULE_SLOW = re.compile(r"^pytestmark\s*=\s*pytest\.mark\.slow\b", re.MULTILINE)


def pytest_addoption(parser):
    parser.addoption(
        "--docs-screenshots",
        action="store_true",
        help="retake the README's pictures in docs/ (test_browser, test_readme, "
        "test_framework_neutral)",
    )


def _quick(config) -> bool:
    return (config.option.markexpr or "").replace(" ", "") == "notslow"


def pytest_configure(config):
    """TensorBoard's multiplexer (the plugin tests' data provider) and the PyTorch-side
    writers import TensorFlow whenever it is installed, unless TensorBoard's own
    ``notf`` switch is there: the quick tier sets it. (Not the full suite: Keras'
    TensorBoard callback needs TensorBoard's real TensorFlow API.)"""
    if _quick(config):
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))


def pytest_ignore_collect(collection_path, config):
    """The quick tier does not even import a module marked slow as a whole (its
    imports may be TensorFlow, Lightning or Ray): the tier is decided by markers."""
    slow_module = (
        collection_path.suffix == ".py"
        and collection_path.is_file()
        and _MODULE_SLOW.search(collection_path.read_text())
    )
    return True if _quick(config) and slow_module else None


def pytest_sessionfinish(session, exitstatus):
    """The quick tier must not need TensorFlow: fail it if anything imported it."""
    if _quick(session.config) and "tensorflow" in sys.modules and exitstatus == 0:
        sys.stderr.write(
            "\nthe quick tier (-m 'not slow') imported TensorFlow: mark the test that "
            "needs it slow\n"
        )
        session.exitstatus = 1


ROOT = Path(__file__).resolve().parent.parent

# A curve shaped like the tutorial's: validation bottoms out at epoch 4 (step 3).
TUTORIAL = {
    "loss": [0.45, 0.15, 0.10, 0.07, 0.05, 0.035, 0.025, 0.018, 0.012, 0.009],
    "val_loss": [0.16, 0.09, 0.075, 0.068, 0.070, 0.074, 0.080, 0.085, 0.090, 0.097],
    "accuracy": [0.87, 0.956, 0.970, 0.979, 0.985, 0.990, 0.993, 0.995, 0.997, 0.998],
    "val_accuracy": [0.953, 0.972, 0.977, 0.979, 0.978, 0.978, 0.977, 0.978, 0.976, 0.976],
}


@pytest.fixture(scope="session")
def shots(request, tmp_path_factory) -> Path:
    """Where pictures for the README go: ``docs/`` with ``--docs-screenshots``,
    else a temporary folder (they are taken and checked all the same)."""
    if request.config.getoption("--docs-screenshots"):
        return ROOT / "docs"
    return tmp_path_factory.mktemp("screenshots")


def readme_python(heading: str) -> str:
    """The first ```python block under a README heading, as written there."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.+?)\n```", section, re.S)[0]


def log_history(logdir, name: str, history: dict, **options) -> None:
    """Log a Keras-style history dict through RunLogger, one epoch at a time."""
    from tbviz import RunLogger

    with RunLogger(logdir, name, **options) as run:
        for epoch in range(len(next(iter(history.values())))):
            run.log_epoch(epoch, {k: v[epoch] for k, v in history.items()})


@pytest.fixture(scope="module")
def mixed_logdir(tmp_path_factory):
    """tbviz runs, a Keras TensorBoard run, an empty run, an unrelated folder and a
    corrupt file: the log directory the command-line tests read."""
    root = tmp_path_factory.mktemp("runs")
    log_history(root, "overfit", TUTORIAL, figure_every=0)
    log_history(
        root,
        "sweep/better",
        {"loss": [0.5, 0.2, 0.1], "val_loss": [0.3, 0.05, 0.04]},
        figure_every=0,
        hparams={"lr": 0.01, "optimizer": "adam"},
    )
    write_keras_layout_run(root / "plain-keras")
    (root / "empty" / "train").mkdir(parents=True)
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a run")
    corrupt = root / "corrupt" / "train"
    corrupt.mkdir(parents=True)
    (corrupt / "events.out.tfevents.1.host").write_bytes(
        b"\x10\x00\x00\x00\x00\x00\x00\x00garbage!" * 3
    )
    return root


def tiny_mnist(n_train: int = 256, n_val: int = 128, seed: int = 0):
    """A few hundred real MNIST-5k digits, scaled and with a channel axis."""
    from tbviz.trainer.datasets import load_mnist_5k, prepare

    return prepare(load_mnist_5k(seed), n_train, n_val)


def tiny_cnn(metrics=("accuracy",)):
    """The tutorial's CNN with 4 filters: trains in well under a second an epoch."""
    import keras

    from tbviz.trainer.metrics import plan_metrics
    from tbviz.trainer.model import build_cnn, build_metrics

    keras.utils.set_random_seed(0)
    plans, _ = plan_metrics(metrics)
    return build_cnn((28, 28, 1), 10, build_metrics(plans, 10), filters=4)


def write_keras_layout_run(run_dir: Path, epochs: int = 2) -> None:
    """A run laid out as ``keras.callbacks.TensorBoard`` lays it out (``train/``,
    ``validation/``, ``epoch_*`` float32 scalar tensors, no tbviz output),
    written without TensorFlow for the quick tier; :func:`write_keras_run`
    makes one with Keras itself."""
    from tbviz.logdir import summaries
    from tbviz.logdir.writer import EventFileWriter

    for split, offset in (("train", 0.0), ("validation", 0.1)):
        with EventFileWriter(str(run_dir / split)) as writer:
            for epoch in range(epochs):
                loss = 2.0 / (epoch + 1) + offset
                values = {"epoch_loss": loss, "epoch_accuracy": 1 - loss / 3}
                writer.add(epoch, summaries.scalar_values(values))


def write_keras_run(run_dir: Path, epochs: int = 2) -> None:
    """A real ``keras.callbacks.TensorBoard`` run (no tbviz) of the tiny CNN."""
    import keras

    x, y, xv, yv = tiny_mnist(128, 64)
    tiny_cnn().fit(
        x,
        y,
        validation_data=(xv, yv),
        epochs=epochs,
        verbose=0,
        callbacks=[keras.callbacks.TensorBoard(log_dir=str(run_dir))],
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TensorBoardProcess:
    """A real ``tensorboard`` serving ``logdir`` on 127.0.0.1."""

    def __init__(self, logdir: Path, *extra_args: str) -> None:
        self.port = free_port()
        self.log = open(logdir.parent / "tensorboard.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorboard.main",
                "--logdir",
                str(logdir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--reload_interval",
                "1",
                *extra_args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def get(self, path: str, timeout: float = 10) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=timeout) as response:
            return response.read()

    def wait_for(self, path: str, predicate, timeout: float = 90):
        """Poll ``path`` until ``predicate(body)`` is true; return the body."""
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tensorboard exited with {self.process.returncode}")
            try:
                body = self.get(path)
                if predicate(body):
                    return body
            except OSError as err:
                last_error = err
            time.sleep(0.5)
        raise TimeoutError(f"tensorboard did not serve {path} in time ({last_error})")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def tensorboard_server():
    servers: list[TensorBoardProcess] = []

    def start(logdir: Path, *extra_args: str) -> TensorBoardProcess:
        server = TensorBoardProcess(logdir, *extra_args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


LIGHTNING_MODULE = '''
import lightning
import torch


class Noise(lightning.LightningModule):
    """An MLP on random labels: the training loss falls, validation rises."""

    def __init__(self, lr=1e-2, width=64):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(20, width), torch.nn.ReLU(), torch.nn.Linear(width, 2)
        )

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        logits = self.net(x)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, y), sync_dist=True)
        self.log("val_acc", (logits.argmax(1) == y).float().mean(), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def loaders(seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(256, 20, generator=g), torch.randint(0, 2, (256,), generator=g)
    xv, yv = torch.randn(128, 20, generator=g), torch.randint(0, 2, (128,), generator=g)
    data = torch.utils.data.TensorDataset
    return (
        torch.utils.data.DataLoader(data(x, y), batch_size=64),
        torch.utils.data.DataLoader(data(xv, yv), batch_size=64),
    )
'''


def lightning_module():
    """(Noise, loaders) from :data:`LIGHTNING_MODULE`: the same source a DDP test
    runs as a script, so both train the same module."""
    namespace: dict = {}
    exec(LIGHTNING_MODULE, namespace)
    return namespace["Noise"], namespace["loaders"]
