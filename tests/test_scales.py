"""Round axis ranges and tick labels (tbviz.figures.scales)."""

import math

from hypothesis import given
from hypothesis import strategies as st

from tbviz.figures.scales import (
    epoch_extent,
    epoch_ticks,
    fenced,
    grow_range,
    nice_step,
    snap_range,
    tick_labels,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_steps_are_one_two_or_five_times_a_power_of_ten():
    for span in (0.013, 0.5, 2.3, 7, 140, 3e-5):
        step = nice_step(span)
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert round(mantissa, 9) in (1.0, 2.0, 5.0)
        assert span / step <= 5 + 1e-9


@given(finite, finite)
def test_a_snapped_range_holds_the_data_on_round_ticks(a, b):
    low, high = min(a, b), max(a, b)
    r = snap_range(low, high)
    assert r.low <= low and high <= r.high
    ticks = r.ticks()
    assert 2 <= len(ticks) <= 8
    assert math.isclose(ticks[-1], r.high, rel_tol=1e-9, abs_tol=1e-12)
    assert len(set(r.labels())) == len(ticks)  # no two ticks read the same


@given(finite, finite, finite, finite)
def test_a_grown_range_holds_the_new_data_too(a, b, c, d):
    start = snap_range(min(a, b), max(a, b))
    grown = grow_range(start, min(c, d), max(c, d))
    assert grown.low <= min(c, d) and max(c, d) <= grown.high
    assert len(set(grown.labels())) == len(grown.ticks())


def test_tiny_and_huge_values_keep_their_ticks_apart():
    assert snap_range(0.0, 5e-324).labels()[0] == "0.0"  # denormals: as zero, still covered
    assert snap_range(976340.0, 998661.0).labels()[-2:] == ["1e6", "1.005e6"]


def test_losses_start_at_zero_and_accuracies_stop_at_one():
    assert snap_range(0.05, 2.3).low == 0.0
    assert snap_range(0.9, 0.99).high == 1.0
    assert snap_range(0.9, 0.99).low > 0.5


def test_labels_share_their_decimals():
    assert snap_range(0.9, 0.99).labels() == ["0.85", "0.90", "0.95", "1.00"]
    assert snap_range(0.05, 2.3).labels() == ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5"]


def test_tiny_values_are_short_scientific_labels():
    labels = snap_range(1e-5, 1e-3).labels()
    assert labels[0] == "0" and "1e-3" in labels
    assert max(len(label) for label in labels) <= 7
    assert tick_labels([0.0009, 0.001], 0.0001) == ["9e-4", "1e-3"]


def test_a_range_grows_with_headroom_and_then_stays():
    r = grow_range(None, 2.3, 2.3)
    r = grow_range(r, 0.4, 2.3)
    assert r.low == 0.0
    assert grow_range(r, 0.1, 2.3) is r  # a loss still falling does not move the axes
    bigger = grow_range(r, 0.1, 4.0)
    assert bigger.high >= 4.0 and bigger.low == 0.0


def test_the_epoch_axis_grows_in_round_lengths_and_whole_epochs():
    assert [epoch_extent(n) for n in (1, 5, 6, 11, 35, 51, 101, 250, 2000)] == [
        5, 5, 10, 20, 50, 100, 200, 300, 2000,
    ]  # fmt: skip
    assert epoch_ticks(5) == [1, 2, 3, 4, 5]
    assert epoch_ticks(10) == [2, 4, 6, 8, 10]
    for extent in (5, 10, 20, 30, 50, 100, 300):
        ticks = epoch_ticks(extent)
        assert all(isinstance(t, int) and 1 <= t <= extent for t in ticks)
        assert 2 <= len(ticks) <= 6


def test_fences_leave_out_one_runs_large_early_loss_and_nothing_else():
    import numpy as np

    settled = [0.5 - 0.01 * i for i in range(20)] + [0.3 + 0.005 * i for i in range(20)]
    low, high = fenced([25.0, 8.0, *settled])
    assert low == min(settled) and max(settled) <= high < 1.0
    # Runs that legitimately differ keep their full span.
    apart = [0.1, 0.12, 0.11, 0.9, 0.95, 0.92]
    assert fenced(apart) == (0.1, 0.95)
    assert fenced([float("nan"), float("inf")]) is None
    assert fenced([2.0, 2.0, 2.0, 7.0]) == (2.0, 7.0)  # no spread: nothing to fence by
    # The quartiles are numpy's (linear interpolation).
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    q1, q3 = np.percentile(values, [25, 75])
    assert fenced(values) == (max(1.0, q1 - 3 * (q3 - q1)), min(9.0, q3 + 3 * (q3 - q1)))


@given(st.lists(finite, min_size=1, max_size=50))
def test_fences_lie_within_the_data(values):
    low, high = fenced(values)
    assert min(values) <= low <= high <= max(values)
