"""tbviz for Ray Tune: sweeps on an existing distributed engine, overfitting trials stopped.

We do not schedule anything: Ray Tune runs the trials (on a local Ray instance
or a cluster); tbviz brings what it lacks:

* :class:`OverfittingStopper`, a Tune ``Stopper`` driven by tbviz's detector,
  usable in any Tune code: a trial stops once tbviz confirms it overfits;
* :func:`tune_report`, what a trial reports to Tune every epoch (the Keras
  logs, tbviz's status, and the best validation loss so far, which is what a
  stopped trial's restored weights reach), and :func:`connect`, which joins
  a cluster or says in one line why it cannot. The trainer's sweep runs on
  them (:mod:`tbviz.trainer.ray_sweep`).

``pip install 'tbviz[ray]'``.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
from collections.abc import Mapping

from tbviz.errors import RayClusterError, missing_extra

try:
    import ray
    from ray import tune
except ImportError as err:
    raise missing_extra("ray", "tbviz.ray", "ray") from err

from tbviz.core.detector import DetectorSettings
from tbviz.core.diagnosis import Diagnosis
from tbviz.live.judge import StopJudge
from tbviz.live.options import check_stopping

#: Keys Tune adds to every result: bookkeeping, not metrics.
_TUNE_KEYS = {
    "done",
    "training_iteration",
    "trial_id",
    "experiment_id",
    "date",
    "timestamp",
    "time_this_iter_s",
    "time_total_s",
    "pid",
    "hostname",
    "node_ip",
    "time_since_restore",
    "iterations_since_restore",
    "checkpoint_dir_name",
    "should_checkpoint",
    "epoch",
}


class OverfittingStopper(tune.Stopper):
    """Stop a Tune trial once tbviz confirms it overfits, or its loss becomes NaN or infinite.

    Each trial's reported results (Keras names: ``loss``, ``val_loss``, ...;
    the epoch from an ``epoch`` key, else Tune's ``training_iteration``) are
    streamed through tbviz's detector, one per trial.

    Example::

        from ray import tune
        from tbviz.ray import OverfittingStopper

        tune.Tuner(train_fn, run_config=tune.RunConfig(stop=OverfittingStopper()))

    Args:
        monitor, mode, start_from_epoch, settings: as for
            :class:`tbviz.OverfittingStopping`.

    Attributes:
        stopped: trial id -> (epoch it was stopped after, its best epoch).
        diverged: the ids of trials stopped because a loss became NaN or infinite.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        start_from_epoch: int = 0,
        settings: DetectorSettings | None = None,
    ) -> None:
        check_stopping(monitor, mode, start_from_epoch)
        self.monitor, self.mode = monitor, mode
        self.start_from_epoch = start_from_epoch
        self.settings = settings
        self._judges: dict[str, StopJudge] = {}
        self.stopped: dict[str, tuple[int, int | None]] = {}
        self.diverged: set[str] = set()

    def __call__(self, trial_id: str, result: Mapping[str, object]) -> bool:
        epoch = result.get("epoch")
        if not isinstance(epoch, int):
            epoch = int(result.get("training_iteration", 1)) - 1
        judge = self._judges.get(trial_id)
        if judge is None:
            judge = self._judges[trial_id] = StopJudge(
                self.monitor, self.mode, self.start_from_epoch, self.settings, "OverfittingStopper"
            )
        diagnosis = judge.judge(epoch, metrics_of(result))
        if not judge.stops(diagnosis):
            return False
        self.stopped[trial_id] = (epoch, diagnosis.best_epoch)
        if diagnosis.status == "diverged":
            self.diverged.add(trial_id)
        return True

    def stop_all(self) -> bool:
        return False


def metrics_of(result: Mapping[str, object]) -> dict[str, float]:
    """The numeric metrics of a Tune result, Tune's bookkeeping and tbviz's own left
    out. NaN and infinite values stay: they are how a diverged trial shows."""
    found = {}
    for key, value in result.items():
        if key in _TUNE_KEYS or key.startswith(("tbviz_", "config")) or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            found[key] = float(value)
    return found


