"""The one module that calls ``tf.summary``: scalars, images, text, tensors.

``RunWriter`` owns the three event-file writers of a run (``train/``,
``validation/`` and the run folder itself) and writes each kind of summary
with the tags and metadata defined in :mod:`tbviz.metadata`. Files go through
``tf.io.gfile``, so remote log directories (``gs://...``) work as they do for
Keras.
"""

from __future__ import annotations

import json
import math
import posixpath
import threading
from collections.abc import Mapping

import tensorflow as tf
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.util import tensor_util

from tbviz import metadata
from tbviz.errors import LogDirError
from tbviz.figures import RenderedFigure

_SPLIT_DIRS = {"train": metadata.TRAIN_DIR, "validation": metadata.VALIDATION_DIR}


def prepare_run_dir(run_dir: str) -> None:
    """Create ``run_dir`` (and parents) or raise :class:`LogDirError` saying why not."""
    try:
        if tf.io.gfile.exists(run_dir) and not tf.io.gfile.isdir(run_dir):
            raise LogDirError(
                f"cannot log to {run_dir!r}: a file is in the way; remove it or choose "
                "another log_dir/run_name"
            )
        tf.io.gfile.makedirs(run_dir)
    except LogDirError:
        raise
    except (tf.errors.OpError, OSError) as err:
        detail = getattr(err, "message", None) or str(err)
        raise LogDirError(
            f"cannot create the log directory {run_dir!r}: {detail}. Check the path and "
            "that you may write there."
        ) from err


class RunWriter:
    """Summary writers of one run folder, created on first use.

    Args:
        run_dir: ``LOGDIR/<run>``; created if missing.
    """

    def __init__(self, run_dir: str) -> None:
        prepare_run_dir(run_dir)
        self.run_dir = run_dir
        self._writers: dict[str, tf.summary.SummaryWriter] = {}
        self._lock = threading.Lock()  # figures are written from a worker thread
        self._closed = False

    def _writer(self, split: str | None) -> tf.summary.SummaryWriter:
        key = split or ""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the summary writers of {self.run_dir} are closed")
            if key not in self._writers:
                folder = posixpath.join(self.run_dir, _SPLIT_DIRS[split]) if split else self.run_dir
                # Flushing is ours to decide (once per epoch); a long queue keeps
                # TensorFlow from flushing on its own in the middle of an epoch.
                self._writers[key] = tf.summary.create_file_writer(
                    folder, max_queue=1000, flush_millis=10 * 60 * 1000
                )
            return self._writers[key]

    def _write_values(self, split: str | None, step: int, values: list) -> None:
        """Write ``Summary.Value`` protos as one event: one TensorFlow op, not one per tag.

        ``tf.summary.scalar`` costs about half a millisecond per call on the
        training thread; a run logs a dozen values an epoch.
        """
        if not values:
            return
        summary = summary_pb2.Summary(value=values)
        with self._writer(split).as_default():
            tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)

    def write_scalars(self, split: str, step: int, values: Mapping[str, float]) -> None:
        """One ``epoch_<metric>`` scalar per entry, into ``train/`` or ``validation/``."""
        if split not in _SPLIT_DIRS:
            raise ValueError(f"split must be 'train' or 'validation', got {split!r}")
        self._write_values(
            split, step, _scalars({metadata.scalar_tag(k): v for k, v in values.items()})
        )

    def write_batch_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """``batch_<metric>`` training scalars (not flushed: the epoch flushes)."""
        self._write_values(
            "train", step, _scalars({metadata.batch_tag(k): v for k, v in values.items()})
        )

    def write_detector_state(
        self,
        step: int,
        epochs_since_best: int | None,
        generalization_loss: float | None,
        gaps: Mapping[str, float],
    ) -> None:
        """The detector's numbers as scalars in the run folder, to chart them."""
        values = {
            metadata.TAG_EPOCHS_SINCE_BEST: epochs_since_best,
            metadata.TAG_GENERALIZATION_LOSS: generalization_loss,
            **{metadata.gap_tag(name): gap for name, gap in gaps.items()},
        }
        finite = {t: v for t, v in values.items() if v is not None and math.isfinite(v)}
        self._write_values(None, step, _scalars(finite))

    def write_figure(self, figure: RenderedFigure, step: int) -> None:
        """The comparison figure, PNG bytes as they are (no decode and re-encode)."""
        tensor = tf.constant([str(figure.width), str(figure.height), figure.png], dtype=tf.string)
        meta = image_metadata.create_summary_metadata(
            display_name=metadata.TAG_FIGURE, description=metadata.FIGURE_DESCRIPTION
        )
        writer = self._writer(None)
        with writer.as_default():
            tf.summary.write(metadata.TAG_FIGURE, tensor, step=step, metadata=meta)
        writer.flush()  # figures arrive between epochs: make each one durable

    def write_text(self, tag: str, markdown: str, step: int, description: str) -> None:
        """A markdown text summary in the run folder."""
        with self._writer(None).as_default():
            tf.summary.text(tag, markdown, step=step, description=description)

    def write_diagnosis(self, diagnosis: Mapping, step: int) -> None:
        """The structured diagnosis as a JSON string tensor with tbviz metadata."""
        payload = json.dumps(diagnosis, sort_keys=True, allow_nan=False)
        value = summary_pb2.Summary.Value(
            tag=metadata.TAG_DIAGNOSIS,
            tensor=tensor_util.make_tensor_proto(payload.encode("utf-8")),
            metadata=metadata.create_diagnosis_metadata(),
        )
        self._write_values(None, step, [value])

    def flush(self) -> None:
        """Push everything written so far to disk."""
        with self._lock:
            writers = list(self._writers.values())
        for writer in writers:
            writer.flush()

    def close(self) -> None:
        """Flush and close every writer; the object cannot be used afterwards."""
        with self._lock:
            writers = list(self._writers.values())
            self._writers.clear()
            self._closed = True
        for writer in writers:
            writer.close()


def _scalars(values: Mapping[str, float]) -> list:
    """Scalar-plugin ``Summary.Value`` protos (float32, as ``tf.summary.scalar`` writes)."""
    return [scalar_summary.scalar_pb(tag, value).value[0] for tag, value in values.items()]
