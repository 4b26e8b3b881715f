#!/usr/bin/env python3
"""Train the runs behind ``tests/fixtures/histories/``: real curves for the detector.

Each run is a real Keras fit on MNIST-5k or Fashion-MNIST (a few thousand
images), varying the training-set size, the model (the tutorial's small CNN, a
wide MLP, a bigger CNN), dropout, optimiser and learning rate, for 30+ epochs.
Some are meant to overfit, some to keep improving, some never learn (learning
rate far too high) and some go NaN. Every history is stored as JSON with the
configuration that produced it, so the benchmark and the tests replay them
without TensorFlow.

    python scripts/make_history_fixtures.py [--out tests/fixtures/histories] [--only NAME]

About 10 minutes on 2 cores. The fixtures are committed; rerun this only to
change them.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name, dataset, model, train size, dropout, optimizer, learning rate, epochs
# [, per-epoch growth of the learning rate]
RUNS = [
    ("cnn-mnist-500", "mnist-5k", "cnn", 500, 0.0, "adam", 1e-3, 35),
    ("cnn-mnist-1000", "mnist-5k", "cnn", 1000, 0.0, "adam", 1e-3, 35),
    ("cnn-mnist-2000", "mnist-5k", "cnn", 2000, 0.0, "adam", 1e-3, 35),
    ("cnn-mnist-4000", "mnist-5k", "cnn", 4000, 0.0, "adam", 1e-3, 35),
    ("cnn-mnist-1000-lr3e-3", "mnist-5k", "cnn", 1000, 0.0, "adam", 3e-3, 35),
    ("cnn-mnist-2000-lr1e-2", "mnist-5k", "cnn", 2000, 0.0, "adam", 1e-2, 35),
    ("cnn-mnist-1000-drop", "mnist-5k", "cnn", 1000, 0.5, "adam", 1e-3, 35),
    ("cnn-mnist-4000-drop", "mnist-5k", "cnn", 4000, 0.5, "adam", 1e-3, 35),
    ("cnn-mnist-2000-sgd", "mnist-5k", "cnn", 2000, 0.0, "sgd", 1e-2, 35),
    ("mlp-mnist-500", "mnist-5k", "mlp", 500, 0.0, "adam", 1e-3, 35),
    ("mlp-mnist-1000", "mnist-5k", "mlp", 1000, 0.0, "adam", 1e-3, 35),
    ("mlp-mnist-4000", "mnist-5k", "mlp", 4000, 0.0, "adam", 1e-3, 35),
    ("mlp-mnist-1000-drop", "mnist-5k", "mlp", 1000, 0.5, "adam", 1e-3, 35),
    ("mlp-mnist-2000-lr3e-3", "mnist-5k", "mlp", 2000, 0.0, "adam", 3e-3, 35),
    ("mlp-mnist-2000-sgd", "mnist-5k", "mlp", 2000, 0.0, "sgd", 5e-2, 35),
    ("big-mnist-500", "mnist-5k", "big", 500, 0.0, "adam", 1e-3, 30),
    ("big-mnist-2000", "mnist-5k", "big", 2000, 0.0, "adam", 1e-3, 30),
    ("big-mnist-1000-drop", "mnist-5k", "big", 1000, 0.3, "adam", 1e-3, 30),
    ("big-mnist-4000-drop", "mnist-5k", "big", 4000, 0.3, "adam", 1e-3, 30),
    ("cnn-fashion-1000", "fashion", "cnn", 1000, 0.0, "adam", 1e-3, 35),
    ("cnn-fashion-4000", "fashion", "cnn", 4000, 0.0, "adam", 1e-3, 35),
    ("cnn-fashion-2000-drop", "fashion", "cnn", 2000, 0.5, "adam", 1e-3, 35),
    ("mlp-fashion-1000", "fashion", "mlp", 1000, 0.0, "adam", 1e-3, 35),
    ("mlp-fashion-4000", "fashion", "mlp", 4000, 0.0, "adam", 1e-3, 35),
    ("mlp-fashion-2000-drop", "fashion", "mlp", 2000, 0.5, "adam", 1e-3, 35),
    ("big-fashion-2000", "fashion", "big", 2000, 0.0, "adam", 1e-3, 30),
    ("big-fashion-1000-drop", "fashion", "big", 1000, 0.3, "adam", 1e-3, 30),
    ("cnn-fashion-2000-sgd", "fashion", "cnn", 2000, 0.0, "sgd", 1e-2, 35),
    ("mlp-mnist-4000-lr1e-4", "mnist-5k", "mlp", 4000, 0.0, "adam", 1e-4, 35),
    ("cnn-fashion-4000-lr3e-4", "fashion", "cnn", 4000, 0.0, "adam", 3e-4, 35),
    # Never learn: a learning rate far too high pins the net at chance.
    ("cnn-mnist-2000-stuck", "mnist-5k", "cnn", 2000, 0.0, "adam", 1.0, 30),
    ("mlp-fashion-2000-stuck", "fashion", "mlp", 2000, 0.0, "adam", 2.0, 30),
    # Plain SGD with a huge step on logits: never learns (mlp) or goes NaN at once (big).
    ("mlp-mnist-2000-sgd20-stuck", "mnist-5k", "mlp-logits", 2000, 0.0, "sgd", 20.0, 30),
    ("big-fashion-2000-nan", "fashion", "big-logits", 2000, 0.0, "sgd", 10.0, 30),
    # A learning-rate range test (the rate doubles every epoch): learns, then blows up.
    ("mlp-mnist-2000-lr-range", "mnist-5k", "mlp-logits", 2000, 0.0, "sgd", 0.02, 30, 2.0),
    ("cnn-mnist-2000-lr-range", "mnist-5k", "cnn-logits", 2000, 0.0, "sgd", 0.02, 30, 2.0),
]

VALIDATION = 1000

# The second set (diagnosis v2): longer runs, learning-rate schedules, heavy
# regularisation (validation below training), a regression task judged by
# val_mse / val_mae and a binary task judged by val_auc (higher is better), on
# scikit-learn's bundled real data sets as well as MNIST-5k / Fashion-MNIST.
# name -> options; anything left out takes the default in ``Spec``.
MORE_RUNS = {
    # long runs; several drive the training loss to ~0
    "cnn-mnist-300-e80": dict(size=300, epochs=80),
    "mlp-mnist-500-e100": dict(kind="mlp", size=500, epochs=100),
    "cnn-fashion-500-e60": dict(dataset="fashion", size=500, epochs=60),
    "big-mnist-1000-e50": dict(kind="big", size=1000, epochs=50),
    "mlp-fashion-2000-e60-drop": dict(
        dataset="fashion", kind="mlp", size=2000, dropout=0.2, epochs=60
    ),
    "cnn-mnist-4000-e50": dict(size=4000, epochs=50),
    # learning-rate schedules: validation falls again after each drop
    "cnn-mnist-1000-plateau": dict(size=1000, lr=3e-3, schedule="plateau", epochs=40),
    "mlp-mnist-2000-plateau": dict(kind="mlp", size=2000, lr=3e-3, schedule="plateau", epochs=40),
    "cnn-fashion-2000-plateau": dict(
        dataset="fashion", size=2000, lr=3e-3, schedule="plateau", epochs=40
    ),
    "cnn-mnist-2000-step": dict(size=2000, optimizer="sgd", lr=0.1, schedule="step", epochs=40),
    "mlp-fashion-4000-step": dict(
        dataset="fashion",
        kind="mlp",
        size=4000,
        optimizer="sgd",
        lr=0.1,
        schedule="step",
        epochs=40,
    ),
    "big-fashion-1000-cosine": dict(
        dataset="fashion", kind="big", size=1000, schedule="cosine", epochs=40
    ),
    # heavy dropout / augmentation: validation sits below training
    "mlp-mnist-2000-drop07": dict(kind="mlp", size=2000, dropout=0.7, epochs=40),
    "cnn-mnist-1000-aug": dict(size=1000, dropout=0.5, augment=True, epochs=40),
    "cnn-fashion-2000-aug": dict(
        dataset="fashion", size=2000, dropout=0.5, augment=True, epochs=40
    ),
    "big-mnist-2000-aug-drop": dict(kind="big", size=2000, dropout=0.5, augment=True, epochs=30),
    # regression (load_diabetes), judged by val_mse / val_mae
    "diabetes-mlp-wide": dict(dataset="diabetes", kind="dense-256", epochs=150, monitor="val_mse"),
    "diabetes-mlp-deep": dict(
        dataset="diabetes", kind="dense-128-128", lr=3e-3, epochs=120, monitor="val_mse"
    ),
    "diabetes-mlp-mae": dict(
        dataset="diabetes", kind="dense-128-128", epochs=150, monitor="val_mae", loss="mae"
    ),
    "diabetes-mlp-drop": dict(
        dataset="diabetes", kind="dense-64", dropout=0.3, epochs=150, monitor="val_mse"
    ),
    "diabetes-linear": dict(
        dataset="diabetes", kind="dense", lr=3e-2, epochs=100, monitor="val_mse"
    ),
    # binary classification (load_breast_cancer), judged by val_auc
    "cancer-mlp-wide": dict(dataset="cancer", kind="dense-256-256", epochs=80, monitor="val_auc"),
    "cancer-mlp-drop": dict(
        dataset="cancer", kind="dense-64", dropout=0.5, epochs=80, monitor="val_auc"
    ),
    "cancer-mlp-sgd": dict(
        dataset="cancer", kind="dense-64", optimizer="sgd", lr=0.05, epochs=80, monitor="val_auc"
    ),
    "cancer-logistic": dict(dataset="cancer", kind="dense", lr=1e-2, epochs=60, monitor="val_auc"),
    # digits (load_digits, 8x8)
    "digits-mlp-300": dict(dataset="digits", kind="dense-256", size=300, epochs=80),
    "digits-mlp-1000": dict(dataset="digits", kind="dense-256", size=1000, epochs=60),
    "digits-mlp-500-drop": dict(
        dataset="digits", kind="dense-256", size=500, dropout=0.5, epochs=60
    ),
    "digits-mlp-1000-sgd": dict(
        dataset="digits", kind="dense-64", size=1000, optimizer="sgd", lr=0.05, epochs=60
    ),
    "digits-mlp-200-lr1e-2": dict(dataset="digits", kind="dense-256", size=200, lr=1e-2, epochs=60),
    # ReduceLROnPlateau(factor=0.5, patience=2) with Keras' min_lr of 0: while
    # validation does not improve, the rate halves every 2 epochs to the end
    # (last in this table, so the runs above keep their seeds)
    "mlp-mnist-1000-halving": dict(kind="mlp", size=1000, schedule="halving", epochs=40),
    "cnn-mnist-1000-halving": dict(size=1000, schedule="halving", epochs=40),
    "mlp-fashion-1000-halving": dict(
        dataset="fashion", kind="mlp", size=1000, schedule="halving", epochs=40
    ),
}


def load(dataset: str, seed: int):
    import numpy as np

    from tbviz.trainer.datasets import DEBIAN_FASHION_MNIST, load_idx_folder, load_mnist_5k

    if dataset == "mnist-5k":
        data = load_mnist_5k(seed)
        return data.x_train, data.y_train, data.x_test, data.y_test
    data = load_idx_folder(DEBIAN_FASHION_MNIST, "fashion-mnist")
    rng = np.random.default_rng(seed)
    train = rng.permutation(len(data.y_train))[:4000]
    test = rng.permutation(len(data.y_test))[:VALIDATION]
    return data.x_train[train], data.y_train[train], data.x_test[test], data.y_test[test]


def build(kind: str, dropout: float, optimizer: str, lr: float):
    import keras

    logits = kind.endswith("-logits")
    kind = kind.removesuffix("-logits")
    layers = [keras.Input((28, 28, 1))]
    if kind == "cnn":
        layers += [keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D()]
    elif kind == "big":
        layers += [
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
        ]
    layers.append(keras.layers.Flatten())
    if kind in ("mlp", "big"):
        layers.append(keras.layers.Dense(512 if kind == "mlp" else 128, activation="relu"))
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, activation=None if logits else "softmax"))
    model = keras.Sequential(layers)
    opt = keras.optimizers.Adam(lr) if optimizer == "adam" else keras.optimizers.SGD(lr)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=logits)
    model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    return model


@dataclass(frozen=True)
class Spec:
    """One run of the second set: data, model, training schedule, monitored metric."""

    dataset: str = "mnist-5k"
    kind: str = "cnn"
    size: int = 1000
    dropout: float = 0.0
    optimizer: str = "adam"
    lr: float = 1e-3
    epochs: int = 40
    schedule: str | None = None
    augment: bool = False
    monitor: str = "val_loss"
    loss: str | None = None


def load_tabular(dataset: str, size: int, seed: int):
    """scikit-learn's bundled real data, shuffled with ``seed``, standardised on training."""
    import numpy as np
    from sklearn import datasets

    loader = {
        "diabetes": datasets.load_diabetes,
        "cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
    }[dataset]
    x, y = loader(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order].astype("float32"), y[order].astype("float32")
    train = {"diabetes": 300, "cancer": 400}.get(dataset, min(size, 1200))
    x, xv, y, yv = x[:train], x[train:], y[:train], y[train:]
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-3] = 1.0  # constant pixels of the digits
    if dataset == "diabetes":  # targets in standard units: MSE near 1, as usually trained
        y, yv = (y - y.mean()) / y.std(), (yv - y.mean()) / y.std()
    return (x - mean) / std, y, (xv - mean) / std, yv


