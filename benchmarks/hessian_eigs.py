"""Hessian-vector products: torch.func vs double backward, and how many products each eigensolver needs.

On a digits MLP (64-32-10, tanh, full batch of 1797 examples, float64), in one run:

1. the time of one Hessian-vector product with each backend (median of repeats) and their ratio;
2. the products used for the top eigenvalue by Lanczos (eigsh, default tolerance), by power iteration with
   PyHessian's defaults (tol 1e-3, 100 iterations), and by power iteration at a tolerance that reaches
   Lanczos' accuracy (the loosest of 1e-3, 1e-4, ... that does), accuracy measured against a reference
   Lanczos run at machine precision with a larger basis.

Both at initialisation and after some full-batch GD (where the spectral gap is smaller). Goal: Lanczos
uses at most half the products of power iteration at equal accuracy ("power / lanczos at equal accuracy"
>= 2). Prints tables and ratios.
Usage: ``python benchmarks/hessian_eigs.py [--hidden 32] [--repeats 20]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from analysis.eigen import lanczos_top_eigenpairs, power_iteration
from analysis.hessian import BACKENDS, DEFAULT_BACKEND, HessianOperator
from stablesam.cli.output import format_table


def digits_mlp(hidden: int, dtype: torch.dtype, seed: int = 0):
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=dtype)
    y = torch.tensor(digits.target, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, hidden), nn.Tanh(), nn.Linear(hidden, 10)).to(dtype)
    with torch.no_grad():
        for layer in (model[0], model[2]):
            bound = 1 / np.sqrt(layer.in_features)
            layer.weight.copy_((torch.rand(layer.weight.shape, generator=g, dtype=dtype) * 2 - 1) * bound)
            layer.bias.zero_()
    return model, (x, y)


def time_backends(model, data, dtype, repeats: int) -> dict[str, float]:
    times = {}
    for backend in BACKENDS:
        op = HessianOperator(model, F.cross_entropy, data, backend=backend, dtype=dtype)
        v = torch.randn(op.dim, generator=torch.Generator().manual_seed(1), dtype=dtype)
        for _ in range(3):  # warm-up
            op.matvec(v)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            op.matvec(v)
            samples.append(time.perf_counter() - start)
        times[backend] = statistics.median(samples)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--train-steps", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)

    print("1. one Hessian-vector product, digits MLP, full batch (median seconds)")
    rows = []
    for dtype in (torch.float64, torch.float32):
        model, data = digits_mlp(args.hidden, dtype)
        t = time_backends(model, data, dtype, args.repeats)
        rows.append({"dtype": str(dtype).replace("torch.", ""), **{k: t[k] for k in BACKENDS},
                     "double-backward / func": t["double-backward"] / t["func"]})
    print(format_table(rows))
    print(f"default backend: {DEFAULT_BACKEND}\n")

    summary = []
    for point in ("initialisation", f"after {args.train_steps} GD steps"):
        model, data = digits_mlp(args.hidden, torch.float64)
        if point != "initialisation":
            train(model, data, args.train_steps)
        summary.append(compare_solvers(model, data, point))
    print(format_table(summary))


def train(model, data, steps: int, lr: float = 2.0) -> None:
    """Full-batch GD, enough to move the spectrum away from its initial shape (smaller relative gap)."""
    x, y = data
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


def compare_solvers(model, data, point: str) -> dict:
    op = HessianOperator(model, F.cross_entropy, data)
    reference = lanczos_top_eigenpairs(op, k=2, tol=0.0, ncv=60, generator=np.random.default_rng(123)).eigenvalues

    def record(name, result):
        value = result.eigenvalues[0]
        return {"method": name, "hvps": result.num_hvps, "lambda_max": value,
                "relative error": abs(value - reference[0]) / abs(reference[0]), "residual": result.residuals[0]}

    lanczos = record("lanczos (tol 1e-10)", lanczos_top_eigenpairs(op, k=1, generator=np.random.default_rng(0)))
    loose = record("lanczos (tol 1e-3)", lanczos_top_eigenpairs(op, k=1, tol=1e-3, generator=np.random.default_rng(0)))
    pyhessian = record("power (tol 1e-3, 100 it)", power_iteration(op, generator=np.random.default_rng(0)))
    target = max(lanczos["relative error"], 1e-13)
    matched = None
    for exponent in range(3, 16):
        result = power_iteration(op, tol=10.0**-exponent, max_iter=20000, generator=np.random.default_rng(0))
        row = record(f"power (tol 1e-{exponent})", result)
        if row["relative error"] <= target:
            matched = row
            break
    rows = [lanczos, loose, pyhessian] + ([matched] if matched else [])
    print(f"2. {point}: lambda_1 = {reference[0]:.15g}, lambda_2/lambda_1 = {reference[1] / reference[0]:.4f}; "
          "residual = ||Hv - lambda v||")
    print(format_table(rows))
    print()
    return {
        "point": point,
        "lambda_2/lambda_1": reference[1] / reference[0],
        "power(PyHessian) / lanczos(1e-3)": pyhessian["hvps"] / loose["hvps"],
        "PyHessian rel. error": pyhessian["relative error"],
        "power / lanczos at equal accuracy": matched["hvps"] / lanczos["hvps"] if matched else float("inf"),
    }

if __name__ == "__main__":
    main()
