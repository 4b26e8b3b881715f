#!/usr/bin/env python3
"""Stopping a fine-tune: the plain Trainer, its EarlyStoppingCallback, and tbviz.

A few tiny fine-tunes that overfit the way fine-tuning a small dataset goes
wrong: a randomly initialised 2-layer BERT (hidden size 32; nothing is
downloaded) on 200 token sequences whose labels follow a rule it barely
learns from so few, with a quarter of them flipped: the training loss falls
to a fraction of its start while the evaluation loss, after a few epochs
near its best, climbs. Each one runs three
ways, evaluating every epoch with ``load_best_model_at_end=True`` (all three
keep their best checkpoint):

  plain       the Trainer alone, all planned epochs
  patience-3  + ``EarlyStoppingCallback(early_stopping_patience=3)``
  tbviz       + ``tbviz.transformers.OverfittingStopping()``

and prints per fine-tune and in total: evaluations run, the evaluation loss
of the model kept, and the regret (kept minus the best evaluation loss the
plain run ever reached, which is what waiting to the end can find).

    python scripts/bench_finetune.py [--epochs 30] [--seeds 0,1,2] [--lrs 1e-3,3e-3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def datasets(seed: int):
    """(train, eval) datasets: a learnable rule (is token 7 among the first 8?) with
    a quarter of the training labels flipped, so memorising them overfits."""
    import torch

    class Rule(torch.utils.data.Dataset):
        def __init__(self, size: int, seed: int, flip: float):
            g = torch.Generator().manual_seed(seed)
            self.ids = torch.randint(5, 60, (size, 16), generator=g)
            # Balance the classes: put token 7 into half of the sequences.
            half = torch.rand(size, generator=g) < 0.5
            self.ids[half, torch.randint(0, 8, (int(half.sum()),), generator=g)] = 7
            self.labels = (self.ids[:, :8] == 7).any(dim=1).long()
            flips = torch.rand(size, generator=g) < flip
            self.labels[flips] = 1 - self.labels[flips]

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            return {"input_ids": self.ids[i], "labels": self.labels[i]}

    return Rule(200, seed, flip=0.25), Rule(200, seed + 1000, flip=0.0)


def fine_tune(way: str, seed: int, lr: float, epochs: int) -> dict:
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        EarlyStoppingCallback,
        Trainer,
        TrainingArguments,
    )

    from tbviz.transformers import OverfittingStopping

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=60,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
    )
    train, val = datasets(seed)
    callbacks = {
        "plain": [],
        "patience-3": [EarlyStoppingCallback(early_stopping_patience=3)],
        "tbviz": [OverfittingStopping(verbose=False)],
    }[way]
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            out,
            num_train_epochs=epochs,
            learning_rate=lr,
            per_device_train_batch_size=16,
            eval_strategy="epoch",
            save_strategy="epoch",
            logging_strategy="epoch",
            load_best_model_at_end=True,
            save_total_limit=2,
            seed=seed,
            report_to=[],
            disable_tqdm=True,
        )
        trainer = Trainer(
            BertForSequenceClassification(config),
            args,
            train_dataset=train,
            eval_dataset=val,
            callbacks=callbacks,
        )
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            trainer.train()
            kept = trainer.evaluate()["eval_loss"]
        seconds = time.perf_counter() - start
    losses = [log["eval_loss"] for log in trainer.state.log_history if "eval_loss" in log]
    return {"evaluations": len(losses) - 1, "kept": kept, "best": min(losses[:-1]), "s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--lrs", default="1e-3,3e-3")
    args = parser.parse_args()
    ways = ["plain", "patience-3", "tbviz"]
    runs = [(int(s), float(lr)) for s in args.seeds.split(",") for lr in args.lrs.split(",")]
    totals = {way: {"evaluations": 0, "regret": [], "s": 0.0} for way in ways}
    print("| fine-tune | way | evaluations | eval loss kept | regret |")
    print("|---|---|---|---|---|")
    for seed, lr in runs:
        results = {way: fine_tune(way, seed, lr, args.epochs) for way in ways}
        oracle = results["plain"]["best"]
        for way, result in results.items():
            regret = result["kept"] - oracle
            totals[way]["evaluations"] += result["evaluations"]
            totals[way]["regret"].append(regret)
            totals[way]["s"] += result["s"]
            print(
                f"| seed={seed}, lr={lr:g} | {way} | {result['evaluations']} | "
                f"{result['kept']:.4f} | {regret:+.4f} |",
                flush=True,
            )
    print(f"\n{len(runs)} fine-tunes of {args.epochs} planned epochs:\n")
    print("| way | evaluations | mean regret | worst regret | train time |")
    print("|---|---|---|---|---|")
    for way in ways:
        t = totals[way]
        print(
            f"| {way} | {t['evaluations']} | {statistics.mean(t['regret']):+.4f} | "
            f"{max(t['regret']):+.4f} | {t['s']:.0f} s |"
        )


if __name__ == "__main__":
    main()
