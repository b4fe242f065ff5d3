"""Exact twin moments on standardised digits (n = 1796, d = 65): rank-one batched products vs a naive per-example loop.

Both compute one step of the second-moment recursion of :mod:`stablesam.theory.twin_moments` for one learning rate: the
batched form costs ``O(n d^2)`` (``X B`` and ``X^T diag(.) X``), the naive loop forms ``M_i B M_i^T`` with dense
``d x d`` products for every example (``O(n d^3)``). Interleaved blocks in rotated order, median [IQR] per step,
then 1,000 steps of :func:`stablesam.theory.twin_moments.expected_twin_distance` timed once. BLAS threads: set
``OPENBLAS_NUM_THREADS`` (printed). Not a test.
"""

import os
import statistics
import time

import numpy as np

from stablesam.analysis.experiments.exact_stability import digits_twins
from stablesam.theory.twin_moments import _average_step, expected_twin_distance


def naive_step(X, y, lr, B, a, b):
    """``<M_i B M_i^T + M_i a v_i^T + v_i b^T M_i^T + v_i v_i^T>`` with dense per-example matrices."""
    n, d = X.shape
    out = np.zeros_like(B)
    for x, target in zip(X, y):
        M = np.eye(d) - lr * np.outer(x, x)
        v = lr * target * x
        out += M @ B @ M.T + np.outer(M @ a, v) + np.outer(v, M @ b) + np.outer(v, v)
    return out / n


def main() -> None:
    X, y, X2, y2 = digits_twins()
    n, d = X.shape
    lr = 1e-4
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=d), rng.normal(size=d)
    B = np.outer(a, b) + np.eye(d)
    e = np.full((1, n), lr)
    XT = np.ascontiguousarray(X.T)
    G = np.matmul(XT * e[:, None, :], X) / n
    u = (e * y) @ X / n
    batched = lambda: _average_step(X, XT, y, e, G, u, B[None], a[None], b[None])[0]  # noqa: E731
    naive = lambda: naive_step(X, y, lr, B, a, b)  # noqa: E731
    assert np.allclose(batched(), naive(), rtol=1e-10, atol=1e-12)
    times = {"batched": [], "naive": []}
    for block in range(6):
        order = ("batched", "naive") if block % 2 == 0 else ("naive", "batched")
        for name in order:
            start = time.perf_counter()
            (batched if name == "batched" else naive)()
            times[name].append(time.perf_counter() - start)

    def summary(values):
        q = statistics.quantiles(values, n=4)
        return f"{statistics.median(values) * 1e3:.1f} ms [{q[0] * 1e3:.1f}, {q[2] * 1e3:.1f}]"

    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"one step, one matrix, n={n}, d={d}, OPENBLAS_NUM_THREADS={threads}: batched {summary(times['batched'])}, "
          f"naive {summary(times['naive'])}, naive/batched = {statistics.median(times['naive']) / statistics.median(times['batched']):.1f}")
    start = time.perf_counter()
    expected_twin_distance(X, y, X2, y2, lr, steps=1000)
    print(f"expected_twin_distance, 1000 steps, one eta: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
