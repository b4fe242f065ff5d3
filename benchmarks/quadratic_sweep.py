"""Vectorised grid simulation vs a per-configuration Python loop over the same quadratic maps.

Grid: 25 learning rates x 20 radii x 20 random spectra (d = 4) = 10^4 configurations, 1000 steps, for each
of the five methods. The vectorised side is one :func:`theory.simulate.simulate` call per method. The loop
side steps each configuration on its own with :func:`theory.quadratic.step` (same maps, same divergence
check); it is timed on a random subset of configurations and scaled linearly to the full grid (each
configuration costs the same per step; configurations that diverge early make the loop faster, so the
subset is drawn uniformly). The results of the subset are checked against the vectorised run.

Goal: time(vectorised) / time(loop) <= 0.02. Prints the ratios measured in this one run.

    python benchmarks/quadratic_sweep.py [--subset 100] [--steps 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from theory.quadratic import METHODS, Quadratic, step
from theory.simulate import simulate


def loop_run(method, spectra, lr, rho, start, steps, blowup):
    """The per-configuration baseline: returns (diverged, final) for each configuration, one at a time."""
    diverged, finals = [], []
    for lam, eta, r, w in zip(spectra, lr, rho, start):
        model = Quadratic.from_spectrum(lam)
        level = blowup * max(1.0, float(np.linalg.norm(w)))
        blew = False
        for _ in range(steps):
            w = step(method, model, w, eta, r)
            norm = float(np.linalg.norm(w))
            if not norm <= level:
                blew = True
                break
            if norm < 1e-140:  # the vectorised run freezes converged iterates here too
                break
        diverged.append(blew)
        finals.append(w)
    return np.array(diverged), np.array(finals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=100, help="configurations timed in the loop (scaled up)")
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    d, blowup = 4, 1e8
    spectra = np.sort(rng.uniform(0.05, 2.0, (20, d)), axis=-1)[:, ::-1]
    lr_grid, rho_grid = np.geomspace(0.05, 1.5, 25), np.geomspace(1e-3, 0.5, 20)
    lr, rho, k = (a.ravel() for a in np.meshgrid(lr_grid, rho_grid, np.arange(20), indexing="ij"))
    lam = spectra[k]
    start = rng.standard_normal((lr.size, d))
    n = lr.size
    subset = rng.choice(n, size=min(args.subset, n), replace=False)
    print(f"grid: {n} configurations x {args.steps} steps, d = {d}; loop timed on {subset.size} configurations "
          f"and scaled linearly by {n / subset.size:g}")
    print(f"{'method':<12} {'vectorised_s':>12} {'loop_s (scaled)':>16} {'ratio':>8} {'diverged':>9}")
    ratios = []
    for method in METHODS:
        t0 = time.perf_counter()
        run = simulate(method, lam, lr=lr, rho=rho, start=start, steps=args.steps, blowup=blowup)
        vectorised = time.perf_counter() - t0
        t0 = time.perf_counter()
        diverged, finals = loop_run(method, lam[subset], lr[subset], rho[subset], start[subset], args.steps, blowup)
        loop = (time.perf_counter() - t0) * n / subset.size
        if not np.array_equal(diverged, run.diverged[subset]):
            raise SystemExit(f"{method}: loop and vectorised runs disagree on divergence")
        np.testing.assert_allclose(finals, run.final[subset], rtol=1e-9, atol=1e-300)
        ratios.append(vectorised / loop)
        print(f"{method:<12} {vectorised:>12.2f} {loop:>16.1f} {ratios[-1]:>8.4f} {run.diverged.mean():>9.1%}")
    print(f"ratio time(vectorised)/time(loop): worst {max(ratios):.4f}, goal <= 0.02")


if __name__ == "__main__":
    main()
