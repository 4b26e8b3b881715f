"""What a diagnosis is, and how it reads: the data, its JSON layout and its plain words.

:class:`Diagnosis` (with :class:`MetricDiagnosis` and the what-ifs of stopping,
:class:`EarlyStoppingWhatIf` and :class:`OverfittingStoppingWhatIf`) is what
:mod:`tbviz.core.diagnosis` decides and everything else reads: the notes, the
figures, the tab, the commands. Its versioned dict layout
(:data:`DIAGNOSIS_VERSION`) is written as the run's machine-readable
diagnosis and read back by :func:`parse_diagnosis`. The
plain words that are part of it (``reason``, :func:`reason_text`) and its
one-line :func:`headline` live here too, below both the engine and
:mod:`tbviz.core.notes` (the markdown notes), so neither imports the other.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass

from tbviz.core import directions as dirs
from tbviz.core.detector import DetectorSettings, changed_settings, stored_settings
from tbviz.core.text import epoch_label, finite_or_none, fmt, md_escape, points
from tbviz.errors import TbvizError

#: Every status a diagnosis can have, worst first: its colour where tbviz draws
#: it (the tab's badges, served to it by the plugin) and what it means. One
#: table: a new status is added here and nowhere else.
STATUS_TABLE: dict[str, tuple[str, str]] = {
    "diverged": ("#8b0000", "a loss became NaN or infinite"),
    "overfitting": ("#d62728", "validation worse than its best while training improved"),
    "not-learning": ("#9467bd", "the training loss barely moved"),
    "plateau": ("#b8860b", "no new best for a while, not clearly worse"),
    "improving": ("#2ca02c", "validation set a new best recently"),
    "no-monitor": ("#7f7f7f", "the monitored metric was never logged"),
    "no-validation": ("#7f7f7f", "no validation metric was logged"),
}

#: The statuses, in the order a run's life goes through them (the JSON's values).
STATUSES = (
    "improving",
    "plateau",
    "overfitting",
    "not-learning",
    "diverged",
    "no-validation",
    "no-monitor",
)

#: Version of the dict layout produced by :meth:`Diagnosis.to_dict`.
#: 2: ``reason_code``, plain-text ``reason``, noise/threshold numbers,
#: ``confirmed_epoch``, ``direction_source``, ``available``; since added, and
#: absent from older payloads: ``overfitting_stopping``.
DIAGNOSIS_VERSION = 2

#: Keys under which Keras and common schedulers log the learning rate.
LEARNING_RATE_KEYS = ("learning_rate", "lr")


def with_learning_rate(logs: Mapping[str, object], rate: float | None) -> Mapping[str, object]:
    """An epoch's ``logs`` with ``learning_rate`` = ``rate`` when they log no rate of
    their own. The training-loop callbacks read ``rate`` off the optimizer (Keras
    logs one only when a callback sets the rate; Lightning's callback metrics hold
    none), so the detector gives a rate that dropped or rose its chance."""
    if rate is None or any(k in logs for k in LEARNING_RATE_KEYS):
        return logs
    return {**logs, "learning_rate": rate}


class DiagnosisFormatError(TbvizError, ValueError):
    """A stored diagnosis is not one tbviz can read (corrupt, or from a newer tbviz)."""


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
        mode = "" if direction == dirs.metric_direction(monitor) else f', mode="{direction}"'
        return (
            f'EarlyStopping(monitor="{monitor}", patience={self.patience}{mode}, '
            "restore_best_weights=True)"
        )


@dataclass(frozen=True)
class OverfittingStoppingWhatIf:
    """What tbviz's own ``OverfittingStopping()`` would have done: stop after the
    first epoch the verdict said overfitting (or a loss stopped being finite)
    and restore the best epoch then.

    That alarm is kept when a later new best withdraws it, so ``restored_value``
    may be worse than the run's best: the cost of a premature alarm.
    """

    stopped_epoch: int
    restored_epoch: int | None  # None: a loss was not finite from the start
    restored_value: float | None
    epochs_saved: int


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
    """The verdict on one history, and the numbers it was decided on.

    All epochs are 0-based, as Keras and TensorBoard steps count them.
    ``reason_code`` is stable for programs (see :data:`tbviz.core.detector.REASON_CODES`
    and the run-wide codes ``diverged``, ``not-learning``, ``no-validation``,
    ``no-monitor``); ``reason`` says the same in plain text.
    ``generalization_loss`` is Prechelt's GL in percent on the loss-like
    scale (for accuracy-like metrics: of the error rate), ``noise`` and
    ``threshold`` are in the metric's units, ``train_improvement`` is how much
    training improved (percent) since the best validation epoch, ``gap`` the
    monitored validation value minus its training twin at the last epoch.
    ``confirmed_epoch`` is when the current overfitting verdict was first
    reached; ``overfitting_stopping`` is where a stopping callback acting on
    the verdict would have stopped (the first alarm, withdrawn or not; None
    when there was none). ``settings`` are the
    thresholds it was judged by: stored with it, so whoever reads it (the
    notes, the tab re-diagnosing a run) words and judges by the same rule book.
    """

    status: str
    reason_code: str
    reason: str
    monitor: str
    direction: str
    direction_source: str
    epochs: int
    last_epoch: int
    best_epoch: int | None = None
    best_value: float | None = None
    last_value: float | None = None
    onset_epoch: int | None = None
    confirmed_epoch: int | None = None
    diverged_at: int | None = None
    epochs_since_best: int | None = None
    generalization_loss: float | None = None
    train_improvement: float | None = None
    gap: float | None = None
    noise: float | None = None
    threshold: float | None = None
    lr_drop_epoch: int | None = None
    lr_rise_epoch: int | None = None
    available: tuple[str, ...] = ()
    early_stopping: EarlyStoppingWhatIf | None = None
    suggested_early_stopping: EarlyStoppingWhatIf | None = None
    overfitting_stopping: OverfittingStoppingWhatIf | None = None
    metrics: tuple[MetricDiagnosis, ...] = field(default_factory=tuple)
    settings: DetectorSettings = field(default_factory=DetectorSettings)

    def to_dict(self) -> dict:
        """A JSON-ready dict with its ``version`` (non-finite floats become None)."""
        data = json_safe(self)
        data["version"] = DIAGNOSIS_VERSION
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> Diagnosis:
        """Rebuild a diagnosis from :meth:`to_dict` output (see :func:`parse_diagnosis`)."""
        return parse_diagnosis(data)

    def plain_headline(self) -> str:
        """One line for a terminal: the status and the fact that matters most."""
        return headline(self, markdown=False)


def stopper_call(d: Diagnosis) -> str:
    """The Python expression of an ``OverfittingStopping`` judging as ``d`` was judged:
    by its monitor, its direction and its settings."""
    args = [] if d.monitor == "val_loss" else [f'monitor="{d.monitor}"']
    if d.direction != dirs.metric_direction(d.monitor):
        args.append(f'mode="{d.direction}"')
    changed = changed_settings(d.settings)
    if changed:
        given = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        args.append(f"settings=DetectorSettings({given})")
    return f"OverfittingStopping({', '.join(args)})"


def parse_diagnosis(data: Mapping | str | bytes) -> Diagnosis:
    """Read a stored diagnosis (dict, or its JSON) back, checking its version.

    Version 1 payloads (tbviz before the v2 detector) are read too: their
    reason is kept as written and their reason code is ``"v1"``.

    Raises:
        DiagnosisFormatError: not a tbviz diagnosis, or written by a newer tbviz.
    """
    import json

    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as err:
            raise DiagnosisFormatError(f"a stored diagnosis is not JSON: {err}") from err
    if not isinstance(data, Mapping):
        raise DiagnosisFormatError(f"a stored diagnosis is a {type(data).__name__}, not a dict")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise DiagnosisFormatError(f"a stored diagnosis has no valid version: {version!r}")
    if version > DIAGNOSIS_VERSION:
        raise DiagnosisFormatError(
            f"this diagnosis was written by a newer tbviz (version {version}; this one "
            f"reads up to {DIAGNOSIS_VERSION}): upgrade tbviz"
        )
    known = {f.name for f in fields(Diagnosis)}
    values = {k: v for k, v in data.items() if k in known}
    if version == 1:  # markdown escapes in the reason, no codes yet
        values["reason"] = re.sub(r"\\(.)", r"\1", str(values.get("reason", "")))
        values.setdefault("reason_code", "v1")
        values.setdefault("direction_source", "given")
    try:
        stopping = values.pop("early_stopping", None)
        suggested = values.pop("suggested_early_stopping", None)
        ours = values.pop("overfitting_stopping", None)
        values["settings"] = stored_settings(values.pop("settings", None))
        metrics = values.pop("metrics", ())
        available = tuple(values.pop("available", ()) or ())
        return Diagnosis(
            **values,
            available=available,
            early_stopping=EarlyStoppingWhatIf(**stopping) if stopping else None,
            suggested_early_stopping=EarlyStoppingWhatIf(**suggested) if suggested else None,
            overfitting_stopping=OverfittingStoppingWhatIf(**ours) if ours else None,
            metrics=tuple(MetricDiagnosis(**m) for m in metrics),
        )
    except TypeError as err:
        raise DiagnosisFormatError(f"a stored diagnosis is missing fields: {err}") from err


def worse_phrase(d: Diagnosis) -> str:
    """How far the monitored value is from its best, in the metric's own terms."""
    if d.best_value is None or d.last_value is None:
        return "off its best"
    if d.direction == "min" and d.generalization_loss is not None and d.best_value > 0:
        return f"{d.generalization_loss:.1f}% above its best ({fmt(d.best_value)})"
    diff = abs(d.last_value - d.best_value)
    side = "above" if d.direction == "min" else "below"
    return f"{fmt(diff, 3)} {side} its best ({fmt(d.best_value)})"


