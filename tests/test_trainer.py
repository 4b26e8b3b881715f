"""The trainer: metric names, datasets (full MNIST path, offline fallback), the script."""

import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from tbviz.errors import DataError, DatasetUnavailable
from tbviz.logdir.reader import read_run
from tbviz.trainer import datasets
from tbviz.trainer.metrics import TUTORIAL_METRICS, MetricError, plan_metrics
from tbviz.trainer.quiet import is_native_noise, native_noise_filtered
from tests.conftest import ROOT

# -- metric names -----------------------------------------------------------------------


def test_tutorial_metric_list_maps_to_integer_label_metrics():
    plans, notes = plan_metrics([*TUTORIAL_METRICS, "loss"])
    assert [(p.name, p.implementation) for p in plans] == [
        ("binary_accuracy", "one_hot_binary_accuracy"),
        ("categorical_accuracy", "sparse_categorical_accuracy"),
        ("sparse_categorical_accuracy", "sparse_categorical_accuracy"),
        ("top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"),
    ]
    assert any(n.startswith("loss: the loss is always logged") for n in notes)
    assert len(notes) == 4


def test_duplicates_and_validation_names():
    plans, notes = plan_metrics(["accuracy", "accuracy"])
    assert [p.name for p in plans] == ["accuracy"] and "twice" in notes[0]
    with pytest.raises(MetricError, match="validation twin"):
        plan_metrics(["val_accuracy"])


@pytest.mark.slow
def test_tutorial_metrics_compile_and_give_correct_numbers():
    """The four-metric list trains on integer labels and each value means what it says."""
    import keras

    from tbviz.trainer.model import build_metrics

    plans, _ = plan_metrics(TUTORIAL_METRICS)
    metrics = build_metrics(plans, 3)
    y_true = np.array([0, 1, 2, 2])
    y_pred = np.array(
        [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]], dtype=np.float32
    )
    values = {}
    for metric in metrics:
        metric.update_state(y_true, y_pred)
        values[metric.name] = float(metric.result())
    assert values["categorical_accuracy"] == pytest.approx(0.75)
    assert values["sparse_categorical_accuracy"] == pytest.approx(0.75)
    assert values["top_k_categorical_accuracy"] == pytest.approx(1.0)  # k=5 > 3 classes
    one_hot = keras.ops.one_hot(y_true, 3)
    expected = keras.metrics.BinaryAccuracy()
    expected.update_state(one_hot, y_pred)
    assert values["binary_accuracy"] == pytest.approx(float(expected.result()))  # 11/12


def test_unknown_metric_is_a_clear_error_before_keras():
    with pytest.raises(MetricError, match="unknown metric 'acuracy'; did you mean accuracy"):
        plan_metrics(["acuracy"])


@pytest.mark.slow
def test_the_metric_names_checked_early_are_the_ones_keras_takes():
    import keras
    from keras.src.metrics import ALL_OBJECTS_DICT

    from tbviz.trainer.metrics import KERAS_METRIC_NAMES

    for name in KERAS_METRIC_NAMES:
        keras.metrics.get(name)  # raises for a name Keras does not take
    taken = set()
    for name in set(ALL_OBJECTS_DICT) - {"Metric", "metric", "Mean", "mean", "Sum", "sum"}:
        try:
            keras.metrics.get(name)
        except (ValueError, TypeError):  # a class that needs arguments
            continue
        taken.add(name)
    assert taken <= KERAS_METRIC_NAMES, sorted(taken - KERAS_METRIC_NAMES)


# -- datasets ---------------------------------------------------------------------------


def write_npz(path, n_train=60, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, n_train),
        x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, n_test),
    )


def test_mnist_5k_is_real_balanced_and_split_with_a_fixed_seed():
    a, b = datasets.load_mnist_5k(0), datasets.load_mnist_5k(0)
    assert a.x_train.shape == (4000, 28, 28) and a.x_test.shape == (1000, 28, 28)
    assert np.bincount(np.concatenate([a.y_train, a.y_test])).tolist() == [500] * 10
    assert np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_test, datasets.load_mnist_5k(1).y_test)
    assert a.x_train.max() == 255


