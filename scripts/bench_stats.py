"""A bootstrap interval for the benchmarks' medians of paired ratios (pure Python)."""

from __future__ import annotations

import random
import statistics


def median_interval(ratios: list[float], level: float = 0.9) -> tuple[float, float]:
    """A bootstrap interval of the median of ``ratios``: the rounds resampled with
    replacement, 2,000 times, with a fixed seed so that reruns on the same
    numbers print alike. How far the median could move on the machine's noise."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
    tail = (1 - level) / 2
    return medians[int(tail * len(medians))], medians[int((1 - tail) * len(medians)) - 1]
