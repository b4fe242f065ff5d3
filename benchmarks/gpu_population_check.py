"""Device check of the stacked-parameter twin population: against CPU float64, control twins, no host sync, and the
population at 1,000+ pairs against its FLOP floor.

1. **Agreement.** Every method of the twin harness x {SGD, momentum, Adam with weight decay}: 4 full-batch steps of 3
   small models (an MLP and a 1-D CNN, each model its own data) as one population on ``--device``, in float64 and in
   float32, against the same population in float64 on the CPU (which tests/stability/test_stacked_population.py checks against
   the models trained one by one). Tolerance: the rounding of each step (``ops`` roundings of relative size
   ``eps(dtype)`` on numbers of the size of the weights) propagated through the sensitivity of the remaining steps,
   measured by finite differences in float64 on the CPU (``tests/_rounding.py``): step by step for the plain-SGD base,
   through the whole run's sensitivity to its start for the bases with state (momentum, Adam's moments).
2. **Control twins.** Two identical models with identical data stay identical bit for bit on the device.
3. **No host sync** (CUDA only): the steps of every method run under ``torch.cuda.set_sync_debug_mode("error")``.
4. **Throughput.** Digits MLP (64-128-128-10, batch 64, float32) with ``--pairs`` pairs: training steps of the batched
   population (``benchmarks/twin_throughput.py``'s ``batched steps``) against a square float32 matrix product of
   ``--gemm`` (the device's attainable rate; TF32 off), interleaved rounds (``benchmarks/_timing.py``, synchronised
   around each block): time per model-step, the counted FLOPs, and per model-step / floor, median [IQR].

    python benchmarks/gpu_population_check.py                       # CUDA; 1,000 and 2,000 pairs
    python benchmarks/gpu_population_check.py --device cpu --pairs 20 --gemm 512   # the CPU half (CI)

Exit status 1 if a check fails; without CUDA and without ``--device cpu`` it says so and exits 0.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from _rounding import EPS, propagated_rounding_bound, whole_run_rounding_bound  # noqa: E402
from _timing import Ratio, interleave, print_ratios  # noqa: E402

from stablesam.core.methods import method_keys  # noqa: E402
from stablesam.stability.models import build_model  # noqa: E402
from stablesam.stability.stacked.network import network_of  # noqa: E402
from stablesam.stability.twin import TwinConfig  # noqa: E402
from stablesam.stability.twin.stacked import StackedParameterPopulation  # noqa: E402

METHODS = method_keys(full_batch=False)
CASES = {"mlp": ("mlp", {"hidden": (16, 16)}, (8,)), "cnn-1d": ("cnn", {"channels": (4, 6)}, (1, 12))}
MODELS, CLASSES, N, STEPS = 3, 4, 16, 4


def _problem(case: str, method: str, base: str):
    name, options, shape = CASES[case]
    modules = [build_model(name, shape, CLASSES, generator=torch.Generator().manual_seed(m), dtype=torch.float64,
                           **options) for m in range(MODELS)]
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(MODELS, N, *shape, generator=generator, dtype=torch.float64)
    y = torch.randint(CLASSES, (MODELS, N), generator=generator)
    config = TwinConfig(optimizer=method, base_optimizer=base, lr=0.2, rho=0.2,
                        momentum=0.8 if base == "momentum" else None, dtype="float64",
                        weight_decay=0.01 if base != "sgd" else 0.0)
    return modules, x, y, config, shape


def _population(modules, config, shape, device, dtype):
    modules = [copy.deepcopy(m).to(device=device, dtype=dtype) for m in modules]
    return StackedParameterPopulation(modules, "classification", config, network_of(modules[0], shape))


def _run(modules, x, y, config, shape, device, dtype, steps, start=None):
    population = _population(modules, config, shape, device, dtype)
    if start is not None:
        population.weights.copy_(torch.as_tensor(start).to(device=device, dtype=dtype))
    alive = torch.ones(x.shape[0], dtype=torch.bool, device=device)
    xd, yd = x.to(device=device, dtype=dtype), y.to(device)
    for _ in range(steps):
        population.train_step(xd, yd, alive, config.lr)
    return population.weights.to(device="cpu", dtype=torch.float64).numpy()


def check_agreement(device: torch.device) -> int:
    failures = 0
    for case in CASES:
        for base in ("sgd", "momentum", "adam"):
            for method in METHODS:
                modules, x, y, config, shape = _problem(case, method, base)
                reference = _run(modules, x, y, config, shape, "cpu", torch.float64, STEPS)
                start = _population(modules, config, shape, "cpu", torch.float64).weights.numpy()
                widths = sum(sum(p.shape[:2]) for p in modules[0].parameters() if p.ndim > 1)
                ops = 2 * (N + 3 * widths) + 12

                def advance(w, k, modules=modules, x=x, y=y, config=config, shape=shape):
                    return _run(modules, x, y, config, shape, "cpu", torch.float64, k, start=w)

                if base == "sgd":
                    bound64 = propagated_rounding_bound(advance, start, STEPS, ops=ops, rng=np.random.default_rng(0))
                else:  # state beside w: the whole run's sensitivity to its start
                    bound64 = whole_run_rounding_bound(lambda w: advance(w, STEPS), start, STEPS, ops=ops,
                                                       rng=np.random.default_rng(0))
                line = []
                for dtype in (torch.float64, torch.float32):
                    got = _run(modules, x, y, config, shape, device, dtype, STEPS)
                    bound = bound64 * (torch.finfo(dtype).eps / EPS)
                    error = np.abs(got - reference).max(axis=1)
                    ok = bool((error <= bound).all())
                    failures += not ok
                    line.append(f"{str(dtype)[6:]} {error.max():.1e} <= {bound.min():.1e} {'ok' if ok else 'FAIL'}")
                print(f"  {case:6s} {base:8s} {method:11s} " + "; ".join(line))
    return failures


def check_control_and_syncs(device: torch.device) -> int:
    failures = 0
    for method in METHODS:
        for base in ("momentum", "adam"):
            modules, x, y, config, shape = _problem("cnn-1d", method, base)
            twins = [modules[0], copy.deepcopy(modules[0])]
            population = _population(twins, config, shape, device, torch.float32)
            xd = x[:1].expand(2, *x.shape[1:]).contiguous().to(device, torch.float32)
            yd = y[:1].expand(2, -1).to(device)
            alive = torch.ones(2, dtype=torch.bool, device=device)
            population.train_step(xd, yd, alive, 0.1)
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.set_sync_debug_mode("error")
            try:
                for _ in range(3):
                    population.train_step(xd, yd, alive, 0.1)
            except RuntimeError as error:
                print(f"  {method} {base}: host sync in a step: {error}")
                failures += 1
            finally:
                if device.type == "cuda":
                    torch.cuda.set_sync_debug_mode("default")
            identical = torch.equal(population.weights[0], population.weights[1])
            failures += not identical
            if not identical:
                print(f"  {method} {base}: control twins DIFFER")
    print(f"  control twins identical and no host sync ({'checked' if device.type == 'cuda' else 'not checkable'} "
          f"on {device.type}): {'ok' if not failures else f'{failures} FAILED'}")
    return failures


def throughput(device: torch.device, pairs_list, gemm_size: int, rounds: int, steps: int) -> list[Ratio]:
    from twin_throughput import model_step_flops, steps_of, trainer_for

    from stablesam.stability.data import load_dataset

    dataset = load_dataset("digits", generator=np.random.default_rng(0))
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    a = torch.randn(gemm_size, gemm_size, generator=torch.Generator().manual_seed(0)).to(device)
    gemm_flops = 2 * gemm_size ** 3
    ratios = []
    for pairs in pairs_list:
        for method in ("stablesam-n", "sgd"):
            trainer = trainer_for(method, dataset, pairs, vectorize=True, device=str(device))
            flops = model_step_flops(trainer)
            timings = interleave({"batched steps": steps_of(trainer, steps), "gemm": lambda: torch.mm(a, a)},
                                 rounds=rounds, warmup=2, num_threads=1, synchronize=sync)
            per_step = timings.seconds["batched steps"] / (steps * trainer.n_models)
            floor = flops / (gemm_flops / timings.seconds["gemm"])
            print(f"  {method}, {pairs} pairs ({trainer.n_models} models), {type(trainer.population).__name__}: "
                  f"per model-step {timings.combine(lambda s: per_step).format(4, 1e6)} us, {flops / 1e6:.2f} MFLOP, "
                  f"floor {timings.combine(lambda s: floor).format(4, 1e6)} us at "
                  f"{timings.combine(lambda s: gemm_flops / s['gemm']).format(4, 1e-12)} TFLOP/s; {timings.describe()}")
            ratios.append(Ratio("gpu_population", f"{device.type} {method}, {pairs} pairs: model-step / FLOP floor",
                                timings.combine(lambda s: per_step / floor), 2.0))
    return ratios


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--pairs", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--gemm", type=int, default=8192, help="side of the reference matrix product")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed block")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_population_check: no CUDA device here; nothing to check (exit 0; --device cpu runs the CPU half)")
        return 0
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # the floor and the kernels in true float32
        torch.backends.cudnn.allow_tf32 = False
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    print(f"1. agreement with CPU float64 ({STEPS} full-batch steps, {MODELS} models; max error <= smallest bound):")
    failures = check_agreement(device)
    print("2-3. control twins and host syncs:")
    failures += check_control_and_syncs(device)
    print("4. throughput:")
    print_ratios(throughput(device, args.pairs, args.gemm, args.rounds, args.steps))
    print(f"gpu_population_check: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
