"""Twin harness throughput: the batched population against the same models one by one, and against its FLOP floor.

Digits MLP (the harness's default ``mlp``: 64 -> 128 -> 128 -> 10, ReLU), batch 64, float32, ``P`` pairs
(``2P`` models, ``P`` seeds x 1 replaced index) at ``--pairs`` (8, 40, 200). Per method and pair count, one
interleaved round (:mod:`_timing`: rotated order, median [IQR] over rounds, 1 thread unless ``--threads``) times:

* ``batched epoch`` / ``one by one epoch``: one whole epoch (20 steps and the epoch-end evaluation) of a trainer
  built and warmed up beforehand, ``vectorize=True`` (the stacked-parameter population,
  :mod:`stablesam.stability.twin.stacked`) against ``vectorize=False`` (one ``nn.Module`` + ``torch.optim`` +
  :class:`~stablesam.stability.SAM` per model); only up to ``--one-by-one-max`` pairs (40), since the
  one-by-one epoch at 200 pairs takes seconds per round. Goal: ratio <= 0.25 at 40 pairs.
* ``batched steps``: ``--steps`` training steps of the batched population, mini-batch gather and divergence
  tracking included, no evaluation: the time per model-step. Beside it, the counted FLOPs of a model-step
  (the products of the forward and backward passes, :meth:`StackedNetwork.training_flops`, two passes for the
  SAM family) and its *floor*: those FLOPs at the rate of
* ``gemm``: one float32 1024 x 1024 x 1024 matrix product (2^31 FLOPs), the machine's attainable rate on one
  thread, timed in the same rounds (so load cancels). Goal: per model-step / floor <= 2 at 200 pairs.

    python benchmarks/twin_throughput.py [--pairs 8 40 200] [--rounds 10] [--optimizer stablesam-n sgd] [--profile]

``--profile`` prints the top functions of one batched epoch (cProfile, by own time). Not a test: figures depend
on the machine and its load (the project machine's 2 cores are shared with other jobs; the load is printed).

Measured on a quiet machine (torch 2.13 CPU, 1 thread, 10 rounds, load average 0.9 on 2 cores; the gemm ran at
92-100 GFLOP/s):

=================  ========================================  ======================  ==========================
method, pairs      batched / one by one (epoch; goal 0.25)   per model-step          model-step / floor (goal 2)
=================  ========================================  ======================  ==========================
StableSAM-N, 8     0.435 [0.415, 0.447]                      385 us, 17.76 MFLOP     1.99 [1.97, 2.11]
StableSAM-N, 40    0.499 [0.486, 0.510]                      340 us                  1.91 [1.87, 1.97]
StableSAM-N, 200   (not timed one by one)                    362 us                  1.94 [1.92, 2.03]
SGD, 8             0.470 [0.455, 0.479]                      159 us, 8.88 MFLOP      1.74 [1.69, 1.82]
SGD, 40            0.513 [0.466, 0.549]                      169 us                  1.80 [1.78, 1.82]
SGD, 200           (not timed one by one)                    193 us                  1.95 [1.90, 2.08]
=================  ========================================  ======================  ==========================

The FLOP-floor goal is met (1.94 and 1.95 at 200 pairs). The epoch goal is not, and cannot be on this machine: the
one-by-one epoch (StableSAM-N, 40 pairs, 1389 ms) is itself only 3.9x its arithmetic floor (80 models x 20 steps
x 17.76 MFLOP, plus the epoch-end evaluation of every model on its training and test sets, about 6.6 GFLOP in
all: 357 ms at 98 GFLOP/s), so a batched epoch at 0.25 of it (347 ms) would have to beat the floor. The goal was
set against one-by-one epochs measured under load 9-12, where the dispatch-bound one-by-one path slowed far more
than the compute-bound batched one (there: 0.32 at 40 pairs). For the same reason 20 seeds of a verify twin run
cost 3.85x [3.69, 4.28] 5 seeds (5 interleaved rounds, digits MLP, StableSAM-N, 3 epochs: 0.40 s against 1.55 s),
not the 2x the issue asks: at the floor, 4x the models is 4x the arithmetic.

Under load (the 2 cores shared with 7 other jobs, load average 9.4, gemm at 11-22 GFLOP/s) the same benchmark read
0.342 / 0.319 (StableSAM-N, 8 / 40 pairs, epoch) and 2.57 / 2.33 / 2.33 of the floor at 8 / 40 / 200 pairs.

Before the stacked-parameter population (the ``vmap`` one, issue 27): 0.53-0.56 at 8-40 pairs and about 5x the
floor. The step is now the batched products plus little else (profile of a
40-pair StableSAM-N step: ``bmm``/``baddbmm`` 70%, the saved-``w`` copy 5%, the loss 4%, norms and optimizer
arithmetic 5%), and those products, ``(64 x 128) @ (128 x 128)`` per model, run at about half the rate of a large
square product on one core (MKL's small-matrix efficiency, and memory traffic shared with the other jobs);
the epoch ratio also carries the epoch-end evaluation (about a quarter of a batched epoch), which is the same
arithmetic in both candidates. On a GPU the same population is launch-bound at small sizes and approaches its
floor at 1,000+ pairs (``benchmarks/gpu_population_check.py``, not yet run).

Profile of ``stablesam verify --quick --workers 0`` (cProfile, one process, quiet machine; 126 s profiled, top
five by own time): ``torch.baddbmm`` 18.8 s and ``torch.bmm`` 15.9 s (the twin populations), ``run_backward``
9.5 s (autograd of the single-model experiments: eos, trajectories), ``torch.max_pool2d`` 8.1 s (C6's timing of
the digits CNN) and ``cross_entropy_loss`` 2.5 s. The same profile before the sign-test fix took 185 s: ``math.comb``
was its top function (33 s own time, 47 million calls: the sign test's order-statistic index, recomputed for
every seed count ``detectable`` tries; now cached and grown one term a step). Gone before it: the digits CSV
parsed once per experiment (now once per process) and 18 flushes to disk per twin run (now 6).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Ratio, interleave, print_ratios  # noqa: E402

GEMM_SIZE = 1024
BATCH = 64


def trainer_for(method: str, dataset, pairs: int, *, vectorize: bool, device: str, dtype: str = "float32"):
    from stablesam.stability.twin import TwinConfig, TwinTrainer

    config = TwinConfig(dataset="digits", model="mlp", optimizer=method, lr=0.1, rho=0.05, epochs=1000,
                        batch_size=BATCH, seeds=tuple(range(pairs)), replaced_indices=(0,), device=device,
                        vectorize=vectorize, dtype=dtype)
    return TwinTrainer(config, dataset)


def steps_of(trainer, steps: int):
    """``steps`` training steps as the trainer's loop runs them (gather, step, tracking), without logging."""
    n = trainer.data.n_train
    generator = torch.Generator().manual_seed(0)
    idx = torch.stack([torch.randperm(n, generator=generator)[:BATCH] for _ in range(trainer.n_models)])
    idx = idx.to(trainer.device)

    def run() -> None:
        for _ in range(steps):
            x, y = trainer.data.batch(idx)
            losses, stats = trainer.population.train_step(x, y, trainer.alive, trainer.config.lr)
            trainer._track(losses, stats)
    return run


