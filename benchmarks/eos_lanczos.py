"""Edge-of-stability runs: Hessian-vector products per sharpness measurement warm vs cold, and a full run's time.

1. Products per measurement. Along a full-batch GD run (digits, tanh MLP 64-64, square loss, eta 0.1,
   float64), at every measurement the top eigenvalue is computed twice on the same Hessian: warm-started
   from the previous measurement's eigenvector (what :mod:`stablesam.analysis.experiments.edge_of_stability` does) and cold, from
   a random vector, both with the runner's Lanczos settings. Printed: the products of each (median [IQR]
   over the measurements), the ratio warm/cold per measurement (median [IQR]) and the largest relative
   difference of the two eigenvalues. Products are counted, not timed: the ratio is exact and needs no
   quiet machine.
2. Wall time of the issue's reference run: 2000 full-batch steps with the sharpness every 20 steps
   (:func:`stablesam.analysis.experiments.edge_of_stability.run_edge_of_stability`, method GD), against the goal of 120 s on
   2 CPU cores; split into training and measurement time.

The thread count is set for the run and printed (default 2) and restored afterwards. Wall times on a machine
shared with other jobs are upper bounds; say so when quoting them. The process CPU time is printed too: with
``--threads 1`` it estimates the wall time on one unshared core (it counts the time the process ran, not the
time it waited for a core). ``--device cuda`` runs the same code on a
GPU (``scripts/gpu_checks.sh`` does). Usage: ``python benchmarks/eos_lanczos.py [--steps 2000] [--threads 2]
[--device cpu|cuda] [--dtype float64|float32]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Spread, threads  # noqa: E402
from stablesam.analysis.experiments.edge_of_stability import EosConfig, _loss_function, _Run, run_edge_of_stability  # noqa: E402
from stablesam.analysis.curvature.eigen import lanczos_top_eigenpairs  # noqa: E402
from stablesam.analysis.curvature.hessian import HessianOperator  # noqa: E402
from stablesam.stability.data import load_dataset  # noqa: E402


def products_warm_vs_cold(config: EosConfig, device) -> None:
    dtype = getattr(torch, config.dtype)
    data = load_dataset(config.dataset, generator=np.random.default_rng(config.data_seed), dtype=dtype)
    loss_fn = _loss_function(config.loss, data.num_classes)
    run = _Run(config, config.runs()[0], data, loss_fn, device, dtype)
    warm_counts, cold_counts, ratios, gaps, v0 = [], [], [], [], None
    for measurement in range(config.steps // config.measure_every + 1):
        if measurement:
            for _ in range(config.measure_every):
                run.train_step()
        operator = HessianOperator(run.model, loss_fn, (run.x, run.y), dtype=dtype)
        settings = dict(tol=config.lanczos_tol, ncv=config.lanczos_ncv)
        cold = lanczos_top_eigenpairs(operator, generator=np.random.default_rng(measurement), **settings)
        if v0 is not None:
            warm = lanczos_top_eigenpairs(operator, generator=np.random.default_rng(measurement), v0=v0, **settings)
            warm_counts.append(warm.num_hvps)
            cold_counts.append(cold.num_hvps)
            ratios.append(warm.num_hvps / cold.num_hvps)
            gaps.append(abs(warm.eigenvalues[0] - cold.eigenvalues[0]) / abs(cold.eigenvalues[0]))
            v0 = warm.eigenvectors[:, 0]
        else:
            v0 = cold.eigenvectors[:, 0]
    print(f"1. products per measurement ({len(ratios)} measurements every {config.measure_every} steps, "
          f"tol {config.lanczos_tol:g}, ncv {config.lanczos_ncv}; excluding the 1 residual product):")
    print(f"   warm {Spread.of(warm_counts)}  cold {Spread.of(cold_counts)}  ratio warm/cold {Spread.of(ratios)}")
    print(f"   largest relative difference of the two eigenvalues: {max(gaps):.1e}")


def reference_run(config: EosConfig) -> None:
    import stablesam.analysis.experiments.edge_of_stability as eos

    spent = {"train": 0.0, "measure": 0.0}
    train, measure = eos._Run.train_step, eos._Run.measure

    def timed(part, function):
        def wrapper(self):
            if self.x.is_cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            function(self)
            if self.x.is_cuda:
                torch.cuda.synchronize()
            spent[part] += time.perf_counter() - start
        return wrapper

    eos._Run.train_step, eos._Run.measure = timed("train", train), timed("measure", measure)
    try:
        start, cpu_start = time.perf_counter(), time.process_time()
        result = run_edge_of_stability(config, progress=False)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        eos._Run.train_step, eos._Run.measure = train, measure
    ratio = result.ratios["plateau_ratio"].iloc[0]
    print(f"2. {config.steps} full-batch steps, sharpness every {config.measure_every}: {total:.1f} s "
          f"(training {spent['train']:.1f} s, measurements {spent['measure']:.1f} s); goal <= 120 s on 2 CPU cores: "
          f"{'met' if total <= 120 else 'NOT met'}; process CPU time {cpu:.1f} s; plateau ratio {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    args = parser.parse_args()
    settings = dict(methods=("gd",), lrs=(0.1,), measure_every=20, device=args.device, dtype=args.dtype)
    with threads(args.threads):
        print(f"digits tanh MLP 64-64, square loss, GD eta 0.1, {args.dtype}, device {args.device}, "
              f"torch threads {torch.get_num_threads()}, torch {torch.__version__}")
        products_warm_vs_cold(EosConfig(steps=min(args.steps, 400), **settings), torch.device(args.device))
        reference_run(EosConfig(steps=args.steps, **settings))


if __name__ == "__main__":
    main()
