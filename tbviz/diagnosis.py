"""The overfitting detector: what a training history says, in numbers and words.

``diagnose(history)`` reads a Keras-style history (``loss``, ``val_loss``, ...)
and decides, from the epochs it is given only, whether the run is improving,
on a plateau, overfitting, not learning, diverged, or has no validation data to
judge. It never looks ahead, so calling it after every epoch during training
and once on the finished run agree about every prefix.

The overfitting rule builds on Prechelt's generalization loss ("Early Stopping
- but when?", 1998): GL = how far validation is now from its best, in percent.
A run is called overfitting when

* it is past a short warm-up (``warmup_epochs``), where validation is too
  jumpy to judge, and training has really started to learn;
* the monitored validation metric set its best at least
  ``min_epochs_since_best`` epochs ago;
* each of the last ``confirm_epochs`` validation values is worse than that best
  by at least ``min_generalization_loss`` percent (one noisy epoch is not enough);
* training kept improving since the best epoch (the mean of its last
  ``confirm_epochs`` values beats its value at the best epoch), and did so
  smoothly: a jump of the training loss by more than ``max_train_spike``
  percent from one epoch to the next means an unstable optimiser, whose
  validation bumps usually recover, not overfitting.

Unlike ``EarlyStopping``, which watches validation alone, the detector reads
the training curve too, which is what lets it wait less and be wrong less
(``scripts/bench_diagnosis.py`` measures both on real curves).

The result also carries what ``keras.callbacks.EarlyStopping`` with a given
patience would have done on the same curve, so a note can say it.

Pure numpy: importing this module does not import TensorFlow.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from tbviz.history import History, MetricPair, Series, as_history, base_name, metric_direction
from tbviz.text import epoch_label, fmt, md_code, md_escape, plural

STATUSES = ("improving", "plateau", "overfitting", "not-learning", "diverged", "no-validation")

#: Version of the dict layout produced by :meth:`Diagnosis.to_dict`.
DIAGNOSIS_VERSION = 1


@dataclass(frozen=True)
class DetectorSettings:
    """Thresholds of the detector; the defaults suit noisy validation curves."""

    min_epochs_since_best: int = 2
    confirm_epochs: int = 3
    min_generalization_loss: float = 2.0
    warmup_epochs: int = 3
    max_train_spike: float = 25.0
    min_train_improvement: float = 0.5
    min_learning: float = 10.0
    plateau_epochs: int = 3
    patience: int = 3

    def __post_init__(self) -> None:
        for name in ("min_epochs_since_best", "confirm_epochs", "plateau_epochs", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        for name in (
            "min_generalization_loss",
            "min_train_improvement",
            "max_train_spike",
            "min_learning",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class EarlyStoppingWhatIf:
    """What ``EarlyStopping(patience=P, restore_best_weights=True)`` would have done."""

    patience: int
    stopped_epoch: int | None
    restored_epoch: int | None
    restored_value: float | None
    epochs_saved: int
    patience_to_keep_best: int | None

    def keras_call(self, monitor: str, direction: str) -> str:
        """The Python expression that configures this EarlyStopping."""
        mode = "" if direction == metric_direction(monitor) else f', mode="{direction}"'
        return (
            f'EarlyStopping(monitor="{monitor}", patience={self.patience}{mode}, '
            "restore_best_weights=True)"
        )


@dataclass(frozen=True)
class MetricDiagnosis:
    """Per-metric view: best validation epoch, last values, gap and onset."""

    name: str
    direction: str
    best_epoch: int | None
    best_value: float | None
    last_train: float | None
    last_validation: float | None
    gap: float | None
    onset_epoch: int | None


@dataclass(frozen=True)
class Diagnosis:
    """The detector's verdict on one history, and the numbers it decided on.

    All epochs are 0-based, as Keras and TensorBoard steps count them.
    ``generalization_loss`` is Prechelt's GL in percent, ``train_improvement``
    how much training improved (percent) from the best validation epoch to the
    last epoch, ``gap`` the monitored validation value minus its training twin
    at the last epoch.
    """

    status: str
    monitor: str
    direction: str
    epochs: int
    last_epoch: int
    best_epoch: int | None
    best_value: float | None
    last_value: float | None
    onset_epoch: int | None
    diverged_at: int | None
    epochs_since_best: int | None
    generalization_loss: float | None
    train_improvement: float | None
    gap: float | None
    reason: str
    early_stopping: EarlyStoppingWhatIf | None = None
    suggested_early_stopping: EarlyStoppingWhatIf | None = None
    metrics: tuple[MetricDiagnosis, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """A JSON-ready dict (non-finite floats become None)."""
        data = asdict(self)
        data["metrics"] = [asdict(m) for m in self.metrics]
        data["version"] = DIAGNOSIS_VERSION
        return _json_safe(data)

    @classmethod
    def from_dict(cls, data: Mapping) -> Diagnosis:
        """Rebuild a diagnosis from :meth:`to_dict` output."""
        fields = dict(data)
        fields.pop("version", None)
        stopping = fields.pop("early_stopping", None)
        suggested = fields.pop("suggested_early_stopping", None)
        metrics = fields.pop("metrics", ())
        return cls(
            **fields,
            early_stopping=EarlyStoppingWhatIf(**stopping) if stopping else None,
            suggested_early_stopping=EarlyStoppingWhatIf(**suggested) if suggested else None,
            metrics=tuple(MetricDiagnosis(**m) for m in metrics),
        )

    def headline(self, markdown: bool = True) -> str:
        """One line: the status and the fact that matters most (markdown or plain)."""
        mon = md_escape(self.monitor) if markdown else self.monitor

        def bold(text: str) -> str:
            return f"**{text}**" if markdown else text

        if self.status == "diverged":
            return (
                f"{bold('Diverged')} at {epoch_label(self.diverged_at)}: "
                "a loss became NaN or infinite."
            )
        if self.status == "no-validation":
            return (
                f"{bold('No validation data')}: {mon} was not logged, "
                "so overfitting cannot be judged."
            )
        if self.status == "not-learning":
            return f"{bold('Not learning')}: the training loss is not going down."
        if self.status == "overfitting":
            return (
                f"{bold('Overfitting')} since {epoch_label(self.onset_epoch)}: {mon} is "
                f"{self.generalization_loss:.1f}% worse than its best while training "
                f"improved {self.train_improvement:.1f}%."
            )
        if self.status == "plateau":
            return (
                f"{bold('Plateau')}: {mon} has not improved for "
                f"{plural(self.epochs_since_best, 'epoch')} "
                f"(best at {epoch_label(self.best_epoch)})."
            )
        return (
            f"{bold('Improving')}: best {mon} {fmt(self.best_value)} "
            f"at {epoch_label(self.best_epoch)}."
        )

    def plain_headline(self) -> str:
        """:meth:`headline` for a terminal: no markdown."""
        return self.headline(markdown=False)

    def to_markdown(self, final: bool = False) -> str:
        """A short note for people: status, best epoch, onset, gap, early stopping."""
        lines = [self.headline(), ""]
        if final:
            lines.insert(0, f"Final diagnosis after {plural(self.epochs, 'epoch')}:\n")
        lines.append(f"- Why: {self.reason}")
        if self.best_epoch is not None:
            lines.append(
                f"- Best {md_escape(self.monitor)}: {fmt(self.best_value)} at "
                f"{epoch_label(self.best_epoch)}; last: {fmt(self.last_value)} at "
                f"{epoch_label(self.last_epoch)}."
            )
        if self.onset_epoch is not None:
            lines.append(
                f"- Onset: {epoch_label(self.onset_epoch)} was the last good epoch; "
                "validation got worse after it."
            )
        gaps = [m for m in self.metrics if m.gap is not None]
        if gaps:
            parts = [f"{md_escape(m.name)} {m.gap:+.4g}" for m in gaps]
            lines.append("- Gap (validation − training, last epoch): " + ", ".join(parts) + ".")
        lines.extend(self._early_stopping_lines())
        table = self._metrics_table()
        if table:
            lines += ["", *table]
        return "\n".join(lines)

    def _early_stopping_lines(self) -> list[str]:
        es = self.early_stopping
        if es is None:
            return []
        call = md_code(es.keras_call(self.monitor, self.direction))
        if es.stopped_epoch is None:
            said = f"- {call} would not have stopped yet"
            if es.restored_epoch is not None:
                said += f" (its best so far: {epoch_label(es.restored_epoch)})"
            lines = [said + "."]
        else:
            where = ", the last epoch so far," if es.epochs_saved == 0 else ""
            lines = [
                f"- {call} would have stopped after {epoch_label(es.stopped_epoch)}{where} and "
                f"restored {epoch_label(es.restored_epoch)} ({md_escape(self.monitor)} "
                f"{fmt(es.restored_value)}), saving {plural(es.epochs_saved, 'epoch')}."
            ]
        suggested = self.suggested_early_stopping
        if suggested is not None and suggested.stopped_epoch is not None:
            call = md_code(suggested.keras_call(self.monitor, self.direction))
            lines.append(
                f"- On this curve, the soonest stop that keeps the best epoch: {call} stops "
                f"after {epoch_label(suggested.stopped_epoch)} and restores "
                f"{epoch_label(suggested.restored_epoch)}."
            )
        elif (
            es.patience_to_keep_best is not None
            and es.patience_to_keep_best > es.patience
            and self.best_epoch is not None
        ):
            lines.append(
                f"- That is too impatient for this curve: patience="
                f"{es.patience_to_keep_best} is needed to reach the best epoch, "
                f"{epoch_label(self.best_epoch)}."
            )
        return lines

    def _metrics_table(self) -> list[str]:
        rows = [m for m in self.metrics if m.best_epoch is not None]
        if not rows:
            return []
        table = [
            "| metric | best epoch | best validation | last training | last validation |",
            "|---|---|---|---|---|",
        ]
        for m in rows:
            table.append(
                f"| {md_escape(m.name)} | {epoch_label(m.best_epoch)} | {fmt(m.best_value)} "
                f"| {fmt(m.last_train)} | {fmt(m.last_validation)} |"
            )
        return table


def diagnose(
    history: History | Mapping[str, Sequence[float]],
    monitor: str = "val_loss",
    *,
    mode: str = "auto",
    settings: DetectorSettings | None = None,
    directions: Mapping[str, str] | None = None,
) -> Diagnosis:
    """Diagnose a training history: improving, plateau, overfitting, diverged?

    Args:
        history: a Keras ``History.history`` dict (metric -> one value per
            epoch), a ``keras.callbacks.History``, or a :class:`tbviz.history.History`.
        monitor: the validation metric to judge by, as Keras names it.
        mode: ``"min"``, ``"max"``, or ``"auto"`` (inferred from the name).
        settings: detector thresholds; see :class:`DetectorSettings`.
        directions: per-metric ``"min"``/``"max"`` overrides for the table.

    Raises:
        ValueError: the history is empty, or ``mode`` is not min/max/auto.

    Example:
        >>> diagnose({"loss": [1.0, 0.5, 0.3, 0.2, 0.1],
        ...           "val_loss": [1.0, 0.6, 0.7, 0.8, 0.9]}).status
        'overfitting'
    """
    hist = as_history(history)
    settings = settings or DetectorSettings()
    if mode not in ("auto", "min", "max"):
        raise ValueError(f'mode must be "auto", "min" or "max", got {mode!r}')
    last_epoch = hist.last_epoch
    if last_epoch is None:
        raise ValueError("the history is empty: log at least one epoch before diagnosing")
    directions = dict(directions or {})
    direction = (
        mode if mode != "auto" else directions.get(base_name(monitor), metric_direction(monitor))
    )
    diverged_at = _first_non_finite_loss(hist)
    limit = last_epoch if diverged_at is None else diverged_at - 1
    metrics = tuple(
        _metric_diagnosis(pair, directions.get(pair.name, pair.direction), settings, limit)
        for pair in hist.pairs()
    )
    common = dict(
        monitor=monitor,
        direction=direction,
        epochs=len(hist.epochs()),
        last_epoch=last_epoch,
        diverged_at=diverged_at,
        metrics=metrics,
    )
    val = hist[monitor].until(limit) if monitor in hist else None
    train_key = base_name(monitor) if monitor != base_name(monitor) else None
    train = hist[train_key].until(limit) if train_key and train_key in hist else None
    if val is None or len(val) == 0:
        if diverged_at is not None:
            return Diagnosis(
                status="diverged",
                **_empty_numbers(),
                reason=f"a loss was not finite at {epoch_label(diverged_at)}.",
                **common,
            )
        return Diagnosis(
            status="no-validation",
            **_empty_numbers(),
            reason=(
                f"no {md_escape(monitor)} in the logs; pass validation_data (or "
                "validation_split) to fit() to get an overfitting diagnosis."
            ),
            **common,
        )
    verdict = _judge(val, train, direction, settings)
    stopping = simulate_early_stopping(val, direction, settings.patience)
    status, reason = verdict.status, verdict.reason
    stuck = _not_learning(hist, limit, settings) if "loss" in hist else None
    if stuck is not None and diverged_at is None:
        status, reason = "not-learning", stuck
    if diverged_at is not None:
        status = "diverged"
        reason = (
            f"a loss was not finite at {epoch_label(diverged_at)}; the numbers below "
            "cover the epochs before it. Lower the learning rate or clip gradients."
        )
    return Diagnosis(
        status=status,
        best_epoch=verdict.best_epoch,
        best_value=verdict.best_value,
        last_value=val.values[-1],
        onset_epoch=verdict.onset_epoch if status == "overfitting" else None,
        epochs_since_best=verdict.since,
        generalization_loss=verdict.generalization_loss,
        train_improvement=verdict.train_improvement,
        gap=verdict.gap,
        reason=reason,
        early_stopping=stopping,
        suggested_early_stopping=(
            simulate_early_stopping(val, direction, stopping.patience_to_keep_best)
            if status == "overfitting" and stopping.patience_to_keep_best is not None
            else None
        ),
        **common,
    )


@dataclass(frozen=True)
class _Verdict:
    status: str
    best_epoch: int
    best_value: float
    onset_epoch: int | None
    since: int
    generalization_loss: float
    train_improvement: float | None
    gap: float | None
    reason: str


def _judge(
    val: Series, train: Series | None, direction: str, settings: DetectorSettings
) -> _Verdict:
    """Apply the detector's rules to one validation series and its training twin."""
    epochs, values = _finite_points(val)
    if not values:
        nan = float("nan")
        return _Verdict(
            "improving",
            val.epochs[0],
            nan,
            None,
            0,
            nan,
            None,
            None,
            "no finite validation value yet.",
        )
    best = _best_index(values, direction)
    best_epoch, best_value = epochs[best], values[best]
    since = epochs[-1] - best_epoch
    gl = _worse_by(values[-1], best_value, direction)
    recent = values[best + 1 :][-settings.confirm_epochs :]
    recent_gl = min((_worse_by(v, best_value, direction) for v in recent), default=0.0)
    train_gain = _train_improvement(
        train, best_epoch, epochs[-1], direction, settings.confirm_epochs
    )
    spike = _training_spike(train, best_epoch, direction)
    gap = None
    if train is not None:
        last_train = train.value_at(epochs[-1])
        if last_train is not None:
            gap = values[-1] - last_train
    worse = len(recent) == settings.confirm_epochs and recent_gl >= settings.min_generalization_loss
    warm = epochs[-1] - epochs[0] >= settings.warmup_epochs
    if since >= settings.min_epochs_since_best and worse and warm:
        if spike is not None and spike[1] > settings.max_train_spike:
            why = (
                f"validation is {gl:.1f}% worse than its best, but the training loss jumped "
                f"{spike[1]:.0f}% at {epoch_label(spike[0])}: an unstable optimiser, whose "
                "validation bumps often recover; not called overfitting."
            )
            return _Verdict(
                "plateau", best_epoch, best_value, None, since, gl, train_gain, gap, why
            )
        if train_gain is not None and train_gain >= settings.min_train_improvement:
            return _Verdict(
                "overfitting",
                best_epoch,
                best_value,
                best_epoch,
                since,
                gl,
                train_gain,
                gap,
                f"validation has been worse than its best for {plural(since, 'epoch')} "
                f"(generalization loss ≥ {settings.min_generalization_loss:g}% in each of "
                f"the last {plural(settings.confirm_epochs, 'epoch')}, {gl:.1f}% now) while "
                f"training kept improving ({train_gain:.1f}% since the best epoch).",
            )
        if train_gain is None:
            why = "validation got worse but there is no training curve to compare with."
        else:
            why = (
                f"validation is {gl:.1f}% worse than its best, but training did not improve "
                f"either ({train_gain:+.1f}%): not overfitting; check the learning rate."
            )
        return _Verdict("plateau", best_epoch, best_value, None, since, gl, train_gain, gap, why)
    if since >= settings.plateau_epochs:
        moving = train_gain is not None and train_gain >= settings.min_train_improvement
        why = f"no new best validation value for {plural(since, 'epoch')}"
        why += (
            f", while training improved {train_gain:.1f}%: watch for overfitting."
            if moving
            else ", and training is flat too."
        )
        return _Verdict("plateau", best_epoch, best_value, None, since, gl, train_gain, gap, why)
    if since == 0:
        why = "validation set a new best at the last epoch."
    else:
        why = (
            f"validation last improved {plural(since, 'epoch')} ago; "
            f"GL {gl:.1f}% is within noise so far."
        )
    return _Verdict("improving", best_epoch, best_value, None, since, gl, train_gain, gap, why)