def _training_moved(d: Diagnosis) -> bool:
    """Training improved since the best epoch by the detector's own bar (its settings)."""
    return d.train_improvement is not None and (
        d.train_improvement >= d.settings.min_train_improvement
    )


def _training_words(d: Diagnosis) -> str:
    if _training_moved(d):
        return f"training improved {d.train_improvement:.1f}% since the best epoch"
    return "training sits at its floor"


def reason_text(d: Diagnosis, detail: tuple | None = None) -> str:
    """One or two plain sentences: why the diagnosis says what it says."""
    code, mon = d.reason_code, d.monitor
    since = points(d.epochs_since_best or 0)
    if code == "diverged":
        return (
            f"a loss was not finite at {epoch_label(d.diverged_at)}; the numbers cover the "
            "epochs before it. Lower the learning rate or clip gradients."
        )
    if code == "no-validation":
        return (
            f"no {mon} in the logs; pass validation_data (or validation_split) to fit() "
            "to get an overfitting diagnosis."
        )
    if code == "no-monitor":
        return (
            f"{mon} was never logged; the validation metrics logged are "
            f"{', '.join(d.available)}. Name one as monitor= (a callback), --metric "
            "(the tbviz command) or in the tab's judge-by list."
        )
    if code == "not-learning":
        if detail and detail[0] == "accuracy":
            _, key, last, count = detail
            return (
                f"training {key} is {fmt(last)} after {points(count)} and has not "
                "risen above its first two epochs': the model is not learning. Try a smaller "
                "learning rate, and check the labels and the loss."
            )
        now, since, count, needed, which = (
            detail or (None, None, None, 0, d.settings.min_learning, "second")
        )[1:]
        s = d.settings
        return (
            f"the training loss is {fmt(now)} after {points(count or 0)}, not "
            f"{needed:g}% below its {which} epoch's {fmt(since)}, and its lowest fell less "
            f"than {s.stuck_progress:g}% in the last {points(s.warmup_epochs)}: the model is "
            "not learning. Try a smaller learning rate, and check the labels and the loss."
        )
    noise = f"its noise is about {fmt(d.noise, 2)}" if d.noise else "it is smooth"
    if code == "overfitting":
        trained = _training_words(d)
        return (
            f"{mon} has been {worse_phrase(d)} for {since}, more than its noise "
            f"(threshold {fmt(d.threshold, 2)}), while {trained}."
        )
    if code == "sustained":
        trained = _training_words(d)
        return (
            f"{mon} has stayed above its best ({fmt(d.best_value)}) for {since}, every "
            f"epoch of them, and is {worse_phrase(d)}; each jump is within its noise "
            f"(about {fmt(d.noise, 2)}), but it never came back, while {trained}."
        )
    if code == "new-best":
        return f"{mon} set a new best at the last epoch."
    if code == "warmup":
        return "too early to judge: the first epochs are noisy."
    if code == "no-finite-value":
        return f"no finite {mon} value yet."
    if code == "within-noise":
        return (
            f"{mon} last improved {since} ago and is within noise of its best "
            f"({noise}); too soon to call a trend."
        )
    if code == "no-new-best":
        moving = _training_moved(d)
        trained = (
            f"while training improved {d.train_improvement:.1f}%: watch for overfitting"
            if moving
            else "and training is flat too"
        )
        if d.threshold is None or not d.generalization_loss or d.generalization_loss <= 0:
            return f"no new best {mon} for {since}, not clearly worse ({noise}), {trained}."
        s = d.settings
        return (
            f"no new best {mon} for {since}; it is {worse_phrase(d)}, short of what "
            f"confirms overfitting (worse by {s.min_generalization_loss:g}% of its best and "
            f"{s.noise_multiplier:g}x its noise, about {fmt(d.threshold, 2)}, for "
            f"{points(s.confirm_epochs)}), {trained}."
        )
    if code == "recovering":
        return f"{mon} is {worse_phrase(d)} but heading back towards it; waiting."
    if code == "lr-drop":
        return (
            f"{mon} is {worse_phrase(d)}, but the learning rate dropped at "
            f"{epoch_label(d.lr_drop_epoch)}; validation often improves again after a drop."
        )
    if code == "lr-rise":
        return (
            f"{mon} is {worse_phrase(d)}, but the learning rate rose at "
            f"{epoch_label(d.lr_rise_epoch)}; a rising rate (a warm-up, a range test) often "
            "makes validation worse for a while: judged again once the rate holds."
        )
    if code == "noisy-best":
        return (
            f"{mon} is {worse_phrase(d)}, but that best was set before the learning rate "
            f"dropped, in a noisier phase (its noise about {fmt(d.noise, 2)}); the rise is "
            "within it: the best was a lucky dip of that phase, not a level the model held."
        )
    if code == "no-training-curve":
        return f"{mon} is {worse_phrase(d)}, but there is no training curve to compare with."
    if code == "training-flat":
        return (
            f"{mon} is {worse_phrase(d)}, but training has not improved either and is not "
            "at its floor: not overfitting; check the learning rate."
        )
    if code == "training-unstable":
        return (
            f"{mon} is {worse_phrase(d)}, but training got worse too (well above its value "
            "at the best epoch): an unstable optimiser, not overfitting."
        )
    return d.reason or code


