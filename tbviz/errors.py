"""Errors tbviz raises for user mistakes: each says what was wrong and what to do."""

from __future__ import annotations


class TbvizError(Exception):
    """Base class of tbviz's own errors; its message is meant for the user."""


class LogDirError(TbvizError, OSError):
    """The log directory (or a run folder in it) is missing, or cannot be created or written."""


class UnknownMetricError(TbvizError, ValueError):
    """No run has the metric asked for (``--metric``)."""


class NoRunMatchesError(TbvizError, ValueError):
    """Runs were found, but none whose name matches the ``--runs`` pattern."""


class UnknownKnobError(TbvizError, ValueError):
    """No run has the knob to group over (``--group-over``) in its hparams or its name."""


class OutputError(TbvizError, ValueError):
    """An output file tbviz was asked to write has an unknown kind or no folder."""


class DataError(TbvizError, ValueError):
    """A dataset file is missing, unreadable, or has the wrong contents."""


class DatasetUnavailable(TbvizError):
    """A dataset is neither cached nor downloadable (for example, offline)."""


class MissingExtra(TbvizError, ImportError):
    """An optional part of tbviz was used without the packages it needs."""


def missing_extra(module: str, what: str, extra: str) -> MissingExtra:
    """The error for ``what`` used without ``module``: which extra installs it."""
    return MissingExtra(
        f"{what} needs {module}, which is not installed: pip install 'tbviz[{extra}]' "
        "(RunLogger and the tbviz command work without it)"
    )


class RayClusterError(TbvizError, ConnectionError):
    """The Ray cluster given by ``--ray-address`` cannot be reached or joined."""