def tune_report(diagnosis: Diagnosis | None, epoch: int, logs: Mapping[str, object]) -> None:
    """Report one epoch to Tune: the Keras logs, tbviz's status, the best monitored value."""
    from tbviz.core.history import numeric_logs

    report: dict[str, object] = {"epoch": epoch, **numeric_logs(logs)}
    if diagnosis is not None:
        report["tbviz_status"] = diagnosis.status
        if diagnosis.best_value is not None:
            report[f"tbviz_best_{diagnosis.monitor}"] = diagnosis.best_value
            report["tbviz_best_epoch"] = diagnosis.best_epoch
    tune.report(report)


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """Start a local Ray instance (``address`` None) or join the cluster at ``address``.

    Joining fails in one clear :class:`tbviz.errors.RayClusterError` (what was
    tried, Ray's reason, what to check), never a traceback, and fast when
    nothing listens there (Ray itself retries for minutes); Ray's own
    retry messages are kept off standard error meanwhile. Whether a token is
    sent is decided when Ray is imported: see :mod:`tbviz.ray_auth`.
    """
    quiet = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": False}
    if address is None:
        ray.init(num_cpus=num_cpus, **quiet)
        return
    if address != "auto":
        _probe(address)
    try:
        with _stderr_silenced():
            ray.init(address=address, **quiet)
    except Exception as err:  # Ray raises ConnectionError, RuntimeError, its own kinds
        raise RayClusterError(
            f"could not join the Ray cluster at {address}: {_reason(err)}"
        ) from err


def _probe(address: str) -> None:
    """Fail at once, in words, when nothing listens at ``address`` (host:port)."""
    host_port = address.split("://", 1)[-1]
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise RayClusterError(
            f"--ray-address {address!r} is not HOST:PORT (the head node's GCS port, "
            "6379 unless `ray start --head --port` chose another), ray://HOST:PORT or auto"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as err:
        raise RayClusterError(
            f"cannot reach a Ray cluster at {address}: {err.strerror or err}. Is the head "
            f"node running (`ray status` on it), and is {port} its port "
            "(`ray start --head --port`)?"
        ) from err


@contextlib.contextmanager
def _stderr_silenced():
    """File descriptor 2 to /dev/null: Ray's C++ client logs each failed attempt
    to join there, twenty lines before the error that says why."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _reason(err: BaseException) -> str:
    """Ray's reason for a failed ``ray.init``, from the deepest error that says one."""
    chain: list[BaseException] = []
    while err is not None and err not in chain:
        chain.append(err)
        err = err.__cause__ or err.__context__
    for found in chain:
        if type(found).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(found):
            sent = os.environ.get("RAY_AUTH_MODE") == "token"
            fix = (
                "put the head's token (`ray get-auth-token` there) in ~/.ray/auth_token "
                "or RAY_AUTH_TOKEN"
            )
            if not sent:
                fix += ", and set RAY_AUTH_MODE=token before Ray is imported"
            said = "refused this process's token" if sent else "this process sent no token"
            return (
                f"it uses token authentication and {said}: {fix} (or start the head "
                "with RAY_AUTH_MODE=disabled)"
            )
        if "version mismatch" in str(found).lower():
            versions = re.findall(r"Ray: (\S+)", str(found))
            if len(versions) >= 2:
                return (
                    f"the cluster runs Ray {versions[0]} and this process Ray {versions[1]}; "
                    f"the versions must match: pip install 'ray[tune]=={versions[0]}' here "
                    "(or start the cluster with this Ray)"
                )
            return "Ray's versions differ here and on the cluster; install the cluster's here"
    lines = str(chain[-1]).strip().splitlines()
    return lines[-1] if lines else type(chain[-1]).__name__


@contextlib.contextmanager
def quiet_tune(quiet: bool):
    """Tune's console output off: its configuration box and result paths are
    printed by its newer output engine whatever ``verbose`` says, so that
    engine is turned off (``RAY_AIR_NEW_OUTPUT=0``) and the older one is
    silent at ``verbose=0``; unless the user chose either themselves."""
    if not quiet or "RAY_AIR_NEW_OUTPUT" in os.environ:
        yield
        return
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    try:
        yield
    finally:
        os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
