"""Draw comparison figures off the training thread, within a share of training time.

A figure costs 4-80 ms of matplotlib (the first and any that must lay out
its axes again cost the most). On a machine where TensorFlow keeps every core
busy, a background thread does not make that free: each millisecond of
drawing is still paid in wall time. So the renderer does four things:

* ``submit`` only hands over numbers and returns at once; a worker thread owns
  matplotlib (one reusable :class:`ComparisonPlotter`) and writes the PNG;
* drawing is capped at ``budget``, a share of the time since the renderer
  started, **counted in the wall time it takes from training**: a figure's
  CPU time (this thread's), weighed by how crowded the cores were while
  training ran just before it (the process' CPU time over wall time). A
  Keras fit of the tutorial's CNN uses about 1.1 of 2 cores, so drawing on
  the idle one costs it almost nothing and every epoch gets its figure; a
  PyTorch fit that keeps both cores busy pays each figure in full, so it
  gets fewer. What tbviz spends on the training thread itself (scalars,
  notes, the diagnosis; see :meth:`FigureRenderer.charge`) is paid from the
  same budget, so the budget is tbviz's whole share of the fit. A figure is
  drawn only when the cost so far, plus this figure and the final one (which
  close() draws after training, paid in full), fit in the budget. Over
  budget, requests wait in order (TensorBoard drops a figure written after a
  later step of its tag, so figures are never written out of order); past
  ``BACKLOG`` waiting, the one whose neighbours are closest is dropped, so
  they stay spread over the run. While the budget cannot pay for all that
  wait, the next one drawn is halfway from the last drawn to the newest (see
  :func:`halfway`), so drawing keeps up with training and the figures cover
  the whole run, not its start. ``close`` draws the waiting figures, spread
  over the run, as far as the whole run's cost stays within
  ``CLOSING_SHARE`` times the budget, and always the last epoch submitted,
  so the final figure is never missing; nor are the figures of epochs where
  the run's status changed (``keep``), the few a reader of the slider must
  find;
* the first epoch's figure is drawn at once, outside the budget's check (it
  still counts against it), so a run killed early has a figure to show.
  matplotlib's import (half a second, the first time in a process) and
  one-time start-up (fonts, glyph caches) are paid by the drawing thread as
  it starts, while the first epoch trains, and are not counted: they are
  not a figure, and ``scripts/bench_overhead.py`` measures the whole cost.
  ``import tbviz`` and a run without figures never import matplotlib;
* a finished run hands its plotter (a built figure) to the next run in the
  process, so a notebook that fits again or a sweep's trials do not build
  and lay out the same figure anew each time (40-70 ms a run).

A drawing error is reported once (a ``RuntimeWarning``) and never reaches the
training loop. Renderers still open at interpreter exit are drained.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import statistics
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tbviz.core.diagnosis import Diagnosis
from tbviz.core.history import History, Series
from tbviz.core.rendered import RenderedFigure

if TYPE_CHECKING:  # matplotlib is imported by the drawing thread, not by importing this
    from tbviz.figures.run_figure import ComparisonPlotter

_OPEN: weakref.WeakSet[FigureRenderer] = weakref.WeakSet()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: The cores this process may use.
_CORES = _cores()

#: Figures waiting beyond this many are thinned, evenly.
BACKLOG = 16
#: Plotters kept for later runs in this process once their run is over.
IDLE_PLOTTERS = 2
_IDLE: list[ComparisonPlotter] = []
_IDLE_LOCK = threading.Lock()


def _take_plotter() -> ComparisonPlotter:
    """The plotter a finished run left (its figure built), or a new one.

    Called on the drawing thread: the first call in a process imports
    matplotlib (about half a second), which so happens beside the first
    epoch's training rather than before it, and never in a program that
    logs without figures.
    """
    from tbviz.figures.run_figure import ComparisonPlotter

    with _IDLE_LOCK:
        plotter = _IDLE.pop() if _IDLE else ComparisonPlotter()
    plotter.start_run()
    return plotter


def _give_back(plotter: ComparisonPlotter) -> None:
    """Keep ``plotter`` for the next run; the most recent runs' plotters are kept."""
    with _IDLE_LOCK:
        _IDLE.append(plotter)
        del _IDLE[:-IDLE_PLOTTERS]