def simulate_early_stopping(
    val: Series | Sequence[float],
    direction: str = "min",
    patience: int = 3,
    min_delta: float = 0.0,
) -> EarlyStoppingWhatIf:
    """Replay ``keras.callbacks.EarlyStopping`` on a validation curve.

    Keras counts an epoch without improvement (by more than ``min_delta``) as
    one ``wait``; it stops once ``wait >= patience`` and, with
    ``restore_best_weights=True``, restores the best epoch it saw.
    """
    series = val if isinstance(val, Series) else Series(list(range(len(val))), list(val))
    best_value = math.inf if direction == "min" else -math.inf
    best_epoch: int | None = None
    wait, stopped = 0, None
    for epoch, value in zip(series.epochs, series.values, strict=True):
        wait += 1
        better = (
            value + min_delta < best_value if direction == "min" else value - min_delta > best_value
        )
        if better:
            best_value, best_epoch, wait = value, epoch, 0
            continue
        if wait >= patience and epoch > series.epochs[0]:
            stopped = epoch
            break
    keep = _patience_to_keep_best(series, direction)
    last = series.epochs[-1] if series.epochs else 0
    return EarlyStoppingWhatIf(
        patience=patience,
        stopped_epoch=stopped,
        restored_epoch=best_epoch,
        restored_value=None if best_epoch is None else best_value,
        epochs_saved=0 if stopped is None else last - stopped,
        patience_to_keep_best=keep,
    )


