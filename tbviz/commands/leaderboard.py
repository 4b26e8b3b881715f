"""The leaderboard: runs best first, as aligned text for a terminal and as markdown for
TensorBoard's Text dashboard (every user-given name escaped)."""

from __future__ import annotations

from collections.abc import Callable

from tbviz.core.results import RunResult
from tbviz.core.text import fmt, md_code, md_escape, plural


def leaderboard_text(results: list[RunResult], metric: str) -> str:
    """The leaderboard as an aligned plain-text table for a terminal."""
    varying = varying_hparams(results)
    header = _header(metric, bool(varying))
    rows = [_row(i, r, varying, str) for i, r in enumerate(results, 1)]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def leaderboard_markdown(results: list[RunResult], metric: str, note: str = "") -> str:
    """The leaderboard as a markdown table for TensorBoard's Text tab.

    Run names and hparams come from users: they are escaped, so a ``|`` or
    ``<script>`` in a name shows as text and cannot break the table.
    """
    varying = varying_hparams(results)
    header = [md_escape(h) for h in _header(metric, bool(varying))]
    lines = [
        f"**Leaderboard** by {md_code(metric)}, best first: {plural(len(results), 'run')}."
        + (f" {note}" if note else ""),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += [
        "| " + " | ".join(_row(i, r, varying, md_escape)) + " |" for i, r in enumerate(results, 1)
    ]
    return "\n".join(lines)


def _header(metric: str, with_hparams: bool) -> list[str]:
    header = ["#", "run", f"best {metric}", "best epoch", "final", "status", "onset", "epochs"]
    return [*header, "hparams"] if with_hparams else header


def varying_hparams(results: list[RunResult]) -> list[str]:
    """Hparam names whose value is not the same in every run: the ones worth a column."""
    names = sorted({name for r in results for name in r.hparams})
    return [name for name in names if len({repr(r.hparams.get(name)) for r in results}) > 1]


def _row(index: int, result: RunResult, varying: list[str], escape: Callable) -> list[str]:
    d = result.diagnosis
    row = [
        str(index),
        escape(result.run),
        fmt(d.best_value),
        _epoch(d.best_epoch),
        fmt(d.last_value),
        d.status,
        _epoch(d.onset_epoch),
        f"{d.epochs} (partial)" if result.partial else str(d.epochs),
    ]
    if varying:
        shown = {k: v for k, v in result.hparams.items() if k in varying}
        row.append(escape(hparams_text(shown)))
    return row


def hparams_text(hparams: dict[str, object]) -> str:
    """``{"lr": 0.01, "filters": 8}`` -> ``"filters=8, lr=0.01"``."""
    return ", ".join(
        f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in sorted(hparams.items())
    )


def _epoch(epoch: int | None) -> str:
    """``3`` -> ``"4 (step 3)"``; None -> ``"-"``."""
    return "-" if epoch is None else f"{epoch + 1} (step {epoch})"
