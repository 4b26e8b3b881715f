"""What a training history says about a run: the diagnosis and its schema.

``diagnose(history)`` reads a Keras-style history (``loss``, ``val_loss``,
...) and decides whether the run is improving, on a plateau, overfitting, not
learning, diverged, or cannot be judged (no validation data, or no such
monitored metric). ``RunDiagnoser`` does the same one epoch at a time, which
is how the callback and ``RunLogger`` use it; ``diagnose`` is that replayed
over the whole history, so streaming and post-hoc verdicts agree at every
epoch and both cost linear time in the number of epochs.

The overfitting rules live in :mod:`tbviz.core.detector`; this module adds the
run-wide verdicts (divergence, not learning, a missing monitor), what
``keras.callbacks.EarlyStopping`` would have done on the same curve, and the
result, :class:`Diagnosis`, with its versioned dict layout and plain words,
is defined in :mod:`tbviz.core.verdicts` (and importable from here); the
markdown notes come from :mod:`tbviz.core.notes`.

Pure Python: importing this module imports neither TensorFlow nor numpy.
"""

from __future__ import annotations

import collections
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tbviz.core import directions as dirs
from tbviz.core.detector import DetectorSettings, MetricDetector
from tbviz.core.history import History, as_history, base_name, is_validation
from tbviz.core.verdicts import (
    DIAGNOSIS_VERSION,
    LEARNING_RATE_KEYS,
    STATUSES,
    Diagnosis,
    DiagnosisFormatError,
    EarlyStoppingWhatIf,
    MetricDiagnosis,
    OverfittingStoppingWhatIf,
    json_safe,
    parse_diagnosis,
    reason_text,
)

__all__ = [
    "DIAGNOSIS_VERSION",
    "LEARNING_RATE_KEYS",
    "STATUSES",
    "DetectorSettings",
    "Diagnosis",
    "DiagnosisFormatError",
    "EarlyStoppingWhatIf",
    "MetricDiagnosis",
    "OverfittingStoppingWhatIf",
    "RunDiagnoser",
    "diagnose",
    "json_safe",
    "parse_diagnosis",
    "reason_text",
    "simulate_early_stopping",
]


def diagnose(
    history: History | Mapping[str, Sequence[float]],
    monitor: str = "val_loss",
    *,
    mode: str = "auto",
    settings: DetectorSettings | None = None,
    directions: Mapping[str, str] | None = None,
    every_metric: bool = True,
) -> Diagnosis:
    """Diagnose a training history: improving, plateau, overfitting, diverged?

    Args:
        history: a Keras ``History.history`` dict (metric -> one value per
            epoch), a ``keras.callbacks.History``, or a :class:`tbviz.core.history.History`.
        monitor: the validation metric to judge by, as Keras names it.
        mode: ``"min"``, ``"max"``, or ``"auto"`` (from ``directions``, then
            Keras' metric names; see :mod:`tbviz.core.directions`).
        settings: detector thresholds; see :class:`DetectorSettings`.
        directions: ``{"metric": "min" | "max"}`` for metrics whose names do
            not say (``val_`` prefixes are ignored).
        every_metric: run the detector on every validation metric (their
            onsets in ``metrics``); False follows only ``monitor`` and keeps
            the others' best values, several times faster (leaderboards).

    Raises:
        ValueError: the history is empty, or ``mode``/``directions`` are invalid.

    Example:
        >>> diagnose({"loss": [1.0, 0.5, 0.3, 0.2, 0.1, 0.05],
        ...           "val_loss": [1.0, 0.6, 0.5, 0.7, 0.8, 0.9]}).status
        'overfitting'
    """
    hist = as_history(history)
    diagnoser = RunDiagnoser(
        monitor, mode=mode, settings=settings, directions=directions, every_metric=every_metric
    )
    rows = hist.rows()
    if not rows:
        raise ValueError("the history is empty: log at least one epoch before diagnosing")
    for epoch, values in rows[:-1]:
        diagnoser.feed(epoch, values)  # the verdict of a prefix is built only at the end
    return diagnoser.update(*rows[-1])


