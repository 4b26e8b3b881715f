"""The one module that calls ``tf.summary``: scalars, images, text, tensors.

``RunWriter`` owns the three event-file writers of a run (``train/``,
``validation/`` and the run folder itself) and writes each kind of summary
with the tags and metadata defined in :mod:`tbviz.metadata`. Files go through
``tf.io.gfile``, so remote log directories (``gs://...``) work as they do for
Keras.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Mapping

import tensorflow as tf
from tensorboard.compat.proto import summary_pb2

from tbviz import metadata, summaries
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
            split,
            step,
            summaries.scalar_values({metadata.scalar_tag(k): v for k, v in values.items()}),
        )

    def write_batch_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """``batch_<metric>`` training scalars (not flushed: the epoch flushes)."""
        self._write_values(
            "train",
            step,
            summaries.scalar_values({metadata.batch_tag(k): v for k, v in values.items()}),
        )

    def write_run_values(self, step: int, values: list) -> None:
        """``Summary.Value`` protos from :mod:`tbviz.summaries`, into the run folder."""
        self._write_values(None, step, values)

    def write_figure(self, figure: RenderedFigure, step: int) -> None:
        """The comparison figure, PNG bytes as they are; flushed at once.

        Figures arrive from the renderer between epochs: each one is made
        durable as soon as it is written.
        """
        value = summaries.image_value(metadata.TAG_FIGURE, [figure], metadata.FIGURE_DESCRIPTION)
        self._write_values(None, step, [value])
        self._writer(None).flush()

    def write_text(self, tag: str, markdown: str, step: int, description: str) -> None:
        """A markdown text summary in the run folder."""
        self._write_values(None, step, [summaries.text_value(tag, markdown, description)])

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
