"""tbviz: see how a Keras model trains, inside TensorBoard.

``import tbviz`` is light: the diagnosis is pure numpy, and TensorFlow or Keras
are imported only when you touch :class:`RunLogger`, :class:`TBVizCallback` or
:class:`OverfittingStopping`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tbviz.core.diagnosis import DetectorSettings, Diagnosis, diagnose
from tbviz.core.history import History

__version__ = "0.1.0"

__all__ = [
    "DetectorSettings",
    "Diagnosis",
    "History",
    "OverfittingStopping",
    "RunLogger",
    "TBVizCallback",
    "diagnose",
]

if TYPE_CHECKING:
    from tbviz.live.callback import TBVizCallback
    from tbviz.live.run_logger import RunLogger
    from tbviz.live.stopping import OverfittingStopping

_LAZY = {
    "RunLogger": "tbviz.live.run_logger",
    "TBVizCallback": "tbviz.live.callback",
    "OverfittingStopping": "tbviz.live.stopping",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tbviz' has no attribute {name!r}")