def headline(d: Diagnosis, markdown: bool = True) -> str:
    """One line: the status and the fact that matters most (markdown or plain)."""
    mon = md_escape(d.monitor) if markdown else d.monitor

    def bold(text: str) -> str:
        return f"**{text}**" if markdown else text

    if d.status == "diverged":
        return f"{bold('Diverged')} at {epoch_label(d.diverged_at)}: a loss became NaN or infinite."
    if d.status == "no-validation":
        return (
            f"{bold('No validation data')}: {mon} was not logged, so overfitting cannot be judged."
        )
    if d.status == "no-monitor":
        shown = ", ".join(md_escape(k) if markdown else k for k in d.available)
        return f"{bold('Unknown monitor')}: {mon} was not logged (validation metrics: {shown})."
    if d.status == "not-learning":
        return f"{bold('Not learning')}: the training loss is not going down."
    if d.status == "overfitting":
        return (
            f"{bold('Overfitting')} since {epoch_label(d.onset_epoch)}: {mon} is "
            f"{worse_phrase(d)} while training kept improving."
        )
    if d.status == "plateau":
        return (
            f"{bold('Plateau')}: {mon} has not improved for "
            f"{points(d.epochs_since_best or 0)} (best at {epoch_label(d.best_epoch)})."
        )
    if d.best_epoch is None:
        return f"{bold('Improving')}: no finite {mon} yet."
    return f"{bold('Improving')}: best {mon} {fmt(d.best_value)} at {epoch_label(d.best_epoch)}."


def json_safe(value):
    """``value`` as JSON can hold it: dataclasses as dicts of their fields,
    tuples as lists, every non-finite float as None (JSON has no NaN).

    One walk, written out rather than ``dataclasses.asdict`` (which deep-copies
    every value): it runs on every epoch a run logs, so the common leaves go
    first and a dataclass' field names are looked up once per class."""
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {name: json_safe(getattr(value, name)) for name in _field_names(type(value))}
    return value


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))
