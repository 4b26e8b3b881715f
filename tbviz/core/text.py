"""Small helpers for text shown to people: epoch labels, numbers, safe markdown.

TensorBoard's text dashboard renders summaries as markdown and strips unsafe
HTML. Metric and run names come from users, so anything we interpolate into
markdown is escaped first: a ``|`` must not break a table, a ``<script>`` must
show as text.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Evaluations:
    """How the points of a run evaluated every N steps are named in words.

    The detector counts points (the k-th evaluation is point k); people read
    them by training step and by (fractional) epoch, as the Hugging Face
    Trainer logs them: ``"step 1,200 (epoch 2.4)"``. ``steps`` and ``epochs``
    map a 0-based point to its global step and epoch.
    """

    steps: Mapping[int, int] = field(default_factory=dict)
    epochs: Mapping[int, float] = field(default_factory=dict)

    def label(self, point: int) -> str:
        step = self.steps.get(point)
        if step is None:
            return f"evaluation {point + 1}"
        epoch = self.epochs.get(point)
        if epoch is None:
            return f"step {step:,}"
        return f"step {step:,} (epoch {f'{epoch:.2f}'.rstrip('0').rstrip('.')})"


_NAMING: ContextVar[Evaluations | None] = ContextVar("tbviz_naming", default=None)


@contextlib.contextmanager
def naming(evaluations: Evaluations | None) -> Iterator[None]:
    """Within this block, words name points as ``evaluations`` do (None: as epochs).

    A context variable rather than an argument of every sentence-building
    function: the notes, the reasons and the stop messages all name points,
    and a run that evaluates every N steps must name them alike everywhere.
    """
    token = _NAMING.set(evaluations)
    try:
        yield
    finally:
        _NAMING.reset(token)


def epoch_label(epoch: int) -> str:
    """Name a 0-based epoch for people: ``epoch_label(3) == "epoch 4"``.

    tbviz's one convention: words count epochs from 1, as Keras' progress bar
    does; numbers stored for programs (JSON, the diagnosis, event steps) count
    from 0, as Keras' ``epoch`` argument and TensorBoard's steps do. The step
    is named only where a reader needs it to find a figure on TensorBoard's
    slider (:func:`slider_label`). Within :func:`naming`, a run evaluated
    every N steps names its points by step and epoch instead.
    """
    evaluations = _NAMING.get()
    return evaluations.label(epoch) if evaluations else f"epoch {epoch + 1}"


def figure_title(run: str, epoch: int, status: str) -> str:
    """The comparison figure's title: ``"cnn — epoch 4: overfitting"`` (``epoch`` 0-based;
    a run evaluated every N steps names the point by step, see :func:`naming`). Here,
    not beside the figure, so the training thread names a figure without
    importing matplotlib."""
    return f"{run} — {epoch_label(epoch)}: {status}"


def slider_label(epoch: int) -> str:
    """``slider_label(3) == "epoch 4 (step 3 on TensorBoard's slider)"``."""
    evaluations = _NAMING.get()
    if evaluations:
        return evaluations.label(epoch)  # the step is the slider's already
    return f"epoch {epoch + 1} (step {epoch} on TensorBoard's slider)"


def points(count: int) -> str:
    """``points(3) == "3 epochs"``, or ``"3 evaluations"`` within :func:`naming`."""
    return plural(count, "evaluation" if _NAMING.get() else "epoch")


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


_SEPARATORS = "/,-_ :"


def column_widths(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    """The widest cell of each column, the header's included."""
    return [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]


def aligned_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``header`` and ``rows`` as plain text for a terminal, each column padded to
    its widest cell, two spaces between columns."""
    widths = column_widths(header, rows)
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def display_names(runs: Sequence[str], limit: int = 36) -> dict[str, str]:
    """Each run's name less the start and end every name shares, for figure labels.

    Sweep runs differ in their ``knob=value`` parts, so what they share
    (``sweep-20261129-101500/``) is what tells them apart least. The cut is
    made at a separator (``/ , - _`` space or colon), never inside a
    ``lr=0.01``. A name still longer than ``limit`` keeps its end, where a
    sweep's values are. One run keeps its whole name.
    """
    names = list(dict.fromkeys(runs))
    if len(names) < 2:
        return {name: _cut_middle(name, limit) for name in names}
    prefix = shared_start(names)
    suffix = shared_start([n[len(prefix) :][::-1] for n in names])
    shown = {}
    for name in names:
        core = name[len(prefix) : len(name) - len(suffix)] or name
        shown[name] = core if len(core) <= limit else "…" + core[-(limit - 1) :]
    return shown


def shared_start(names: Sequence[str], keep: int = 4) -> str:
    """The longest start of every name that ends at a separator and leaves each
    name at least ``keep`` characters (``version_0``, not ``0``)."""
    first, last = min(names), max(names)  # the start all names share is these two's
    length = 0
    while length < min(len(first), len(last)) and first[length] == last[length]:
        length += 1
    common = first[:length]
    if all(len(n) == len(common) or n[len(common)] in _SEPARATORS for n in names):
        cut = len(common)
    else:
        cut = _last_separator(common, len(common))
    while cut and min(len(n) for n in names) - cut < keep:
        cut = _last_separator(common, cut - 1)
    return common[:cut]


def _last_separator(text: str, end: int) -> int:
    """The position just after the last separator in ``text[:end]``; 0 if none."""
    return max((text.rfind(sep, 0, end) + 1 for sep in _SEPARATORS), default=0)


def _cut_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "…" + text[-(limit - 1 - half) :]
