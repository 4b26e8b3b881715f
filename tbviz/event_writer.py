"""Write TensorBoard event files without TensorFlow, for the ``tbviz`` command.

``tbviz compare`` and ``tbviz annotate`` write a handful of summaries into a
local log directory and must start fast, so they frame TFRecords themselves
(length, masked CRC-32C of the length, payload, masked CRC-32C of the payload:
the format :mod:`tbviz.event_reader` checks) instead of importing TensorFlow's
writer. Training uses :class:`tbviz.summary_writer.RunWriter`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time

from tensorboard.compat.proto import event_pb2, summary_pb2

from tbviz.crc import masked_crc32c

_FILE_VERSION = "brain.Event:2"


class EventFileWriter:
    """Write events to a new ``events.out.tfevents.*`` file in ``folder``, all or nothing.

    Each writer makes its own file (TensorBoard reads every event file of a
    folder, in name order), so writing never touches files written before.
    The file is written under a temporary name that TensorBoard ignores and
    gets its ``tfevents`` name only in :meth:`close`; leaving the ``with``
    block by an exception deletes it. A reader never sees half an
    annotation, and a re-run after a crash starts clean.

    Args:
        folder: a local folder; created if missing.
    """

    def __init__(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        now = time.time()
        name = (
            f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}"
            f".{os.getpid()}.{time.monotonic_ns()}.tbviz"
        )
        self.path = os.path.join(folder, name)
        self._partial = os.path.join(folder, f".partial-{name.replace('tfevents', 'events')}")
        self._file = open(self._partial, "wb")  # noqa: SIM115 - closed in close()
        self._write(event_pb2.Event(wall_time=now, file_version=_FILE_VERSION))

    def add(self, step: int, values: list[summary_pb2.Summary.Value]) -> None:
        """Write ``values`` (see :mod:`tbviz.summaries`) as one event at ``step``."""
        self._write(
            event_pb2.Event(
                wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=values)
            )
        )

    def _write(self, event: event_pb2.Event) -> None:
        payload = event.SerializeToString()
        header = struct.pack("<Q", len(payload))
        self._file.write(
            header
            + struct.pack("<I", masked_crc32c(header))
            + payload
            + struct.pack("<I", masked_crc32c(payload))
        )

    def close(self) -> None:
        """Flush the file to disk and give it its ``tfevents`` name."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._partial, self.path)

    def discard(self) -> None:
        """Close and delete the file: nothing of it is left for TensorBoard."""
        if not self._file.closed:
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._partial)

    def __enter__(self) -> EventFileWriter:
        return self

    def __exit__(self, exc_type, *exc_info: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()
