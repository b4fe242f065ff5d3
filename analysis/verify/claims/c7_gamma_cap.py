"""C7: renormalization only shortens the step -- how often would the ``min(1, gamma)`` cap act?

``gamma = ||g||/||g~|| <= 1`` is proved on PSD quadratics; on a network it is a frequency. Per seed of a long
StableSAM run (at least 1000 steps per case, so that one step is below 0.1% of the case), the fraction of steps
with ``gamma > 1``: the steps at which a cap ``min(1, gamma)`` would act. Decided per case by the median over
seeds against :data:`CAP_FRACTION` (1%); the pooled fraction over the case's steps is reported.
"""

from __future__ import annotations

__all__ = []  # the registry (claims/__init__.py) reads CLAIM; nothing else is public

import numpy as np

from stablesam.analysis.verify.claim import SOURCE, UNIVERSAL, Claim, ClaimResult, TheoryCheck, case, weakest
from stablesam.analysis.verify.claims.c1_surrogate_norm import grid
from stablesam.analysis.verify.verdicts import DecisionRule, combine_universal, median_interval

CAP_FRACTION = 0.01
RULE = DecisionRule("fraction of steps with gamma > 1 (the cap would act), median over seeds", claimed="less",
                    boundary=CAP_FRACTION, null=0.0)
METHODS = ("stablesam-n", "stablesam-u")


def experiments(scale, results=None):
    return [e for _, runs in grid(scale, METHODS) for e in runs]


def theory(scale, results=None) -> TheoryCheck:
    from stablesam.theory.method_constants import C7_THEORY, renormalization_theory
    from stablesam.theory.renormalization import gamma

    generator = np.random.default_rng(0)
    spectra = generator.exponential(size=(2000, 6))
    points = generator.standard_normal((2000, 6))
    worst = {m: float(np.max(gamma(m, spectra, points, scale.rho))) for m in METHODS}
    saddle = float(gamma("stablesam-u", [-1.0], [1.0], scale.rho))
    nonconvex = {m: renormalization_theory(m, rho=scale.rho, beta=1.0).nonconvex_highest for m in METHODS}
    # Proved for convex losses only; the claim is decided on networks, where the theory implies nothing: consistent.
    return TheoryCheck(
        "consistent",
        f"{C7_THEORY}: on convex beta-smooth losses gamma <= 1 by co-coercivity, so the cap never acts (largest "
        "gamma over 2000 random PSD quadratics: " + ", ".join(f"{k} {v:.6f}" for k, v in worst.items()) +
        f"); with negative curvature gamma exceeds 1 ({saddle:.4g} at lambda = -1, rho = {scale.rho:g}; up to "
        f"1/(1 - rho beta) = {nonconvex['stablesam-u']:.4g} at beta = 1), which is where the networks decide it.",
        "docs/theory.md section 4.3 (derived); stablesam.theory.method_constants.renormalization_theory",
        {"max_gamma_psd": worst, "gamma_negative_curvature": saddle, "gamma_nonconvex_highest": nonconvex})


def evaluate(scale, results, generator) -> ClaimResult:
    raw, gammas = [], {}
    for (dataset, model, method, lr, rho), runs in grid(scale, METHODS):
        data = [np.asarray(results[e]["gamma"], dtype=np.float64) for e in runs]
        data = [g[np.isfinite(g)] for g in data]
        fractions = np.array([np.mean(g > 1.0) if g.size else np.nan for g in data])
        steps = int(sum(g.size for g in data))
        pooled = float(sum(int(np.sum(g > 1.0)) for g in data) / steps) if steps else float("nan")
        raw.append(({"dataset": dataset, "model": model, "method": method, "lr": lr, "rho": rho},
                    median_interval(fractions, RULE), fractions,
                    {"pooled_fraction": pooled, "steps": steps, "one_step_share": 1.0 / steps if steps else None,
                     "max_gamma": float(max(g.max() for g in data if g.size)) if steps else None}))
        gammas.setdefault(method, []).extend(np.concatenate(data).tolist())
    verdict, per_case = combine_universal([r[1] for r in raw], RULE)
    cases = [case(s, i, v, values=f, rule=RULE, **extra) for (s, i, f, extra), v in zip(raw, per_case)]
    reading = ("how often the min(1, gamma) cap would act: " + ", ".join(
        f"{c['setting']['method']} eta={c['setting']['lr']:g} rho={c['setting']['rho']:g}: "
        f"{100 * c['pooled_fraction']:.2g}% of {c['steps']} steps" for c in cases) + f"; bar {100 * CAP_FRACTION:g}%")
    return ClaimResult(verdict, reading, "fraction of steps with gamma > 1 (weakest case)", weakest(cases, "less"),
                       cases, figure_data={"gammas": gammas})


def plot(claim, figure_data):
    from stablesam.analysis.plots.claims import claim_figure
    from stablesam.analysis.plots.style import METHOD_COLORS, label

    fig, ax = claim_figure(claim)
    for method, values in figure_data.get("gammas", {}).items():
        ax.hist(values, bins=60, histtype="step", color=METHOD_COLORS[method], label=label(method))
    ax.axvline(1.0, color="0.2", lw=0.8, ls="--", label="gamma = 1")
    ax.set_xlabel("gamma = ||g|| / ||g~|| per step")
    ax.set_ylabel("steps")
    ax.legend(frameon=False, fontsize=6)
    return fig


CLAIM = Claim(
    id="C7", title="Renormalization only shortens the step (how often would min(1, gamma) act)",
    statement="StableSAM [...] simply renormalizes the norm of the surrogate gradient to match the norm of the true "
              "gradient. This helps control the step size taken during SAM updates.",
    source=f"Proposed solution; {SOURCE}; docs/theory.md section 2", rule=RULE, combine=UNIVERSAL,
    quantity="fraction of steps with gamma = ||g||/||g~|| > 1 in StableSAM training (where a min(1, gamma) cap "
             "would act), per seed of runs of at least 1000 steps per case",
    stronger="Proved on convex quadratics only; on networks it is measured (at most 1% of steps).",
    would_change="A setting where more than 1% of steps have gamma > 1.",
    experiments=experiments, theory=theory, evaluate=evaluate, plot=plot)
