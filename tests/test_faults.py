"""Faults and odd input: killed runs, resumed runs, reused names, remote paths,
distribution, arbitrary bytes. Each provokes the fault for real."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tbviz import RunLogger
from tbviz.logdir import metadata as md
from tbviz.logdir.reader import CorruptEventFile, iter_events, read_history, read_run
from tests.conftest import ROOT, tiny_cnn, tiny_mnist


def fit(logdir, run_name, epochs, initial_epoch=0, **kwargs):
    from tbviz import TBVizCallback

    x, y, xv, yv = tiny_mnist(128, 64)
    model = tiny_cnn()
    callback = TBVizCallback(log_dir=str(logdir), run_name=run_name, **kwargs)
    history = model.fit(
        x,
        y,
        validation_data=(xv, yv),
        epochs=epochs,
        initial_epoch=initial_epoch,
        verbose=0,
        callbacks=[callback],
    )
    return callback, history.history


@pytest.mark.slow
def test_resuming_with_initial_epoch_continues_the_step_axis(tmp_path):
    first, h1 = fit(tmp_path, "resume", epochs=2)
    second, h2 = fit(tmp_path, "resume", epochs=4, initial_epoch=2)
    assert first.run_name == second.run_name == "resume"
    data = read_run(str(tmp_path / "resume"))
    assert data.history["val_loss"].epochs == [0, 1, 2, 3]
    assert data.history["val_loss"].values == pytest.approx(h1["val_loss"] + h2["val_loss"])
    final = data.diagnoses()[-1][1]
    assert final["epochs"] == 4  # the diagnosis continued from the logged history
    assert [step for step, _ in data.texts(md.TAG_SUMMARY)] == [1, 3]


@pytest.mark.slow
def test_two_trainings_with_one_name_never_mix(tmp_path):
    fit(tmp_path, "same", epochs=2)
    with pytest.warns(UserWarning, match="logging this training as 'same-2'"):
        callback, _ = fit(tmp_path, "same", epochs=2)
    assert callback.run_name == "same-2"
    assert read_history(str(tmp_path / "same"))["val_loss"].epochs == [0, 1]
    assert read_history(str(tmp_path / "same-2"))["val_loss"].epochs == [0, 1]


@pytest.mark.slow
def test_a_remote_scheme_goes_through_tf_io_gfile():
    """TensorFlow's in-memory ``ram://`` file system stands in for gs:// offline: in a
    process that uses TensorFlow (a Keras user's), its schemes work."""
    import tensorflow  # noqa: F401 - what makes tf.io.gfile's schemes available

    logdir = f"ram://tbviz-{os.getpid()}/runs"
    with RunLogger(logdir, "remote", figure_budget=None) as run:
        for epoch in range(3):
            run.log_epoch(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 1.1 / (epoch + 1)})
    data = read_run(f"{logdir}/remote")
    assert data.history["val_loss"].values == pytest.approx([1.1, 0.55, 1.1 / 3])
    assert [step for step, *_ in data.images()] == [0, 1, 2]


@pytest.mark.slow
def test_gs_urls_without_gcsfs_use_tensorflow_in_a_keras_process():
    import tensorflow  # noqa: F401 - a Keras user's process

    from tbviz.logdir import storage

    assert storage._backend("gs://bucket/runs")[0] == "gfile"  # gcsfs is not installed here