def _patience_to_keep_best(series: Series, direction: str) -> int | None:
    """Smallest patience whose EarlyStopping would still reach the overall best epoch."""
    epochs, values = _finite_points(series)
    if not values:
        return None
    running = math.inf if direction == "min" else -math.inf
    improvements = []
    for epoch, value in zip(epochs, values, strict=True):
        if (value < running) if direction == "min" else (value > running):
            running = value
            improvements.append(epoch)
    gaps = [b - a for a, b in itertools.pairwise(improvements)]
    return max([1, *gaps])


def _metric_diagnosis(
    pair: MetricPair, direction: str, settings: DetectorSettings, limit: int
) -> MetricDiagnosis:
    train = pair.train.until(limit) if pair.train is not None else None
    val = pair.validation.until(limit) if pair.validation is not None else None
    last_train = train.values[-1] if train is not None and len(train) else None
    last_val = val.values[-1] if val is not None and len(val) else None
    if val is None or not _finite_points(val)[1]:
        return MetricDiagnosis(pair.name, direction, None, None, last_train, last_val, None, None)
    verdict = _judge(val, train, direction, settings)
    return MetricDiagnosis(
        name=pair.name,
        direction=direction,
        best_epoch=verdict.best_epoch,
        best_value=verdict.best_value,
        last_train=last_train,
        last_validation=last_val,
        gap=verdict.gap,
        onset_epoch=verdict.onset_epoch,
    )


