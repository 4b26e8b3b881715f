"""One run's result for a leaderboard: its diagnosis, hparams and (for figures) history.

Plain data over the core's types, shared by the commands that rank runs and
the figures that draw them (so neither depends on the other).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from tbviz.core.diagnosis import Diagnosis, json_safe
from tbviz.core.history import History
from tbviz.core.text import finite_or_none, fmt

#: The trainer's hparam holding the run's own name: a row names its run already,
#: so it is never a leaderboard column ("sweep" is, when runs differ in it).
RUN_HPARAM = "run"
#: Hparams that name a run rather than configure it (the trainer logs them for
#: TensorBoard's HParams dashboard): never a group's knob or part of its key, in
#: ``--group-over`` and in the tab alike (the plugin serves this list).
NAMING_HPARAMS = (RUN_HPARAM, "sweep")


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
            # Where stopping would have stopped it, in hindsight (None: would not).
            "overfitting_stopping": json_safe(d.overfitting_stopping),
            "early_stopping": json_safe(d.early_stopping)
            if d.early_stopping is not None and d.early_stopping.stopped_epoch is not None
            else None,
        }


#: A stop that restores an epoch this much worse than the run's best (relative)
#: came too soon, as a regret over 1% does in ``scripts/bench_diagnosis.py``.
REGRET_SHARE = 0.01


def stop_outcome(
    direction: str,
    best_value: float | None,
    stopped_epoch: int | None,
    restored_value: float | None,
    epochs_saved: int,
) -> tuple[int, bool] | None:
    """(epochs saved, too soon) of one stopper's what-if on a finished run, None
    when it would not have stopped: too soon when the epoch it restores is over
    1% worse than the run's best (the leaderboard's and the tab's words)."""
    if stopped_epoch is None:
        return None
    if restored_value is None or best_value is None:
        return epochs_saved, False
    worse = restored_value - best_value if direction == "min" else best_value - restored_value
    return epochs_saved, worse > REGRET_SHARE * max(abs(best_value), 1e-12)


def varying_hparams(hparams: Sequence[Mapping[str, object]]) -> list[str]:
    """Hparam names whose value differs between the runs that log hparams (``hparams``:
    each run's), the ones worth a leaderboard column and a group's label; the
    plugin serves the same list to the tab.

    Runs logged without hparams (a plain Keras run) do not count, nor does the
    trainer's ``run`` hparam (a row names its run already). A lone run with
    hparams shows them all: there is nothing for them to vary against.
    """
    logged = [h for h in hparams if h]
    names = sorted({name for h in logged for name in h} - {RUN_HPARAM})
    if len(logged) < 2:
        return names
    return [name for name in names if len({repr(h.get(name)) for h in logged}) > 1]


def group_placement(
    run: str, hparams: Mapping[str, object], knobs: Sequence[str], varying: Collection[str]
) -> tuple[tuple, str, tuple]:
    """Where a run goes when runs are grouped over ``knobs``: (group key, group label,
    its values of the knobs). ``tbviz ... --group-over`` and the tab both place runs
    by this (the plugin serves each run's key and label).

    Runs with hparams (other than the naming ones) group by the hparams that are not
    ``knobs``, labelled by those of them in ``varying``; runs without group by their
    name, each ``knob=value`` part read as ``knob=*``.
    """
    configures = {k: v for k, v in hparams.items() if k not in NAMING_HPARAMS}
    if configures:
        shared = tuple(sorted((k, repr(v)) for k, v in configures.items() if k not in knobs))
        label = ", ".join(
            f"{k}={_show(v)}"
            for k, v in sorted(configures.items())
            if k not in knobs and k in varying
        )
        return ("hparams", shared), label or "(all runs)", tuple(configures.get(k) for k in knobs)
    name, values = run, []
    for knob in knobs:
        pattern = re.compile(rf"(?<![^{_NAME_SEPARATORS}]){re.escape(knob)}=([^/,]*)")
        found = pattern.search(name)
        values.append(found.group(1) if found else None)
        name = pattern.sub(f"{knob}=*", name)
    return ("name", name), name, tuple(values)


def name_knobs(run: str) -> list[str]:
    """The knobs a run's name sets, as :func:`group_placement` reads them:
    ``sweep/lr=0.1,seed=3`` sets ``lr`` and ``seed``."""
    return _NAME_KNOB.findall(run)


#: What may come before a ``knob=`` part of a run name (or its start).
_NAME_SEPARATORS = r"/,_\-"
_NAME_KNOB = re.compile(rf"(?:^|[{_NAME_SEPARATORS}])([^{_NAME_SEPARATORS}=]+)=")


def _show(value: object) -> str:
    return fmt(value) if isinstance(value, float) else str(value)
