"""Which way is better for a metric: lower (``"min"``) or higher (``"max"``)?

A detector that gets the direction wrong calls a run that improves every epoch
"500% worse than its best". Names alone are a weak signal, so the direction of
a metric comes from the first of these that knows it:

1. what the user said (``mode=`` for the monitored metric, ``directions=``
   for any metric);
2. the compiled Keras metric object (Keras 3 metrics carry ``_direction``,
   read by the callback);
3. the table below of the names Keras gives its losses and metrics
   (``auc_1``, ``precision_2``: Keras' suffixes for repeats are ignored);
4. name fragments (``..._loss``, ``..._accuracy``, ``..._iou``);
5. otherwise ``"min"``, as ``keras.callbacks.EarlyStopping(mode="auto")``
   does, flagged as a guess so callers can tell the user how to set it.

Pure Python: no numpy, no TensorFlow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

VALIDATION_PREFIX = "val_"
DIRECTIONS = ("min", "max")

_MIN = (
    "loss",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "crossentropy",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "kl_divergence",
    "kullback_leibler_divergence",
    "kld",
    "poisson",
    "huber",
    "huber_loss",
    "log_cosh",
    "logcosh",
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
    "mean_absolute_percentage_error",
    "mape",
    "mean_squared_logarithmic_error",
    "msle",
    "root_mean_squared_error",
    "rmse",
    "ctc",
    "dice_loss",
    "tversky",
    "false_positives",
    "false_negatives",
    "perplexity",
    "wer",
    "cer",
)
_MAX = (
    "accuracy",
    "acc",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "auc",
    "prc",
    "precision",
    "recall",
    "f1_score",
    "f1",
    "fbeta_score",
    "iou",
    "io_u",
    "mean_iou",
    "mean_io_u",
    "binary_iou",
    "one_hot_iou",
    "one_hot_mean_iou",
    "cosine_similarity",
    "r2_score",
    "r2",
    "pearson_correlation",
    "concordance_correlation",
    "specificity_at_sensitivity",
    "sensitivity_at_specificity",
    "precision_at_recall",
    "recall_at_precision",
    "true_positives",
    "true_negatives",
    "dice",
    "psnr",
    "ssim",
    "bleu",
    "rouge",
    "ndcg",
    "map",
)
TABLE: dict[str, str] = {**{n: "min" for n in _MIN}, **{n: "max" for n in _MAX}}

# Checked in this order: a "dice_loss" is a loss, an "iou_error" an error.
_FRAGMENTS = (
    ("loss", "min"),
    ("error", "min"),
    ("crossentropy", "min"),
    ("divergence", "min"),
    ("distance", "min"),
    ("acc", "max"),
    ("auc", "max"),
    ("precision", "max"),
    ("recall", "max"),
    ("f1", "max"),
    ("fbeta", "max"),
    ("iou", "max"),
    ("io_u", "max"),
    ("r2", "max"),
    ("similarity", "max"),
    ("correlation", "max"),
    ("dice", "max"),
    ("top_k", "max"),
    ("hinge", "min"),
    ("mse", "min"),
    ("mae", "min"),
    ("mape", "min"),
    ("msle", "min"),
)
_REPEAT_SUFFIX = re.compile(r"_\d+$")


@dataclass(frozen=True)
class Direction:
    """A metric's direction and where it came from (``"guess"`` means unknown name)."""

    direction: str
    source: str


def base_name(key: str) -> str:
    """``"val_accuracy"`` -> ``"accuracy"``; training keys are returned unchanged."""
    return key[len(VALIDATION_PREFIX) :] if key.startswith(VALIDATION_PREFIX) else key


def check_direction(value: str, what: str = "mode") -> str:
    """Return ``value`` if it is ``"min"`` or ``"max"``, else raise ``ValueError``."""
    if value not in DIRECTIONS:
        raise ValueError(f'{what} must be "min" or "max", got {value!r}')
    return value


def check_directions(directions: Mapping[str, str] | None) -> dict[str, str]:
    """Validate a ``{metric: "min"|"max"}`` mapping; keys lose any ``val_`` prefix."""
    if directions is None:
        return {}
    if not isinstance(directions, Mapping):
        raise ValueError(
            'directions must be a dict of metric name -> "min" or "max", '
            f"got {type(directions).__name__}"
        )
    return {
        base_name(str(name)): check_direction(value, f"directions[{name!r}]")
        for name, value in directions.items()
    }


def lookup(name: str) -> Direction:
    """The direction of metric ``name`` from the table, fragments, or a guess."""
    base = base_name(name).lower()
    for candidate in (base, _REPEAT_SUFFIX.sub("", base)):
        if candidate in TABLE:
            return Direction(TABLE[candidate], "table")
    for fragment, direction in _FRAGMENTS:
        if fragment in base:
            return Direction(direction, "name")
    return Direction("min", "guess")


def resolve(
    name: str, mode: str = "auto", directions: Mapping[str, str] | None = None
) -> Direction:
    """The direction of ``name``: ``mode`` if not auto, then ``directions``, then :func:`lookup`."""
    if mode != "auto":
        return Direction(check_direction(mode), "mode")
    given = (directions or {}).get(base_name(name))
    if given is not None:
        return Direction(given, "given")
    return lookup(name)


def metric_direction(name: str) -> str:
    """``"min"`` if lower values of ``name`` are better, else ``"max"`` (see :func:`lookup`)."""
    return lookup(name).direction


def unknown_direction_hint(name: str) -> str:
    """What to tell a user whose metric name is not in the table."""
    return (
        f"tbviz does not know whether {name!r} is better low or high and assumes low "
        f'(like EarlyStopping(mode="auto")); pass mode="max" (or directions='
        f'{{"{base_name(name)}": "max"}}, --mode max on the command line) if higher is better'
    )
