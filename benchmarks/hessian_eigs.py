"""Curvature against a power-iteration tool that reuses its graph: product cost, top eigenvalues, trace.

Problem: a digits MLP (64-32-10, tanh, full batch of 1797 examples, cross-entropy, float64), at
initialisation. The tool is :class:`GraphReusingPowerIteration`, PyHessian's algorithm (Yao et al. 2020,
arXiv:1912.07145) written here from its description, operation by operation:

* construction: one forward pass on the batch and ``g = autograd.grad(loss, params, create_graph=True)``,
  kept for every product;
* product: ``autograd.grad(g, params, grad_outputs=v, only_inputs=True, retain_graph=True)`` (``v`` a list
  of tensors shaped like the parameters);
* ``<x, y> = sum_i sum(x_i * y_i)`` (a Python sum over the tensors); ``normalize(v) = v / (||v|| + 1e-6)``;
* top-n eigenvalues: for each, ``v`` Gaussian, normalised; up to ``max_iter`` times: orthogonalise ``v``
  against the eigenvectors found (``v -= <v, u> u``, then normalise), ``Hv``, ``lambda = <Hv, v>``
  (``.item()``), ``v = normalize(Hv)``; stop when ``|lambda - lambda_prev| / (|lambda_prev| + 1e-6) < tol``;
* trace: Rademacher ``v`` (``randint`` 0/1, 0 -> -1), ``<Hv, v>`` per probe, up to ``max_iter`` probes,
  stopping when the running mean changes by less than ``tol`` relatively (``tol=0`` here: exactly 100 probes).

The ``+ 1e-6`` makes every normalised vector shorter than 1 by ``1e-6 / ||Hv||`` relatively, so its
Rayleigh quotients carry a bias of about ``2e-6 / lambda``: the tool cannot reach a relative error
below that (about ``2e-6`` here, ``lambda_1 ~ 1``); targets below it are marked unreachable.

Measured, interleaved by :mod:`_timing` (median [IQR] of per-round ratios, 1 thread):

1. one product: ours (``HessianOperator.matvec_numpy``, graph reused; and rebuilt per product, the
   chunked path; and the ``func`` backend) / the tool's product (goal <= 1.0);
2. top-1 and top-5 eigenvalues at equal accuracy, for target relative errors 1e-2, 1e-4, 1e-6 (max over
   the k values, against a Lanczos reference at machine precision): each side runs at the loosest ``tol``
   of the ladder 1e-1, 1e-2, ... whose result meets the target (found in an untimed calibration run
   from the timed start vectors); Lanczos wall time / the tool's (goal <= 0.5). Each timed call builds
   its operator (and graph) from the model, as a user does;
3. Hutchinson's trace with 100 Rademacher probes on both sides (equal accuracy: the same estimator and
   number of probes): ours / the tool's (goal <= 1.0).

Batching the probes (``autograd.grad(..., is_grads_batched=True)``, vmap over the second backward) was
measured and not adopted: 8.2 ms per product in batches of 8 against 6.4 ms one by one (CPU).

Measured (torch 2.13 CPU, 1 thread, 2 cores shared with other jobs, 10 rounds):

* product, ours / tool: 0.96 [0.90, 1.05] (4.46 vs 4.64 ms) on the shared machine, 1.10 [1.08, 1.12] when
  it was quiet (the goal 1.0 is then missed); the graph rebuilt per product costs 1.9-2.0x the reused one.
  Measured reason (quiet machine, 12 rounds x 10 calls): the second backward itself, on lists of tensors, is
  0.967 [0.909, 0.994] of the tool's; what ours adds is its interface, the flat vectors that
  ``scipy.sparse.linalg`` exchanges (split into views, ``torch.cat`` of the product, numpy conversions), which
  brings ``matvec_numpy`` to 1.06 [1.05, 1.07] of the tool in the same run.
* top-1, Lanczos / power at error 1e-2: 0.82 [0.66, 0.87]; 1e-4: 0.80 [0.71, 0.86]; 1e-5: 0.46
  [0.42, 0.48]; 1e-6: the tool cannot reach it. Top-5 at 1e-2: 0.26 [0.23, 0.31]; at 1e-4: 0.15 [0.14,
  0.15]. Top-1 at 1e-2 and 1e-4 misses the goal 0.5 for a measured reason: ARPACK needs 9-10 products
  for the top eigenvalue even at tol 0.1, whatever the basis (ncv 3 to 8, :func:`stablesam.analysis.curvature.eigen.default_ncv`'s
  table), because it tests convergence only after a whole restart sweep, while the power iteration
  reaches 1e-2 in about 15 products; with one more product for the explicit residual and the same graph
  build on both sides, the ratio stays near 0.8. Halving it would need a Lanczos that tests its Ritz
  value after every product (no restarts), which ARPACK does not offer.
* trace, 100 probes, ours / tool: 0.95 [0.82, 0.98] (581 vs 617 ms) shared, 1.06 [1.05, 1.07] quiet: the same
  per-product interface cost as above (our estimator draws probes as flat vectors).

    python benchmarks/hessian_eigs.py [--hidden 32 --rounds 10]

Not a test: figures depend on the machine and its load (the project machine's 2 cores are shared).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Ratio, interleave, print_ratios  # noqa: E402

from stablesam.analysis.curvature.eigen import hutchinson_trace, lanczos_top_eigenpairs  # noqa: E402
from stablesam.analysis.curvature.hessian import HessianOperator  # noqa: E402

LADDER = tuple(10.0**-e for e in range(1, 13))
TARGETS = (1e-2, 1e-4, 1e-5, 1e-6)


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


def train(model, data, steps: int, lr: float = 2.0) -> None:
    """Full-batch GD, enough to move the spectrum away from its initial shape (smaller relative gap)."""
    x, y = data
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


class GraphReusingPowerIteration:
    """PyHessian's power iteration and trace, reusing one gradient graph (module docstring, exactly)."""

    def __init__(self, model, loss_fn, data):
        self.params = [p for p in model.parameters() if p.requires_grad]
        x, y = data
        self.grads = torch.autograd.grad(loss_fn(model(x), y), self.params, create_graph=True)

    def product(self, v):
        return torch.autograd.grad(self.grads, self.params, grad_outputs=v, only_inputs=True, retain_graph=True)

    @staticmethod
    def inner(xs, ys):
        return sum(torch.sum(x * y) for x, y in zip(xs, ys))

    @classmethod
    def normalize(cls, v):
        s = cls.inner(v, v) ** 0.5
        return [x / (s + 1e-6) for x in v]

    def eigenvalues(self, top_n: int, tol: float, max_iter: int, generator: torch.Generator):
        values, vectors = [], []
        for _ in range(top_n):
            v = self.normalize([torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in self.params])
            value = None
            for _ in range(max_iter):
                for u in vectors:
                    overlap = self.inner(v, u)
                    v = [a - overlap * b for a, b in zip(v, u)]
                v = self.normalize(v)
                hv = self.product(v)
                current = self.inner(hv, v).item()
                v = self.normalize(hv)
                if value is not None and abs(value - current) / (abs(value) + 1e-6) < tol:
                    value = current
                    break
                value = current
            values.append(value)
            vectors.append(v)
        return np.array(values)

    def trace(self, probes: int, generator: torch.Generator):
        samples = []
        for _ in range(probes):
            v = [torch.randint(0, 2, p.shape, generator=generator).to(p.dtype) * 2 - 1 for p in self.params]
            samples.append(self.inner(self.product(v), v).item())
        return float(np.mean(samples))


