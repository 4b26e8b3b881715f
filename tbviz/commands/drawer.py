"""``compare``'s figures drawn in forked processes that import matplotlib while
the runs are read.

matplotlib takes about 0.4 s of CPU to import. On a thread of the process
that reads the runs, the import competes with the readers for that process'
interpreter lock as well as for the cores: on 1,000 runs it slowed the
reading by about as long as the import takes. In a process of its own, forked
before the reading starts, it costs the reading only its share of the cores.
That process forks a second one (matplotlib already imported), which builds
the small-multiple pages' frame while the reading goes on; then each draws
its lane of figures: on two cores the overlay and the pages take the time of
the longer one.

The process that reads never imports matplotlib: it sends plans
(:mod:`tbviz.figures.plans`) and gets PNGs back.
"""

from __future__ import annotations

import importlib
import multiprocessing
import traceback
from collections.abc import Callable, Sequence

from tbviz.commands.discovery import can_fork

#: Imported by the drawing process while the runs are read.
FIGURES = "tbviz.figures.cross_run"

#: A figure to draw: a function of :data:`FIGURES` and its arguments.
Job = tuple[str, tuple]
#: What a job gave: its value, or the exception it raised.
Outcome = tuple[object, BaseException | None]


class Drawer:
    """Draws two lanes of jobs side by side.

    With ``fork`` false (or a process that cannot fork safely: see
    :func:`tbviz.commands.discovery.can_fork`), the jobs run in this process
    when :meth:`draw` is called. Else a process forked now
    imports :data:`FIGURES` and forks the second lane's process, which runs
    the ``ahead`` jobs (a frame built before its data comes) while both wait.
    Use it as a context manager: leaving it ends the drawing processes, drawn
    or not.
    """

    def __init__(self, fork: bool, ahead: Sequence[Job] = ()) -> None:
        self._connection = None
        self._process = None
        self._sent = False
        if fork and can_fork():
            self._connection, self._process = _start(_serve, ahead)

    def __enter__(self) -> Drawer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def draw(self, here: Sequence[Job], beside: Sequence[Job]) -> list[Outcome]:
        """The outcomes of ``here``'s jobs then ``beside``'s. The jobs of a lane
        run one after the other, the two lanes side by side when forked. A
        drawing process that died (killed, out of memory) is not the user's
        loss: its jobs are drawn here instead."""
        if self._connection is not None:
            try:
                self._connection.send((here, beside))
                self._sent = True
                return self._connection.recv()
            except (EOFError, OSError):
                self.close()
        return _run([*here, *beside])

    def close(self) -> None:
        """End the drawing processes (each exits when its end of its pipe closes).
        Given nothing to draw (the comparison stopped on an error, such as a
        mistyped ``--metric``), the first is ended at once, so that the error
        is not kept waiting for matplotlib's import; the second, if it exists,
        ends when its pipe closes with it."""
        if not self._sent and self._process is not None:
            self._process.terminate()
        _stop(self._connection, self._process)
        self._connection = self._process = None


def _start(target: Callable, *args: object):
    """A forked process running ``target(its end of a pipe, *args)``; our end and it."""
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(theirs, *args), name="tbviz-drawer")
    process.start()
    theirs.close()
    return ours, process


def _stop(connection, process) -> None:
    if connection is not None:
        connection.close()
    if process is not None:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()


def _serve(connection, ahead: Sequence[Job]) -> None:
    """The first lane's process: import matplotlib, fork the second lane's,
    wait for both lanes, draw the first, hand over the second."""
    beside = process = None
    try:
        importlib.import_module(FIGURES)
        beside, process = _start(_serve_beside, ahead)
        try:
            here, theirs = connection.recv()
        except EOFError:  # nothing to draw: the comparison ended early
            return
        try:
            beside.send(theirs)
        except OSError:
            beside = None
        outcomes = _run(here)
        try:
            outcomes += beside.recv() if beside is not None else _run(theirs)
        except (EOFError, OSError):  # the second lane's process died: drawn here
            outcomes += _run(theirs)
        connection.send(outcomes)
    except KeyboardInterrupt:  # the user's Ctrl-C reached the whole group: the parent says it
        pass
    finally:
        _stop(beside, process)


def _serve_beside(connection, ahead: Sequence[Job]) -> None:
    """The second lane's process: run the jobs ahead, then its lane when it comes."""
    try:
        _run(ahead)
        try:
            lane = connection.recv()
        except EOFError:
            return
        connection.send(_run(lane))
    except KeyboardInterrupt:
        pass


def _run(jobs: Sequence[Job]) -> list[Outcome]:
    return [_call(job) for job in jobs]


def _call(job: Job) -> Outcome:
    name, args = job
    function: Callable = getattr(importlib.import_module(FIGURES), name)
    try:
        return function(*args), None
    except ValueError as err:  # nothing to draw: the caller says so and goes on
        return None, err
    except Exception:  # a bug: its traceback, as text, survives the pipe to the caller
        return None, RuntimeError(f"drawing {name} failed:\n{traceback.format_exc()}")
