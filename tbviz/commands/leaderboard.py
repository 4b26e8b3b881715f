"""The leaderboard: runs best first, as aligned text for a terminal and as markdown for
TensorBoard's Text dashboard (every user-given name escaped)."""

from __future__ import annotations

from tbviz.core.diagnosis import Diagnosis
from tbviz.core.results import RunResult, stop_outcome, varying_hparams
from tbviz.core.text import (
    aligned_table,
    column_widths,
    fmt,
    md_code,
    md_escape,
    plural,
    shared_start,
)
from tbviz.core.verdicts import stopper_call


def leaderboard_text(results: list[RunResult], metric: str) -> str:
    """The leaderboard as an aligned plain-text table for a terminal."""
    varying = varying_hparams([r.hparams for r in results])
    header = _header(metric, bool(varying))
    return aligned_table(header, [_row(i, r, varying) for i, r in enumerate(results, 1)])


#: Widest table, in pixels, that TensorBoard's Text dashboard shows without
#: breaking words in a 1400 px window (about 7.2 px a character at its 14 px
#: font, 26 px of padding a column). Its tables break words anywhere once
#: squeezed (word-break: break-word), so a wider leaderboard is a list.
TABLE_PIXELS = 880


def leaderboard_markdown(results: list[RunResult], metric: str, note: str = "") -> str:
    """The leaderboard as markdown for TensorBoard's Text tab: a table, or a
    numbered list when a table would be too wide to read there.

    Run names and hparams come from users: they are escaped, so a ``|`` or
    ``<script>`` in a name shows as text and cannot break the table. The start
    every run name shares (a sweep's folder) is said once, above.
    """
    varying = varying_hparams([r.hparams for r in results])
    header = _header(metric, bool(varying))
    prefix = shared_start([r.run for r in results]) if len(results) > 1 else ""
    shared = f" Run names below follow {md_code(prefix)}." if prefix else ""
    lines = [
        f"**Leaderboard** by {md_code(metric)}, best first: {plural(len(results), 'run')}."
        + shared
        + (f" {note}" if note else ""),
        "",
    ]
    rows = [_row(i, r, varying, len(prefix)) for i, r in enumerate(results, 1)]
    widths = column_widths(header, rows)
    if 7.2 * sum(widths) + 26 * len(widths) <= TABLE_PIXELS:
        lines += [
            "| " + " | ".join(md_escape(h) for h in header) + " |",
            "|" + "---|" * len(header),
        ]
        lines += ["| " + " | ".join(md_escape(cell) for cell in row) + " |" for row in rows]
    else:
        lines += [_list_item(header, row) for row in rows]
    stopping = stopping_lines(results, markdown=True)
    if stopping:  # in hindsight: what each stopper would have done to these runs
        lines += ["", *stopping]
    return "\n".join(lines)


def stopping_lines(results: list[RunResult], markdown: bool = False) -> list[str]:
    """What stopping would have done across these runs, in hindsight: tbviz's
    ``OverfittingStopping`` and ``EarlyStopping`` at the patience the runs were
    judged with, each as runs stopped, epochs saved, and the stops that restored
    an epoch more than 1% worse than the run's best. Empty when neither would
    have stopped any run. Settings (``--setting``) change the first line: a way to
    tune the stopper on one's own finished runs. ``markdown``: list items for
    the Text dashboard, the calls as code and run names escaped."""
    judged = [r for r in results if r.diagnosis.best_epoch is not None]
    if not judged:
        return []
    total = sum(r.diagnosis.last_epoch + 1 for r in judged)
    first = judged[0].diagnosis
    ours = [(r, _stop(r.diagnosis, r.diagnosis.overfitting_stopping)) for r in judged]
    keras = [(r, _stop(r.diagnosis, r.diagnosis.early_stopping)) for r in judged]
    patience = first.settings.patience
    if not any(stop for _, stop in ours + keras):
        return []
    return [
        _stopping_line(stopper_call(first), ours, len(judged), total, markdown),
        _stopping_line(f"EarlyStopping(patience={patience})", keras, len(judged), total, markdown),
    ]


def _stop(d: Diagnosis, what_if) -> tuple[int, bool] | None:
    """(epochs saved, too soon) of one what-if, None when it would not have stopped."""
    if what_if is None:
        return None
    return stop_outcome(
        d.direction,
        d.best_value,
        what_if.stopped_epoch,
        what_if.restored_value,
        what_if.epochs_saved,
    )


def _stopping_line(who: str, stops, runs: int, total: int, markdown: bool) -> str:
    stopped = [(r, s) for r, s in stops if s is not None]
    saved = sum(s[0] for _, s in stopped)
    soon = [md_code(r.run) if markdown else r.run for r, s in stopped if s[1]]
    said = (
        f"{'- ' + md_code(who) if markdown else 'stopping: ' + who} would have stopped "
        f"{len(stopped)} of {plural(runs, 'run')}, "
        f"saving {saved} of {total} epochs ({100 * saved / max(total, 1):.0f}%)"
    )
    if soon:
        names = ", ".join(soon[:3]) + (f", +{len(soon) - 3}" if len(soon) > 3 else "")
        said += f"; {len(soon)} restored an epoch over 1% worse than the run's best ({names})"
    return said


def _list_item(header: list[str], row: list[str]) -> str:
    """One run of the leaderboard as a list line: breaks only between words."""
    cells = dict(zip(header, row, strict=False))
    best = header[2]
    said = [
        f"{row[0]}. {md_code(row[1])}: **{md_escape(cells['status'])}**",
        f"{md_escape(best)} {md_escape(cells[best])} at epoch {md_escape(cells['best epoch'])}",
        f"final {md_escape(cells['final'])}",
    ]
    if cells["onset"] != "-":
        said.append(f"onset epoch {md_escape(cells['onset'])}")
    said.append(f"{md_escape(cells['epochs'])} epochs")
    if cells.get("hparams"):
        said.append(md_escape(cells["hparams"]))
    return ", ".join(said)


def _header(metric: str, with_hparams: bool) -> list[str]:
    header = ["#", "run", f"best {metric}", "best epoch", "final", "status", "onset", "epochs"]
    return [*header, "hparams"] if with_hparams else header


def _row(index: int, result: RunResult, varying: list[str], cut: int = 0) -> list[str]:
    """One leaderboard row as plain text; ``cut`` characters come off the run name."""
    d = result.diagnosis
    row = [
        str(index),
        result.run[cut:],
        fmt(d.best_value),
        _epoch(d.best_epoch),
        fmt(d.last_value),
        d.status,
        _epoch(d.onset_epoch),
        f"{d.epochs} (partial)" if result.partial else str(d.epochs),
    ]
    if varying:
        shown = {k: v for k, v in result.hparams.items() if k in varying}
        row.append(hparams_text(shown))
    return row


def hparams_text(hparams: dict[str, object]) -> str:
    """``{"lr": 0.01, "filters": 8}`` -> ``"filters=8, lr=0.01"``."""
    return ", ".join(
        f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in sorted(hparams.items())
    )


def _epoch(epoch: int | None) -> str:
    """``3`` -> ``"4"`` (words count epochs from 1); None -> ``"-"``."""
    return "-" if epoch is None else str(epoch + 1)