class RunDiagnoser:
    """The diagnosis of one run, updated one epoch at a time.

    Holds a :class:`tbviz.core.detector.MetricDetector` per validation metric, an
    ``EarlyStopping`` replay of the monitored one, and what the run-wide
    verdicts need (first non-finite loss, first training losses and
    accuracies). ``update`` costs the same at epoch 5 and at epoch 5,000.

    Example:
        >>> run = RunDiagnoser("val_loss")
        >>> run.update(0, {"loss": 1.0, "val_loss": 1.1}).status
        'improving'
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        mode: str = "auto",
        settings: DetectorSettings | None = None,
        directions: Mapping[str, str] | None = None,
        every_metric: bool = True,
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be a metric name such as 'val_loss', got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f'mode must be "auto", "min" or "max", got {mode!r}')
        self.monitor = monitor
        self.settings = settings or DetectorSettings()
        self.directions = dirs.check_directions(directions)
        resolved = dirs.resolve(monitor, mode, self.directions)
        self.direction, self.direction_source = resolved.direction, resolved.source
        self._every_metric = every_metric
        self._monitor_name = base_name(monitor)
        self._detectors: dict[str, MetricDetector] = {}
        self._plans: dict[tuple[str, ...], _Plan] = {}  # by the keys an epoch logs
        self._last: dict[str, float] = {}
        self._order: list[str] = []
        self._stopping = _EarlyStoppingReplay(self.direction, self.settings.patience)
        self._learning = _LearningTracker(self.settings.warmup_epochs)
        self._stuck = False  # the not-learning verdict at the last epoch fed
        self._epochs = 0
        self._last_epoch: int | None = None
        self._diverged_at: int | None = None
        self.diagnosis: Diagnosis | None = None

    def add_directions(self, found: Mapping[str, str], source: str = "metric") -> None:
        """Learn directions found elsewhere (Keras metric objects) for metrics not
        followed yet; what the user gave (``mode``, ``directions``) still wins."""
        for name, direction in dirs.check_directions(found).items():
            self.directions.setdefault(name, direction)
        if not self._detectors and self.direction_source not in ("mode", "given"):
            given = found.get(self._monitor_name)
            if given is not None:
                self.direction, self.direction_source = given, source
                self._stopping = _EarlyStoppingReplay(given, self.settings.patience)

    def update(self, epoch: int, values: Mapping[str, float]) -> Diagnosis:
        """Add one epoch's numeric logs (Keras names; ``val_`` for validation) and
        return the diagnosis after it."""
        self.feed(epoch, values, report=True)
        self.diagnosis = self._diagnosis()
        return self.diagnosis

    def feed(self, epoch: int, values: Mapping[str, float], *, report: bool = False) -> None:
        """Add one epoch without building its :class:`Diagnosis` (a replay's earlier
        epochs); the detectors' state moves exactly as with :meth:`update`."""
        if self._last_epoch is None or epoch > self._last_epoch:
            self._epochs += 1
            self._last_epoch = epoch
        keys = tuple(values)
        plan = self._plans.get(keys)
        if plan is None:
            self._order.extend(k for k in keys if k not in self._last)
            plan = self._plans[keys] = self._plan(keys)
        self._last.update(values)
        if self._diverged_at is None:
            finite = all(map(math.isfinite, values.values()))  # the common case, in C
            if not finite and any(not math.isfinite(v) and _is_loss(k) for k, v in values.items()):
                self._diverged_at = epoch
            else:
                self._feed(epoch, values, plan, report)

    def _plan(self, keys: tuple[str, ...]) -> _Plan:
        """What to do with an epoch that logs ``keys``, worked out once for each set
        of keys (a run logs the same ones every epoch): the learning-rate key,
        the training accuracies, and for each validation metric followed its
        detector and the training key it is compared with."""
        detectors = []
        for key in keys:
            if key == self.monitor:
                name, direction = self._monitor_name, self.direction
            elif is_validation(key):
                name = base_name(key)
                direction = dirs.resolve(key, "auto", self.directions).direction
            else:
                continue
            detector = self._detectors.get(key)
            if detector is None:
                kind = MetricDetector if self._every_metric or key == self.monitor else _BestOnly
                detector = self._detectors[key] = kind(direction, self.settings)
            detectors.append((key, detector, name if name != key else None, key == self.monitor))
        return _Plan(
            learning_rate=next((k for k in LEARNING_RATE_KEYS if k in keys), None),
            accuracies=tuple(k for k in keys if _is_accuracy(k)),
            detectors=tuple(detectors),
        )

    def _feed(
        self, epoch: int, values: Mapping[str, float], plan: _Plan, report: bool = True
    ) -> None:
        lr = values[plan.learning_rate] if plan.learning_rate else None
        self._learning.update(values, plan.accuracies)
        self._stuck = self._learning.stuck(self.settings)
        learning = not self._stuck
        for key, detector, twin_key, monitored in plan.detectors:
            value = values[key]
            twin = values.get(twin_key) if twin_key else None
            detector.update(epoch, value, twin, lr, learning=learning, report=report)
            if monitored:
                self._stopping.update(epoch, value)

    def _diagnosis(self) -> Diagnosis:
        common = dict(
            monitor=self.monitor,
            direction=self.direction,
            direction_source=self.direction_source,
            epochs=self._epochs,
            last_epoch=self._last_epoch,
            diverged_at=self._diverged_at,
            metrics=self._metric_rows(),
            settings=self.settings,
        )
        monitored = self._detectors.get(self.monitor)
        verdict = monitored.verdict if monitored is not None else None
        if verdict is None or verdict.best_epoch is None:
            if self._diverged_at is not None:  # from the start: nothing to restore
                stopped = OverfittingStoppingWhatIf(
                    self._diverged_at, None, None, self._last_epoch - self._diverged_at
                )
                return _finish("diverged", "diverged", common, overfitting_stopping=stopped)
            validation = tuple(k for k in self._order if is_validation(k))
            if self.monitor not in self._last and validation:
                return _finish("no-monitor", "no-monitor", common, available=validation)
            if self.monitor not in self._last:
                return _finish("no-validation", "no-validation", common)
            return _finish("improving", "no-finite-value", common)
        stopping = self._stopping.what_if()
        numbers = {
            k: getattr(verdict, k)
            for k in (
                "best_epoch",
                "best_value",
                "last_value",
                "epochs_since_best",
                "generalization_loss",
                "train_improvement",
                "gap",
                "noise",
                "threshold",
                "lr_drop_epoch",
                "lr_rise_epoch",
            )
        }
        status, code = verdict.status, verdict.reason_code
        if self._diverged_at is not None:
            status = code = "diverged"
        elif self._stuck:
            status = code = "not-learning"
        overfitting = status == "overfitting"
        suggested = None
        if overfitting and stopping.patience_to_keep_best is not None:
            suggested = self._stopping.what_if(stopping.patience_to_keep_best)
        # Where OverfittingStopping would have stopped: its first alarm, else the
        # epoch a loss stopped being finite (it stops on both, restoring the best).
        stop = monitored.first_alarm
        if stop is None and self._diverged_at is not None:
            stop = (self._diverged_at, verdict.best_epoch, verdict.best_value)
        ours = None
        if stop is not None:
            ours = OverfittingStoppingWhatIf(*stop, epochs_saved=self._last_epoch - stop[0])
        return _finish(
            status,
            code,
            common,
            numbers=numbers,
            onset_epoch=verdict.onset_epoch if overfitting else None,
            confirmed_epoch=verdict.confirmed_epoch if overfitting else None,
            early_stopping=stopping,
            suggested_early_stopping=suggested,
            overfitting_stopping=ours,
            learning=self._learning,
        )

    def _metric_rows(self) -> tuple[MetricDiagnosis, ...]:
        rows = []
        names: list[str] = []
        for key in self._order:
            name = base_name(key) if is_validation(key) else key
            if name not in names and name not in LEARNING_RATE_KEYS:
                names.append(name)
        if "loss" in names:
            names.remove("loss")
            names.insert(0, "loss")
        for name in names:
            key = dirs.VALIDATION_PREFIX + name
            detector = self._detectors.get(key)
            verdict = detector.verdict if detector else None
            direction = (
                detector.direction
                if detector
                else dirs.resolve(name, "auto", self.directions).direction
            )
            last_train, last_val = self._last.get(name), self._last.get(key)
            if verdict is None or verdict.best_epoch is None:
                rows.append(
                    MetricDiagnosis(name, direction, None, None, last_train, last_val, None, None)
                )
                continue
            rows.append(
                MetricDiagnosis(
                    name=name,
                    direction=direction,
                    best_epoch=verdict.best_epoch,
                    best_value=verdict.best_value,
                    last_train=last_train,
                    last_validation=last_val,
                    gap=verdict.gap,
                    onset_epoch=verdict.onset_epoch,
                )
            )
        return tuple(rows)