@pytest.mark.slow
def test_full_mnist_is_read_from_the_keras_cache(tmp_path, monkeypatch):
    (tmp_path / "datasets").mkdir()
    write_npz(tmp_path / "datasets" / "mnist.npz")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    dataset, notes = datasets.load_dataset("mnist")
    assert dataset.name == "mnist" and notes == []
    assert dataset.x_train.shape == (60, 28, 28) and dataset.y_test.shape == (20,)


def test_offline_mnist_falls_back_without_trying_keras(tmp_path, monkeypatch):
    """No network: no "Downloading data from ..." line, no TensorFlow import, one note."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(datasets, "reachable", lambda *a, **k: False)
    with pytest.raises(DatasetUnavailable, match=r"storage\.googleapis\.com unreachable"):
        datasets.load_mnist()
    dataset, [note] = datasets.load_dataset("mnist")
    assert dataset.name == "mnist-5k"
    assert "training on mnist-5k" in note and "\n" not in note


def test_reachable_is_false_for_a_closed_port():
    assert not datasets.reachable("127.0.0.1", port=9, timeout=1)


@pytest.mark.slow
def test_a_failed_download_falls_back_to_mnist_5k(tmp_path, monkeypatch):
    import keras

    def offline():
        raise Exception("URL fetch failure on https://example.invalid/mnist.npz: no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(datasets, "reachable", lambda *a, **k: True)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DatasetUnavailable, match="could not be downloaded"):
        datasets.load_mnist()
    dataset, notes = datasets.load_dataset("mnist")
    assert dataset.name == "mnist-5k" and len(notes) == 1


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    dataset = datasets.load_fashion_mnist(search=(tmp_path / "missing", tmp_path))
    assert dataset.x_train.shape == (30, 28, 28) and dataset.y_test.shape == (10,)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    )
    with pytest.raises(DataError, match="truncated"):
        datasets.load_fashion_mnist(search=(tmp_path,))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "does not exist"),
        (b"plain text", "not an .npz archive"),
        ({"x_train": np.zeros((5, 28, 28))}, "lacks y_train, x_test, y_test"),
        (
            {
                "x_train": np.zeros((5, 28)),
                "y_train": np.zeros(5),
                "x_test": np.zeros((2, 28, 28)),
                "y_test": np.zeros(2),
            },
            "shaped",
        ),
        (
            {
                "x_train": np.zeros((5, 28, 28)),
                "y_train": np.zeros(4),
                "x_test": np.zeros((2, 28, 28)),
                "y_test": np.zeros(2),
            },
            "one integer label per image",
        ),
        (
            {
                "x_train": np.zeros((5, 28, 28)),
                "y_train": np.full(5, 0.5),
                "x_test": np.zeros((2, 28, 28)),
                "y_test": np.zeros(2),
            },
            "integer class labels",
        ),
    ],
)
def test_unusable_npz_files_get_a_clear_error(tmp_path, content, match):
    path = tmp_path / "data.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    with pytest.raises(DataError, match=match):
        datasets.load_npz(path)


def test_prepare_scales_and_adds_a_channel():
    dataset = datasets.load_mnist_5k()
    x, _, xv, _ = datasets.prepare(dataset, 100, 50)
    assert x.shape == (100, 28, 28, 1) and xv.shape == (50, 28, 28, 1)
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() == 1.0


# -- the script -------------------------------------------------------------------------


def run_script(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


@pytest.mark.slow
def test_train_script_end_to_end(tmp_path):
    result = run_script(
        "--dataset",
        "mnist-5k",
        "--epochs",
        "2",
        "--train-size",
        "300",
        "--val-size",
        "100",
        "--metrics",
        ",".join([*TUTORIAL_METRICS, "loss"]),
        "--run-name",
        "e2e",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "data: mnist-5k, 300 training / 100 validation images" in out
    assert "note: loss: the loss is always logged" in out
    assert "Logged run 'e2e' to runs" in out
    assert "tensorboard --logdir runs" in out
    data = read_run(str(tmp_path / "runs" / "e2e"))
    assert set(data.history.keys()) == {
        "loss",
        "val_loss",
        *TUTORIAL_METRICS,
        *("val_" + m for m in TUTORIAL_METRICS),
        "learning_rate",  # the optimizer's, as Keras' TensorBoard callback logs it
    }
    assert data.history["learning_rate"].values == pytest.approx([1e-3, 1e-3])
    assert data.history["val_loss"].epochs == [0, 1]
    assert [s for s, *_ in data.images()][-1] == 1  # within the budget; the last always
    assert data.texts("tbviz/summary")


@pytest.mark.slow
def test_train_script_on_an_npz_file(tmp_path):
    write_npz(tmp_path / "digits.npz", 64, 32)
    result = run_script(
        "--data",
        "digits.npz",
        "--epochs",
        "2",
        "--run-name",
        "npz",
        "--figure-budget",
        "none",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "data: digits, 64 training / 32 validation images" in result.stdout
    data = read_run(str(tmp_path / "runs" / "npz"))
    assert data.history["val_loss"].epochs == [0, 1]
    assert [s for s, *_ in data.images()] == [0, 1]


@pytest.mark.slow
def test_the_trainer_offers_the_optimizers_the_model_builds():
    from tbviz.trainer.cli import _OPTIMIZER_NAMES
    from tbviz.trainer.model import OPTIMIZERS

    assert set(_OPTIMIZER_NAMES) == set(OPTIMIZERS)


def test_sweep_runs_are_the_cartesian_product_in_flag_order():
    from tbviz.trainer.cli import sweep_runs

    assert sweep_runs({"lr": [0.001, 0.01], "filters": [8, 16]}) == [
        ("lr=0.001,filters=8", {"learning_rate": 0.001, "filters": 8}),
        ("lr=0.001,filters=16", {"learning_rate": 0.001, "filters": 16}),
        ("lr=0.01,filters=8", {"learning_rate": 0.01, "filters": 8}),
        ("lr=0.01,filters=16", {"learning_rate": 0.01, "filters": 16}),
    ]


@pytest.mark.slow
def test_sweep_trains_each_combination_with_hparams_and_compares(tmp_path):
    result = run_script(
        *("--dataset", "mnist-5k", "--epochs", "2", "--train-size", "200", "--val-size", "64"),
        *("--run-name", "sw", "--figure-every", "0"),
        *("--sweep", "lr=1e-3,1e-2", "--sweep", "optimizer=adam,sgd", "--dropout", "0.25"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = tmp_path / "runs"
    names = sorted(p.name for p in (runs / "sw").iterdir())
    assert names == [
        "lr=0.001,optimizer=adam",
        "lr=0.001,optimizer=sgd",
        "lr=0.01,optimizer=adam",
        "lr=0.01,optimizer=sgd",
    ]
    hparams = read_run(str(runs / "sw" / "lr=0.01,optimizer=sgd")).hparams()
    assert hparams["lr"] == 0.01 and hparams["optimizer"] == "sgd"
    assert hparams["dropout"] == 0.25 and hparams["dataset"] == "mnist-5k"
    # The HParams dashboard shows 14 characters of a Trial ID: the knobs come first,
    # and the run and its sweep are columns of their own.
    assert hparams["run"] == "sw/lr=0.01,optimizer=sgd" and hparams["sweep"] == "sw"
    from tensorboard.plugins.hparams import plugin_data_pb2

    session = read_run(str(runs / "sw" / "lr=0.01,optimizer=sgd")).root[
        "_hparams_/session_start_info"
    ]
    start = plugin_data_pb2.HParamsPluginData.FromString(session.content).session_start_info
    assert start.group_name == "lr=0.01,optimizer=sgd @ sw"
    board = read_run(str(runs / "_compare")).json_values("tbviz/leaderboard_json")
    rows = board[-1][1]["runs"]
    assert sorted(r["run"] for r in rows) == [f"sw/{n}" for n in names]
    best = [r["best_value"] for r in rows]
    assert best == sorted(best)
    assert "_compare" in result.stdout and "lr=0.01" in result.stdout
    # tbviz's own table shows what varies, not the run's name a second time.
    board_text = result.stdout[result.stdout.index("best val_loss") :]
    assert "run=" not in board_text and "sweep=" not in board_text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "missing.npz"], "train.py: error: data file 'missing.npz' does not exist"),
        (["--epochs", "0"], "train.py: error: argument --epochs: expected a number >= 1, got 0"),
        (["--run-name", "../x"], "train.py: error: run_name '../x' would leave the log directory"),
        (["--dataset", "cifar"], "train.py: error: argument --dataset: invalid choice"),
        (["--figure-budget", "2"], "argument --figure-budget: expected a share in (0, 1]"),
        (["--metrics", "val_accuracy", "--dataset", "mnist-5k"], "name the training metric"),
        (["--sweep", "lr=abc"], "argument --sweep: lr: expected a number such as 1e-3"),
        (["--sweep", "depth=1,2"], "KNOB one of lr, filters, optimizer"),
        (["--sweep", "optimizer=adamw"], "optimizer: expected one of adam, sgd, rmsprop"),
        (["--dropout", "1"], "expected a dropout rate in [0, 1)"),
        (["--metrics", "acuracy"], "unknown metric 'acuracy'; did you mean accuracy"),
        (["--logdir", "/proc/nope"], "cannot create the log directory '/proc/nope'"),
    ],
)
def test_bad_flags_get_one_line_errors(tmp_path, args, message):
    """Every user mistake is one line, before TensorFlow is imported (no native chatter)."""
    result = run_script(*args, cwd=tmp_path, env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "absl" not in result.stderr and "oneDNN" not in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "line",
    [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1795955043.267646   17349 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1795955043.268064   17349 cudart_stub.cc:31] Could not find cuda drivers",
        "E0000 00:00:1795956132.743957   20407 cuda_platform.cc:52] failed call to cuInit: ...",
        "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild",
    ],
)
def test_tensorflow_start_up_lines_are_noise(line):
    assert is_native_noise(line)


@pytest.mark.parametrize(
    "line",
    [
        "Traceback (most recent call last):",
        "E0000 00:00:1795956132.743957   20407 op.cc:52] Out of memory while allocating",
        "UserWarning: run 'x': no val_loss in the logs",
        "train.py: error: cannot create the log directory",
    ],
)
def test_errors_and_warnings_are_not_noise(line):
    assert not is_native_noise(line)


def test_the_filter_drops_native_lines_and_passes_the_rest(capfd):
    with native_noise_filtered():
        os.write(2, b"I0000 00:00:1.5   17 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"a real problem\n")
        print("a Python warning", file=sys.stderr)
    err = capfd.readouterr().err
    assert "oneDNN" not in err
    assert "a real problem" in err and "a Python warning" in err


@pytest.mark.slow
def test_the_default_run_is_quiet_and_one_line_per_epoch_in_a_file(tmp_path):
    """Output to a file (not a terminal): no TensorFlow start-up lines, no download
    attempt offline, no progress-bar escape codes, one line per epoch."""
    result = run_script(
        "--train-size", "200", "--val-size", "100", "--epochs", "3", cwd=tmp_path,
        env={"TF_CPP_MIN_LOG_LEVEL": "0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    both = result.stdout + result.stderr
    assert "absl" not in both and "oneDNN" not in both and "cuda" not in both.lower()
    assert "Downloading data from" not in both
    assert "\x1b[" not in both and "\b" not in both
    epoch_lines = [line for line in result.stdout.splitlines() if " - loss: " in line]
    assert len(epoch_lines) == 3


@pytest.mark.slow
def test_a_sweep_over_seeds_closes_with_one_row_per_configuration(tmp_path):
    result = run_script(
        *("--dataset", "mnist-5k", "--epochs", "2", "--train-size", "100", "--val-size", "50"),
        *("--run-name", "seeds", "--figure-every", "0"),
        *("--sweep", "lr=1e-3,1e-2", "--sweep", "seed=0,1"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    grouped = result.stdout.split("over seeds, one row per configuration:")[1].splitlines()
    assert grouped[1].split()[:2] == ["#", "group"]
    rows = [line for line in grouped[2:4]]
    assert {row.split()[1] for row in rows} == {"lr=0.001", "lr=0.01"}
    assert all(row.split()[2] == "2" for row in rows)  # two seeds each
    stored = read_run(str(tmp_path / "runs" / "_compare")).json_values("tbviz/leaderboard_json")
    assert stored[-1][1]["group_over"] == ["seed"]
