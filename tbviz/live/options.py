"""``RunOptions``: what a logged run is configured with, validated in one place.

``RunLogger``, the Keras callback and the Lightning callback take the same
options; each builds one ``RunOptions``, which checks them all when it is
made (a clear ``ValueError`` before any training) and hands them on whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from tbviz.core.detector import DetectorSettings
from tbviz.core.directions import check_directions
from tbviz.logdir.summaries import HParamValue

#: The share of training's wall time tbviz may take: 2%. Figures are drawn
#: from what is left of it once tbviz's own work on the training thread
#: (scalars, notes, the diagnosis; about 1% of a small Lightning fit) is paid;
#: a figure costs its drawing thread's CPU time weighed by how busy the cores
#: are (:mod:`tbviz.figures.renderer`). The tutorial's Keras fit leaves a core
#: idle, so every epoch gets a figure at no measurable cost.
FIGURE_BUDGET = 0.02


@dataclass(frozen=True)
class RunOptions:
    """The options of a logged run (see :class:`tbviz.RunLogger` for each one).

    Raises:
        ValueError: an option is out of range or of the wrong kind; the
            message names it and what it accepts.
    """

    figure_every: int = 1
    figure_budget: float | None = FIGURE_BUDGET
    monitor: str = "val_loss"
    mode: str = "auto"
    directions: Mapping[str, str] | None = None
    patience: int = 3
    hparams: Mapping[str, HParamValue] | None = field(default=None)
    trial: str | None = None
    settings: DetectorSettings | None = None
    detector_scalars: bool = False

    def __post_init__(self) -> None:
        if self.settings is not None and not isinstance(self.settings, DetectorSettings):
            raise ValueError(
                f"settings must be a tbviz.DetectorSettings or None, got {self.settings!r}"
            )
        if self.trial is not None and (not isinstance(self.trial, str) or not self.trial):
            raise ValueError(f"trial must be a non-empty string or None, got {self.trial!r}")
        if self.mode not in ("auto", "min", "max"):
            raise ValueError(f'mode must be "auto", "min" or "max", got {self.mode!r}')
        budget = self.figure_budget
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget <= 1
        ):
            raise ValueError(
                f"figure_budget must be a share of time in (0, 1] such as 0.03, or None, "
                f"got {budget!r}"
            )
        every = self.figure_every
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ValueError(
                f"figure_every must be an int >= 0 (0 turns figures off), got {every!r}"
            )
        if not isinstance(self.monitor, str) or not self.monitor:
            raise ValueError(
                f"monitor must be a metric name such as 'val_loss', got {self.monitor!r}"
            )
        patience = self.patience
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an int >= 1, got {patience!r}")
        object.__setattr__(self, "directions", check_directions(self.directions))
        object.__setattr__(self, "hparams", _clean_hparams(self.hparams))

    def as_kwargs(self) -> dict:
        """The options as keyword arguments of :class:`tbviz.RunLogger`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: Where an ``OverfittingStopping`` leaves its message (on the Keras model, the
#: Lightning trainer or the Hugging Face TrainerState), so the logging
#: callback's final note can say it.
STOP_ATTRIBUTE = "_tbviz_stopped"


#: The statuses on which every stopper ends training: overfitting confirmed, or a
#: loss that became NaN or infinite (training on past it only wastes the time).
STOP_STATUSES = ("overfitting", "diverged")


def check_stopping(monitor: str, mode: str, start_from_epoch: int) -> None:
    """The arguments both ``OverfittingStopping`` callbacks (Keras, Lightning) share."""
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"monitor must be a metric name such as 'val_loss', got {monitor!r}")
    if mode not in ("auto", "min", "max"):
        raise ValueError(f'mode must be "auto", "min" or "max", got {mode!r}')
    if (
        isinstance(start_from_epoch, bool)
        or not isinstance(start_from_epoch, int)
        or start_from_epoch < 0
    ):
        raise ValueError(f"start_from_epoch must be an int >= 0, got {start_from_epoch!r}")


def _clean_hparams(hparams: Mapping[str, HParamValue] | None) -> dict[str, HParamValue] | None:
    """A copy of ``hparams`` with numpy scalars made plain; ValueError if unusable."""
    if hparams is None:
        return None
    if not isinstance(hparams, Mapping):
        raise ValueError(f"hparams must be a dict of name -> value, got {type(hparams).__name__}")
    clean: dict[str, HParamValue] = {}
    for name, value in hparams.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"hparams names must be non-empty strings, got {name!r}")
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            value = value.item()  # numpy scalar
        if not isinstance(value, (bool, int, float, str)):
            raise ValueError(
                f"hparams[{name!r}] = {value!r}: values must be bool, int, float or str "
                "(TensorBoard's HParams dashboard shows no other kinds)"
            )
        clean[name] = value
    return clean
