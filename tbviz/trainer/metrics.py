"""The tutorial's metric names, made correct for integer class labels.

The seed tutorial compiles its MNIST CNN with ``binary_accuracy``,
``categorical_accuracy``, ``sparse_categorical_accuracy`` and
``top_k_categorical_accuracy``. With integer labels and sparse cross-entropy
on Keras 3, ``top_k_categorical_accuracy`` fails (it needs one-hot labels) and
``categorical_accuracy`` / ``binary_accuracy`` compare the wrong shapes. The
plan below keeps the names the user asked for (so charts are titled as in the
tutorial) and picks the implementation that is right for integer labels.

This module only plans, and imports no Keras; :func:`build_metrics` in
``model.py`` turns a plan into Keras metric objects.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from tbviz.errors import TbvizError

TUTORIAL_METRICS = (
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
)

#: name asked for -> (implementation, note shown to the user or None)
_PLANS: dict[str, tuple[str, str | None]] = {
    "accuracy": ("sparse_categorical_accuracy", None),
    "acc": ("sparse_categorical_accuracy", None),
    "sparse_categorical_accuracy": ("sparse_categorical_accuracy", None),
    "categorical_accuracy": (
        "sparse_categorical_accuracy",
        "categorical_accuracy: labels are integers, so it is computed as "
        "sparse_categorical_accuracy (the same number one-hot labels would give)",
    ),
    "top_k_categorical_accuracy": (
        "sparse_top_k_categorical_accuracy",
        "top_k_categorical_accuracy: labels are integers, so it is computed as "
        "sparse_top_k_categorical_accuracy (k=5)",
    ),
    "sparse_top_k_categorical_accuracy": ("sparse_top_k_categorical_accuracy", None),
    "binary_accuracy": (
        "one_hot_binary_accuracy",
        "binary_accuracy: compares each class output with the one-hot label at "
        "threshold 0.5, as with one-hot labels (it starts near 0.9 on 10 classes)",
    ),
}


#: The metric names ``keras.metrics.get`` takes in Keras 3 (checked against the
#: installed Keras by tests/test_trainer.py), so ``--metrics`` is checked before
#: TensorFlow is imported.
KERAS_METRIC_NAMES = frozenset(
    (
        "AUC",
        "Accuracy",
        "BCE",
        "BinaryAccuracy",
        "BinaryCrossentropy",
        "BinaryIoU",
        "CategoricalAccuracy",
        "CategoricalCrossentropy",
        "CategoricalHinge",
        "ConcordanceCorrelation",
        "CosineSimilarity",
        "F1Score",
        "FBetaScore",
        "FalseNegatives",
        "FalsePositives",
        "Hinge",
        "KLDivergence",
        "LogCoshError",
        "MAE",
        "MAPE",
        "MSE",
        "MSLE",
        "MeanAbsoluteError",
        "MeanAbsolutePercentageError",
        "MeanSquaredError",
        "MeanSquaredLogarithmicError",
        "PearsonCorrelation",
        "Poisson",
        "Precision",
        "R2Score",
        "Recall",
        "RootMeanSquaredError",
        "SparseCategoricalAccuracy",
        "SparseCategoricalCrossentropy",
        "SparseTopKCategoricalAccuracy",
        "SquaredHinge",
        "TopKCategoricalAccuracy",
        "TrueNegatives",
        "TruePositives",
        "accuracy",
        "auc",
        "bce",
        "binary_accuracy",
        "binary_crossentropy",
        "binary_io_u",
        "categorical_accuracy",
        "categorical_crossentropy",
        "categorical_hinge",
        "concordance_correlation",
        "cosine_similarity",
        "f1_score",
        "f_beta_score",
        "false_negatives",
        "false_positives",
        "hinge",
        "kl_divergence",
        "log_cosh_error",
        "mae",
        "mape",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_error",
        "mean_squared_logarithmic_error",
        "mse",
        "msle",
        "pearson_correlation",
        "poisson",
        "precision",
        "r2_score",
        "recall",
        "root_mean_squared_error",
        "sparse_categorical_accuracy",
        "sparse_categorical_crossentropy",
        "sparse_top_k_categorical_accuracy",
        "squared_hinge",
        "top_k_categorical_accuracy",
        "true_negatives",
        "true_positives",
    )
)


class MetricError(TbvizError, ValueError):
    """A metric name that cannot be used."""


@dataclass(frozen=True)
class MetricPlan:
    """One metric to compile: the name it is logged under and how it is computed."""

    name: str
    implementation: str


def plan_metrics(names: Sequence[str]) -> tuple[list[MetricPlan], list[str]]:
    """Map metric names to correct implementations for integer labels.

    Returns the plans and one-line notes for the user (renamed computations,
    ``loss`` dropped because it is always logged, duplicates dropped). Other
    Keras metric names are passed to Keras as they are.

    Raises:
        MetricError: a name Keras does not know, or a ``val_`` name.
    """
    plans: list[MetricPlan] = []
    notes: list[str] = []
    seen: set[str] = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in ("loss", "val_loss"):
            notes.append(f"{name}: the loss is always logged; dropped from --metrics")
            continue
        if name.startswith("val_"):
            raise MetricError(
                f"metric {name!r}: name the training metric ({name[4:]!r}); its "
                "validation twin is logged automatically"
            )
        if name in seen:
            notes.append(f"{name}: listed twice; logged once")
            continue
        if name not in _PLANS and name not in KERAS_METRIC_NAMES:
            close = difflib.get_close_matches(name, sorted(KERAS_METRIC_NAMES | set(_PLANS)), 3)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise MetricError(
                f"unknown metric {name!r}; {hint}use a Keras metric name such as accuracy, "
                "auc or sparse_top_k_categorical_accuracy"
            )
        seen.add(name)
        implementation, note = _PLANS.get(name, (name, None))
        plans.append(MetricPlan(name=name, implementation=implementation))
        if note:
            notes.append(note)
    return plans, notes
