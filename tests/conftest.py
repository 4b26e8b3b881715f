"""Shared test helpers: tiny real Keras training, free ports, a real TensorBoard."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent


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