@dataclass(frozen=True)
class _Best:
    best_epoch: int | None
    best_value: float | None
    gap: float | None
    onset_epoch: int | None = None


class _BestOnly:
    """A metric's best validation value and epoch, without the detector's replay:
    what a leaderboard needs of the metrics it does not rank by."""

    def __init__(self, direction: str, settings: DetectorSettings | None = None) -> None:
        self.direction = direction
        self._better = operator.lt if direction == "min" else operator.gt
        self._best_epoch: int | None = None
        self._best_value: float | None = None
        self._gap: float | None = None

    @property
    def verdict(self) -> _Best:
        return _Best(self._best_epoch, self._best_value, self._gap)

    def update(self, epoch, value, twin=None, lr=None, *, learning=True, report=True) -> None:
        # As the detector does: the gap at the last epoch with a finite value.
        if not math.isfinite(value):
            return
        self._gap = value - twin if twin is not None and math.isfinite(twin) else None
        if self._best_value is None or self._better(value, self._best_value):
            self._best_epoch, self._best_value = epoch, value


def _finish(status: str, code: str, common: dict, **parts) -> Diagnosis:
    numbers = parts.pop("numbers", {})
    learning = parts.pop("learning", None)
    fields_ = {**common, **numbers, **parts}
    fields_["available"] = tuple(fields_.get("available", ()))
    draft = Diagnosis(status=status, reason_code=code, reason="", **fields_)
    reason = reason_text(draft, learning.detail() if learning is not None else None)
    return Diagnosis(status=status, reason_code=code, reason=reason, **fields_)