#: When training ends, waiting figures are drawn while the run's drawing stays
#: within this many times its budget (1: the budget holds for the whole run).
CLOSING_SHARE = 1


@dataclass(frozen=True)
class _Job:
    epoch: int
    history: History
    diagnosis: Diagnosis | None
    title: str
    epochs: int | None
    keep: bool = False  # drawn whatever the budget, never coalesced away
    unit: str = "epoch"  # what the points are: epochs, or evaluations every N steps


def snapshot(history: History) -> History:
    """A copy of ``history`` the training thread can go on changing."""
    copy = History()
    for key in history:
        series = history[key]
        copy.record_series(key, Series(list(series.epochs), list(series.values)))
    return copy


class FigureRenderer:
    """Render figures on a background thread and pass them to ``write``.

    Args:
        write: called on the worker thread with each figure and its epoch.
        budget: the share of elapsed time tbviz may take from training (0.02
            = 2%, counted as above: drawing, and what :meth:`charge` adds);
            None draws every submitted epoch, in order, however long it takes.
        name: used in warnings.
    """

    def __init__(
        self,
        write: Callable[[RenderedFigure, int], None],
        *,
        budget: float | None,
        name: str = "tbviz",
    ) -> None:
        if budget is not None and not 0 < budget <= 1:
            raise ValueError(f"figure_budget must be in (0, 1] or None, got {budget!r}")
        self._write = write
        self._budget = budget
        self._name = name
        self._plotter: ComparisonPlotter | None = None  # taken by the drawing thread
        self._lock = threading.Condition()
        self._pending: deque[_Job] = deque()
        self._closing = False
        self._busy = False
        self._started = time.monotonic()
        self.seconds_drawing = 0.0
        self.seconds_logging = 0.0  # tbviz's own time on the training thread
        # Seconds a figure takes: the median of the figures after the first
        # (which lays out the whole figure), a guess until there is one. Most
        # figures only move curves; the few that must lay out the axes again
        # are paid for from the budget all the same.
        self._estimate = self._cpu_estimate = 0.015
        self._took: list[tuple[float, float]] = []  # (stolen, CPU) seconds per figure
        self.cpu_drawing = 0.0
        self._mark = (time.monotonic(), time.process_time())
        self._cores_used = float(_CORES)  # until measured: as if every core were busy
        self._first_drawn = False
        self.drawn: list[int] = []
        self.coalesced = 0
        self._failed = False
        self._thread = threading.Thread(target=self._run, name=f"tbviz-figures-{name}", daemon=True)
        self._thread.start()
        _OPEN.add(self)

    def submit(
        self,
        epoch: int,
        history: History,
        diagnosis: Diagnosis | None,
        title: str,
        epochs: int | None = None,
        *,
        replace: bool = False,
        keep: bool = False,
        unit: str = "epoch",
    ) -> bool:
        """Ask for the figure of ``epoch``; returns at once (history is copied).

        ``epochs`` is the number of epochs the run plans, if known. With
        ``replace``, a request for ``epoch`` still waiting is replaced by this
        one; if that epoch's figure is already drawn (or being drawn), this
        one is drawn after it, at the same step, and is the one TensorBoard
        shows last (a run that stopped early ends on a figure whose axis fits
        it, even if its last epoch was drawn for the planned ones). ``keep``
        marks an epoch the slider must show (the status changed there): it
        is drawn whatever the budget and never replaced by a newer epoch; a
        run has few of them.
        Returns whether the request was taken.
        """
        job = _Job(epoch, snapshot(history), diagnosis, title, epochs, keep, unit)
        with self._lock:
            if self._closing:
                return False
            if replace and self._pending and self._pending[-1].epoch == epoch:
                self._pending.pop()
            self._pending.append(job)
            if self._budget is not None and len(self._pending) > BACKLOG:
                self._thin(BACKLOG)
            self._lock.notify_all()
        return True

    def _thin(self, limit: int, *, closing: bool = False) -> None:
        """Drop waiting figures down to ``limit``, those whose neighbours are
        closest first, so the ones left stay evenly spread; never the newest or
        one to keep, nor, while training goes on, the oldest (at close, its
        neighbour on the left is the last figure drawn)."""
        waiting = list(self._pending)
        first = 0 if closing else 1
        while len(waiting) > max(limit, 2 - first):
            before = [self.drawn[-1] if self.drawn else -1] + [job.epoch for job in waiting]
            gaps = [
                (waiting[i + 1].epoch - before[i], i)
                for i in range(first, len(waiting) - 1)
                if not waiting[i].keep
            ]
            if not gaps:
                break
            del waiting[min(gaps)[1]]
            self.coalesced += 1
        self._pending = deque(waiting)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every waiting figure is drawn (budget permitting); True if idle."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._pending or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def close(self, timeout: float | None = 60.0) -> None:
        """Draw the last submitted epoch (budget or not), then stop the worker."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._lock.notify_all()
        self._thread.join(timeout)
        _OPEN.discard(self)

    def charge(self, seconds: float) -> None:
        """Count ``seconds`` of tbviz's work on the training thread (writing
        scalars and notes, diagnosing) against the budget: they are paid in
        wall time as surely as a figure is, and on a fit with short epochs
        they are a share of their own (0.5-1% of a small Lightning fit).
        Called by the training thread only."""
        self.seconds_logging += seconds

    def _room(self, share: float = 1.0) -> float:
        """What is left now of ``share`` times the budget: that share of the time
        since the renderer started, less what drawing and logging cost so far."""
        spent = self.seconds_drawing + self.seconds_logging
        return share * self._budget * (time.monotonic() - self._started) - spent

    def _one_more(self) -> float:
        """What one more figure asks of the budget: its own cost, and room for the
        final one, which close() draws anyway, after training, where all of its
        CPU time is the fit's time."""
        return self._estimate + self._cpu_estimate

    def _within_budget(self) -> bool:
        """True if drawing one more figure keeps drawing within the budget."""
        if self._budget is None or not self._first_drawn:
            return True
        return self._room() >= self._one_more()

    def _closing_allowance(self) -> int:
        """At close: how many waiting figures keep the whole run's drawing within
        ``CLOSING_SHARE`` times the budget, the last one (drawn whatever this
        says) included."""
        return max(1, int(self._room(CLOSING_SHARE) / max(self._cpu_estimate, 1e-3)))

    def _next_job(self) -> _Job:
        """Take the next figure to draw off the queue (under the lock).

        In order while the budget can pay for every waiting figure. When it
        cannot, drawing lags behind training, and drawing the oldest first
        would spend the budget on the run's first epochs and leave its end
        (where overfitting shows) bare; so the figure halfway between the
        last one drawn and the newest is drawn, and the ones before it are
        dropped (they could only be written out of order later). A figure to
        keep is never passed over.
        """
        waiting = self._pending
        lagging = not self._closing and self._budget is not None and len(waiting) > 2
        if lagging and self._room() < len(waiting) * self._estimate:
            last = self.drawn[-1] if self.drawn else -1
            skip = halfway(last, [job.epoch for job in waiting], [job.keep for job in waiting])
            for _ in range(skip):
                waiting.popleft()
            self.coalesced += skip
        return waiting.popleft()

    def _seconds_until_budget(self) -> float:
        # One more figure fits once the room has grown by what it lacks, at the
        # budget's share of each second.
        return max(0.01, (self._one_more() - self._room()) / self._budget)

    def _run(self) -> None:
        try:
            self._plotter = _take_plotter()
        except Exception as err:  # matplotlib missing or broken: no figures, training goes on
            self._report(err)
            with self._lock:  # later requests are refused, none waits for a drawing
                self._closing = True
                self._pending.clear()
                self._lock.notify_all()
            return
        self._work()
        if not self._failed:  # a plotter that failed may be half changed
            _give_back(self._plotter)

    def _work(self) -> None:
        # A failure here shows again, and is reported, with the first real figure.
        with contextlib.suppress(Exception):
            self._plotter.warm_up()
        self._mark = (time.monotonic(), time.process_time())  # training's CPU from here
        thinned_at_close = False
        while True:
            with self._lock:
                while True:
                    if self._closing and not thinned_at_close and self._budget is not None:
                        # Training is over: the waiting figures that fit, spread out.
                        thinned_at_close = True
                        self._thin(self._closing_allowance(), closing=True)
                    if self._pending and (
                        self._closing or self._pending[0].keep or self._within_budget()
                    ):
                        job = self._next_job()
                        self._busy = True
                        break
                    if self._closing:
                        return
                    wait = self._seconds_until_budget() if self._pending else None
                    self._lock.wait(wait)
            self._draw(job)
            with self._lock:
                self._busy = False
                self._lock.notify_all()

    def _training_cores(self) -> float:
        """Cores the training used since the last figure (the process' CPU time
        over wall time while this thread waited): how crowded the machine is."""
        wall, cpu = time.monotonic(), time.process_time()
        last_wall, last_cpu = self._mark
        if wall - last_wall >= 0.05:  # back-to-back figures: keep the last reading
            self._cores_used = (cpu - last_cpu) / (wall - last_wall)
        return self._cores_used

    def _stolen(self, cpu: float) -> float:
        """What ``cpu`` seconds of drawing cost the training in wall time: all of
        it once training is over (close) or when it keeps every core busy,
        nothing when a core is idle (training uses one core of two), in between
        by how much of a core is free."""
        if self._closing:
            return cpu
        crowded = self._training_cores() - (_CORES - 1)
        return cpu * min(1.0, max(0.0, crowded))

    def _draw(self, job: _Job) -> None:
        stolen_share = self._stolen(1.0)  # measured before this figure's own CPU
        start = time.thread_time()
        try:
            figure = self._plotter.render(
                job.history, job.diagnosis, job.title, epochs=job.epochs, unit=job.unit
            )
            self._write(figure, job.epoch)
            self.drawn.append(job.epoch)
        except Exception as err:  # never let a figure stop training
            self._report(err)
        finally:
            took = time.thread_time() - start
            stolen = took * stolen_share
            self.seconds_drawing += stolen
            self.cpu_drawing += took
            if self._first_drawn:
                self._took.append((stolen, took))
                recent = self._took[-8:]
                self._estimate = statistics.median(s for s, _ in recent)
                self._cpu_estimate = statistics.median(c for _, c in recent)
            self._first_drawn = True
            self._mark = (time.monotonic(), time.process_time())

    def _report(self, err: Exception) -> None:
        """Warn once that figures could not be drawn; training goes on."""
        if not self._failed:
            self._failed = True
            warnings.warn(
                f"tbviz could not draw the comparison figure for {self._name!r}: "
                f"{err!r}; scalars and notes are still written",
                RuntimeWarning,
                stacklevel=1,
            )


def halfway(last: int, epochs: list[int], keeps: list[bool]) -> int:
    """How many of the waiting ``epochs`` (oldest first) to pass over so the next
    figure is the first at or past halfway from ``last`` (the epoch drawn
    last) to the newest; never past one marked in ``keeps``."""
    target = last + (epochs[-1] - last + 1) // 2
    for i, (epoch, keep) in enumerate(zip(epochs, keeps, strict=True)):
        if keep or epoch >= target:
            return i
    return len(epochs) - 1


@atexit.register
def _drain_at_exit() -> None:
    for renderer in list(_OPEN):
        renderer.close(timeout=30.0)
