"""One run's result for a leaderboard: its diagnosis, hparams and (for figures) history.

Plain data over the core's types, shared by the commands that rank runs and
the figures that draw them (so neither depends on the other).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tbviz.core.diagnosis import Diagnosis
from tbviz.core.history import History
from tbviz.core.text import finite_or_none


@dataclass(frozen=True)
class RunResult:
    """One run's diagnosis (and, for figures, its history), ready for a leaderboard row."""

    run: str
    diagnosis: Diagnosis
    hparams: dict[str, object] = field(default_factory=dict)
    history: History | None = None
    problems: tuple[str, ...] = ()
    layout: str = "keras"
    remarks: tuple[str, ...] = ()
    #: Metrics with both a training and a validation curve.
    paired: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        """True when a broken file kept part of the run from being read."""
        return bool(self.problems)

    @property
    def sort_key(self) -> tuple:
        """Best first; runs with no value for the metric last."""
        d = self.diagnosis
        if d.best_value is None or not math.isfinite(d.best_value):
            return (1, 0.0, self.run)
        value = d.best_value if d.direction == "min" else -d.best_value
        return (0, value, self.run)

    def to_dict(self) -> dict:
        """The leaderboard row as JSON-ready data."""
        d = self.diagnosis
        return {
            "run": self.run,
            "metric": d.monitor,
            "best_value": finite_or_none(d.best_value),
            "best_epoch": d.best_epoch,
            "final_value": finite_or_none(d.last_value),
            "status": d.status,
            "onset_epoch": d.onset_epoch,
            "diverged_at": d.diverged_at,
            "epochs": d.epochs,
            "gap": finite_or_none(d.gap),
            "paired": list(self.paired),
            "layout": self.layout,
            "remarks": list(self.remarks),
            "partial": self.partial,
            "problems": list(self.problems),
            "hparams": dict(self.hparams),
        }
