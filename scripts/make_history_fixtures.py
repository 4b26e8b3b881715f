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
import json
import math
import os
import sys
import time
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/histories")
    parser.add_argument("--only", nargs="+", help="train only the runs with these names")
    args = parser.parse_args()
    import keras

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, dataset, kind, size, dropout, optimizer, lr, epochs, *rest) in enumerate(RUNS):
        growth = rest[0] if rest else 1.0
        if args.only and name not in args.only:
            continue
        keras.utils.set_random_seed(seed)
        x, y, xv, yv = load(dataset, seed)
        x, y = x[:size, ..., None].astype("float32") / 255, y[:size]
        xv = xv[..., None].astype("float32") / 255
        model = build(kind, dropout, optimizer, lr)
        start = time.perf_counter()
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
        seconds = time.perf_counter() - start
        # NaN and Infinity are kept as JSON's common extension (Python reads them).
        clean = {k: [float(v) for v in vs] for k, vs in history.items()}
        record = {
            "name": name,
            "config": {
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
            },
            "history": clean,
        }
        (out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        best = min(
            range(epochs),
            key=lambda i: (
                history["val_loss"][i] if math.isfinite(history["val_loss"][i]) else math.inf
            ),
        )
        print(f"{name:28s} {seconds:5.1f}s  best val_loss epoch {best + 1}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