def _first_non_finite_loss(hist: History) -> int | None:
    """First epoch at which any loss (training or validation) is NaN or infinite."""
    first = None
    for key in hist:
        if "loss" not in base_name(key).lower():
            continue
        series = hist[key]
        for epoch, value in zip(series.epochs, series.values, strict=True):
            if not math.isfinite(value):
                first = epoch if first is None else min(first, epoch)
                break
    return first


def _finite_points(series: Series) -> tuple[list[int], list[float]]:
    pairs = [(e, v) for e, v in zip(series.epochs, series.values, strict=True) if math.isfinite(v)]
    return [e for e, _ in pairs], [v for _, v in pairs]


def _best_index(values: Sequence[float], direction: str) -> int:
    """Index of the best value; the earliest one on ties."""
    arr = np.asarray(values, dtype=np.float64)
    return int(np.argmin(arr) if direction == "min" else np.argmax(arr))


def _worse_by(value: float, best: float, direction: str) -> float:
    """How much worse ``value`` is than ``best``, in percent of ``best`` (>= 0 is worse)."""
    scale = max(abs(best), 1e-12)
    diff = value - best if direction == "min" else best - value
    return 100.0 * diff / scale


def _train_improvement(
    train: Series | None, from_epoch: int, to_epoch: int, direction: str, window: int = 1
) -> float | None:
    """Percent by which training improved from ``from_epoch`` to the ``window`` epochs
    ending at ``to_epoch`` (their mean, so one lucky epoch does not count)."""
    if train is None:
        return None
    start = train.value_at(from_epoch)
    ends = [
        train.value_at(e) for e in range(max(from_epoch + 1, to_epoch - window + 1), to_epoch + 1)
    ]
    ends = [v for v in ends if v is not None and math.isfinite(v)]
    if start is None or not math.isfinite(start) or not ends:
        return None
    return -_worse_by(sum(ends) / len(ends), start, direction)


