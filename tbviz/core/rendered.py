"""``RenderedFigure``: a PNG and its size, as the figures make it and the writers write it.

A plain data type below both :mod:`tbviz.figures` (which draws it) and
:mod:`tbviz.logdir` (which writes it as an image summary), so neither layer
imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderedFigure:
    """A PNG image and its size in pixels."""

    png: bytes
    width: int
    height: int
