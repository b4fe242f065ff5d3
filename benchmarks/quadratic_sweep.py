"""Vectorised grid simulation vs a per-configuration Python loop over the same quadratic maps.

Grid: 25 learning rates x 20 radii x 20 random spectra (d = 4) = 10^4 configurations, 1000 steps, for each
of the five methods. The vectorised side is one :func:`stablesam.theory.simulate.simulate` call per method. The loop
side steps each configuration on its own with :func:`stablesam.theory.quadratic.step` (same maps, same divergence
check); it is timed on a random subset of configurations and scaled linearly to the full grid (each
configuration costs the same per step; configurations that diverge early make the loop faster, so the
subset is drawn uniformly). The results of the subset are checked against the vectorised run (once,
before timing). A call is all five methods; the two sides alternate in interleaved rounds (:mod:`_timing`,
1 thread); the ratio per round is time(vectorised) / (time(loop on the subset) x grid / subset).

Goal: time(vectorised) / time(loop) <= 0.02 (median [IQR] over the rounds). Not a test; the project
machine's 2 cores are shared, so absolute times vary.

    python benchmarks/quadratic_sweep.py [--subset 20] [--steps 1000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Ratio, interleave, print_ratios  # noqa: E402

from stablesam.theory.quadratic import METHODS, Quadratic, step  # noqa: E402
from stablesam.theory.simulate import simulate  # noqa: E402


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


def main(argv=None) -> list[Ratio]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=20, help="configurations timed in the loop (scaled up)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    d, blowup = 4, 1e8
    spectra = np.sort(rng.uniform(0.05, 2.0, (20, d)), axis=-1)[:, ::-1]
    lr_grid, rho_grid = np.geomspace(0.05, 1.5, 25), np.geomspace(1e-3, 0.5, 20)
    lr, rho, k = (a.ravel() for a in np.meshgrid(lr_grid, rho_grid, np.arange(20), indexing="ij"))
    lam = spectra[k]
    start = rng.standard_normal((lr.size, d))
    n = lr.size
    subset = rng.choice(n, size=min(args.subset, n), replace=False)

    def vectorised():
        return [simulate(method, lam, lr=lr, rho=rho, start=start, steps=args.steps, blowup=blowup) for method in METHODS]

    def looped():
        return [loop_run(method, lam[subset], lr[subset], rho[subset], start[subset], args.steps, blowup)
                for method in METHODS]

    for method, run, (diverged, finals) in zip(METHODS, vectorised(), looped()):
        if not np.array_equal(diverged, run.diverged[subset]):
            raise SystemExit(f"{method}: loop and vectorised runs disagree on divergence")
        np.testing.assert_allclose(finals, run.final[subset], rtol=1e-9, atol=1e-300)
    timings = interleave({"vectorised": vectorised, "loop (subset)": looped}, rounds=args.rounds, warmup=0)
    spread = timings.combine(lambda t: t["vectorised"] / (t["loop (subset)"] * n / subset.size))
    print(f"grid: {n} configurations x {args.steps} steps x {len(METHODS)} methods, d = {d}; loop timed on "
          f"{subset.size} configurations and scaled by {n / subset.size:g}; {timings.describe()}")
    print(timings.table("s"))
    ratios = [Ratio("quadratic_sweep", "vectorised / loop (all methods)", spread, 0.02)]
    print_ratios(ratios)
    return ratios


if __name__ == "__main__":
    main()
