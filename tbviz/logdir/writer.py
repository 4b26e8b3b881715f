"""Write TensorBoard event files without TensorFlow: the one writer tbviz has.

Every event file tbviz writes, during training (:class:`RunWriter`, used by
``RunLogger``) and after it (``tbviz compare``, ``tbviz annotate``), is framed
here as TFRecords: length, masked CRC-32C of the length, payload, masked
CRC-32C of the payload, the format TensorBoard, tbparse and
:mod:`tbviz.logdir.reader` read. Files go through :mod:`tbviz.logdir.storage`, so a
log directory may be local or a URL (``s3://``, ``gs://``, ``memory://``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import struct
import threading
import time
from collections.abc import Mapping

from tensorboard.compat.proto import event_pb2, summary_pb2

from tbviz.errors import LogDirError
from tbviz.logdir import metadata, storage, summaries
from tbviz.logdir.crc import masked_crc32c

_FILE_VERSION = "brain.Event:2"
_SPLIT_DIRS = {"train": metadata.TRAIN_DIR, "validation": metadata.VALIDATION_DIR}
_COUNTER = itertools.count()


def frame(payload: bytes) -> bytes:
    """One TFRecord: the payload with its length and both checksums."""
    header = struct.pack("<Q", len(payload))
    return (
        header
        + struct.pack("<I", masked_crc32c(header))
        + payload
        + struct.pack("<I", masked_crc32c(payload))
    )


def prepare_run_dir(run_dir: str) -> None:
    """Create ``run_dir`` (and parents) or raise :class:`LogDirError` saying why not."""
    try:
        if storage.exists(run_dir) and not storage.isdir(run_dir):
            raise LogDirError(
                f"cannot log to {run_dir!r}: a file is in the way; remove it or choose "
                "another log_dir/run_name"
            )
        storage.makedirs(run_dir)
    except (LogDirError, storage.StorageError):
        raise
    except Exception as err:  # OSError, or a remote file system's own errors
        detail = getattr(err, "message", None) or str(err) or type(err).__name__
        raise LogDirError(
            f"cannot create the log directory {run_dir!r}: {detail}. Check the path and "
            "that you may write there."
        ) from err


class EventFileWriter:
    """Write events to a new ``events.out.tfevents.*`` file in ``folder``.

    Each writer makes its own file (TensorBoard reads every event file of a
    folder, in name order), so writing never touches files written before.

    Args:
        folder: a local folder or URL; created if missing.
        atomic: all or nothing (``tbviz compare``/``annotate``): the file
            appears only in :meth:`close`, and leaving the ``with`` block by
            an exception leaves nothing behind. Otherwise (live training) the
            file is visible at once and grows at each :meth:`flush`.
    """

    def __init__(self, folder: str, *, atomic: bool = True) -> None:
        storage.makedirs(folder)
        now = time.time()
        name = (
            f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}"
            f".{os.getpid()}.{next(_COUNTER)}.tbviz"
        )
        self.path = storage.join(folder, name)
        self.atomic = atomic
        self._closed = False
        local = not storage.is_url(folder)
        if atomic and local:
            self._partial = os.path.join(folder, f".partial-{name.replace('tfevents', 'events')}")
            self._file = open(self._partial, "wb")  # noqa: SIM115 - closed in close()
            self._buffer = None
        elif atomic:
            self._file, self._buffer = None, bytearray()  # one upload, in close()
        else:
            self._file, self._buffer = storage.LiveFile(self.path), None
        self._write(event_pb2.Event(wall_time=now, file_version=_FILE_VERSION))

    def add(self, step: int, values: list[summary_pb2.Summary.Value]) -> None:
        """Write ``values`` (see :mod:`tbviz.logdir.summaries`) as one event at ``step``."""
        if not values:
            return
        self._write(
            event_pb2.Event(
                wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=values)
            )
        )

    def _write(self, event: event_pb2.Event) -> None:
        record = frame(event.SerializeToString())
        if self._buffer is not None:
            self._buffer += record
        else:
            self._file.write(record)

    def flush(self) -> None:
        """Make what was written visible to readers (live files only)."""
        if not self.atomic and not self._closed:
            self._file.flush()

    def close(self) -> None:
        """Write everything out; an atomic file gets its ``tfevents`` name now."""
        if self._closed:
            return
        self._closed = True
        if self._buffer is not None:
            storage.write_bytes(self.path, bytes(self._buffer))
        elif self.atomic:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._partial, self.path)
        else:
            self._file.close()

    def discard(self) -> None:
        """Close without writing an atomic file: nothing of it is left for TensorBoard."""
        if self._closed:
            return
        self._closed = True
        if self._buffer is not None:
            self._buffer = None
        elif self.atomic:
            self._file.close()
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._partial)
        else:
            self._file.close()

    def __enter__(self) -> EventFileWriter:
        return self

    def __exit__(self, exc_type, *exc_info: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


class RunWriter:
    """The live event files of one run: ``train/``, ``validation/`` and the run folder.

    Files are created on first use and stay visible while training; nothing
    reaches the disk (or the object store) until :meth:`flush`, which the
    logger calls once an epoch. Safe to use from the figure thread.

    Args:
        run_dir: ``LOGDIR/<run>``, local or a URL; created if missing.
    """

    def __init__(self, run_dir: str) -> None:
        prepare_run_dir(run_dir)
        self.run_dir = run_dir
        self._writers: dict[str, EventFileWriter] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _write_values(self, split: str | None, step: int, values: list) -> None:
        if not values:
            return
        key = split or ""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the event files of {self.run_dir} are closed")
            writer = self._writers.get(key)
            if writer is None:
                folder = storage.join(self.run_dir, _SPLIT_DIRS[split]) if split else self.run_dir
                writer = self._writers[key] = EventFileWriter(folder, atomic=False)
            writer.add(step, values)

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
        """``Summary.Value`` protos from :mod:`tbviz.logdir.summaries`, into the run folder."""
        self._write_values(None, step, values)

    def write_figure(self, figure, step: int) -> None:
        """The comparison figure, PNG bytes as they are; flushed at once.

        Figures arrive from the renderer between epochs: each one is made
        durable as soon as it is written.
        """
        value = summaries.image_value(metadata.TAG_FIGURE, [figure], metadata.FIGURE_DESCRIPTION)
        self._write_values(None, step, [value])
        self.flush()

    def write_text(self, tag: str, markdown: str, step: int, description: str) -> None:
        """A markdown text summary in the run folder."""
        self._write_values(None, step, [summaries.text_value(tag, markdown, description)])

    def flush(self) -> None:
        """Push everything written so far to the files."""
        with self._lock:
            for writer in self._writers.values():
                writer.flush()

    def close(self) -> None:
        """Flush and close every file; the object cannot be used afterwards."""
        with self._lock:
            writers = list(self._writers.values())
            self._writers.clear()
            self._closed = True
        for writer in writers:
            writer.close()