def build_spec(spec: Spec, input_shape: tuple[int, ...]):
    """The model of a second-set run, compiled for its task."""
    import keras

    layers = [keras.Input(input_shape)]
    if spec.augment:
        layers += [
            keras.layers.RandomRotation(0.08),
            keras.layers.RandomTranslation(0.1, 0.1),
            keras.layers.RandomZoom(0.1),
        ]
    if spec.kind.startswith("dense"):
        for width in spec.kind.split("-")[1:]:
            layers.append(keras.layers.Dense(int(width), activation="relu"))
            if spec.dropout:
                layers.append(keras.layers.Dropout(spec.dropout))
    else:
        model = build(spec.kind, spec.dropout, spec.optimizer, spec.lr)
        body = [layer for layer in model.layers]
        return _compiled(keras.Sequential(layers + body), spec, "classes")
    task = {"diabetes": "regression", "cancer": "binary"}.get(spec.dataset, "classes")
    units, activation = {"regression": (1, None), "binary": (1, "sigmoid")}.get(
        task, (10, "softmax")
    )
    layers.append(keras.layers.Dense(units, activation=activation))
    return _compiled(keras.Sequential(layers), spec, task)


def _compiled(model, spec: Spec, task: str):
    import keras

    if spec.optimizer == "adam":
        opt = keras.optimizers.Adam(spec.lr)
    else:
        opt = keras.optimizers.SGD(spec.lr, momentum=0.9 if spec.schedule == "step" else 0.0)
    if task == "regression":
        model.compile(optimizer=opt, loss=spec.loss or "mse", metrics=["mae", "mse"])
    elif task == "binary":
        model.compile(
            optimizer=opt,
            loss="binary_crossentropy",
            metrics=["accuracy", keras.metrics.AUC(name="auc")],
        )
    else:
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def schedule_callbacks(spec: Spec) -> list:
    """ReduceLROnPlateau (two ways), step decay or cosine decay; each logs ``learning_rate``."""
    import keras

    if spec.schedule == "plateau":
        return [keras.callbacks.ReduceLROnPlateau(factor=0.2, patience=2, min_lr=1e-6)]
    if spec.schedule == "halving":
        return [keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2)]
    if spec.schedule == "step":
        return [keras.callbacks.LearningRateScheduler(lambda e, _: spec.lr * 0.1 ** (e // 12))]
    if spec.schedule == "cosine":
        return [
            keras.callbacks.LearningRateScheduler(
                lambda e, _: spec.lr * 0.5 * (1 + math.cos(math.pi * e / spec.epochs))
            )
        ]
    return []


def train_spec(name: str, spec: Spec, seed: int) -> dict:
    """Train one second-set run; the fixture record."""
    import keras

    keras.utils.set_random_seed(seed)
    if spec.dataset in ("mnist-5k", "fashion"):
        x, y, xv, yv = load(spec.dataset, seed)
        x, y = x[: spec.size, ..., None].astype("float32") / 255, y[: spec.size]
        xv = xv[..., None].astype("float32") / 255
    else:
        x, y, xv, yv = load_tabular(spec.dataset, spec.size, seed)
    model = build_spec(spec, x.shape[1:])
    history = model.fit(
        x,
        y,
        validation_data=(xv, yv),
        epochs=spec.epochs,
        batch_size=32,
        verbose=0,
        callbacks=schedule_callbacks(spec),
    ).history
    config = asdict(spec) | {
        "train_size": len(y),
        "validation_size": len(yv),
        "batch_size": 32,
        "seed": seed,
    }
    return {"name": name, "config": config, "monitor": spec.monitor, "history": history}


def train_tuple(seed: int, run: tuple) -> dict:
    """Train one run of the first set (``RUNS``); the fixture record."""
    import keras

    name, dataset, kind, size, dropout, optimizer, lr, epochs, *rest = run
    growth = rest[0] if rest else 1.0
    keras.utils.set_random_seed(seed)
    x, y, xv, yv = load(dataset, seed)
    x, y = x[:size, ..., None].astype("float32") / 255, y[:size]
    xv = xv[..., None].astype("float32") / 255
    model = build(kind, dropout, optimizer, lr)
    callbacks = []
    if growth != 1.0:
        callbacks.append(
            keras.callbacks.LearningRateScheduler(
                lambda epoch, _, lr=lr, growth=growth: lr * growth**epoch
            )
        )
    history = model.fit(
        x,
        y,
        validation_data=(xv, yv),
        epochs=epochs,
        batch_size=32,
        verbose=0,
        callbacks=callbacks,
    ).history
    config = {
        "dataset": dataset,
        "model": kind,
        "train_size": size,
        "validation_size": VALIDATION,
        "dropout": dropout,
        "optimizer": optimizer,
        "learning_rate": lr,
        "epochs": epochs,
        "batch_size": 32,
        "seed": seed,
        "lr_growth_per_epoch": growth,
    }
    return {"name": name, "config": config, "monitor": "val_loss", "history": history}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/histories")
    parser.add_argument("--only", nargs="+", help="train only the runs with these names")
    parser.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="add this to every run's seed: fresh real curves of the same kinds (other "
        "weights, data order and subsets), a held-out set no setting was tuned on",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    offset = args.seed_offset
    jobs = [
        (run[0], functools.partial(train_tuple, offset + seed, run))
        for seed, run in enumerate(RUNS)
    ]
    jobs += [
        (name, functools.partial(train_spec, name, Spec(**opts), offset + len(RUNS) + i))
        for i, (name, opts) in enumerate(MORE_RUNS.items())
    ]
    for name, train in jobs:
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        record = train()
        seconds = time.perf_counter() - start
        # NaN and Infinity are kept as JSON's common extension (Python reads them).
        record["history"] = {k: [float(v) for v in vs] for k, vs in record["history"].items()}
        (out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        print(f"{name:28s} {seconds:5.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
