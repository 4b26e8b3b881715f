"""Metric histories: what was logged at which epoch, paired into train/validation.

Keras reports an epoch as one flat ``logs`` dict (``loss``, ``accuracy``,
``val_loss``, ``val_accuracy``, ...). Everything downstream (the scalar writer,
the figures, the overfitting detector) wants the same data per *metric*, with
training and validation side by side. This module does that pairing once, keeps
the epoch index of every value (a metric may appear only from some epoch on, a
resumed run may not start at 0), and tells which way each metric is better
(:mod:`tbviz.core.directions`).

Pure Python: no TensorFlow, no Keras (numpy only to convert a logged array).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tbviz.core.directions import VALIDATION_PREFIX, base_name, metric_direction

__all__ = [
    "VALIDATION_PREFIX",
    "History",
    "MetricPair",
    "Series",
    "as_history",
    "base_name",
    "is_validation",
    "metric_direction",
    "numeric_logs",
    "to_float",
]


def is_validation(key: str) -> bool:
    """True for Keras' validation keys (``val_`` prefix)."""
    return key.startswith(VALIDATION_PREFIX) and len(key) > len(VALIDATION_PREFIX)


def to_float(value: object) -> float:
    """Convert a logged value (float, numpy scalar, 0-d tensor) to a Python float."""
    if type(value) in (float, int):
        return float(value)
    if hasattr(value, "numpy"):
        value = value.numpy()  # an eager tensor
    import numpy as np  # numpy scalars and 0-d arrays, which come with numpy loaded

    return float(np.asarray(value, dtype=np.float64).reshape(()))


def numeric_logs(logs: Mapping[str, object]) -> dict[str, float]:
    """The entries of a Keras ``logs`` dict that are numbers, as floats; others dropped."""
    numbers = {}
    for key, value in logs.items():
        try:
            numbers[str(key)] = to_float(value)
        except (TypeError, ValueError):
            continue
    return numbers


@dataclass
class Series:
    """One metric in one split: values with the epoch (0-based) each belongs to."""

    epochs: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, epoch: int, value: float) -> None:
        """Record ``value`` at ``epoch``; a repeated epoch replaces the old value."""
        if self.epochs and epoch <= self.epochs[-1]:
            keep = [i for i, e in enumerate(self.epochs) if e < epoch]
            self.epochs = [self.epochs[i] for i in keep]
            self.values = [self.values[i] for i in keep]
        self.epochs.append(epoch)
        self.values.append(value)

    def __len__(self) -> int:
        return len(self.values)

    def value_at(self, epoch: int) -> float | None:
        """The value logged at ``epoch``, or None if there is none (epochs are sorted)."""
        i = bisect.bisect_left(self.epochs, epoch)
        return self.values[i] if i < len(self.epochs) and self.epochs[i] == epoch else None


@dataclass(frozen=True)
class MetricPair:
    """Training and validation series of one metric (either may be missing)."""

    name: str
    train: Series | None
    validation: Series | None

    @property
    def direction(self) -> str:
        """``"min"`` or ``"max"``: see :func:`metric_direction`."""
        return metric_direction(self.name)


class History:
    """Per-epoch metric values of one run, keyed the way Keras names them.

    Build it epoch by epoch with :meth:`record` (as a callback does), or from a
    finished ``keras.callbacks.History.history`` dict with :meth:`from_keras`.
    """

    def __init__(self) -> None:
        self._series: dict[str, Series] = {}

    @classmethod
    def from_keras(cls, history: Mapping[str, Sequence[float]], first_epoch: int = 0) -> History:
        """Build from a ``History.history``-style dict: key -> one value per epoch."""
        result = cls()
        for key, values in history.items():
            series = result._series.setdefault(str(key), Series())
            for offset, value in enumerate(values):
                series.add(first_epoch + offset, to_float(value))
        return result

    def record(self, epoch: int, logs: Mapping[str, object]) -> None:
        """Add one epoch's ``logs``; values that are not numbers are ignored."""
        for key, number in numeric_logs(logs).items():
            self._series.setdefault(key, Series()).add(int(epoch), number)

    def record_series(self, key: str, series: Series) -> None:
        """Set the whole series of ``key`` (as read back from an event file)."""
        self._series[key] = series

    def __contains__(self, key: object) -> bool:
        return key in self._series

    def __iter__(self):
        return iter(list(self._series))

    def __getitem__(self, key: str) -> Series:
        return self._series[key]

    def get(self, key: str) -> Series | None:
        """The series of ``key``, or None if it was never logged."""
        return self._series.get(key)

    def keys(self) -> list[str]:
        """Every logged key, in the order first seen."""
        return list(self._series)

    def epochs(self) -> list[int]:
        """Every epoch that has at least one value, sorted."""
        return sorted({e for s in self._series.values() for e in s.epochs})

    @property
    def last_epoch(self) -> int | None:
        """The latest epoch logged, or None for an empty history."""
        epochs = self.epochs()
        return epochs[-1] if epochs else None

    def metric_names(self) -> list[str]:
        """Base metric names (``val_`` stripped), ``loss`` first, then first-seen order."""
        names: list[str] = []
        for key in self._series:
            name = base_name(key) if is_validation(key) else key
            if name not in names:
                names.append(name)
        if "loss" in names:
            names.remove("loss")
            names.insert(0, "loss")
        return names

    def pair(self, name: str) -> MetricPair:
        """Training and validation series of metric ``name``."""
        return MetricPair(
            name=name,
            train=self._series.get(name),
            validation=self._series.get(VALIDATION_PREFIX + name),
        )

    def pairs(self) -> list[MetricPair]:
        """One :class:`MetricPair` per metric, in :meth:`metric_names` order."""
        return [self.pair(name) for name in self.metric_names()]

    def paired(self) -> list[str]:
        """Metrics with both a training and a validation series: the comparisons."""
        return [p.name for p in self.pairs() if p.train is not None and p.validation is not None]

    def rows(self) -> list[tuple[int, dict[str, float]]]:
        """Every epoch with its values, in epoch order (one pass over the series)."""
        rows: dict[int, dict[str, float]] = {}
        for key, series in self._series.items():
            for epoch, value in zip(series.epochs, series.values, strict=True):
                rows.setdefault(epoch, {})[key] = value
        return sorted(rows.items())

    def values_at(self, epoch: int) -> dict[str, float]:
        """Every key's value at ``epoch`` (keys without one are left out)."""
        found = {key: series.value_at(epoch) for key, series in self._series.items()}
        return {key: value for key, value in found.items() if value is not None}

    def to_keras(self) -> dict[str, list[float]]:
        """A ``History.history``-style dict (values only, epochs dropped)."""
        return {key: list(series.values) for key, series in self._series.items()}


def as_history(history: History | Mapping[str, Sequence[float]]) -> History:
    """Accept a :class:`History` or a Keras ``History.history`` dict."""
    if isinstance(history, History):
        return history
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        history = history.history  # a keras.callbacks.History object
    if not isinstance(history, Mapping):
        raise TypeError(
            "expected a dict of metric name -> per-epoch values (Keras' "
            f"History.history) or a tbviz History, got {type(history).__name__}"
        )
    return History.from_keras(history)
