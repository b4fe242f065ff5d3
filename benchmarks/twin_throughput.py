"""Twin harness throughput: 8 pairs batched into one vmapped stack vs the same 16 models one by one.

Same config (digits, MLP, 8 pairs = 8 seeds x 1 replaced index), same data and the same number of
steps; the only difference is ``vectorize``. Times whole epochs (training steps plus the epoch-end
evaluation), after one warm-up epoch, and prints the ratio batched / sequential (goal <= 0.33 on CPU).

    python benchmarks/twin_throughput.py [--epochs 2] [--optimizer stablesam-n sgd] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def time_epochs(config, dataset, epochs: int) -> float:
    from stability.twin import TwinTrainer

    trainer = TwinTrainer(config, dataset)
    trainer.train_epoch()  # warm-up (allocations, vmap tracing)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(epochs):
        trainer.train_epoch()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--optimizer", nargs="+", default=["stablesam-n", "sgd"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from stability.data import load_dataset
    from stability.twin import TwinConfig

    dataset = load_dataset("digits", generator=np.random.default_rng(0))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; "
          f"digits MLP, 8 pairs (16 models), batch 64, {args.epochs} timed epochs")
    for method in args.optimizer:
        config = TwinConfig(dataset="digits", model="mlp", optimizer=method, lr=0.1, rho=0.05, epochs=args.epochs + 1,
                            batch_size=64, seeds=tuple(range(8)), replaced_indices=(0,), device=args.device)
        batched = time_epochs(config, dataset, args.epochs)
        sequential = time_epochs(config.replace(vectorize=False), dataset, args.epochs)
        print(f"{method:12s} batched {batched:7.3f} s/epoch   one by one {sequential:7.3f} s/epoch   "
              f"ratio {batched / sequential:.3f} (goal <= 0.33)")


if __name__ == "__main__":
    main()
