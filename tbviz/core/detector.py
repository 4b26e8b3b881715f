"""The overfitting detector for one validation metric, fed one epoch at a time.

``MetricDetector.update(epoch, validation, training, learning_rate)`` returns
the verdict for the epochs seen so far: ``improving``, ``plateau`` or
``overfitting``. It never looks ahead, so streaming it during training and
replaying a finished history give the same verdict at every epoch, and it
costs O(window) per epoch, so a 5,000-epoch run replays in linear time.

The rules are data: :data:`RULES`, an ordered table of named rules (the
first that applies decides), each with its reason code, status and the
:class:`DetectorSettings` it reads, over a pure measurement step
(:class:`_Measure`); :data:`REASON_CODES` says what each code means. In words,
on a "loss-like" scale where lower is better (a loss as it is;
``1 - value`` for a higher-is-better metric bounded by 1, such as accuracy,
AUC, IoU or R²; ``-value`` for other higher-is-better metrics):

* **Worse than noise.** Each of the last ``confirm_epochs`` validation values
  is worse than the best, and on average by more than both a floor
  (``min_generalization_loss`` percent of the best: Prechelt's generalization
  loss, 1998) and ``noise_multiplier`` times the run's own validation noise:
  the scatter of its recent values around a smooth trend on either side of
  the best epoch, which a steady fall or rise does not inflate. The best must
  be at least ``min_epochs_since_best`` epochs old and past the warm-up.
* **More than a step.** A metric that moves in steps (an accuracy or AUC over
  a few hundred examples repeats its values) must be worse by
  ``resolution_steps`` of its smallest step: one example is not a turn.
* **Or above it for long.** Every value for ``sustained_epochs`` epochs or
  more since the best is worse than it by at least that floor, and their
  median by ``sustained_multiplier`` times the noise: a jumpy curve whose
  noise sets a bar it never clears, though it never comes back either.
* **Not on its way back.** A Theil-Sen slope over the epochs since the best
  that would bring validation back to its best within as many epochs as it
  has been away means a bump, not a turn.
* **Training still learning, or done.** The training twin improved since the
  best epoch, or sits at its floor (a converged curve, the classic picture of
  memorisation: near its minimum, and no worse than at the best epoch by more
  than twice its own noise). Training rising by more than ``max_train_rise``
  of its own range is instability, not overfitting: judged against the range,
  a loss moving 0.008 -> 0.014 near zero is noise, not an "81% jump".
* **Learning-rate drops get their chance.** When a logged learning rate
  (``learning_rate`` / ``lr``) fell by 30% or more from one epoch to the
  next, validation often falls again: the confirming epochs must all come
  ``lr_grace_epochs`` after the drop. One drop per best earns that grace
  (the first after the best, else the last before it): ReduceLROnPlateau
  drops again because validation did not answer, and with a small patience
  keeps dropping every few epochs, which must not hold the verdict off for
  the rest of the run. A rate that rose by ``lr_rise`` times
  or more (a warm-up, a learning-rate range test) is given the same grace:
  validation made worse by a rising rate is the rate's doing. Rises renew it
  while the rate climbs on from the best; once the rate has fallen, a later
  rise (a cyclic rate coming round again) renews nothing.
* **A dip is not a level.** When the rate dropped after the best epoch, the
  best was set in the noisier phase before the drop; once validation settles,
  it must be worse than that best by ``noisy_best_multiplier`` times the
  noise of that phase (reason code ``noisy-best`` until then): a one-epoch
  dip of a jumpy phase is not a level the model held and lost.
* **The run is learning.** No overfitting is confirmed while the run-wide
  not-learning verdict holds (:mod:`tbviz.core.diagnosis`).
* **Memory.** Once confirmed, the verdict stays ``overfitting`` (onset = the
  best epoch) until validation sets a new best. Only training becoming
  unstable (rising ``max_train_rise`` of its range above its value at the best
  epoch) withdraws it.

Pure Python (no numpy: the commands that diagnose thousands of runs start
faster without it); no TensorFlow.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import itertools
import math
import statistics
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class DetectorSettings:
    """Thresholds of the detector; the defaults suit noisy validation curves.

    Percentages are of the best validation value on the loss-like scale;
    shares (``train_floor``, ``max_train_rise``) are of the training curve's
    own range so far, which keeps them meaningful near zero.

    ``confirm_epochs`` is the dial between early and sure. On 544 real runs
    (``scripts/bench_diagnosis.py``), 3 (the default) raises its first alarm
    a mean 4.9 epochs after the best (median 5), and 7.2% of runs get an
    alarm that comes too early (validation later beats that best by more
    than 2%). 4 raises it a mean 5.9 epochs after (median 5), with 5.0% too
    early.
    """

    warmup_epochs: int = 3
    min_epochs_since_best: int = 2
    confirm_epochs: int = 3
    min_generalization_loss: float = 1.5
    noise_multiplier: float = 4.0
    noise_window: int = 10
    sustained_epochs: int = 6
    sustained_multiplier: float = 2.0
    min_train_improvement: float = 0.5
    train_floor: float = 0.05
    max_train_rise: float = 0.10
    lr_grace_epochs: int = 2
    #: A learning rate below this share of the previous epoch's is a drop (a step
    #: decay or ReduceLROnPlateau; not the few percent an epoch of a smooth decay).
    lr_drop: float = 0.7
    #: A learning rate above this multiple of the previous epoch's is a rise (a warm-up
    #: or range-test step; not the few percent an epoch of a smooth warm-up).
    lr_rise: float = 1.4
    #: Degrees of freedom a side's noise estimate needs before it counts.
    min_noise_dof: int = 2
    #: Two sides' noise estimates within this ratio are pooled; further apart, the
    #: larger is trend read as noise and the smaller is taken (see ``_robust_noise``).
    noise_pool_ratio: float = 3.0
    #: A best set before a learning-rate drop, in the noisier phase before it, must
    #: be beaten by this many times that phase's noise (0: off); see ``noisy-best``.
    noisy_best_multiplier: float = 1.0
    #: Not learning: after the warm-up, the training loss not this many percent
    #: below its second value...
    min_learning: float = 10.0
    #: ...which is the yardstick only when the first value is this many times the
    #: second (a first step blown up by a bad learning rate); otherwise a loss that
    #: fell from its first value and stays there (a model fitted within its first
    #: epoch, as a linear model is) has learned, and ``stuck_loss_share`` judges it.
    blown_up_first: float = 3.0
    #: Not learning, too: the loss still above this share of its first value...
    stuck_loss_share: float = 0.7
    #: ...either loss rule only while the loss has stopped falling: its lowest
    #: value fell less than this many percent over the last ``warmup_epochs``.
    stuck_progress: float = 5.0
    #: ...or a training accuracy below this, risen less than ``stuck_accuracy_rise``.
    stuck_accuracy: float = 0.5
    stuck_accuracy_rise: float = 0.05
    #: A rise must span this many of the metric's smallest steps (see ``_Measure.step``).
    resolution_steps: float = 2.0
    plateau_epochs: int = 3
    patience: int = 3

    def __post_init__(self) -> None:
        for name in (
            "min_epochs_since_best",
            "confirm_epochs",
            "plateau_epochs",
            "patience",
            "noise_window",
            "sustained_epochs",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        for name in ("warmup_epochs", "lr_grace_epochs", "min_noise_dof"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        for name in (
            "min_generalization_loss",
            "noise_multiplier",
            "noise_pool_ratio",
            "noisy_best_multiplier",
            "sustained_multiplier",
            "min_train_improvement",
            "train_floor",
            "max_train_rise",
            "min_learning",
            "blown_up_first",
            "lr_drop",
            "lr_rise",
            "stuck_loss_share",
            "stuck_progress",
            "stuck_accuracy",
            "stuck_accuracy_rise",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")


def settings_from(values: Mapping[str, object]) -> DetectorSettings:
    """Settings from a mapping of names to values (a JSON file, ``--setting``
    flags as strings); unknown names and bad values raise ``ValueError``
    naming what is known."""
    known = {f.name: f.type for f in fields(DetectorSettings)}
    chosen: dict[str, object] = {}
    for name, value in values.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValueError(
                f"unknown detector setting {name!r}{hint} (settings: {', '.join(known)})"
            )
        kind = int if known[name] in (int, "int") else float
        try:
            number = kind(value) if isinstance(value, str) else value
        except ValueError:
            raise ValueError(
                f"detector setting {name} must be {'an int' if kind is int else 'a number'}, "
                f"got {value!r}"
            ) from None
        chosen[name] = number
    return DetectorSettings(**chosen)


def stored_settings(values: Mapping[str, object] | None) -> DetectorSettings:
    """Settings as a diagnosis stored them: names this tbviz does not know (a newer
    one's) are left out, missing ones (an older one's) take the defaults."""
    known = {f.name for f in fields(DetectorSettings)}
    return DetectorSettings(**{k: v for k, v in (values or {}).items() if k in known})


def changed_settings(settings: DetectorSettings) -> dict[str, object]:
    """The settings that differ from the defaults, by name."""
    default = DetectorSettings()
    return {
        f.name: getattr(settings, f.name)
        for f in fields(DetectorSettings)
        if getattr(settings, f.name) != getattr(default, f.name)
    }


@dataclass(frozen=True)
class Verdict:
    """What the detector says after one epoch, with the numbers it decided on.

    ``reason_code`` names the rule that decided (see :data:`REASON_CODES`);
    ``generalization_loss`` is in percent of the best on the loss-like scale;
    ``noise`` and ``threshold`` are in the metric's own units;
    ``lr_drop_epoch`` and ``lr_rise_epoch`` are the learning-rate drop and
    rise that can earn grace (see the module's rules), not merely the latest.
    """

    status: str
    reason_code: str
    best_epoch: int | None
    best_value: float | None
    last_value: float | None
    onset_epoch: int | None
    confirmed_epoch: int | None
    epochs_since_best: int | None
    generalization_loss: float | None
    train_improvement: float | None
    train_rise: float | None
    noise: float | None
    threshold: float | None
    gap: float | None
    lr_drop_epoch: int | None
    lr_rise_epoch: int | None = None


#: Every reason code a verdict can carry, and what it means.
REASON_CODES = {
    "no-finite-value": "no finite validation value yet",
    "new-best": "validation set a new best at the last epoch",
    "warmup": "too early to judge",
    "within-noise": "validation is off its best by no more than its noise",
    "no-new-best": "no new best for a while, validation not clearly worse",
    "recovering": "validation is worse than its best but heading back",
    "lr-drop": "validation is worse but the learning rate just dropped",
    "lr-rise": "validation is worse but the learning rate just rose",
    "noisy-best": (
        "validation is worse than a best set before a learning-rate drop, by less than "
        "the noise of the epochs before that drop: a lucky dip of a noisier phase"
    ),
    "no-training-curve": "validation is worse, with no training curve to compare",
    "training-flat": "validation is worse, and training stopped improving above its floor",
    "training-unstable": "training rose well above its value at the best epoch",
    "overfitting": "validation worse beyond noise while training improved or converged",
    "sustained": "validation above its best for many epochs, though within its jumps, while "
    "training improved or converged",
}


class _Scale:
    """Turns raw values into the loss-like scale (lower is better)."""

    def __init__(self, direction: str) -> None:
        self.direction = direction
        self.bounded = True  # a max metric seen only <= 1 so far: use 1 - value

    def see(self, value: float) -> None:
        if value > 1.0 + 1e-9:
            self.bounded = False

    def __call__(self, value: float) -> float:
        if self.direction == "min":
            return value
        return 1.0 - value if self.bounded else -value


class MetricDetector:
    """Stream one validation metric (and its training twin) through the detector.

    Example:
        >>> det = MetricDetector("min")
        >>> for epoch, (t, v) in enumerate([(1.0, 1.0), (0.5, 0.6), (0.3, 0.5),
        ...                                 (0.2, 0.7), (0.1, 0.8), (0.05, 0.9)]):
        ...     verdict = det.update(epoch, v, t)
        >>> verdict.status, verdict.onset_epoch
        ('overfitting', 2)
    """

    def __init__(self, direction: str, settings: DetectorSettings | None = None) -> None:
        self.direction = direction
        self.settings = settings or DetectorSettings()
        self._scale = _Scale(direction)
        self._first_epoch: int | None = None
        self._epochs: list[int] = []
        self._values: list[float] = []
        self._best_index: int | None = None
        self._train: dict[int, float] = {}
        self._recent_train: deque[float] = deque(maxlen=self.settings.confirm_epochs)
        self._train_min = math.inf
        self._train_max = -math.inf
        self._last_lr: float | None = None
        self._lr_drops: list[int] = []
        self._lr_rises: list[int] = []
        self._lr_falls: list[int] = []  # any fall of the rate, a drop or not
        self._onset: int | None = None
        self._confirmed: int | None = None
        self._confirmed_by = "overfitting"  # or "sustained": the rule that confirmed it
        # The first alarm ever, kept when a new best or unstable training withdraws
        # it: (its epoch, the best epoch then, the best value then). A stopper
        # acting on the verdict would have stopped there.
        self.first_alarm: tuple[int, int, float] | None = None
        self._verdict: Verdict | None = None
        self._unjudged: tuple[int, bool] | None = None  # (epoch, learning) judged when asked

    @property
    def verdict(self) -> Verdict | None:
        """The verdict after the last epoch (None before any)."""
        if self._unjudged is not None:
            self._verdict = self._judge(*self._unjudged, report=False)
            self._unjudged = None
        return self._verdict

    def update(
        self,
        epoch: int,
        validation: float | None,
        training: float | None = None,
        learning_rate: float | None = None,
        *,
        learning: bool = True,
        report: bool = True,
    ) -> Verdict | None:
        """Add one epoch (values may be None or non-finite: skipped) and judge.

        ``learning=False`` (the run is not learning at all) keeps a new
        overfitting verdict from being confirmed at this epoch.
        ``report=False`` (an epoch of a replay whose verdict nobody reads)
        leaves out the numbers no rule needed (the noise of a held verdict),
        and returns None at a new best: its verdict is built when
        :attr:`verdict` is read.
        """
        if learning_rate is not None and math.isfinite(learning_rate):
            last, s = self._last_lr, self.settings
            if last is not None and learning_rate < last * s.lr_drop:
                self._lr_drops.append(epoch)
            elif last is not None and learning_rate > last * s.lr_rise:
                self._lr_rises.append(epoch)
            if last is not None and learning_rate < last * (1 - _FLOAT32_PRECISION):
                self._lr_falls.append(epoch)
            self._last_lr = learning_rate
        if training is not None and math.isfinite(training):
            self._train[epoch] = training
            self._recent_train.append(training)
            self._train_min = min(self._train_min, training)
            self._train_max = max(self._train_max, training)
        if validation is not None and math.isfinite(validation):
            if self._first_epoch is None:
                self._first_epoch = epoch
            self._scale.see(validation)
            self._epochs.append(epoch)
            self._values.append(validation)
            best = self._best_index
            if best is None or self._better(validation, self._values[best]):
                self._best_index = len(self._values) - 1
                self._onset = self._confirmed = None
        if not report and self._best_index == len(self._values) - 1 and self._epochs[-1] == epoch:
            # A new best in a replay: the rule book says "new-best" and changes
            # nothing, so its verdict is built only if someone asks for it
            # (a leaderboard replays thousands of such epochs).
            self._unjudged = (epoch, learning)
            return None
        self._unjudged = None
        self._verdict = self._judge(epoch, learning, report)
        return self._verdict

    def _better(self, value: float, than: float) -> bool:
        return value < than if self.direction == "min" else value > than

    def _judge(self, epoch: int, learning: bool, report: bool = True) -> Verdict:
        """Measure (no state changes), decide by the first rule of :data:`RULES`
        that applies, then remember a confirmed verdict."""
        if self._best_index is None:
            return _empty_verdict(
                self._lr_drops[-1] if self._lr_drops else None,
                self._lr_rises[-1] if self._lr_rises else None,
            )
        m = _Measure(self, learning)
        rule = next(r for r in RULES if r.applies(m, self.settings))
        code = self._confirmed_by if rule.code == "held" else rule.code
        if rule.code == "held-unstable":  # training became unstable: the alarm is withdrawn
            self._onset = self._confirmed = None
            code = "training-unstable"
        elif rule.status == "overfitting" and self._onset is None:
            self._onset, self._confirmed = m.best_epoch, m.last_epoch
            self._confirmed_by = code
            if self.first_alarm is None:
                self.first_alarm = (m.last_epoch, m.best_epoch, m.best_raw)
        overfitting = rule.status == "overfitting"
        if rule.code == "noisy-best":  # weighed against the best's own phase
            noise = m.best_phase_noise
            threshold = self.settings.noisy_best_multiplier * noise
        else:
            noise = m.noise if report else m.__dict__.get("noise")
            threshold = m.threshold if report else m.__dict__.get("threshold")
        return Verdict(
            status=rule.status,
            reason_code=code,
            best_epoch=m.best_epoch,
            best_value=m.best_raw,
            last_value=m.last_raw,
            onset_epoch=self._onset if overfitting else None,
            confirmed_epoch=self._confirmed if overfitting else None,
            epochs_since_best=m.since,
            generalization_loss=m.gl,
            train_improvement=m.train_gain,
            train_rise=m.train_rise,
            noise=noise,
            threshold=threshold,
            gap=m.gap,
            lr_drop_epoch=m.lr_drop,
            lr_rise_epoch=m.lr_rise,
        )

    def _confirmed_worse(self, best: float, threshold: float) -> bool:
        """The last ``confirm_epochs`` values, all after the best, are each worse than
        it, and on average by at least ``threshold``."""
        k = self.settings.confirm_epochs
        if len(self._values) - 1 - self._best_index < k:
            return False
        excess = [self._scale(v) - best for v in self._values[-k:]]
        return min(excess) > 0 and sum(excess) / k >= threshold

    def _sustained(self, best: float, noise: float | None, unit: float, step: float) -> bool:
        """Validation has stayed above its best for ``sustained_epochs`` epochs or
        more, every one by at least the floor (and by ``resolution_steps``
        of a stepped metric's steps), and by a median of
        ``sustained_multiplier`` times its noise: a jumpy curve whose noise
        sets a bar (``noise_multiplier`` x noise) it never clears, although
        every epoch since the best is worse. More epochs of evidence, a lower
        bar: the idea of Prechelt's UP criterion (1998), in a robust form."""
        s = self.settings
        after = [self._scale(v) - best for v in self._values[self._best_index + 1 :]]
        if len(after) < s.sustained_epochs or noise is None:
            return False
        floor = max(s.min_generalization_loss / 100.0 * unit, s.resolution_steps * step)
        return min(after) >= floor and statistics.median(after) >= s.sustained_multiplier * noise

    def _recovering(self, best: float, since: int) -> bool:
        """A Theil-Sen trend over the epochs since the best heads back to it in time."""
        s = self.settings
        start = max(self._best_index + 1, len(self._values) - s.noise_window)
        ys = [self._scale(v) for v in self._values[start:]]
        if len(ys) < 3:
            return False
        xs = self._epochs[start:]
        slope = _theil_sen(xs, ys)
        if slope >= 0:
            return False
        level = (
            statistics.median(y - slope * x for x, y in zip(xs, ys, strict=True)) + slope * xs[-1]
        )
        return (level - best) / -slope <= since

    def _train_worse(self, best_epoch: int, train_best: float, train_now: float) -> bool:
        """Training now is worse than at the best epoch by more than twice its own noise
        (then it is not sitting at its floor, whatever its range says)."""
        recent = sorted(e for e in self._train if e > self._epochs[-1] - self.settings.noise_window)
        ys = [self._scale(self._train[e]) for e in recent]
        split = max(bisect.bisect_right(recent, best_epoch) - 1, 0)
        noise = _robust_noise(recent, ys, split, self.settings)
        return self._scale(train_now) - self._scale(train_best) > 2 * noise

    def _train_at(self, epoch: int) -> float | None:
        if epoch in self._train:
            return self._train[epoch]
        earlier = [e for e in self._train if e <= epoch]
        return self._train[max(earlier)] if earlier else None

    def _floor(self) -> float:
        """The best training value so far (on the raw scale)."""
        return self._train_min if self.direction == "min" else self._train_max


class _Measure:
    """The numbers the rules decide on, for one epoch: a pure measurement step.

    The cheap ones are computed at once; the costly ones (the noise, the
    noise-tested rise, the sustained rise, the trend back, the training
    floor) only when a rule, or the verdict reported, asks, once.
    """

    def __init__(self, detector: MetricDetector, learning: bool) -> None:
        s = detector.settings
        self.detector = detector
        self.learning = learning
        scale = detector._scale
        best_i = detector._best_index
        self.best_epoch, self.best_raw = detector._epochs[best_i], detector._values[best_i]
        self.last_epoch, self.last_raw = detector._epochs[-1], detector._values[-1]
        self.best = scale(self.best_raw)
        self.since = self.last_epoch - self.best_epoch
        self.unit = max(abs(self.best), 1e-12)
        self.gl = 100.0 * (scale(self.last_raw) - self.best) / self.unit
        self.held = detector._onset is not None
        self.warming_up = self.last_epoch - detector._first_epoch < s.warmup_epochs
        self.train_best = detector._train_at(self.best_epoch)
        recent = detector._recent_train
        self.train_now = sum(recent) / len(recent) if recent else None
        self.train_gain = self.train_rise = None
        if self.train_best is not None and self.train_now is not None:
            tb, tn = scale(self.train_best), scale(self.train_now)
            self.train_gain = 100.0 * (tb - tn) / max(abs(tb), 1e-12)
            span = detector._train_max - detector._train_min
            self.train_rise = (tn - tb) / span if span > 0 else 0.0
        train_last = detector._train.get(self.last_epoch)
        self.gap = self.last_raw - train_last if train_last is not None else None
        # The drop that earns grace: the first after the best, else the last before it.
        # Later drops with no new best between renew nothing: ReduceLROnPlateau drops
        # again because validation did not answer the first, and with a small patience
        # (and Keras' default min_lr of 0) it drops every few epochs for the rest of the
        # run, which would hold every verdict off to the end.
        drops = detector._lr_drops
        after_best = bisect.bisect_right(drops, self.best_epoch)
        self.lr_drop = drops[min(after_best, len(drops) - 1)] if drops else None
        first_confirming = detector._epochs[-min(s.confirm_epochs, len(detector._epochs))]
        self.after_lr_drop = (
            self.lr_drop is not None and first_confirming < self.lr_drop + s.lr_grace_epochs
        )
        # The rise that earns grace: the last before the rate first fell after the best
        # (a warm-up or range test climbing on renews it every epoch), else the last
        # before the best. A rate that cycles (CyclicLR, frequent warm restarts) rises
        # again after each fall; those rises renew nothing, or a short cycle would
        # hold every verdict off to the end of the run.
        # (Bisection on the sorted epochs: a long run's replay stays linear.)
        rises, falls = detector._lr_rises, detector._lr_falls
        first_fall = bisect.bisect_right(falls, self.best_epoch)
        fell = falls[first_fall] if first_fall < len(falls) else math.inf
        counted = bisect.bisect_left(rises, fell)  # the rises before the rate fell
        self.lr_rise = rises[counted - 1] if counted else None
        self.after_lr_rise = (
            self.lr_rise is not None and first_confirming < self.lr_rise + s.lr_grace_epochs
        )

    @functools.cached_property
    def window(self) -> int:
        """Where the noise window starts: the last ``noise_window`` values, past the warm-up."""
        s = self.detector.settings
        return max(s.warmup_epochs, len(self.detector._values) - s.noise_window)

    @functools.cached_property
    def noise(self) -> float | None:
        """The run's own validation noise (None at a new best: nothing to weigh)."""
        if self.since == 0:
            return None
        d, s, start = self.detector, self.detector.settings, self.window
        return _robust_noise(
            d._epochs[start:],
            [d._scale(v) for v in d._values[start:]],
            max(d._best_index - start, 0),
            s,
        )

    @functools.cached_property
    def threshold(self) -> float | None:
        """How much worse than the best is beyond noise, in the metric's units."""
        if self.noise is None:
            return None
        s = self.detector.settings
        return max(
            s.min_generalization_loss / 100.0 * self.unit,
            s.noise_multiplier * self.noise,
            s.resolution_steps * self.step,
        )

    @functools.cached_property
    def step(self) -> float:
        """How finely the metric moves, where it visibly moves in steps: the
        smallest gap between the distinct values of the noise window, once
        some value repeats (0 otherwise). An AUC or accuracy over a few
        hundred examples moves by one example (or pair) at a time; sitting on
        one value epoch after epoch, its scatter says ~0 noise, and one step
        down would read as a turn. Values within float32's precision count as
        one; continuous metrics rarely repeat, and then have no step."""
        # Raw values: the loss-like scale only flips or shifts them, the steps stay.
        values = sorted(self.detector._values[self.window :])
        if len(values) < 2:
            return 0.0
        tolerance = _FLOAT32_PRECISION * max(abs(values[0]), abs(values[-1]))
        gaps = [b - a for a, b in itertools.pairwise(values)]
        if min(gaps) > tolerance:
            return 0.0
        return min((g for g in gaps if g > tolerance), default=0.0)

    @functools.cached_property
    def best_phase_noise(self) -> float | None:
        """The noise of the phase the best was set in, when a learning-rate drop came
        after the best: the values of the ``noise_window`` epochs before the first
        such drop (past the warm-up), around a line or parabola. None otherwise."""
        d, s = self.detector, self.detector.settings
        drop = next((e for e in d._lr_drops if e > self.best_epoch), None)
        if drop is None:
            return None
        first = max(d._first_epoch + s.warmup_epochs, drop - s.noise_window)
        i, j = bisect.bisect_left(d._epochs, first), bisect.bisect_left(d._epochs, drop)
        xs, ys = d._epochs[i:j], [d._scale(v) for v in d._values[i:j]]
        if len(xs) < 4:
            return None
        squares, dof = _trend_residuals(xs, ys)
        return math.sqrt(squares / dof)

    @functools.cached_property
    def noisy_best(self) -> bool:
        """Validation is worse than a best set before a learning-rate drop by less, on
        average over the last ``confirm_epochs``, than ``noisy_best_multiplier`` times
        the noise of that phase: after the drop the curve settled, and its best was a
        dip of the noisier phase, not a level the model held and then lost."""
        s, noise = self.detector.settings, self.best_phase_noise
        if noise is None or s.noisy_best_multiplier <= 0:
            return False
        d, k = self.detector, s.confirm_epochs
        excess = [d._scale(v) - self.best for v in d._values[-k:]]
        return sum(excess) / len(excess) < s.noisy_best_multiplier * noise

    @functools.cached_property
    def beyond_noise(self) -> bool:
        return self.detector._confirmed_worse(self.best, self.threshold)

    @functools.cached_property
    def sustained(self) -> bool:
        return self.detector._sustained(self.best, self.noise, self.unit, self.step)

    @functools.cached_property
    def recovering(self) -> bool:
        return self.detector._recovering(self.best, self.since)

    @functools.cached_property
    def at_floor(self) -> bool:
        d, s = self.detector, self.detector.settings
        near = (d._scale(self.train_now) - d._scale(d._floor())) <= s.train_floor * (
            d._train_max - d._train_min
        )
        return near and not d._train_worse(self.best_epoch, self.train_best, self.train_now)

    def worse(self, s: DetectorSettings) -> bool:
        return self.since >= s.min_epochs_since_best and (self.beyond_noise or self.sustained)


@dataclass(frozen=True)
class Rule:
    """One rule of the detector: when it applies (given the measurements and the
    settings), the status and reason code it gives, the settings it reads."""

    code: str
    status: str
    applies: Callable[[_Measure, DetectorSettings], bool]
    settings: tuple[str, ...] = ()


#: The detector's rule book, in order: the first rule that applies decides.
#: Every threshold is a :class:`DetectorSettings` field; the words for each
#: code are in :data:`REASON_CODES` (and, with the numbers, in
#: :func:`tbviz.core.verdicts.reason_text`).
RULES: tuple[Rule, ...] = (
    # Memory: a confirmed verdict holds until a new best, unless training turns unstable.
    Rule(
        "held-unstable",
        "plateau",
        lambda m, s: m.held and m.train_rise is not None and m.train_rise > s.max_train_rise,
        ("max_train_rise",),
    ),
    Rule("held", "overfitting", lambda m, s: m.held),
    Rule("new-best", "improving", lambda m, s: m.since == 0),
    Rule("warmup", "improving", lambda m, s: m.warming_up, ("warmup_epochs",)),
    Rule(
        "no-new-best",
        "plateau",
        lambda m, s: not m.worse(s) and m.since >= s.plateau_epochs,
        ("plateau_epochs", "min_epochs_since_best"),
    ),
    Rule(
        "within-noise",
        "improving",
        lambda m, s: not m.worse(s),
        (
            "min_noise_dof",
            "noise_pool_ratio",
            "min_epochs_since_best",
            "confirm_epochs",
            "min_generalization_loss",
            "noise_multiplier",
            "resolution_steps",
            "noise_window",
            "sustained_epochs",
            "sustained_multiplier",
        ),
    ),
    Rule("recovering", "plateau", lambda m, s: m.recovering, ("noise_window",)),
    Rule("lr-drop", "plateau", lambda m, s: m.after_lr_drop, ("lr_grace_epochs", "lr_drop")),
    Rule("lr-rise", "plateau", lambda m, s: m.after_lr_rise, ("lr_grace_epochs", "lr_rise")),
    Rule(
        "noisy-best",
        "plateau",
        lambda m, s: m.noisy_best,
        ("noisy_best_multiplier", "lr_drop", "noise_window", "confirm_epochs"),
    ),
    Rule("no-training-curve", "plateau", lambda m, s: m.train_rise is None),
    Rule(
        "training-unstable",
        "plateau",
        lambda m, s: m.train_rise > s.max_train_rise,
        ("max_train_rise",),
    ),
    Rule(
        "training-flat",
        "plateau",
        lambda m, s: m.train_gain < s.min_train_improvement and not m.at_floor,
        ("min_train_improvement", "train_floor"),
    ),
    Rule(
        "no-new-best",
        "plateau",
        lambda m, s: not m.learning,
        (
            "min_learning",
            "blown_up_first",
            "stuck_loss_share",
            "stuck_progress",
            "stuck_accuracy",
            "stuck_accuracy_rise",
        ),
    ),
    Rule("overfitting", "overfitting", lambda m, s: m.beyond_noise),
    Rule("sustained", "overfitting", lambda m, s: True),
)


#: Relative difference below which two float32 values are one value written twice.
_FLOAT32_PRECISION = 1e-6


def _empty_verdict(lr_drop: int | None, lr_rise: int | None) -> Verdict:
    return Verdict(
        "improving", "no-finite-value", *([None] * 12), lr_drop_epoch=lr_drop, lr_rise_epoch=lr_rise
    )


def _robust_noise(xs: list[int], ys: list[float], split: int, settings: DetectorSettings) -> float:
    """Noise of one value: the scatter around a smooth trend on either side of the best.

    The points up to the best epoch (index ``split``) and the points from it
    on are each fitted with a low-degree polynomial (a line for 3-4 points, a
    parabola from 5), so a steady fall or rise counts as trend, not noise.
    Two estimates of one noise are pooled: their summed squares over their
    summed degrees of freedom. Taking the smaller side always (the earlier
    rule) let chance set the bar: a line through the best and the three
    epochs after it has 2 degrees of freedom, and its estimate falls below a
    third of the true noise about one time in ten, which made a jumpy
    curve's first three rising epochs look beyond noise. Estimates more than
    ``noise_pool_ratio`` apart (3: a variance ratio of 9, the 90th percentile
    of F(2, 2), rarely chance) measure different things: the larger is trend
    read as noise (a steep descent curves more than a parabola follows), so
    the smaller is taken. A side counts once it has ``min_noise_dof``
    degrees of freedom; until then, the larger estimate there is (0 if none).
    """
    estimates = []
    # The descent counts only once a parabola fits it (a line through 3-4
    # points of a curving descent reads the curvature as noise).
    for part, fewest in ((slice(0, split + 1), 5), (slice(split, None), 4)):
        px, py = xs[part], ys[part]
        if len(py) < fewest:
            continue
        estimates.append(_trend_residuals(px, py))
    trusted = [(squares, dof) for squares, dof in estimates if dof >= settings.min_noise_dof]
    sds = sorted(math.sqrt(sq / dof) for sq, dof in trusted)
    if len(sds) == 2 and sds[1] > settings.noise_pool_ratio * sds[0]:
        return sds[0]
    if trusted:
        return math.sqrt(sum(sq for sq, _ in trusted) / sum(dof for _, dof in trusted))
    return max((math.sqrt(sq / dof) for sq, dof in estimates), default=0.0)


def _trend_residuals(xs: list[int], ys: list[float]) -> tuple[float, int]:
    """(residual sum of squares, degrees of freedom) around the trend of a few points:
    a line for 3-4 of them, a parabola from 5."""
    degree = 2 if len(ys) >= 5 else 1
    return _residual_squares(xs, ys, degree), len(ys) - degree - 1


def _residual_squares(xs: list[int], ys: list[float], degree: int) -> float:
    """Residual sum of squares of a least-squares line (1) or parabola (2).

    Plain Python on centred x: the windows hold a handful of points, where
    numpy's per-call overhead would be most of the detector's cost. Huge
    values give ``inf`` (no alarm), not an overflow error.
    """
    n = len(xs)
    mx = sum(xs) / n
    u = [x - mx for x in xs]
    if degree == 1:
        suu = sum(v * v for v in u) or 1.0
        my = sum(ys) / n
        slope = sum(v * (y - my) for v, y in zip(u, ys, strict=True)) / suu
        return sum(_square(y - my - slope * v) for v, y in zip(u, ys, strict=True))
    # Normal equations of y = a + b u + c u^2, solved by Cramer's rule.
    s1 = sum(u)
    s2 = sum(v**2 for v in u)
    s3 = sum(v**3 for v in u)
    s4 = sum(v**4 for v in u)
    t0 = sum(ys)
    t1 = sum(v * y for v, y in zip(u, ys, strict=True))
    t2 = sum(v * v * y for v, y in zip(u, ys, strict=True))
    m = ((n, s1, s2), (s1, s2, s3), (s2, s3, s4))
    det = _det3(m)
    if abs(det) < 1e-12:
        return _residual_squares(xs, ys, 1)
    a = _det3(((t0, s1, s2), (t1, s2, s3), (t2, s3, s4))) / det
    b = _det3(((n, t0, s2), (s1, t1, s3), (s2, t2, s4))) / det
    c = _det3(((n, s1, t0), (s1, s2, t1), (s2, s3, t2))) / det
    return sum(_square(y - a - b * v - c * v * v) for v, y in zip(u, ys, strict=True))


def _square(r: float) -> float:
    return r * r  # float ``**`` raises OverflowError where ``*`` gives inf


def _det3(m) -> float:
    (a, b, c), (d, e, f), (g, h, i) = m
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)


def _theil_sen(xs: list[int], ys: list[float]) -> float:
    """Median of the pairwise slopes: a trend that a few outliers do not move."""
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    ]
    return statistics.median(slopes) if slopes else 0.0