def _is_loss(key: str) -> bool:
    return "loss" in base_name(key).lower()


def _is_accuracy(key: str) -> bool:
    """A training accuracy (what the not-learning rule watches besides the loss)."""
    return not is_validation(key) and "acc" in key.lower()


@dataclass(frozen=True)
class _Plan:
    """What :class:`RunDiagnoser` does with an epoch that logs a given set of keys."""

    learning_rate: str | None
    accuracies: tuple[str, ...]
    #: (validation key, its detector, the training key it is compared with, monitored?)
    detectors: tuple[tuple[str, MetricDetector | _BestOnly, str | None, bool], ...]


class _LearningTracker:
    """What the not-learning verdict needs, kept in O(1) per epoch.

    Judged after the warm-up, on two signs, either of which is enough:

    * the training loss is not 30% below its first value (``stuck_loss_share``)
      or, when the first is a blown-up step (``blown_up_first`` times the
      second: a bad learning rate, which the first value alone would pass
      as a fall), not ``min_learning`` percent below its second; and it has
      stopped falling: its lowest value fell less than ``stuck_progress``
      percent over the last ``warmup_epochs`` epochs (a small model on little
      data whose loss falls 2% an epoch is learning, slowly; a stuck loss
      sits at its floor or jumps around it);
    * a training accuracy stayed below 0.5 and rose less than 5 points above
      the better of its first two values (accuracy near chance, whatever the
      loss does; a dip at the second epoch, as a blown-up first step gives,
      is not a start to rise from).
    """

    def __init__(self, window: int = 3) -> None:
        self.loss: list[float] = []  # first, second, last training loss
        self.loss_count = 0
        # The loss's lowest value so far, as it was at each of the last epochs.
        self.lowest: collections.deque[float] = collections.deque(maxlen=window + 1)
        self.accuracy: dict[str, list] = {}  # key -> [better of first two, last, max, count]
        self._detail: tuple | None = None

    def update(self, values: Mapping[str, float], accuracies: tuple[str, ...]) -> None:
        """Add one epoch; ``accuracies`` are its training accuracy keys."""
        loss = values.get("loss")
        if loss is not None and math.isfinite(loss):
            self.loss_count += 1
            if len(self.loss) < 3:
                self.loss.append(loss)
            else:
                self.loss[2] = loss
            self.lowest.append(min(loss, self.lowest[-1]) if self.lowest else loss)
        for key in accuracies:
            value = values[key]
            if not math.isfinite(value):
                continue
            state = self.accuracy.setdefault(key, [None, None, -math.inf, 0])
            state[3] += 1
            if state[3] <= 2:
                state[0] = value if state[0] is None else max(state[0], value)
            state[1] = value
            state[2] = max(state[2], value)

    def stuck(self, settings: DetectorSettings) -> bool:
        self._detail = None
        if self.loss_count < 2 or self.loss_count - 1 < settings.warmup_epochs:
            return False
        first, second, now = self.loss[0], self.loss[1], self.loss[-1]
        before, lowest = self.lowest[0], self.lowest[-1]
        falling = lowest < before * (1 - settings.stuck_progress / 100)
        if first > 0 and second > 0 and now >= 0 and not falling:
            if now > first * settings.stuck_loss_share:
                share = 100 * (1 - settings.stuck_loss_share)
                self._detail = ("loss", now, first, self.loss_count, share, "first")
                return True
            if first > settings.blown_up_first * second and now > second * (
                1 - settings.min_learning / 100
            ):
                self._detail = (
                    "loss",
                    now,
                    second,
                    self.loss_count,
                    settings.min_learning,
                    "second",
                )
                return True
        for key, (start, last, best, count) in self.accuracy.items():
            if (
                count >= 2
                and best < settings.stuck_accuracy
                and last - start < settings.stuck_accuracy_rise
            ):
                self._detail = ("accuracy", key, last, count)
                return True
        return False

    def detail(self) -> tuple | None:
        """What made :meth:`stuck` true, for the words (see :mod:`tbviz.core.notes`)."""
        return self._detail