@pytest.mark.slow
def test_an_unusable_log_dir_fails_before_the_first_epoch(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    x, y, xv, yv = tiny_mnist(64, 32)
    started = []

    import keras

    class Spy(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            started.append(batch)

    from tbviz import TBVizCallback
    from tbviz.errors import LogDirError

    with pytest.raises(LogDirError, match="file is in the way"):
        tiny_cnn().fit(
            x,
            y,
            validation_data=(xv, yv),
            epochs=1,
            verbose=0,
            callbacks=[TBVizCallback(log_dir=str(blocker)), Spy()],
        )
    assert started == []


KILLED_SCRIPT = textwrap.dedent(
    """
    import sys, time, keras
    sys.path.insert(0, sys.argv[3])
    from tests.conftest import tiny_cnn, tiny_mnist
    from tbviz import TBVizCallback

    logged = TBVizCallback(log_dir=sys.argv[1], run_name="killed", figure_budget=None)

    class Pause(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == int(sys.argv[2]):
                logged.logger.renderer.wait_idle(60)  # the epoch's figure is written
                open(sys.argv[1] + "/ready", "w").close()
                time.sleep(600)

    x, y, xv, yv = tiny_mnist(128, 64)
    tiny_cnn().fit(x, y, validation_data=(xv, yv), epochs=10, verbose=0,
                   callbacks=[logged, Pause()])
    """
)


@pytest.mark.slow
def test_sigkill_mid_training_keeps_every_finished_epoch(tmp_path):
    k = 2
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_SCRIPT, str(tmp_path), str(k), str(ROOT)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "ready").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the trainer did not start"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    data = read_run(str(tmp_path / "killed"))
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        assert data.history[key].epochs == list(range(k + 1)), key
    assert data.texts(md.TAG_NOTES), "a note was written"
    assert [step for step, *_ in data.images()] == list(range(k + 1))
    assert data.diagnoses()[-1][0] == k
    assert not data.texts(md.TAG_SUMMARY)  # killed: no final summary, nothing else lost


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, sys.argv[2])
    from tests.conftest import tiny_cnn, tiny_mnist
    from tbviz import TBVizCallback

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    x, y, xv, yv = tiny_mnist(128, 64)
    with strategy.scope():
        model = tiny_cnn()
    history = model.fit(x, y, validation_data=(xv, yv), epochs=2, verbose=0,
                        callbacks=[TBVizCallback(log_dir=sys.argv[1], run_name="mirrored")])
    print(history.history["val_loss"])
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    val_loss = [float(v) for v in result.stdout.strip().splitlines()[-1].strip("[]").split(",")]
    data = read_run(str(tmp_path / "mirrored"))
    assert data.history["val_loss"].values == pytest.approx(val_loss, rel=1e-6)
    # The layout a single-device run has: train/, validation/ and one event file.
    entries = os.listdir(tmp_path / "mirrored")
    assert {"train", "validation"} <= set(entries)
    assert len([n for n in entries if "tfevents" in n]) == 1 and len(entries) == 3
    assert data.texts(md.TAG_SUMMARY) and data.images()


