#!/usr/bin/env python3
"""Real PyTorch histories of the class issue 23 names: noisy runs that stay above their best.

A plain PyTorch loop (no tbviz, no Keras) trains an MLP (784-256-10) on
MNIST-5k subsets at learning rates high enough that validation jumps from
epoch to epoch: after its best it stays 10-50% above it, never coming back,
while the training loss falls to nearly nothing. Eight such runs (Adam at
1e-2 and 3e-2, SGD with momentum at 0.3; 500-2,000 training images; two
seeds) are written as fixtures beside the others, with
``"framework": "pytorch"`` in their config (``scripts/bench_diagnosis.py``
reports them as the third set).

Three more runs train the same MLP with Adam under PyTorch's
``ReduceLROnPlateau(factor=0.5, patience=2)``: once validation stops
improving, the rate halves every 3 epochs to the end of the run, while
validation settles 8-20% above its best. Each drop used to restart the
detector's grace after a drop, so none of them was ever called overfitting.
Two more train with SGD under a triangular ``CyclicLR`` (2 epochs up, 2
down): each new rise restarted the grace a rise earns, and the same happened.

    python scripts/make_torch_fixtures.py [OUT_DIR]   (default: tests/fixtures/histories)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: (training images, optimizer, learning rate, seed)
RUNS = [
    (500, "adam", 1e-2, 0),
    (1000, "adam", 1e-2, 0),
    (1000, "adam", 3e-2, 0),
    (2000, "adam", 1e-2, 0),
    (1000, "sgd", 0.3, 0),
    (500, "adam", 3e-2, 0),
    (1000, "adam", 1e-2, 1),
    (2000, "adam", 3e-2, 1),
]
EPOCHS = 30
#: (training images, optimizer, learning rate, seed, schedule) of the scheduled runs
SCHEDULED_RUNS = [
    (1000, "adam", 1e-3, 0, "plateau"),
    (500, "adam", 3e-3, 0, "plateau"),
    (1000, "adam", 1e-3, 1, "plateau"),
    (1000, "sgd", 1e-3, 0, "cyclic"),
    (1000, "sgd", 1e-3, 1, "cyclic"),
]
SCHEDULES = {
    "plateau": "ReduceLROnPlateau(factor=0.5, patience=2)",
    "cyclic": "CyclicLR(base_lr=1e-3, max_lr=0.05), 2 epochs up, 2 down",
}
SCHEDULED_EPOCHS = 40


def train(
    data, n: int, optimizer: str, lr: float, seed: int, schedule: str | None = None
) -> dict[str, list[float]]:
    """One run: a history in Keras' names, epoch by epoch (with ``learning_rate``,
    the rate each epoch started at, under a ``schedule`` of :data:`SCHEDULES`)."""
    import torch

    x, y, xv, yv = data
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
    )
    if optimizer == "adam":
        step = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        step = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    batches = -(-n // 32)
    if schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(step, factor=0.5, patience=2)
    elif schedule == "cyclic":  # stepped every batch
        scheduler = torch.optim.lr_scheduler.CyclicLR(
            step, base_lr=lr, max_lr=0.05, step_size_up=2 * batches
        )
    loss_fn = torch.nn.CrossEntropyLoss()
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    history: dict[str, list[float]] = {k: [] for k in keys}
    if schedule:
        history["learning_rate"] = []
    for _ in range(SCHEDULED_EPOCHS if schedule else EPOCHS):
        if schedule:
            history["learning_rate"].append(step.param_groups[0]["lr"])
        model.train()
        order = torch.randperm(n)
        total, right = 0.0, 0
        for start in range(0, n, 32):
            batch = order[start : start + 32]
            out = model(x[batch])
            loss = loss_fn(out, y[batch])
            step.zero_grad()
            loss.backward()
            step.step()
            if schedule == "cyclic":
                scheduler.step()
            total += loss.item() * len(batch)
            right += (out.argmax(1) == y[batch]).sum().item()
        model.eval()
        with torch.no_grad():
            out = model(xv)
            history["val_loss"].append(loss_fn(out, yv).item())
            history["val_accuracy"].append((out.argmax(1) == yv).float().mean().item())
        history["loss"].append(total / n)
        history["accuracy"].append(right / n)
        if schedule == "plateau":
            scheduler.step(history["val_loss"][-1])
    return history


def main() -> int:
    import torch

    from tbviz.trainer.datasets import load_mnist_5k

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "fixtures" / "histories"
    ds = load_mnist_5k(0)

    def tensor(images):
        return torch.tensor(images.reshape(len(images), -1) / 255.0, dtype=torch.float32)

    data = (
        tensor(ds.x_train),
        torch.tensor(ds.y_train, dtype=torch.long),
        tensor(ds.x_test),
        torch.tensor(ds.y_test, dtype=torch.long),
    )
    runs = [(n, optimizer, lr, seed, None) for n, optimizer, lr, seed in RUNS]
    for n, optimizer, lr, seed, schedule in runs + SCHEDULED_RUNS:
        name = f"torch-mlp-mnist-{n}-{optimizer}-lr{lr:g}" + (f"-{schedule}" if schedule else "")
        name += f"-s{seed}" if seed else ""
        record = {
            "name": name,
            "monitor": "val_loss",
            "config": {
                "dataset": "mnist-5k",
                "model": "torch mlp 784-256-10",
                "framework": "pytorch",
                "train_size": n,
                "validation_size": len(ds.y_test),
                "optimizer": optimizer,
                "learning_rate": lr,
                "epochs": SCHEDULED_EPOCHS if schedule else EPOCHS,
                "batch_size": 32,
                "seed": seed,
                "made_by": "scripts/make_torch_fixtures.py (issue 23)",
            }
            | ({"schedule": SCHEDULES[schedule]} if schedule else {}),
            "history": train(data, n, optimizer, lr, seed, schedule),
        }
        (out / f"{name}.json").write_text(json.dumps(record, indent=1))
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
