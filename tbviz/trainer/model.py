"""The tutorial's CNN and the Keras metric objects for a metric plan."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from tbviz.trainer.metrics import MetricError, MetricPlan


class OneHotBinaryAccuracy(keras.metrics.BinaryAccuracy):
    """``binary_accuracy`` against one-hot labels built from integer labels."""

    def __init__(self, num_classes: int, name: str = "binary_accuracy", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        one_hot = keras.ops.one_hot(labels, self.num_classes)
        return super().update_state(one_hot, y_pred, sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes}


def build_metrics(plans: Sequence[MetricPlan], num_classes: int) -> list[keras.metrics.Metric]:
    """Keras metric objects for ``plans``, each logged under its planned name."""
    metrics: list[keras.metrics.Metric] = []
    for plan in plans:
        impl = plan.implementation
        if impl == "sparse_categorical_accuracy":
            metrics.append(keras.metrics.SparseCategoricalAccuracy(name=plan.name))
        elif impl == "sparse_top_k_categorical_accuracy":
            metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name=plan.name))
        elif impl == "one_hot_binary_accuracy":
            metrics.append(OneHotBinaryAccuracy(num_classes, name=plan.name))
        else:
            try:
                metrics.append(keras.metrics.get(impl))
            except (ValueError, TypeError) as err:
                raise MetricError(
                    f"unknown metric {plan.name!r}; use a Keras metric name such as "
                    "accuracy or sparse_top_k_categorical_accuracy"
                ) from err
    return metrics


#: Optimizers the trainer offers, by the name ``--optimizer`` takes.
OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


def build_cnn(
    input_shape: tuple[int, int, int],
    num_classes: int,
    metrics: Sequence[keras.metrics.Metric] = (),
    *,
    filters: int = 16,
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    dropout: float = 0.0,
) -> keras.Model:
    """The tutorial's CNN: Conv2D(16, 3x3, relu) -> MaxPool(2x2) -> Flatten -> Dense softmax.

    Compiled with Adam and sparse categorical cross-entropy (integer labels).
    The knobs a sweep turns: ``filters``, ``learning_rate``, ``optimizer``
    (adam, sgd, rmsprop) and ``dropout`` (a Dropout layer before the dense
    layer when above 0).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    layers = [
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(filters, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
    ]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(num_classes, activation="softmax"))
    model = keras.Sequential(layers, name="tutorial_cnn")
    model.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=list(metrics),
    )
    return model
