"""Where log directories live: local paths, and URLs through fsspec or TensorFlow.

Every file tbviz reads or writes goes through this module, so local folders,
``s3://``, ``gs://``, ``memory://`` and ``file://`` log directories behave the
same for the writer, the reader and every command. A path is a URL when it
has a scheme (``scheme://``). URLs are opened with fsspec, which TensorBoard
itself uses when TensorFlow is absent; a scheme fsspec does not know (such as
TensorFlow's ``ram://``) goes through ``tf.io.gfile`` when TensorFlow is
already imported (training with Keras). A missing file-system package is a
:class:`StorageError` that names what to install (``pip install s3fs``).

Object stores cannot append to a file, so :class:`LiveFile` keeps what it
wrote and uploads the whole file again at each flush (a run's event files are
small: tens of KB an epoch with figures); local files are appended to.
TensorFlow's ``ram://`` appends on a rewrite, so nothing is rewritten there.
"""

from __future__ import annotations

import os
import posixpath
import sys
from typing import Any, BinaryIO

from tbviz.errors import TbvizError

#: The package each common fsspec scheme needs, for the install hint.
_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "hdfs": "pyarrow",
}


class StorageError(TbvizError, OSError):
    """A log directory URL cannot be used: unknown scheme or missing package."""


def is_url(path: str) -> bool:
    """True for ``scheme://...`` paths (``file://`` included)."""
    return "://" in path


def scheme(path: str) -> str:
    """The URL scheme of ``path`` (``"s3"``), or ``""`` for a local path."""
    return path.split("://", 1)[0].lower() if is_url(path) else ""


def join(base: str, *parts: str) -> str:
    """``base/part/...`` for local paths and URLs alike; parts may hold ``/``."""
    pieces = [p for part in parts for p in part.split("/") if p]
    if is_url(base):
        return posixpath.join(base, *pieces)
    return os.path.join(base, *pieces)


def _backend(path: str) -> tuple[str, Any, str]:
    """("local", None, path), ("fsspec", fs, fs_path) or ("gfile", tf.io.gfile, path)."""
    if not is_url(path):
        return "local", None, path
    name = scheme(path)
    try:
        import fsspec
    except ImportError:
        fsspec = None
    missing = None
    if fsspec is not None and name in fsspec.available_protocols():
        try:
            fs, fs_path = fsspec.core.url_to_fs(path)
        except ImportError as err:
            missing = err  # TensorFlow may still have it (gs:// in a Keras process)
        else:
            return "fsspec", fs, fs_path
    gfile = _tensorflow_gfile()
    if gfile is not None and _gfile_knows(gfile, name):
        return "gfile", gfile, path
    if missing is not None:
        package = _PACKAGES.get(name, f"the fsspec implementation of {name}://")
        raise StorageError(
            f"{path}: reading or writing {name}:// needs {package}: pip install {package}"
        ) from missing
    if fsspec is None:
        raise StorageError(f"{path}: URLs need fsspec: pip install fsspec")
    raise StorageError(
        f"{path}: no file system knows {name}:// (fsspec does not, and TensorFlow, whose "
        "tf.io.gfile might, is not in use)"
    )


def _tensorflow_gfile():
    """``tf.io.gfile`` if TensorFlow is already imported (a Keras user's process);
    never imported here, so a URL never costs TensorFlow's start-up."""
    tf = sys.modules.get("tensorflow")
    return getattr(getattr(tf, "io", None), "gfile", None)


_GFILE_SCHEMES: dict[str, bool] = {}


def _gfile_knows(gfile, name: str) -> bool:
    """Whether TensorFlow has a file system for ``name://`` (asked once per scheme)."""
    if name not in _GFILE_SCHEMES:
        try:
            gfile.exists(f"{name}://tbviz-probe/")
            _GFILE_SCHEMES[name] = True
        except Exception as err:  # tf.errors.UnimplementedError for unknown schemes
            _GFILE_SCHEMES[name] = "not implemented" not in str(err).lower()
    return _GFILE_SCHEMES[name]