# Keras 3's fit() cannot train under MultiWorkerMirroredStrategy at all (it fails
# on PerReplica inputs: keras-team/keras#20585, tensorflow/tensorflow#72388), so
# the workers train with a custom distributed loop and drive TBVizCallback
# exactly as fit() would: set_model, on_train_begin, on_epoch_begin/end, on_train_end.
MULTI_WORKER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import tensorflow as tf
    import keras
    sys.path.insert(0, sys.argv[2])
    from tests.conftest import tiny_cnn, tiny_mnist
    from tbviz import TBVizCallback

    strategy = (tf.distribute.MultiWorkerMirroredStrategy() if os.environ.get("TF_CONFIG")
                else tf.distribute.get_strategy())
    x, y, xv, yv = tiny_mnist(128, 64)
    with strategy.scope():
        model = tiny_cnn()
        loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="none")
    replicas = strategy.num_replicas_in_sync
    train = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(32 * replicas))

    @tf.function
    def step(batch):
        def replica(xb, yb):
            with tf.GradientTape() as tape:
                loss = tf.nn.compute_average_loss(loss_fn(yb, model(xb, training=True)),
                                                  global_batch_size=32 * replicas)
            grads = tape.gradient(loss, model.trainable_variables)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        return strategy.reduce("SUM", strategy.run(replica, args=batch), axis=None)

    callback = TBVizCallback(log_dir=sys.argv[1], run_name="mw", figure_budget=None)
    callback.set_model(model)
    callback.on_train_begin()
    val_losses = []
    for epoch in range(2):
        callback.on_epoch_begin(epoch)
        losses = [float(step(b)) for b in train]
        val = float(np.mean(loss_fn(yv, model(xv, training=False))))
        val_losses.append(val)
        callback.on_epoch_end(epoch, {"loss": float(np.mean(losses)), "val_loss": val})
    callback.on_train_end()
    print(json.dumps(val_losses))
    """
)


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_only_the_chief_writes(tmp_path):
    """Two real worker processes on 127.0.0.1; the log dir must look like one worker's."""
    from tests.conftest import free_port

    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", MULTI_WORKER_SCRIPT, str(tmp_path / "multi"), str(ROOT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **env,
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": i}}
                ),
            },
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=300)
            assert worker.returncode == 0, err[-2000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    single = subprocess.run(
        [sys.executable, "-c", MULTI_WORKER_SCRIPT, str(tmp_path / "single"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert single.returncode == 0, single.stderr[-2000:]

    assert outputs[0] == pytest.approx(outputs[1])  # both workers saw the same logs
    # One run, written once: no "mw-2" from the second worker, no temp folders.
    assert os.listdir(tmp_path / "multi") == ["mw"]

    def layout(run_dir):
        return sorted(
            (os.path.relpath(folder, run_dir), len([f for f in files if "tfevents" in f]))
            for folder, _, files in os.walk(run_dir)
        )

    assert layout(tmp_path / "multi" / "mw") == layout(tmp_path / "single" / "mw")
    multi = read_run(str(tmp_path / "multi" / "mw"))
    single_run = read_run(str(tmp_path / "single" / "mw"))
    assert multi.history["val_loss"].values == pytest.approx(outputs[0], rel=1e-6)
    assert set(multi.root) == set(single_run.root)
    assert [s for s, _ in multi.diagnoses()] == [0, 1]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_escape_as_anything_but_corrupt_event_file(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "events.out.tfevents.0.fuzz"
    path.write_bytes(blob)
    with contextlib.suppress(CorruptEventFile):
        list(iter_events(str(path)))


def test_a_valid_file_with_garbage_appended_keeps_its_good_records(tmp_path):
    with RunLogger(tmp_path, "r", figure_every=0) as run:
        run.log_epoch(0, {"loss": 1.0, "val_loss": 1.2})
    [path] = [p for p in (tmp_path / "r" / "train").iterdir()]
    good = list(iter_events(str(path)))
    path.write_bytes(path.read_bytes() + b"\x05\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xffjunk")
    with pytest.raises(CorruptEventFile, match="bad length checksum"):
        list(iter_events(str(path)))
    assert len(good) >= 2


def test_a_big_file_is_read_in_blocks_with_the_same_records(tmp_path, monkeypatch):
    """Files of histograms or images can make gigabytes: they are read in blocks, so
    memory does not grow with them; records that straddle two blocks, a record
    longer than a block and a record cut short at the end all read as before."""
    from tbviz.logdir import reader

    with RunLogger(tmp_path, "r", figure_budget=None) as run:  # figures: records of KBs
        for epoch in range(4):
            run.log_epoch(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 1.2 - 0.1 * epoch})
    [path] = [p for p in (tmp_path / "r").iterdir() if "tfevents" in p.name]
    whole = list(reader.iter_records(str(path)))
    assert max(map(len, whole)) > 1000  # a figure
    for block in (7, 100, 999):
        monkeypatch.setattr(reader, "READ_BLOCK", block)
        assert list(reader.iter_records(str(path))) == whole
    data = path.read_bytes()
    path.write_bytes(data[:-10])  # the last record cut short: the others stand
    assert list(reader.iter_records(str(path))) == whole[:-1]
    second = 12 + len(whole[0]) + 4  # where the second record starts
    path.write_bytes(data[:second] + b"\xff" * 8 + data[second + 8 :])  # a garbage length
    with pytest.raises(CorruptEventFile, match=f"bad length checksum at byte {second}$"):
        list(reader.iter_records(str(path)))


def test_the_records_before_a_bad_one_are_read_in_every_block_size(tmp_path, monkeypatch):
    """A payload whose checksum fails ends its file, but every record before it
    counts, whether or not it shares a read block with the bad one."""
    from tbviz.logdir import reader

    with RunLogger(tmp_path, "r", figure_every=0) as run:
        for epoch in range(6):
            run.log_epoch(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 1.2 - 0.1 * epoch})
    folder = tmp_path / "r" / "validation"
    [path] = [p for p in folder.iterdir() if "tfevents" in p.name]
    records = list(reader.iter_records(str(path)))
    steps = reader.read_folder(str(folder))["epoch_loss"].steps
    data = bytearray(path.read_bytes())
    at = sum(12 + len(r) + 4 for r in records[:-2]) + 12  # the next-to-last payload
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    for block in (reader.READ_BLOCK, 50):
        monkeypatch.setattr(reader, "READ_BLOCK", block)
        problems: list[str] = []
        found = reader.read_folder(str(folder), problems=problems)
        assert len(problems) == 1 and "bad data checksum" in problems[0]
        assert found["epoch_loss"].steps == steps[: len(found["epoch_loss"].steps)]
        assert len(found["epoch_loss"].steps) >= len(steps) - 2


_VALUE = st.tuples(
    # Tags of one length (loss, lost) share all bytes but their own from the summary on.
    st.sampled_from(["loss", "lost", "val/loss", "é" * 40]) | st.text(max_size=140),
    st.floats(width=32),
    st.sampled_from(["plain", "plain", "plain", "metadata", "tensor"]),
)
_EVENT = st.builds(
    dict,
    wall=st.one_of(st.just(0.0), st.floats(allow_nan=False, width=64)),
    step=st.one_of(st.integers(0, 130), st.integers(-(2**63), 2**63 - 1)),
    values=st.lists(_VALUE, min_size=1, max_size=1) | st.lists(_VALUE, max_size=2),
)


def _record(payload: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, payload, the payload's masked CRC."""
    import struct

    from tbviz.logdir.crc import masked_crc32c

    length = struct.pack("<Q", len(payload))
    checksum = struct.pack("<I", masked_crc32c(length))
    return length + checksum + payload + struct.pack("<I", masked_crc32c(payload))


def _payload(event: dict) -> bytes:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    summary = summary_pb2.Summary()
    for tag, number, kind in event["values"]:
        value = summary.value.add(tag=tag)
        if kind == "tensor":
            value.tensor.dtype = 1
            value.tensor.float_val.append(number)
        else:
            value.simple_value = number
        if kind == "metadata":
            value.metadata.plugin_data.plugin_name = "scalars"
    return event_pb2.Event(
        wall_time=event["wall"], step=event["step"], summary=summary
    ).SerializeToString()


def _plain(event: dict) -> bool:
    """What the bytes-level reading must accept: one simple value, nothing else."""
    return (
        len(event["values"]) == 1
        and event["values"][0][2] == "plain"
        and event["wall"] != 0.0
        and 0 <= event["step"] < 2**63
        and 0 < len(event["values"][0][0].encode()) < 100  # proto3 leaves out an empty tag
    )


def _read_both_ways(folder: str, monkeypatch) -> tuple[dict, dict, int]:
    """A folder read from the bytes and through protobuf alone (NaN made comparable),
    and how many records the first way left to protobuf."""
    import math
    import types

    from tbviz.logdir import reader

    def comparable(found):
        return {
            tag: (
                d.steps,
                ["nan" if isinstance(v, float) and math.isnan(v) else v for v in d.values],
                d.walls,
            )
            for tag, d in found.items()
        }

    parsed = []
    real = reader.event_pb2

    def parse(payload):
        parsed.append(payload)
        return real.Event.FromString(payload)

    with monkeypatch.context() as patch:
        patch.setattr(
            reader,
            "event_pb2",
            types.SimpleNamespace(Event=types.SimpleNamespace(FromString=parse)),
        )
        fast = comparable(reader.read_folder(folder))
    with monkeypatch.context() as patch:
        patch.setattr(reader, "_simple_tail", lambda *args: None)
        slow = comparable(reader.read_folder(folder))
    return fast, slow, len(parsed)


@settings(max_examples=300, deadline=None)
@given(st.lists(_EVENT, min_size=1, max_size=4))
@example(  # tags of one length: the bytes that vouch for a tag must hold the tag
    [
        {"wall": 1.0, "step": 1, "values": [("loss", 0.5, "plain")]},
        {"wall": 1.0, "step": 2, "values": [("lost", 0.25, "plain")]},
        {"wall": 1.0, "step": 3, "values": [("loss", 0.125, "metadata")]},
        {"wall": 1.0, "step": 300, "values": [("loss", 0.0625, "plain")]},
    ]
)
def test_scalars_read_from_their_bytes_are_what_protobuf_reads(events):
    """The bytes-level reading of one-value simple scalars (most records of a
    PyTorch log directory) agrees with protobuf on every file of events, and
    takes every plain one: a tag's bytes checked at its first record vouch for
    its later records only where they are the same."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as monkeypatch:
        path = os.path.join(folder, "events.out.tfevents.1.x")
        with open(path, "wb") as out:
            out.write(b"".join(_record(_payload(e)) for e in events))
        fast, slow, parsed = _read_both_ways(folder, monkeypatch)
    assert fast == slow
    assert parsed <= sum(not _plain(e) for e in events)  # every plain one from its bytes


def test_a_torch_log_reads_the_same_from_its_bytes_as_through_protobuf(tmp_path, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    from tbviz.logdir import reader

    writer = SummaryWriter(str(tmp_path))
    for step in (0, 1, 2, 300, 70000, 2, 3):  # a restart from step 2 drops what follows
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        writer.add_scalars("acc", {"train": 0.5, "val": 0.25 + step % 7}, step)
        writer.add_text("note", f"step {step}", step)
    writer.close()
    folders = [str(tmp_path)] + [str(p) for p in tmp_path.iterdir() if p.is_dir()]
    read = [_read_both_ways(f, monkeypatch) for f in folders]
    assert [fast for fast, _, _ in read] == [slow for _, slow, _ in read]
    # Protobuf decoded each file's header and the texts; every scalar was read from its bytes.
    files = sum(len(reader.event_files(f)) for f in folders)
    assert sum(parsed for _, _, parsed in read) == files + 7
    assert read[0][0]["train/loss"][0] == [0, 1, 2, 3]


def test_an_empty_record_reads_as_an_empty_event(tmp_path):
    """A record of no bytes is a valid (empty) Event: the folder still reads."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    from tbviz.logdir.reader import read_folder

    value = summary_pb2.Summary.Value(tag="loss", simple_value=0.5)
    summary = summary_pb2.Summary(value=[value])
    scalar = event_pb2.Event(wall_time=1.0, step=3, summary=summary).SerializeToString()
    (tmp_path / "events.out.tfevents.1.x").write_bytes(_record(b"") + _record(scalar))
    found = read_folder(str(tmp_path))
    assert found["loss"].steps == [3] and found["loss"].values == [0.5]
