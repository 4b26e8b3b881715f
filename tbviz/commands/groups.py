"""Groups of runs: repeats of one configuration (over seeds) compared as one.

Runs whose hparams are equal but for the knobs given to ``--group-over``
(typically ``seed``) form one group; runs without hparams group by name, the
``KNOB=value`` part of their path left out (``lr=0.01,seed=2`` and
``lr=0.01,seed=3`` are ``lr=0.01,seed=*``). A group row holds the mean,
sample standard deviation, minimum and maximum of its members' best values,
their best epochs, how many overfit and when, and whether the group beats
the next one in rank: a paired t-test over the knob values both have (the
same seeds), else Welch's t-test.

Pure Python: the t distribution is computed here (a regularised incomplete
beta function by continued fraction), not taken from SciPy, which tbviz does
not depend on.
"""

from __future__ import annotations

import difflib
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from tbviz.core.results import (
    NAMING_HPARAMS,
    RunResult,
    group_placement,
    name_knobs,
    varying_hparams,
)
from tbviz.core.text import aligned_table, fmt
from tbviz.errors import UnknownKnobError


@dataclass(frozen=True)
class Comparison:
    """Whether a group beats the next one in rank, and how sure that is."""

    test: str  # "paired t" | "Welch t" | "none"
    p_value: float | None
    difference: float | None  # mean best value of this group minus the next's
    words: str


@dataclass
class GroupResult:
    """One group of runs, aggregated (the fields ``--json`` gives, by name)."""

    group: str
    members: list[RunResult] = field(default_factory=list)
    knob_values: dict[str, tuple] = field(default_factory=dict)  # run -> grouped-over values
    versus_next: Comparison | None = None

    @property
    def runs(self) -> list[str]:
        return [m.run for m in self.members]

    @property
    def direction(self) -> str:
        return self.members[0].diagnosis.direction

    def best_values(self) -> list[float]:
        values = [m.diagnosis.best_value for m in self.members]
        return [v for v in values if v is not None and math.isfinite(v)]

    def aggregates(self) -> dict[str, object]:
        best = self.best_values()
        epochs = [
            m.diagnosis.best_epoch for m in self.members if m.diagnosis.best_epoch is not None
        ]
        onsets = [
            m.diagnosis.onset_epoch for m in self.members if m.diagnosis.onset_epoch is not None
        ]
        overfitting = [m.run for m in self.members if m.diagnosis.status == "overfitting"]
        return {
            "group": self.group,
            "runs": self.runs,
            "n": len(self.members),
            "best_value_mean": statistics.fmean(best) if best else None,
            "best_value_std": statistics.stdev(best) if len(best) > 1 else None,
            "best_value_min": min(best) if best else None,
            "best_value_max": max(best) if best else None,
            "best_epoch_mean": statistics.fmean(epochs) if epochs else None,
            "best_epoch_std": statistics.stdev(epochs) if len(epochs) > 1 else None,
            "overfitting_runs": overfitting,
            "onset_epoch_mean": statistics.fmean(onsets) if onsets else None,
            "status": self.status(),
        }

    def status(self) -> str:
        """``"overfitting in 4/5"``; or the one status all members share."""
        n = len(self.members)
        statuses = [m.diagnosis.status for m in self.members]
        overfitting = statuses.count("overfitting")
        if overfitting:
            return f"overfitting in {overfitting}/{n}"
        common = max(set(statuses), key=statuses.count)
        return (
            common if statuses.count(common) == n else f"{common} in {statuses.count(common)}/{n}"
        )

    def sort_key(self) -> tuple:
        best = self.best_values()
        if not best:
            return (1, 0.0, self.group)
        mean = statistics.fmean(best)
        return (0, mean if self.direction == "min" else -mean, self.group)

    def to_dict(self) -> dict[str, object]:
        row = self.aggregates()
        if self.versus_next is not None:
            row["versus_next"] = {
                "test": self.versus_next.test,
                "p_value": self.versus_next.p_value,
                "difference": self.versus_next.difference,
                "words": self.versus_next.words,
            }
        return row


def group_runs(results: Sequence[RunResult], knobs: Sequence[str]) -> list[GroupResult]:
    """The runs in groups over ``knobs``, best mean first, each compared with the next.

    Raises:
        UnknownKnobError: no run has one of ``knobs`` in its hparams or its name (a
            typo would otherwise make every run a group of its own).
    """
    check_knobs(results, knobs)
    groups: dict[tuple, GroupResult] = {}
    varying = set(varying_hparams([r.hparams for r in results]))
    for result in results:
        key, label, values = group_placement(result.run, result.hparams, knobs, varying)
        group = groups.setdefault(key, GroupResult(label))
        group.members.append(result)
        group.knob_values[result.run] = values
    ranked = sorted(groups.values(), key=GroupResult.sort_key)
    for group, following in itertools.pairwise(ranked):
        group.versus_next = compare_groups(group, following)
    return ranked


