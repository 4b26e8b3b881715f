"""Small helpers for text shown to people: epoch labels, numbers, safe markdown.

TensorBoard's text dashboard renders summaries as markdown and strips unsafe
HTML. Metric and run names come from users, so anything we interpolate into
markdown is escaped first: a ``|`` must not break a table, a ``<script>`` must
show as text.
"""

from __future__ import annotations

import math
import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def md_escape(text: object) -> str:
    """Escape ``text`` so markdown shows it literally (tables and HTML included)."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))
    escaped = escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("\n", " ")


def md_code(text: object) -> str:
    """Wrap ``text`` in a markdown code span that no backtick inside can close."""
    text = str(text).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def epoch_label(epoch: int) -> str:
    """Name a 0-based epoch for people: ``epoch_label(3) == "epoch 4 (step 3)"``."""
    return f"epoch {epoch + 1} (step {epoch})"


def fmt(value: float | None, digits: int = 4) -> str:
    """Format a metric value compactly: 4 significant digits, ``n/a`` for None."""
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def finite_or_none(value: float | None) -> float | None:
    """``value`` if it is a finite number, else None: what JSON can hold (the one
    place tbviz turns NaN and infinities into nulls)."""
    return value if value is not None and math.isfinite(value) else None


def plural(count: int, word: str) -> str:
    """``plural(1, "epoch") == "1 epoch"``, ``plural(3, "epoch") == "3 epochs"``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
