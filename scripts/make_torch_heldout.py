#!/usr/bin/env python3
"""Real PyTorch curves of kinds the fixtures lack: a held-out set for the detector.

The fixtures (``tests/fixtures/histories/``) and the held-out sets made with
``make_history_fixtures.py --seed-offset`` repeat the same kinds of Keras run
with other seeds. To look for whole classes of run the detector gets wrong,
this script trains other kinds, in a plain PyTorch loop on CPU:

- label noise (20-40% of the training labels shuffled): memorisation;
- learning-rate schedules, each logging ``learning_rate`` (the rate an epoch
  started at): ``ReduceLROnPlateau`` with a small patience (dropping every
  few epochs to the end), ``StepLR`` every 2 epochs, ``ExponentialLR``,
  ``CyclicLR`` (2 or 4 epochs up, as many down), warm restarts (SGDR),
  one-cycle, a warm-up then cosine decay;
- batch norm judged on 200 validation images (a jumpy validation curve);
- an 80-epoch run with a small learning rate (still improving);
- small tabular tasks (digits, wine, diabetes, synthetic regression and
  classification from scikit-learn).

    python scripts/make_torch_heldout.py --out /tmp/heldout_torch [--seeds 0 1 2] [--only KIND ...]
    python scripts/bench_diagnosis.py --fixtures /tmp/heldout_torch

About 12 minutes on 2 cores for 3 seeds. Nothing is committed: the folder is a
set to judge the detector on, not to tune it on.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Kind:
    """One kind of run: data, model, optimiser, schedule."""

    data: str  # "mnist-N" (N training images), "mnist-N-val200", or a scikit-learn set
    model: str = "mlp"  # "mlp", "mlp-bn", "mlp-128", "cnn", "deep", "wide-drop", "small"
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str | None = None
    epochs: int = 40
    noise: float = 0.0  # share of training labels replaced at random
    batch: int = 32


KINDS = {
    "noisy20-mlp-1000": Kind("mnist-1000", noise=0.2),
    "noisy40-mlp-2000": Kind("mnist-2000", noise=0.4),
    "noisy30-cnn-1000": Kind("mnist-1000", model="cnn", noise=0.3, epochs=30),
    "plateau2-mlp-1000": Kind("mnist-1000", schedule="plateau2"),
    "plateau2-mlp-1000-noise20": Kind("mnist-1000", schedule="plateau2", noise=0.2),
    "plateau3-mlp-500": Kind("mnist-500", lr=3e-3, schedule="plateau3"),
    "step2-mlp-1000": Kind("mnist-1000", lr=3e-3, schedule="step2"),
    "exp0.6-mlp-2000-noise20": Kind("mnist-2000", lr=3e-3, schedule="exp0.6", noise=0.2),
    "cyclic2-mlp-1000": Kind("mnist-1000", optimizer="sgd", schedule="cyclic2"),
    "cyclic4-mlp-1000-noise20": Kind("mnist-1000", optimizer="sgd", schedule="cyclic4", noise=0.2),
    "sgdr10-mlp-1000": Kind("mnist-1000", optimizer="sgd", lr=0.1, schedule="sgdr10"),
    "sgdr1x2-mlp-1000": Kind("mnist-1000", optimizer="sgd", lr=0.05, schedule="sgdr1x2"),
    "onecycle-mlp-2000": Kind("mnist-2000", optimizer="adamw", schedule="onecycle"),
    "warmcos-mlp-1000": Kind("mnist-1000", optimizer="adamw", lr=3e-3, schedule="warmcos"),
    "bn-mlp-1000-val200": Kind("mnist-1000-val200", model="mlp-bn"),
    "slow-sgd-mlp-500": Kind("mnist-500", model="mlp-128", optimizer="sgd", lr=0.01, epochs=80),
    "digits-mlp": Kind("digits", model="mlp-128", batch=16),
    "wine-mlp-sgd": Kind("wine", model="small", optimizer="sgd", lr=0.05, epochs=60, batch=8),
    "diabetes-deep": Kind("diabetes", model="deep", epochs=60, batch=16),
    "synthreg-mlp": Kind("synthreg", epochs=60, batch=16),
    "synthclf-mlp-drop": Kind("synthclf", model="wide-drop", epochs=60, batch=16),
}
REGRESSION = {"diabetes", "synthreg"}


def load(data: str, seed: int):
    """(x, y, x_val, y_val) as tensors; regression targets standardised."""
    import numpy as np
    import torch
    from sklearn import datasets

    if data.startswith("mnist"):
        from tbviz.trainer.datasets import load_mnist_5k

        ds = load_mnist_5k(0)
        size, val = int(data.split("-")[1]), 200 if data.endswith("val200") else 1000
        pick = np.random.default_rng(seed).permutation(len(ds.y_train))[:size]
        flat = lambda a: torch.tensor(a.reshape(len(a), -1) / 255.0, dtype=torch.float32)  # noqa: E731
        return (
            flat(ds.x_train[pick]),
            torch.tensor(ds.y_train[pick]),
            flat(ds.x_test[:val]),
            torch.tensor(ds.y_test[:val]),
        )
    x, y = {
        "digits": lambda: datasets.load_digits(return_X_y=True),
        "wine": lambda: datasets.load_wine(return_X_y=True),
        "diabetes": lambda: datasets.load_diabetes(return_X_y=True),
        "synthreg": lambda: datasets.make_regression(
            600, 40, n_informative=10, noise=30.0, random_state=seed
        ),
        "synthclf": lambda: datasets.make_classification(
            800, 30, n_informative=8, flip_y=0.1, random_state=seed
        ),
    }[data]()
    held = {"digits": 0.5, "wine": 0.4, "synthreg": 0.5, "synthclf": 0.5}.get(data, 0.3)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * (1 - held))
    x = torch.tensor(x, dtype=torch.float32)
    mean, std = x[order[:cut]].mean(0), x[order[:cut]].std(0) + 1e-8
    x = (x - mean) / std
    if data in REGRESSION:
        y = torch.tensor(y, dtype=torch.float32)
        y = (y - y[order[:cut]].mean()) / y[order[:cut]].std()
    else:
        y = torch.tensor(y)
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def build(model: str, inputs: int, outputs: int):
    import torch
    from torch import nn

    if model == "cnn":
        return nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 5 * 5, 64), nn.ReLU(), nn.Linear(64, outputs),
        )  # fmt: skip
    width, depth = {"mlp-128": (128, 2), "deep": (256, 3), "small": (64, 2)}.get(model, (256, 2))
    layers: list[torch.nn.Module] = []
    for i in range(depth):
        layers.append(nn.Linear(inputs if i == 0 else width, width))
        if model == "mlp-bn":
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
        if model == "wide-drop":
            layers.append(nn.Dropout(0.2))
    return nn.Sequential(*layers, nn.Linear(width, outputs))


def scheduler(name: str | None, optimizer, batches: int, epochs: int):
    """(scheduler, stepped every batch) for a schedule name; (None, False) for none."""
    from torch.optim import lr_scheduler as s

    if name is None:
        return None, False
    if name.startswith("plateau"):
        return s.ReduceLROnPlateau(optimizer, factor=0.5, patience=int(name[-1])), False
    if name == "step2":
        return s.StepLR(optimizer, 2, 0.5), False
    if name.startswith("exp"):
        return s.ExponentialLR(optimizer, float(name[3:])), False
    if name.startswith("cyclic"):
        up = int(name[6:]) * batches
        return s.CyclicLR(optimizer, base_lr=1e-3, max_lr=0.05, step_size_up=up), True
    if name == "sgdr10":
        return s.CosineAnnealingWarmRestarts(optimizer, T_0=10), False
    if name == "sgdr1x2":
        return s.CosineAnnealingWarmRestarts(optimizer, T_0=batches, T_mult=2), True
    if name == "onecycle":
        return s.OneCycleLR(optimizer, 1e-2, total_steps=epochs * batches), True
    if name == "warmcos":
        total, warm = epochs * batches, 4 * batches

        def factor(step: int) -> float:
            done = min(1.0, max(0, step - warm) / (total - warm))
            return min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * done))

        return s.LambdaLR(optimizer, factor), True
    raise ValueError(f"unknown schedule {name!r}")


def train(kind: Kind, seed: int) -> dict[str, list[float]]:
    """One run, epoch by epoch, in Keras' names (``loss``, ``val_loss``, ...)."""
    import torch

    x, y, xv, yv = load(kind.data, seed)
    regression = kind.data in REGRESSION
    torch.manual_seed(seed)
    if kind.noise:
        flip = torch.rand(len(y)) < kind.noise
        y = y.clone()
        y[flip] = torch.randint(0, int(y.max()) + 1, (int(flip.sum()),))
    model = build(kind.model, x.shape[1], 1 if regression else int(y.max()) + 1)
    make: dict[str, Callable] = {
        "adam": lambda p: torch.optim.Adam(p, kind.lr),
        "adamw": lambda p: torch.optim.AdamW(p, kind.lr, weight_decay=0.05),
        "sgd": lambda p: torch.optim.SGD(p, kind.lr, momentum=0.9),
    }
    optimizer = make[kind.optimizer](model.parameters())
    batches = -(-len(y) // kind.batch)
    schedule, per_batch = scheduler(kind.schedule, optimizer, batches, kind.epochs)
    loss_fn = torch.nn.MSELoss() if regression else torch.nn.CrossEntropyLoss()
    keys = ["loss", "val_loss", "learning_rate"] + (
        [] if regression else ["accuracy", "val_accuracy"]
    )
    history: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(kind.epochs):
        history["learning_rate"].append(optimizer.param_groups[0]["lr"])
        model.train()
        order, total, right = torch.randperm(len(y)), 0.0, 0
        for start in range(0, len(y), kind.batch):
            batch = order[start : start + kind.batch]
            if len(batch) < 2:  # batch norm needs two
                continue
            out = model(x[batch]).squeeze(-1) if regression else model(x[batch])
            loss = loss_fn(out, y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if per_batch:
                schedule.step()
            total += loss.item() * len(batch)
            right += 0 if regression else (out.argmax(1) == y[batch]).sum().item()
        model.eval()
        with torch.no_grad():
            out = model(xv).squeeze(-1) if regression else model(xv)
            history["val_loss"].append(loss_fn(out, yv).item())
            if not regression:
                history["val_accuracy"].append((out.argmax(1) == yv).float().mean().item())
        history["loss"].append(total / len(y))
        if not regression:
            history["accuracy"].append(right / len(y))
        if schedule is not None and not per_batch:
            if kind.schedule.startswith("plateau"):
                schedule.step(history["val_loss"][-1])
            else:
                schedule.step()
    if kind.schedule is None:
        del history["learning_rate"]
    return history


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", choices=sorted(KINDS), metavar="KIND")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for name, kind in KINDS.items():
            if args.only and name not in args.only:
                continue
            start = time.perf_counter()
            record = {
                "name": f"{name}-s{seed}",
                "monitor": "val_loss",
                "config": {"framework": "pytorch", "kind": name, "seed": seed}
                | {k: v for k, v in vars(kind).items() if v is not None},
                "history": train(kind, seed),
            }
            (args.out / f"{name}-s{seed}.json").write_text(json.dumps(record) + "\n")
            print(f"{name}-s{seed:<3d} {time.perf_counter() - start:5.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
