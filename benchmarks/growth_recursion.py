"""Growth recursion: vectorised over t (cumulative log-products) vs the plain loop over steps.

Both start from the same coefficients ``(a_t, b_t)`` and return ``E delta_t`` for every t (checked equal to
rtol 1e-8: both accumulate ~T eps of rounding in the products). Timed by :mod:`_timing` (interleaved rounds,
rotated order, median [IQR] of per-round ratios; the first call of a run pays page faults, so one warm-up
call each), for one schedule and for 16 schedules at once. No goal is set: the ratio is reported.
Not a test; the project machine's 2 cores are shared.

    python benchmarks/growth_recursion.py [--steps 100000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Ratio, interleave, print_ratios  # noqa: E402

from stablesam.theory.growth_recursion import _forward, step_coefficients  # noqa: E402


def loop(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape[:-1] + (a.shape[-1] + 1,))
    x = np.zeros(a.shape[:-1])
    for t in range(a.shape[-1]):
        x = a[..., t] * x + b[..., t]
        out[..., t + 1] = x
    return out


def main(argv=None) -> list[Ratio]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    T = args.steps
    ratios = []
    for rows in (1, 16):
        eta = np.geomspace(1e-3, 1e-1, rows)[:, None] * np.ones(T)
        a, b = step_coefficients(1.0 + 0.01 * eta, eta, n=1000, T=T)  # USAM-like convex constants
        np.testing.assert_allclose(_forward(a, b), loop(a, b), rtol=1e-8)
        timings = interleave({"vectorised": lambda: _forward(a, b), "loop": lambda: loop(a, b)}, rounds=args.rounds)
        print(f"growth recursion, {rows} x {T} steps; {timings.describe()}")
        print(timings.table("ms"))
        ratios.append(Ratio("growth_recursion", f"{rows} schedule(s): loop / vectorised",
                            timings.ratio("loop", "vectorised")))
    print_ratios(ratios)
    return ratios


if __name__ == "__main__":
    main()