class _EarlyStoppingReplay:
    """``keras.callbacks.EarlyStopping`` replayed on one curve, one value at a time.

    Keras counts an epoch without improvement as one ``wait`` and stops once
    ``wait >= patience`` (never at the first epoch), restoring the best epoch
    it saw. Every improvement is remembered by its position, so what any other
    patience would have done is known too.
    """

    def __init__(self, direction: str, patience: int) -> None:
        self.direction = direction
        self.patience = patience
        self._epochs: list[int] = []
        self._improvements: list[int] = []  # positions in _epochs
        self._values: dict[int, float] = {}
        self._best = math.inf if direction == "min" else -math.inf
        self._max_gap = 1
        self._stopped: tuple[int, int] | None = None  # (stop position, restored position)

    def update(self, epoch: int, value: float) -> None:
        position = len(self._epochs)
        self._epochs.append(epoch)
        better = value < self._best if self.direction == "min" else value > self._best
        if better:
            if self._improvements:
                self._max_gap = max(self._max_gap, position - self._improvements[-1])
            self._improvements.append(position)
            self._values[position] = value
            self._best = value
        elif self._stopped is None:
            self._stopped = self._stop_at(position, self.patience)

    def _stop_at(self, position: int, patience: int) -> tuple[int, int | None] | None:
        """(position, restored position) if EarlyStopping(patience) stops at ``position``."""
        last = next((m for m in reversed(self._improvements) if m < position), None)
        wait = position - last if last is not None else position + 1
        return (position, last) if wait >= patience and position > 0 else None

    def what_if(self, patience: int | None = None) -> EarlyStoppingWhatIf:
        """The replay for ``patience`` (default: this replay's own)."""
        patience = patience or self.patience
        stop = self._stopped if patience == self.patience else self._stop_for(patience)
        last = self._epochs[-1] if self._epochs else 0
        if stop is None:
            restored = self._improvements[-1] if self._improvements else None
            stopped_epoch = None
        else:
            stopped_epoch, restored = self._epochs[stop[0]], stop[1]
        return EarlyStoppingWhatIf(
            patience=patience,
            stopped_epoch=stopped_epoch,
            restored_epoch=None if restored is None else self._epochs[restored],
            restored_value=None if restored is None else self._values[restored],
            epochs_saved=0 if stopped_epoch is None else last - stopped_epoch,
            patience_to_keep_best=self._max_gap if self._improvements else None,
        )

    def _stop_for(self, patience: int) -> tuple[int, int | None] | None:
        """Where ``EarlyStopping(patience)`` stops on the values so far: at the first
        wait of ``patience`` epochs (O(1) for a patience no gap exceeds)."""
        marks, end = self._improvements, len(self._epochs) - 1
        if marks and marks[0] == 0 and patience >= self._max_gap:
            stop = marks[-1] + patience
            return (stop, marks[-1]) if stop <= end else None
        for position in range(1, end + 1):
            if position in self._values:
                continue
            found = self._stop_at(position, patience)
            if found is not None:
                return found
        return None


def simulate_early_stopping(
    val: Sequence[float] | Mapping[int, float],
    direction: str = "min",
    patience: int = 3,
) -> EarlyStoppingWhatIf:
    """Replay ``keras.callbacks.EarlyStopping(patience, restore_best_weights=True)``.

    ``val`` is one value per epoch from epoch 0, or ``{epoch: value}``.
    """
    replay = _EarlyStoppingReplay(direction, patience)
    items = val.items() if isinstance(val, Mapping) else enumerate(val)
    for epoch, value in items:
        replay.update(epoch, float(value))
    return replay.what_if()