def lanczos(model, data, k, tol, seed):
    op = HessianOperator(model, F.cross_entropy, data)
    return lanczos_top_eigenpairs(op, k=k, tol=tol, generator=np.random.default_rng(seed)).eigenvalues


def power(model, data, k, tol, seed):
    tool = GraphReusingPowerIteration(model, F.cross_entropy, data)
    return tool.eigenvalues(k, tol, max_iter=2_000, generator=torch.Generator().manual_seed(seed))


def loosest(solve, reference, target):
    """The loosest tol of LADDER whose k values all lie within ``target`` (relative to lambda_1)."""
    for tol in LADDER:
        values = solve(tol)
        if np.max(np.abs(values - reference[: len(values)])) / abs(reference[0]) <= target:
            return tol
    return None


def main(argv=None) -> list[Ratio]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    name = "hessian_eigs"
    ratios = []
    model, data = digits_mlp(args.hidden, torch.float64)
    op = HessianOperator(model, F.cross_entropy, data)
    rebuilt = HessianOperator(model, F.cross_entropy, data, reuse_graph=False)
    func = HessianOperator(model, F.cross_entropy, data, backend="func")
    reference = lanczos_top_eigenpairs(op, k=6, tol=0.0, ncv=60, generator=np.random.default_rng(123)).eigenvalues
    print(f"digits MLP 64-{args.hidden}-10, d = {op.dim}, full batch n = {op.n}, float64; "
          f"lambda_1..6 = {np.array2string(reference, precision=4)}")

    tool = GraphReusingPowerIteration(model, F.cross_entropy, data)
    v = np.random.default_rng(1).standard_normal(op.dim)
    v_list = [t.clone() for t in op.unflatten(torch.from_numpy(v)).values()]
    products = interleave({"ours (graph reused)": lambda: op.matvec_numpy(v),
                           "ours (graph rebuilt)": lambda: rebuilt.matvec_numpy(v),
                           "ours (func backend)": lambda: func.matvec_numpy(v),
                           "tool": lambda: tool.product(v_list)},
                          rounds=args.rounds, calls=10, warmup=3, num_threads=args.threads)
    print(f"1. one Hessian-vector product; {products.describe()}")
    print(products.table("ms"))
    ratios += [Ratio(name, "product: ours / tool", products.ratio("ours (graph reused)", "tool"), 1.0),
               Ratio(name, "product: rebuilt / reused graph", products.ratio("ours (graph rebuilt)", "ours (graph reused)")),
               Ratio(name, "product: func backend / reused graph", products.ratio("ours (func backend)", "ours (graph reused)"))]

    print("2. top-k eigenvalues at equal accuracy (tol: the loosest meeting the target; - unreachable)")
    for k in (1, 5):
        for target in TARGETS:
            tol_l = loosest(lambda t: lanczos(model, data, k, t, 0), reference, target)
            # Below its normalisation bias (2e-6 absolute, module docstring) the tool cannot get: not searched.
            reachable = target > 2e-6 / abs(reference[0])
            tol_p = loosest(lambda t: power(model, data, k, t, 0), reference, target) if reachable else None
            label = f"top-{k} at error {target:g}: lanczos / power"
            if tol_l is None or tol_p is None:
                print(f"  {label}: unreachable (lanczos tol {tol_l}, power tol {tol_p})")
                continue
            t = interleave({"lanczos": lambda: lanczos(model, data, k, tol_l, 0),
                            "power": lambda: power(model, data, k, tol_p, 0)},
                           rounds=args.rounds, num_threads=args.threads)
            spread = t.ratio("lanczos", "power")
            print(f"  {label} = {spread}  (lanczos tol {tol_l:g}: {t.spread('lanczos').format(3, 1e3)} ms; "
                  f"power tol {tol_p:g}: {t.spread('power').format(3, 1e3)} ms)")
            ratios.append(Ratio(name, label, spread, 0.5))

    def ours_trace():
        operator = HessianOperator(model, F.cross_entropy, data)
        return hutchinson_trace(operator, 100, generator=np.random.default_rng(0)).trace

    def tool_trace():
        return GraphReusingPowerIteration(model, F.cross_entropy, data).trace(100, torch.Generator().manual_seed(0))

    t = interleave({"ours": ours_trace, "tool": tool_trace}, rounds=args.rounds, num_threads=args.threads)
    spread = t.ratio("ours", "tool")
    print(f"3. Hutchinson trace, 100 probes: ours / tool = {spread}; {t.describe()}")
    ratios.append(Ratio(name, "trace (100 probes): ours / tool", spread, 1.0))
    print_ratios(ratios)
    return ratios


if __name__ == "__main__":
    main()