def _training_spike(
    train: Series | None, from_epoch: int, direction: str
) -> tuple[int, float] | None:
    """The largest epoch-to-epoch worsening of training since ``from_epoch``: (epoch, %)."""
    if train is None:
        return None
    points = [
        (e, v)
        for e, v in zip(train.epochs, train.values, strict=True)
        if e >= from_epoch and math.isfinite(v)
    ]
    jumps = [(b[0], _worse_by(b[1], a[1], direction)) for a, b in itertools.pairwise(points)]
    return max(jumps, key=lambda j: j[1], default=None)


def _not_learning(hist: History, limit: int, settings: DetectorSettings) -> str | None:
    """A reason if training never really got going (stuck at chance), else None.

    Judged after the warm-up, on two signs, either of which is enough:

    * the training loss is not ``min_learning`` percent below its second
      epoch's value, or not 30% below its first (the first epoch can be huge
      when a bad learning rate blows the weights up, so it alone proves nothing);
    * a training accuracy stayed below 0.5 and rose less than 5 points since
      the second epoch (accuracy near chance, whatever the loss does).
    """
    loss = hist["loss"].until(limit)
    epochs, values = _finite_points(loss)
    if len(values) < 2 or epochs[-1] - epochs[0] < settings.warmup_epochs:
        return None
    now, first, second = values[-1], values[0], values[1]
    if now > second * (1 - settings.min_learning / 100) or now > first * 0.7:
        return (
            f"the training loss is {fmt(now)} after {plural(len(values), 'epoch')}, not "
            f"{settings.min_learning:g}% below {fmt(second)} at {epoch_label(epochs[1])}: "
            "the model is not learning. Try a smaller learning rate, and check the labels "
            "and the loss."
        )
    for key in hist:
        if key.startswith("val_") or "acc" not in key.lower():
            continue
        acc_epochs, acc = _finite_points(hist[key].until(limit))
        if len(acc) >= 2 and max(acc) < 0.5 and acc[-1] - acc[1] < 0.05:
            return (
                f"training {md_escape(key)} is {fmt(acc[-1])} after "
                f"{plural(len(acc), 'epoch')} and has not risen since "
                f"{epoch_label(acc_epochs[1])}: the model is not learning. Try a smaller "
                "learning rate, and check the labels and the loss."
            )
    return None


def _empty_numbers() -> dict:
    return dict(
        best_epoch=None,
        best_value=None,
        last_value=None,
        onset_epoch=None,
        epochs_since_best=None,
        generalization_loss=None,
        train_improvement=None,
        gap=None,
    )


def _json_safe(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
