"""What must be decided before Ray is imported: whether this process sends a token.

Ray reads ``RAY_AUTH_MODE`` once, when it is imported. A cluster started with
``ray start`` (Ray 2.5x and later) uses token authentication by default, and
``ray start`` leaves the token in ``~/.ray/auth_token`` on the head, while a
driver's default mode sends no token: joining such a cluster then fails with
"Authentication token is missing". :func:`send_token_if_at_hand` turns the
token mode on when a token is at hand and the user has not chosen a mode; it
must run before ``import ray`` (the trainer calls it before it imports
:mod:`tbviz.ray`). No Ray import here.
"""

from __future__ import annotations

import os
from pathlib import Path


def token_at_hand() -> bool:
    """Whether a Ray token is available: ``RAY_AUTH_TOKEN``, or the file at
    ``RAY_AUTH_TOKEN_PATH`` (default ``~/.ray/auth_token``)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token"
    return Path(path).is_file()


def send_token_if_at_hand() -> bool:
    """Set ``RAY_AUTH_MODE=token`` if a token is at hand, no mode is chosen and Ray
    is not imported yet; returns whether this process will send a token."""
    import sys

    if "RAY_AUTH_MODE" not in os.environ and "ray" not in sys.modules and token_at_hand():
        os.environ["RAY_AUTH_MODE"] = "token"
    return os.environ.get("RAY_AUTH_MODE") == "token"
