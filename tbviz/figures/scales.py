"""Axis ranges and tick labels people read at a glance, and that stay put.

matplotlib's automatic ticks land on whatever the data spans, and its limits
move with every new epoch. For figures redrawn each epoch both cost time (the
axes must be laid out again) and make the picture jump. Here ranges snap to
round numbers (steps of 1, 2 or 5 times a power of ten), grow with room
to spare, and never shrink while a run goes on, so most epochs only move the
curves; the epoch axis grows along 5, 10, 20, 30, 50, 100, ... (or is laid out
once, when the run says how many epochs it plans).

Pure Python; the same rules are used by the dashboard's JavaScript.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Multiples of a power of ten that make round steps.
_STEPS = (1.0, 2.0, 5.0, 10.0)
#: Epoch-axis lengths before they continue as 100, 200, 300, 500, 1000, ...
_EPOCH_LADDER = (5, 10, 20, 30, 50)


def nice_step(span: float, bins: int = 5) -> float:
    """The round step that cuts ``span`` into about ``bins`` intervals (at most ``bins``)."""
    raw = span / max(1, bins)
    if not math.isfinite(raw) or raw < 1e-300:  # zero, or too small to take a logarithm of
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in _STEPS:
        if multiple * power >= raw * (1 - 1e-9):
            return multiple * power
    return 10.0 * power  # pragma: no cover - _STEPS ends at 10


def epoch_extent(last: int) -> int:
    """The epoch axis' length for a run at 1-based epoch ``last``: 5, 10, 20, 30, 50, 100, ..."""
    for extent in _EPOCH_LADDER:
        if last <= extent:
            return extent
    power = 100
    while True:
        for multiple in (1, 2, 3, 5):
            if last <= multiple * power:
                return multiple * power
        power *= 10


def epoch_ticks(extent: int) -> list[int]:
    """Whole-epoch ticks for an axis from 1 to ``extent``: 1..5, then round steps from 0."""
    if extent <= 5:
        return list(range(1, extent + 1))
    step = max(1, int(nice_step(extent, 5)))
    return [t for t in range(0, extent + 1, step) if t >= 1] or [1]


@dataclass(frozen=True)
class Range:
    """A y range on round numbers, with its tick step."""

    low: float
    high: float
    step: float

    def covers(self, low: float, high: float) -> bool:
        return self.low <= low and high <= self.high

    def ticks(self) -> list[float]:
        count = round((self.high - self.low) / self.step)
        return [self.low + i * self.step for i in range(count + 1)]

    def labels(self) -> list[str]:
        return tick_labels(self.ticks(), self.step)


def snap_range(low: float, high: float, bins: int = 5, room: float = 0.06) -> Range:
    """A round range that holds ``low``..``high`` with ``room`` (a share of the span) to spare.

    A zero-width span (one point, a constant) gets 10% of its value either
    side. A range of non-negative values does not dip below zero, and one of
    values between 0 and 1 (accuracy, AUC) does not reach past 1.
    """
    data_low, data_high = low, high
    if max(abs(low), abs(high)) < 1e-100:  # zero, or too close to it to scale by
        low = high = 0.0
    span = high - low
    if span <= 1e-9 * max(abs(low), abs(high)):  # a constant, to float precision
        span = abs(high) * 0.2 or 1.0
        padded_low, padded_high = low - span / 2, high + span / 2
    else:
        padded_low, padded_high = low - span * room, high + span * room
    padded_low, padded_high = _keep_in_unit(low, high, padded_low, padded_high)
    step = nice_step((padded_high - padded_low) * (1 + 1e-9), bins)
    # Float noise may not move an end past a tick (0.30000000000000004 / 0.1
    # is 3 ticks, not 4), nor may it leave the data outside the range.
    start = _clean(math.floor(padded_low / step + 1e-9) * step, step)
    stop = _clean(math.ceil(padded_high / step - 1e-9) * step, step)
    if start > data_low:
        start = _clean(start - step, step)
    if stop < data_high:
        stop = _clean(stop + step, step)
    return Range(start, stop, step)


def grow_range(current: Range | None, low: float, high: float, bins: int = 5) -> Range:
    """``current`` if it still holds ``low``..``high``, else a new round range with headroom.

    Headroom (a quarter of the span) goes on the side the data went past, so a
    loss still falling or an accuracy still rising does not move the axes
    again next epoch.
    """
    if current is not None and current.covers(low, high):
        return current
    if current is None:
        return snap_range(low, high, bins)
    span = max(high, current.high) - min(low, current.low)
    new_low = low - 0.25 * span if low < current.low else min(low, current.low)
    new_high = high + 0.25 * span if high > current.high else max(high, current.high)
    new_low, new_high = _keep_in_unit(low, high, new_low, new_high)
    return snap_range(new_low, new_high, bins, room=0.0)


#: How far past the quartiles a value may lie and still set the axis, in
#: interquartile ranges (Tukey's "far out" fence).
FENCE = 3.0


def fenced(values) -> tuple[float, float] | None:
    """The span of the values that set a shared axis: all of them, but for those
    past Tukey's far-out fences (quartile -/+ 3 interquartile ranges).

    One run's large first-epoch loss (or an accuracy near chance at the
    start) would otherwise squash every other curve into a line; those
    values leave the axis, and the figure marks where. The tab's overlay
    (``fencedRange`` in the dashboard's index.js) uses the same rule.
    None when there is no finite value.
    """
    if hasattr(values, "dtype"):  # a numpy array: sorted in C, the same rule
        import numpy as np

        finite = np.sort(values[np.isfinite(values)]).tolist()
    else:
        finite = sorted(v for v in values if math.isfinite(v))
    if not finite:
        return None
    q1, q3 = _quantile(finite, 0.25), _quantile(finite, 0.75)
    spread = q3 - q1
    if spread <= 0:
        return finite[0], finite[-1]
    return max(finite[0], q1 - FENCE * spread), min(finite[-1], q3 + FENCE * spread)


def _quantile(ordered: list[float], q: float) -> float:
    """Linear-interpolation quantile of sorted values (numpy's default)."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def tick_labels(ticks: list[float], step: float) -> list[str]:
    """Labels with the same number of decimals, as few as the step needs.

    Very small or very large values (a learning rate of 1e-5) use
    scientific notation (``2.5e-4``), so labels stay short
    and are never clipped at the panel's edge.
    """
    biggest = max((abs(t) for t in ticks), default=0.0)
    if step < 1e-3 or biggest >= 1e5:
        # As many digits as tell one tick from the next: 9.75e5, 1.005e6.
        digits = max(0, math.floor(math.log10(biggest or step)) - math.floor(math.log10(step)))
        return [_short_scientific(t, digits) for t in ticks]
    decimals = 0
    while decimals < 6 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    return [f"{t:.{decimals}f}" for t in ticks]


def _short_scientific(value: float, digits: int) -> str:
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _keep_in_unit(low: float, high: float, lo: float, hi: float) -> tuple[float, float]:
    """``lo``..``hi`` cut back to 0 and 1 where the data ``low``..``high`` stays within them."""
    if low >= 0 > lo:
        lo = 0.0
    if low >= 0 and high <= 1 < hi:
        hi = 1.0
    return lo, hi


def _clean(value: float, step: float) -> float:
    """``value`` without float noise (0.30000000000000004 -> 0.3)."""
    digits = max(0, -math.floor(math.log10(step)) + 2)
    cleaned = round(value, digits)
    return 0.0 if cleaned == 0 else cleaned
