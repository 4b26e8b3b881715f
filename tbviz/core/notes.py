"""Words for people about a diagnosis: the plain reason, the headline, the note.

The detector decides with codes and numbers (:mod:`tbviz.core.detector`,
:mod:`tbviz.core.diagnosis`); this module turns them into text. ``reason_text`` is
plain (it goes into the JSON diagnosis and the tbviz tab); ``headline`` and
``note`` are markdown for TensorBoard's text dashboard, with every user-given
name escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tbviz.core.text import epoch_label, fmt, md_code, md_escape, points, slider_label

if TYPE_CHECKING:
    from tbviz.core.diagnosis import Diagnosis


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
            f"{', '.join(d.available)}. Set monitor= to one of them."
        )
    if code == "not-learning":
        if detail and detail[0] == "accuracy":
            _, key, last, count = detail
            return (
                f"training {key} is {fmt(last)} after {points(count)} and has not "
                "risen since its second epoch: the model is not learning. Try a smaller "
                "learning rate, and check the labels and the loss."
            )
        now, second, count, needed = (detail or (None, None, None, 0, d.settings.min_learning))[1:]
        return (
            f"the training loss is {fmt(now)} after {points(count or 0)}, not "
            f"{needed:g}% below its second epoch's {fmt(second)}: the model is not learning. "
            "Try a smaller learning rate, and check the labels and the loss."
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


def stop_message(epoch: int, d: Diagnosis, restored: bool) -> str:
    """What an ``OverfittingStopping`` (Keras, Lightning, Transformers) says when it
    ends a fit: overfitting confirmed, or a loss that became NaN or infinite."""
    said = ""
    if restored:
        said = (
            f"; restored the weights of {epoch_label(d.best_epoch)}, the best "
            f"{d.monitor} ({fmt(d.best_value)})"
        )
    if d.status == "diverged":
        return (
            f"Stopped by OverfittingStopping after {epoch_label(epoch)}: a loss became NaN "
            f"or infinite at {epoch_label(d.diverged_at)}{said}."
        )
    onset = d.onset_epoch if d.onset_epoch is not None else d.best_epoch
    return (
        f"Stopped by OverfittingStopping after {epoch_label(epoch)}: overfitting "
        f"confirmed since {epoch_label(onset)}{said}."
    )


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


def note(d: Diagnosis, final: bool = False, stopped: str | None = None) -> str:
    """A short markdown note: status, why, best epoch, onset, gap, early stopping.

    ``stopped`` is a sentence saying that (and why) a stopping callback ended
    the training; it goes right under the headline.
    """
    lines = [headline(d), ""]
    if final:
        lines.insert(0, f"Final diagnosis after {points(d.epochs)}:\n")
    if stopped:
        lines += [md_escape_sentence(stopped), ""]
    lines.append(f"- Why: {md_escape_sentence(d.reason)}")
    if d.best_epoch is not None:
        lines.append(
            f"- Best {md_escape(d.monitor)}: {fmt(d.best_value)} at "
            f"{epoch_label(d.best_epoch)}; last: {fmt(d.last_value)} at "
            f"{epoch_label(d.last_epoch)}."
        )
    if d.onset_epoch is not None:
        lines.append(
            f"- Onset: {slider_label(d.onset_epoch)} was the last good epoch; "
            "validation got worse after it."
        )
    gaps = [m for m in d.metrics if m.gap is not None]
    if gaps:
        parts = [f"{md_escape(m.name)} {m.gap:+.4g}" for m in gaps]
        lines.append("- Gap (validation − training, last epoch): " + ", ".join(parts) + ".")
    lines.extend(_early_stopping_lines(d))
    table = _metrics_table(d)
    if table:
        lines += ["", *table]
    return "\n".join(lines)


def md_escape_sentence(text: str) -> str:
    """Escape a plain sentence for markdown, keeping it readable (no escaped dots)."""
    return (
        md_escape(text)
        .replace("\\.", ".")
        .replace("\\-", "-")
        .replace("\\(", "(")
        .replace("\\)", ")")
    )


def _early_stopping_lines(d: Diagnosis) -> list[str]:
    es = d.early_stopping
    if es is None:
        return []
    call = md_code(es.keras_call(d.monitor, d.direction))
    if es.stopped_epoch is None:
        said = f"- {call} would not have stopped yet"
        if es.restored_epoch is not None:
            said += f" (its best so far: {epoch_label(es.restored_epoch)})"
        lines = [said + "."]
    else:
        where = ", the last epoch so far," if es.epochs_saved == 0 else ""
        lines = [
            f"- {call} would have stopped after {epoch_label(es.stopped_epoch)}{where} and "
            f"restored {epoch_label(es.restored_epoch)} ({md_escape(d.monitor)} "
            f"{fmt(es.restored_value)}), saving {points(es.epochs_saved)}."
        ]
    suggested = d.suggested_early_stopping
    if suggested is not None and suggested.stopped_epoch is not None:
        call = md_code(suggested.keras_call(d.monitor, d.direction))
        lines.append(
            f"- On this curve, the soonest stop that keeps the best epoch: {call} stops "
            f"after {epoch_label(suggested.stopped_epoch)} and restores "
            f"{epoch_label(suggested.restored_epoch)}."
        )
    elif (
        es.patience_to_keep_best is not None
        and es.patience_to_keep_best > es.patience
        and d.best_epoch is not None
    ):
        lines.append(
            f"- That is too impatient for this curve: patience="
            f"{es.patience_to_keep_best} is needed to reach the best epoch, "
            f"{epoch_label(d.best_epoch)}."
        )
    return lines


def _metrics_table(d: Diagnosis) -> list[str]:
    rows = [m for m in d.metrics if m.best_epoch is not None]
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


#: Statuses worth a note the epoch they appear; others must hold a few epochs first.
URGENT = ("overfitting", "diverged", "not-learning", "no-monitor", "no-validation")


class NoteGate:
    """Decides when a status change deserves a note (``tbviz/notes``).

    A verdict (overfitting, diverged, not learning, a missing monitor) is
    noted the epoch it appears. ``improving`` and ``plateau`` alternate
    whenever a noisy curve sets a new best now and then, so a change between
    them is noted only once the new status has held ``hold`` epochs: a long
    run gets a note per phase, not one every few epochs.
    """

    def __init__(self, hold: int = 5, noted: str | None = None) -> None:
        self.hold = hold
        self.noted = noted
        self._candidate: str | None = None
        self._held = 0

    def update(self, status: str) -> bool:
        """Feed one epoch's status; True if a note should be written now."""
        if status == self.noted:
            self._candidate, self._held = None, 0
            return False
        if status == self._candidate:
            self._held += 1
        else:
            self._candidate, self._held = status, 1
        if status in URGENT or self.noted is None or self._held >= self.hold:
            self.noted, self._candidate, self._held = status, None, 0
            return True
        return False