def gemm(device: str):
    a = torch.randn(GEMM_SIZE, GEMM_SIZE, generator=torch.Generator().manual_seed(0)).to(device)
    return lambda: torch.mm(a, a)


def model_step_flops(trainer) -> int:
    from stablesam.core.methods import method

    passes = 2 if method(trainer.config.optimizer).uses_rho else 1
    return passes * trainer.population.network.training_flops(BATCH)


def profile_epoch(trainer, lines: int = 25) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    trainer.train_epoch()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(lines)


def main(argv=None) -> list[Ratio]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[8, 40, 200])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5, help="training steps per 'batched steps' call")
    parser.add_argument("--one-by-one-max", type=int, default=40, help="largest pair count timed one by one")
    parser.add_argument("--optimizer", nargs="+", default=["stablesam-n", "sgd"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one batched epoch per method")
    args = parser.parse_args(argv)

    from stablesam.stability.data import load_dataset

    dataset = load_dataset("digits", generator=np.random.default_rng(0))
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    gemm_flops = 2 * GEMM_SIZE ** 3
    print(f"load average (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    ratios = []
    for method in args.optimizer:
        for pairs in args.pairs:
            batched = trainer_for(method, dataset, pairs, vectorize=True, device=args.device)
            flops = model_step_flops(batched)
            candidates = {"batched steps": steps_of(batched, args.steps), "gemm": gemm(args.device)}
            if pairs <= args.one_by_one_max:
                one_by_one = trainer_for(method, dataset, pairs, vectorize=False, device=args.device)
                candidates = {"batched epoch": batched.train_epoch, "one by one epoch": one_by_one.train_epoch,
                              **candidates}
            if args.profile:
                profile_epoch(batched)
            timings = interleave(candidates, rounds=args.rounds, warmup=1, num_threads=args.threads, synchronize=sync)
            models = batched.n_models
            per_step = timings.seconds["batched steps"] / (args.steps * models)
            floor = flops / (gemm_flops / timings.seconds["gemm"])
            print(f"{method}: digits MLP, {pairs} pairs ({models} models), batch {BATCH}, "
                  f"{type(batched.population).__name__}, device {args.device}; {timings.describe()}")
            print(timings.table("ms"))
            print(f"  per model-step  {timings.combine(lambda s: per_step).format(4, 1e6)} us; "
                  f"{flops / 1e6:.2f} MFLOP counted, floor {timings.combine(lambda s: floor).format(4, 1e6)} us "
                  f"at {timings.combine(lambda s: gemm_flops / s['gemm']).format(3, 1e-9)} GFLOP/s (gemm)")
            ratios.append(Ratio("twin_throughput", f"{method}, {pairs} pairs: model-step / FLOP floor",
                                timings.combine(lambda s: per_step / floor), 2.0 if pairs >= 200 else None))
            if "one by one epoch" in candidates:
                ratios.append(Ratio("twin_throughput", f"{method}, {pairs} pairs: batched / one by one (epoch)",
                                    timings.ratio("batched epoch", "one by one epoch"), 0.25 if pairs == 40 else None))
    print_ratios(ratios)
    return ratios


if __name__ == "__main__":
    main()
