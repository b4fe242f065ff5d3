"""Twin harness throughput: 8 pairs batched into one vmapped stack vs the same 16 models one by one.

Same config (digits, MLP, 8 pairs = 8 seeds x 1 replaced index), same data and the same number of steps;
the only difference is ``vectorize``. A call is one whole epoch (training steps plus the epoch-end
evaluation) of a trainer built and warmed up (one epoch) beforehand; the two trainers alternate in
interleaved rounds (:mod:`_timing`), 1 thread unless ``--threads``. Ratio batched / one by one per round,
median [IQR] (goal <= 0.33).

    python benchmarks/twin_throughput.py [--rounds 10] [--optimizer stablesam-n sgd] [--device cpu] [--profile]

``--profile`` prints the top functions of one batched epoch (cProfile, by own time). Not a test: figures
depend on the machine and its load (the project machine's 2 cores are shared with other jobs).

Measured (torch 2.13 CPU, 1 thread, shared machine): StableSAM-N 0.478 [0.402, 0.535], SGD 0.525
[0.475, 0.645]; the goal 0.33 is not met. Profile of one batched StableSAM-N epoch (20 steps + the
epoch-end evaluation, 1.34 s under cProfile): the forward and backward kernels (``run_backward`` 0.31 s,
``linear`` 0.29 s, ``relu`` 0.06 s, ``cross_entropy`` 0.04 s) are 52%; the optimizer's foreach kernels
(restore copies, ascent, SGD step, per-model norms, gamma) 12%; ``vmap``/``functional_call`` dispatch 5%;
``zero_grad``, the mini-batch gather, divergence tracking and the loop 10%. Timed apart (interleaved):
one batched SAM step 123 ms, one batched forward 18 ms, the evaluation 417 ms (15% of the epoch).
The kernels are the same floating-point work as the 16 separate models' (a batched matmul does the
16 matmuls' FLOPs at the same rate on one core), and so is the evaluation; only the Python and dispatch
overhead (~1/3 of the one-by-one epoch) can be saved by batching, so the ratio is bounded below by
about 0.45-0.5 on CPU whatever the batched harness's own overhead. On a GPU the kernels are
launch-bound at this size and batching pays far more (``benchmarks/gpu_twin_check.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Ratio, interleave, print_ratios  # noqa: E402

PAIRS = 8


def trainer_for(method: str, dataset, *, vectorize: bool, device: str):
    from stablesam.stability.twin import TwinConfig, TwinTrainer

    config = TwinConfig(dataset="digits", model="mlp", optimizer=method, lr=0.1, rho=0.05, epochs=1000,
                        batch_size=64, seeds=tuple(range(PAIRS)), replaced_indices=(0,), device=device,
                        vectorize=vectorize)
    return TwinTrainer(config, dataset)


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
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--optimizer", nargs="+", default=["stablesam-n", "sgd"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one batched epoch per method")
    args = parser.parse_args(argv)

    from stablesam.stability.data import load_dataset

    dataset = load_dataset("digits", generator=np.random.default_rng(0))
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    ratios = []
    for method in args.optimizer:
        trainers = {"batched": trainer_for(method, dataset, vectorize=True, device=args.device),
                    "one by one": trainer_for(method, dataset, vectorize=False, device=args.device)}
        if args.profile:
            profile_epoch(trainers["batched"])
        timings = interleave({name: t.train_epoch for name, t in trainers.items()},
                             rounds=args.rounds, warmup=1, num_threads=args.threads, synchronize=sync)
        spread = timings.ratio("batched", "one by one")
        print(f"{method}: digits MLP, {PAIRS} pairs ({2 * PAIRS} models), batch 64, device {args.device}; "
              f"{timings.describe()}, one epoch per call")
        print(timings.table("s"))
        ratios.append(Ratio("twin_throughput", f"{method}: batched / one by one", spread, 0.33))
    print_ratios(ratios)
    return ratios


if __name__ == "__main__":
    main()
