"""Keep TensorFlow's native start-up lines out of the trainer's output.

TensorFlow's C++ code logs through absl before anything can configure it:
``WARNING: All log messages before absl::InitializeLog() ...``, oneDNN and
CUDA notices, CPU feature hints. ``TF_CPP_MIN_LOG_LEVEL`` no longer silences
all of them. They are written to file descriptor 2 directly, so Python's
``sys.stderr`` cannot filter them either. :func:`native_noise_filtered`
points descriptor 2 at a pipe for the duration, and a thread passes every
line on to the real stderr except those start-up notices; errors, warnings
from Python and tracebacks go through as they come.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

_ABSL_LINE = re.compile(r"^[IW]\d{4} [\d:. ]+\d+ [\w.]+:\d+\] ")
_NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "To enable the following instructions:",
    "failed call to cuInit",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "computation placer already registered",
    "TF-TRT Warning",
)


def is_native_noise(line: str) -> bool:
    """True for TensorFlow's native start-up chatter (info/warning lines, CUDA notices)."""
    return bool(_ABSL_LINE.match(line)) or any(text in line for text in _NOISE)


@contextlib.contextmanager
def native_noise_filtered() -> Iterator[None]:
    """Drop TensorFlow's native start-up lines from stderr while the block runs."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded, some notebooks)
        yield
        return
    read_end, write_end = os.pipe()
    relay_out = os.dup(saved)  # the relay's own copy: ``saved`` is closed on the way out
    os.dup2(write_end, 2)
    os.close(write_end)

    def relay() -> None:
        with os.fdopen(read_end, "rb") as pipe, os.fdopen(relay_out, "wb", 0) as out:
            for raw in pipe:
                if not is_native_noise(raw.decode("utf-8", "replace")):
                    out.write(raw)

    thread = threading.Thread(target=relay, name="tbviz-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the relay sees the end
        os.close(saved)
        thread.join(timeout=5)