def check_knobs(results: Sequence[RunResult], knobs: Sequence[str]) -> None:
    """Raise :class:`UnknownKnobError` for a knob no run has, naming the closest
    one and the knobs the runs have (hparams, and ``name=`` parts of run names)."""
    found = {k for r in results for k in r.hparams if k not in NAMING_HPARAMS}
    found |= {k for r in results for k in name_knobs(r.run)}
    for knob in knobs:
        if knob in found:
            continue
        close = difflib.get_close_matches(knob, sorted(found), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownKnobError(
            f"no run has {knob!r} in its hparams or its name{hint} The runs' knobs: "
            + (", ".join(sorted(found)) or "none")
            + " (pass one with --group-over)"
        )


def compare_groups(first: GroupResult, second: GroupResult) -> Comparison:
    """Does ``first`` (ranked above) beat ``second``? Paired over shared knob values
    when there are at least 2 of them, else Welch's t-test on the best values."""
    a_best = {m.run: m.diagnosis.best_value for m in first.members}
    b_best = {m.run: m.diagnosis.best_value for m in second.members}
    a_by_knob = {first.knob_values[r]: v for r, v in a_best.items() if _finite(v)}
    b_by_knob = {second.knob_values[r]: v for r, v in b_best.items() if _finite(v)}
    shared = [k for k in a_by_knob if k in b_by_knob and None not in k]
    a, b = first.best_values(), second.best_values()
    if not a or not b:
        return Comparison("none", None, None, "cannot tell: a group has no value")
    difference = statistics.fmean(a) - statistics.fmean(b)
    if len(shared) >= 2:
        diffs = [a_by_knob[k] - b_by_knob[k] for k in shared]
        p = paired_t_test(diffs)
        test, n_said = "paired t", f"{len(shared)} matched pairs"
    elif len(a) >= 2 and len(b) >= 2:
        p = welch_t_test(a, b)
        test, n_said = "Welch t", f"{len(a)} vs {len(b)} runs"
    else:
        return Comparison("none", None, difference, "cannot tell: one run on a side")
    if p is None:
        return Comparison(test, None, difference, "cannot tell: no spread to test against")
    sure = "holds up" if p < 0.05 else "may be chance"
    return Comparison(test, p, difference, f"{sure} (p={p:.2g}, {test}, {n_said})")


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def paired_t_test(differences: Sequence[float]) -> float | None:
    """Two-sided p-value that the mean difference is 0 (None: no spread)."""
    n = len(differences)
    sd = statistics.stdev(differences)
    if sd == 0:
        return None
    t = statistics.fmean(differences) / (sd / math.sqrt(n))
    return t_two_sided(t, n - 1)


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value of Welch's t-test for equal means (None: no spread)."""
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return None
    t = (statistics.fmean(a) - statistics.fmean(b)) / math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (
        (va**2 / (len(a) - 1) if va else 0.0) + (vb**2 / (len(b) - 1) if vb else 0.0)
    )
    return t_two_sided(t, dof)


def t_two_sided(t: float, dof: float) -> float:
    """P(|T| >= |t|) for Student's t with ``dof`` degrees of freedom."""
    return _betainc(dof / 2.0, 0.5, dof / (dof + t * t))


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by continued fraction."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Lentz's evaluation of the incomplete beta continued fraction."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-12:
            break
    return h


def groups_text(groups: Sequence[GroupResult], metric: str) -> str:
    """The grouped leaderboard as an aligned plain-text table."""
    header = [
        "#",
        "group",
        "n",
        f"best {metric} mean ± std",
        "min - max",
        "best epoch",
        "status",
        "vs next",
    ]
    rows = []
    for i, group in enumerate(groups, 1):
        row = group.aggregates()
        std = f" ± {fmt(row['best_value_std'], 2)}" if row["best_value_std"] is not None else ""
        epoch = "-"
        if row["best_epoch_mean"] is not None:  # 1-based in words
            spread = f" ± {row['best_epoch_std']:.1f}" if row["best_epoch_std"] is not None else ""
            epoch = f"{row['best_epoch_mean'] + 1:.1f}{spread}"
        rows.append(
            [
                str(i),
                group.group,
                str(row["n"]),
                f"{fmt(row['best_value_mean'])}{std}",
                f"{fmt(row['best_value_min'])} - {fmt(row['best_value_max'])}",
                epoch,
                str(row["status"]),
                group.versus_next.words if group.versus_next else "-",
            ]
        )
    return aligned_table(header, rows)