def exists(path: str) -> bool:
    kind, fs, p = _backend(path)
    if kind == "local":
        return os.path.exists(p)
    return bool(fs.exists(p))


def isdir(path: str) -> bool:
    kind, fs, p = _backend(path)
    if kind == "local":
        return os.path.isdir(p)
    return bool(fs.isdir(p))


def makedirs(path: str) -> None:
    """Create ``path`` and its parents (a no-op on object stores, which have no folders)."""
    kind, fs, p = _backend(path)
    if kind == "local":
        os.makedirs(p, exist_ok=True)
    elif kind == "gfile":
        fs.makedirs(p)
    else:
        fs.makedirs(p, exist_ok=True)


def listdir(path: str) -> list[str]:
    """Names (not paths) of the entries directly inside ``path``; [] if it is not a folder."""
    kind, fs, p = _backend(path)
    try:
        if kind == "local":
            return os.listdir(p)
        if kind == "gfile":
            return [n.rstrip("/") for n in fs.listdir(p)] if fs.isdir(p) else []
        if not fs.isdir(p):
            return []
        return [posixpath.basename(e.rstrip("/")) for e in fs.ls(p, detail=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def walk_dirs(path: str) -> list[str]:
    """Every folder under ``path`` (itself included), as paths in the same form."""
    kind, fs, p = _backend(path)
    if kind == "local":
        return [root for root, _, _ in os.walk(p)]
    if kind == "gfile":
        return [root for root, _, _ in fs.walk(p)]
    prefix = path.split("://", 1)[0] + "://"
    found = []
    for root, _, _ in fs.walk(p):
        root = root if root.startswith(prefix) else prefix + root.lstrip("/")
        found.append(root)
    return found or [path]


def open_read(path: str) -> BinaryIO:
    """``path`` opened for reading bytes, on any backend (use it in a ``with``)."""
    kind, fs, p = _backend(path)
    if kind == "local":
        return open(p, "rb")  # the caller closes it
    if kind == "gfile":
        return fs.GFile(p, "rb")
    return fs.open(p, "rb")


def read_head(path: str, size: int) -> bytes:
    """The first ``size`` bytes of ``path`` (fewer if it is shorter)."""
    with open_read(path) as stream:
        return stream.read(size)


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` as the whole content of ``path`` (replacing it)."""
    kind, fs, p = _backend(path)
    if kind == "local":
        with open(p, "wb") as stream:
            stream.write(data)
    elif kind == "gfile":
        with fs.GFile(p, "wb") as stream:
            stream.write(data)
    else:
        fs.pipe_file(p, data)


class LiveFile:
    """A file that grows by appends and that readers see up to the last :meth:`flush`.

    Local files are opened for appending and flushed; on object stores the
    bytes are kept and the whole file is written again at each flush.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        kind, fs, p = _backend(path)
        # Local files append; tf.io.gfile files are kept open and flushed (as
        # TensorFlow's own summary writer does: its gs:// files upload on
        # flush); fsspec object stores get the whole file again at each flush.
        if kind == "local":
            self._local = open(p, "ab")  # noqa: SIM115 - closed in close()
        elif kind == "gfile":
            self._local = fs.GFile(p, "wb")
        else:
            self._local = None
        self._buffer = bytearray()
        self._dirty = False

    def write(self, data: bytes) -> None:
        if self._local is not None:
            self._local.write(data)
        else:
            self._buffer += data
        self._dirty = True

    def flush(self) -> None:
        if not self._dirty:
            return
        if self._local is not None:
            self._local.flush()
        else:
            write_bytes(self.path, bytes(self._buffer))
        self._dirty = False

    def close(self) -> None:
        self.flush()
        if self._local is not None:
            self._local.close()
