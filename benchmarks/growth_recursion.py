"""Growth recursion: vectorised over t (cumulative log-products) vs the plain loop over steps.

Both start from the same coefficients ``(a_t, b_t)`` and return ``E delta_t`` for every t. Prints the
median times (of 5 calls each: the first call of a run is several times slower, a one-off cost) and their ratio measured in this
run, for one schedule and for 16 schedules at once; not a test.
"""

import statistics
import time

import numpy as np

from theory.growth_recursion import _forward, step_coefficients


def loop(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape[:-1] + (a.shape[-1] + 1,))
    x = np.zeros(a.shape[:-1])
    for t in range(a.shape[-1]):
        x = a[..., t] * x + b[..., t]
        out[..., t + 1] = x
    return out


def median_time(function, *args, repeats: int = 5):
    """Median seconds of ``repeats`` calls, and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    T = 100_000
    for rows in (1, 16):
        eta = np.geomspace(1e-3, 1e-1, rows)[:, None] * np.ones(T)
        a, b = step_coefficients(1.0 + 0.01 * eta, eta, n=1000, T=T)  # USAM-like convex constants
        vectorised, fast = median_time(_forward, a, b)
        looped, slow = median_time(loop, a, b)
        assert np.allclose(fast, slow, rtol=1e-8)  # both accumulate ~T eps of rounding in the products
        print(f"growth recursion, {rows} x {T} steps: vectorised {vectorised * 1e3:.1f} ms, loop {looped * 1e3:.1f} ms, "
              f"loop/vectorised = {looped / vectorised:.1f}")


if __name__ == "__main__":
    main()
