"""``RunLogger``: per-epoch logs in, scalars + figure + notes + diagnosis out.

The framework-neutral heart of tbviz. Keras' callback is a thin layer over it,
and a hand-written ``tf.GradientTape`` loop gets the same TensorBoard output
by calling :meth:`RunLogger.log_epoch` itself::

    with RunLogger("runs", "my-loop") as run:
        for epoch in range(epochs):
            ...  # train and evaluate
            run.log_epoch(epoch, {"loss": loss, "val_loss": val_loss})
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import time
import warnings
import weakref
from collections.abc import Iterator, Mapping

from tbviz.core.detector import DetectorSettings
from tbviz.core.diagnosis import Diagnosis
from tbviz.core.directions import unknown_direction_hint
from tbviz.core.history import History, base_name, is_validation, numeric_logs
from tbviz.core.text import Evaluations, figure_title, naming
from tbviz.figures.renderer import FigureRenderer
from tbviz.live.options import FIGURE_BUDGET, RunOptions
from tbviz.logdir import metadata, storage
from tbviz.logdir.reader import join_path
from tbviz.logdir.run_output import RunOutput
from tbviz.logdir.summaries import HParamValue
from tbviz.logdir.writer import RunWriter

_SAFE_SEGMENT = re.compile(r"^[^\x00-\x1f]+$")
_OPEN_LOGGERS: weakref.WeakSet[RunLogger] = weakref.WeakSet()


def validate_run_name(run_name: str) -> str:
    """Return ``run_name`` normalised, or raise ``ValueError`` saying what is wrong.

    A run name is a relative path inside the log directory: it may contain
    ``/`` to group runs (``sweep/lr=0.01``), but not ``..``, an absolute path,
    a drive letter or control characters, so a run can never be written
    outside its log directory.
    """
    if not isinstance(run_name, str) or not run_name.strip():
        raise ValueError(f"run_name must be a non-empty string, got {run_name!r}")
    name = run_name.strip().replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "://" in name:
        raise ValueError(
            f"run_name {run_name!r} is an absolute path; give a name relative to the "
            "log directory (put the directory in log_dir instead)"
        )
    segments = [s for s in name.split("/") if s not in ("", ".")]
    if not segments or any(s == ".." for s in segments):
        raise ValueError(
            f"run_name {run_name!r} would leave the log directory; use a plain name "
            "such as 'cnn-adam' or 'sweep/lr=0.01'"
        )
    if not all(_SAFE_SEGMENT.match(s) for s in segments):
        raise ValueError(f"run_name {run_name!r} contains control characters")
    return "/".join(segments)


def timestamped_run_name(logdir: str, now: float | None = None) -> str:
    """A readable run name that is not taken yet: ``20261128-143005`` (``-2``, ...)."""
    stem = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    name, counter = stem, 1
    while storage.exists(join_path(logdir, name)):
        counter += 1
        name = f"{stem}-{counter}"
    return name


class RunLogger:
    """Write one training run's TensorBoard view, one epoch at a time.

    For every :meth:`log_epoch` call it writes:

    * ``epoch_<metric>`` scalars, training values into ``<run>/train`` and
      ``val_*`` values into ``<run>/validation`` (Keras' layout and tag names);
    * the structured diagnosis (tag ``tbviz/diagnosis``) and the detector's
      numbers as scalars (``tbviz/epochs_since_best``,
      ``tbviz/generalization_loss``, ``tbviz/gap/<metric>``);
    * every metric's value at the best epoch so far (``tbviz/best/<metric>``,
      ``tbviz/best_step``), and with ``hparams`` the run's hyperparameters
      for TensorBoard's HParams dashboard, which then compares runs at their
      best epoch rather than their last;
    * an overfitting note (tag ``tbviz/notes``) when the status changes (a verdict
      at once; improving / plateau once they have held 5 epochs: see
      :class:`tbviz.core.notes.NoteGate`);
    * the comparison figure (tag ``tbviz/comparison``) every ``figure_every``
      epochs, drawn on a background thread within ``figure_budget``.

    :meth:`close` draws the final epoch's figure, writes the final summary (tag
    ``tbviz/summary``) and closes the files. Every epoch's scalars, notes and
    diagnosis are flushed to disk before ``log_epoch`` returns, so a crash
    loses at most the epoch in flight.

    Args:
        logdir: the log directory TensorBoard is pointed at (``runs``).
        run_name: folder of this run inside ``logdir``; None picks a
            time-stamped name that is not taken.
        figure_every: draw the figure every N epochs (the last epoch is always
            drawn); 0 turns figures off.
        figure_budget: the share of training's wall time tbviz may take
            (0.02 = 2%): the logging methods' own time is paid first (see
            :meth:`charged`), figures from the rest (the drawing thread's CPU
            time, weighed by how busy the cores are); over it, figures wait in
            order (thinned past 16) and catch up when training ends. None
            draws every requested epoch.
        monitor: the validation metric the diagnosis judges by.
        mode: ``"min"``/``"max"`` for ``monitor``, or ``"auto"`` (from
            ``directions``, then Keras' metric names; unknown names warn once).
        directions: ``{"metric": "min" | "max"}`` for other metrics whose
            names do not say which way is better.
        patience: the ``EarlyStopping`` patience whose outcome the notes report.
        settings: detector thresholds (``patience`` is taken from here if given).
        first_epoch: the first epoch this training will log. If ``run_name``
            already holds epochs, a later ``first_epoch`` continues it (resume);
            an earlier or equal one logs to ``run_name-2`` instead, with a warning.
        hparams: hyperparameters of this run (name -> bool, int, float or
            str), shown in TensorBoard's HParams dashboard. Runs compared
            there should share the same names.
        trial: the Trial ID the HParams dashboard shows for this run
            (default: the run name, which the dashboard cuts after 14
            characters); runs given the same one are shown as repeats.
        epochs: the number of epochs this training plans (Keras'
            ``fit(epochs=...)``), if known: the figure's epoch axis is then
            laid out once, which makes each figure cheaper and the step
            slider show the curves growing across a fixed axis. A run that
            stops early ends on a figure whose axis fits the epochs it
            trained (if its last epoch's figure was already drawn on the
            planned axis, a second one at the same step, which TensorBoard
            shows last).
        detector_scalars: also chart the detector's working numbers
            (``tbviz/epochs_since_best``, ``tbviz/gap/<metric>``, every
            training metric's ``tbviz/best/<metric>``). By default the
            Scalars dashboard gets the tbviz charts a person reads: how far
            the monitored metric is above its best
            (``tbviz/generalization_loss``, in %), the validation metrics at
            the best epoch and the best epoch (``tbviz/best_step``).

    Raises:
        ValueError: an argument is invalid (bad run name, negative figure_every).
        tbviz.errors.LogDirError: the run folder cannot be created.
    """

    def __init__(
        self,
        logdir: str = "runs",
        run_name: str | None = None,
        *,
        figure_every: int = 1,
        figure_budget: float | None = FIGURE_BUDGET,
        monitor: str = "val_loss",
        mode: str = "auto",
        directions: Mapping[str, str] | None = None,
        patience: int = 3,
        settings: DetectorSettings | None = None,
        first_epoch: int = 0,
        hparams: Mapping[str, HParamValue] | None = None,
        trial: str | None = None,
        epochs: int | None = None,
        detector_scalars: bool = False,
    ) -> None:
        self.options = RunOptions(
            figure_every=figure_every,
            figure_budget=figure_budget,
            monitor=monitor,
            mode=mode,
            directions=directions,
            patience=patience,
            hparams=hparams,
            trial=trial,
            settings=settings,
            detector_scalars=detector_scalars,
        )
        directions, hparams = self.options.directions, self.options.hparams

        logdir = os.fspath(logdir)
        self.logdir = logdir
        self.figure_every = figure_every
        if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)):
            raise ValueError(f"epochs must be an int or None, got {epochs!r}")
        self.epochs = epochs if epochs and epochs > 0 else None
        self.monitor = monitor
        self.settings = settings or DetectorSettings(patience=patience)
        self._output = RunOutput(
            monitor,
            mode=mode,
            directions=directions,
            settings=self.settings,
            hparams=hparams,
            trial=trial,
            detector_scalars=detector_scalars,
        )
        self.diagnosis: Diagnosis | None = None
        self._warned: set[str] = set()
        self.stopped: str | None = None
        if run_name is None:
            self.run_name = timestamped_run_name(logdir)
        else:
            self.run_name = self._continue_or_rename(validate_run_name(run_name), first_epoch)
        self.run_dir = join_path(logdir, self.run_name)
        self._writer = RunWriter(self.run_dir)
        self.renderer = (
            FigureRenderer(self._write_figure, budget=figure_budget, name=self.run_name)
            if figure_every
            else None
        )
        self._last_figure_epoch: int | None = None
        self._evaluations: Evaluations | None = None  # set by log_eval
        self._closed = False
        self._charging = False
        _OPEN_LOGGERS.add(self)

    @property
    def history(self) -> History:
        """Every epoch logged to this run so far (a resumed run's earlier ones included)."""
        return self._output.history

    def _continue_or_rename(self, name: str, first_epoch: int) -> str:
        """Resume ``name`` if this run starts after its last logged epoch, else rename.

        Two trainings given the same name must not mix their steps: a run that
        starts at or before an epoch the folder already holds is logged under
        ``name-2`` (``-3``, ...) instead, with a warning. A run that starts
        after it (``fit(initial_epoch=k)``) continues the folder: the step
        axis goes on and the diagnosis starts from the logged history.
        """
        from tbviz.logdir.reader import CorruptEventFile, read_history

        try:
            logged = read_history(join_path(self.logdir, name))
        except (CorruptEventFile, OSError):
            logged = History()
        last = logged.last_epoch
        if last is None:
            return name
        if first_epoch > last:
            self._output.resume(logged)
            self.diagnosis = self._output.diagnosis
            return name
        counter = 2
        while read_history(join_path(self.logdir, f"{name}-{counter}")).last_epoch is not None:
            counter += 1
        renamed = f"{name}-{counter}"
        warnings.warn(
            f"run {name!r} in {self.logdir} already holds epochs up to {last + 1}; logging "
            f"this training as {renamed!r} so the two do not mix (to continue {name!r}, "
            f"start after its last epoch: fit(..., initial_epoch={last + 1}))",
            UserWarning,
            stacklevel=4,
        )
        return renamed

    def log_epoch(self, epoch: int, logs: Mapping[str, object]) -> Diagnosis:
        """Record one finished epoch (0-based) and write its summaries.

        ``logs`` is a Keras-style dict: training metrics by name, validation
        metrics with a ``val_`` prefix. Values may be floats, numpy scalars or
        0-d tensors; entries that are not numbers are ignored. Returns the
        diagnosis after this epoch.
        """
        if self._closed:
            raise RuntimeError("this RunLogger is closed; create a new one to log more epochs")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0 (0-based, as Keras counts), got {epoch!r}")
        if self._evaluations is not None:
            raise ValueError(
                "this run is logged by evaluation (log_eval); one run cannot mix log_epoch "
                "and log_eval"
            )
        with self.charged():
            return self._log_point(epoch, epoch, logs)

    @contextlib.contextmanager
    def charged(self) -> Iterator[None]:
        """Count the CPU time spent inside against the figure budget.

        The budget is tbviz's whole share of training's time, so the work it
        does on the training thread (converting a framework's metrics,
        writing scalars and notes, diagnosing) leaves that much less for
        figures. The logging methods charge themselves; a callback wraps its
        whole hook. Nested uses count once.
        """
        if self._charging or self.renderer is None:
            yield
            return
        self._charging = True
        start = time.thread_time()
        try:
            yield
        finally:
            self._charging = False
            self.renderer.charge(time.thread_time() - start)

    def log_eval(
        self, step: int, logs: Mapping[str, object], *, epoch: float | None = None
    ) -> Diagnosis:
        """Record one evaluation made at training ``step`` (a global step count).

        For loops that evaluate every N steps rather than once an epoch (the
        Hugging Face Trainer's ``eval_strategy="steps"``): the detector counts
        evaluations (the k-th is point k of the diagnosis), scalars, figures
        and notes go at ``step`` on TensorBoard's axis, and words name each
        point by step and, if given, by the (fractional) ``epoch``:
        "overfitting since step 1,200 (epoch 2.4)". ``logs`` are as for
        :meth:`log_epoch`: the training values (e.g. the mean loss since the
        previous evaluation) and ``val_`` ones. Steps must increase.
        """
        if self._closed:
            raise RuntimeError("this RunLogger is closed; create a new one to log more")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an int >= 0 (a global step count), got {step!r}")
        if self.history.last_epoch is not None and self._evaluations is None:
            raise ValueError(
                "this run is logged by epoch (log_epoch); one run cannot mix log_epoch and log_eval"
            )
        if self._evaluations is None:
            self._evaluations = Evaluations({}, {})
        steps = self._evaluations.steps
        if steps and step <= max(steps.values()):
            raise ValueError(
                f"step {step} is not after the last evaluation's ({max(steps.values())}): "
                "evaluations are logged in training order"
            )
        point = len(steps)
        steps[point] = step
        if epoch is not None:
            self._evaluations.epochs[point] = float(epoch)
        with self.charged():
            return self._log_point(point, step, logs)

    def _log_point(self, point: int, step: int, logs: Mapping[str, object]) -> Diagnosis:
        """Point ``point`` of the diagnosis, written at TensorBoard step ``step``."""
        numbers = numeric_logs(logs)
        train = {k: v for k, v in numbers.items() if not is_validation(k)}
        validation = {base_name(k): v for k, v in numbers.items() if is_validation(k)}
        if train:
            self._writer.write_scalars("train", step, train)
        if validation:
            self._writer.write_scalars("validation", step, validation)
        with naming(self._evaluations):
            out = self._output.epoch(point, numbers)
        diagnosis = self.diagnosis = out.diagnosis
        self._warn_once(diagnosis)
        self._writer.write_run_values(step, out.values)
        if self.renderer is not None and (out.noted or (point + 1) % self.figure_every == 0):
            # A status change (a note) always gets its figure on the slider.
            self._request_figure(point, keep=out.noted)
        self._writer.flush()
        return diagnosis

    def _step_of(self, point: int) -> int:
        """The TensorBoard step point ``point`` is written at (its epoch, or the
        global step of its evaluation)."""
        return self._evaluations.steps.get(point, point) if self._evaluations else point

    def _write_figure(self, figure, point: int) -> None:
        self._writer.write_figure(figure, self._step_of(point))

    def add_directions(self, found: Mapping[str, str]) -> None:
        """Directions read from the model's metric objects (the Keras callback
        does this), used for metrics whose direction the user did not give."""
        self._output.diagnoser.add_directions(found)

    def _warn_once(self, diagnosis: Diagnosis) -> None:
        """Tell the user, once per run, about a monitor that is missing or ambiguous."""
        if diagnosis.status == "no-monitor" and "no-monitor" not in self._warned:
            self._warned.add("no-monitor")
            warnings.warn(f"run {self.run_name!r}: {diagnosis.reason}", UserWarning, stacklevel=3)
        if (
            diagnosis.direction_source == "guess"
            and diagnosis.best_epoch is not None
            and "direction" not in self._warned
        ):
            self._warned.add("direction")
            warnings.warn(unknown_direction_hint(self.monitor), UserWarning, stacklevel=3)

    def log_batch(self, step: int, logs: Mapping[str, object]) -> None:
        """Write training ``batch_<metric>`` scalars at ``step`` (e.g. the batch count).

        Validation keys are ignored. Nothing is flushed here; the next
        :meth:`log_epoch` (or :meth:`close`) does it, so per-batch logging
        costs a few scalar writes and no disk access.
        """
        if self._closed:
            raise RuntimeError("this RunLogger is closed; create a new one to log more")
        with self.charged():
            values = {k: v for k, v in numeric_logs(logs).items() if not is_validation(k)}
            if values:
                self._writer.write_batch_scalars(int(step), values)

    def close(self, interrupted: bool = False) -> None:
        """Draw the last epoch's figure, write the final summary, close the files.

        ``interrupted=True`` (training stopped by an exception, Ctrl-C, or the
        program ending first) makes the summary say so, and where.
        """
        if self._closed:
            return
        self._closed = True
        _OPEN_LOGGERS.discard(self)
        last = self.history.last_epoch
        try:
            if self.renderer is not None:
                if last is not None and self.epochs is not None and last + 1 < self.epochs:
                    # Stopped early: the final figure's axis fits the epochs trained.
                    self._request_figure(last, fitted=True)
                elif last is not None and self._last_figure_epoch != last:
                    self._request_figure(last)
                self.renderer.close()
            with naming(self._evaluations):
                summary = self._output.summary(interrupted=interrupted, stopped=self.stopped)
            if summary is not None:
                self._writer.write_text(
                    metadata.TAG_SUMMARY, summary, self._step_of(last), metadata.SUMMARY_DESCRIPTION
                )
        finally:
            self._writer.close()

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, exc_type, *exc_info: object) -> None:
        self.close(interrupted=exc_type is not None)

    def _request_figure(self, epoch: int, fitted: bool = False, keep: bool = False) -> None:
        status = self.diagnosis.status if self.diagnosis else ""
        with naming(self._evaluations):
            title = figure_title(self.run_name, epoch, status)
        unit = "evaluation" if self._evaluations else "epoch"
        if fitted:
            self.renderer.submit(
                epoch, self.history, self.diagnosis, title, replace=True, unit=unit
            )
        else:
            self.renderer.submit(
                epoch, self.history, self.diagnosis, title, self.epochs, keep=keep, unit=unit
            )
        self._last_figure_epoch = epoch


@atexit.register
def _close_open_loggers() -> None:
    """A run left open (``fit`` raised, Ctrl-C, the script ended) still gets its
    final figure and an "interrupted" summary, and its files closed, at exit."""
    for logger in list(_OPEN_LOGGERS):
        with contextlib.suppress(Exception):  # at exit there is no one left to tell
            logger.close(interrupted=True)
