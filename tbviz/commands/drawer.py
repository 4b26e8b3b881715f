"""``compare``'s figures drawn in forked processes that import matplotlib while
the runs are read.

matplotlib takes about 0.4 s of CPU to import. On a thread of the process
that reads the runs, the import competes with the readers for that process'
interpreter lock as well as for the cores: on 1,000 runs it slowed the
reading by about as long as the import takes. In a process of its own, forked
before the reading starts, it costs the reading only its share of the cores.
That process then draws, and forks a second one (matplotlib already
imported) for a second lane of figures: on two cores the overlay and the
small-multiple pages take the time of the longer one.

The process that reads never imports matplotlib: it sends plans
(:mod:`tbviz.figures.plans`) and gets PNGs back.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import multiprocessing
from collections.abc import Callable, Sequence

#: Imported by the drawing process while the runs are read.
FIGURES = "tbviz.figures.cross_run"

#: A figure to draw: a function of :data:`FIGURES` and its arguments.
Job = tuple[str, tuple]
#: What a job gave: its value, or the exception it raised.
Outcome = tuple[object, BaseException | None]


class Drawer:
    """Draws lanes of jobs, the lanes side by side.

    With ``fork`` false (or no ``fork`` start method here), the jobs run in
    this process when :meth:`draw` is called. Use it as a context manager:
    leaving it ends the drawing process, drawn or not.
    """

    def __init__(self, fork: bool) -> None:
        self._connection = None
        self._process = None
        if fork and "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self._connection, theirs = context.Pipe()
            self._process = context.Process(target=_serve, args=(theirs,), name="tbviz-drawer")
            self._process.start()
            theirs.close()

    def __enter__(self) -> Drawer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def draw(self, lanes: Sequence[Sequence[Job]]) -> list[list[Outcome]]:
        """Each lane's outcomes, in order. The jobs of a lane run one after the
        other, the lanes side by side when forked. A drawing process that
        died (killed, out of memory) is not the user's loss: its jobs are
        drawn here instead."""
        if self._connection is not None:
            try:
                self._connection.send(lanes)
                return self._connection.recv()
            except (EOFError, OSError):
                self.close()
        return [[_call(job) for job in lane] for lane in lanes]

    def close(self) -> None:
        """End the drawing process (it exits when its end of the pipe closes)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None


def _serve(connection) -> None:
    """The drawing process: import matplotlib, wait for lanes, draw them."""
    try:
        importlib.import_module(FIGURES)
        try:
            lanes = connection.recv()
        except EOFError:  # nothing to draw: the comparison ended early
            return
        connection.send(_draw_lanes(lanes))
    except KeyboardInterrupt:  # the user's Ctrl-C reached the whole group: the parent says it
        pass


def _draw_lanes(lanes: Sequence[Sequence[Job]]) -> list[list[Outcome]]:
    """The first lane here, the others each in a process forked from this one."""
    if len(lanes) < 2:
        return [[_call(job) for job in lane] for lane in lanes]
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(len(lanes) - 1, mp_context=context) as pool:
        beside = [pool.submit(_call_all, lane) for lane in lanes[1:]]
        here = [_call(job) for job in lanes[0]]
        return [here, *(future.result() for future in beside)]


def _call_all(lane: Sequence[Job]) -> list[Outcome]:
    return [_call(job) for job in lane]


def _call(job: Job) -> Outcome:
    name, args = job
    function: Callable = getattr(importlib.import_module(FIGURES), name)
    try:
        return function(*args), None
    except Exception as err:
        return None, err
