"""The notes tbviz writes about a diagnosis: markdown for TensorBoard's text dashboard.

The detector decides with codes and numbers (:mod:`tbviz.core.detector`,
:mod:`tbviz.core.diagnosis`); the diagnosis' own plain words (its ``reason``,
its headline) are in :mod:`tbviz.core.verdicts`. This module builds the
notes from them (what happened, the numbers, what ``EarlyStopping`` and
tbviz's own ``OverfittingStopping`` would have done), the line a stopper
prints, and decides when a note is worth writing (:class:`NoteGate`); every
user-given name is escaped.
"""

from __future__ import annotations

from tbviz.core.text import epoch_label, fmt, md_code, md_escape, points, slider_label
from tbviz.core.verdicts import Diagnosis, headline, stopper_call


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
    if d.best_epoch is not None and d.diverged_at is not None:
        # The numbers stop before the loss blew up: no "last" value to speak of.
        lines.append(
            f"- Best {md_escape(d.monitor)}: {fmt(d.best_value)} at {epoch_label(d.best_epoch)}."
        )
    elif d.best_epoch is not None:
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
    if not stopped:
        lines.extend(_overfitting_stopping_lines(d))
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
    if suggested is not None and suggested.patience == es.patience:
        pass  # its own patience is already the soonest stop that keeps the best epoch
    elif suggested is not None and suggested.stopped_epoch is not None:
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


def _overfitting_stopping_lines(d: Diagnosis) -> list[str]:
    """Where tbviz's own stopper would have stopped: at the first alarm, withdrawn
    or not, restoring the best epoch then (which a later best may have beaten)."""
    ours, es, call = d.overfitting_stopping, d.early_stopping, md_code(stopper_call(d))
    if ours is None:  # no alarm, no divergence
        if es is not None and es.stopped_epoch is not None:
            return [f"- {call} would not have stopped: no overfitting confirmed."]
        return []
    where = ", the last epoch so far," if ours.epochs_saved == 0 else ""
    said = f"- {call} would have stopped after {epoch_label(ours.stopped_epoch)}{where}"
    if ours.restored_epoch is not None:
        said += (
            f" and restored {epoch_label(ours.restored_epoch)} ({md_escape(d.monitor)} "
            f"{fmt(ours.restored_value)})"
        )
    if ours.epochs_saved:
        said += f", saving {points(ours.epochs_saved)}"
    if (
        ours.restored_epoch is not None
        and d.best_epoch is not None
        and d.best_epoch > ours.restored_epoch
    ):
        said += f"; the run did better later: {fmt(d.best_value)} at {epoch_label(d.best_epoch)}"
    return [said + "."]


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
