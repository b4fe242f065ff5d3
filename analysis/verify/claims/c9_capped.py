"""C9: with a small modification, StableSAM can consistently beat SAM.

The modification is **inferred**: the paper does not spell it out; the official code carries the cap
``gamma_t <- min(gamma_t, 1)`` commented out, and the toolkit has it as ``--gamma-cap``. What is tested is capped
StableSAM (``cap = 1``) against SAM (normalized ascent) and USAM (unnormalized).

**Theory** (:mod:`stablesam.theory.capped`, derived, under the shared-factor assumption): the capped stability
bound is at most the base's at every eta in the convex and non-convex settings (any cap ``<= 1``); not implied in
the strongly convex setting, nor for the excess-risk bound unless the cap binds on every step. The check evaluates
both comparisons on a grid of eta and rho.

**Experiment**: capped StableSAM against SAM and against uncapped StableSAM on stability, accuracy and
trainability, "consistently" meaning every setting run. It is **not implemented yet**: at every scale the claim
reports its theory and "inconclusive (experiment not run at this scale)". The rule below is fixed for it.
"""

from __future__ import annotations

__all__ = []  # the registry (claims/__init__.py) reads CLAIM; nothing else is public

import numpy as np

from stablesam.analysis.verify.claim import SOURCE, UNIVERSAL, Claim, ClaimResult, TheoryCheck
from stablesam.analysis.verify.verdicts import INCONCLUSIVE, DecisionRule

RULE = DecisionRule("test accuracy of capped StableSAM - its base's, per seed, median (points)", claimed="greater",
                    boundary=0.0, null=0.0)
# The theory grid (fixed): L = beta = 1, n = 100 examples, T = 1000 steps, eta up to the convex condition 2/beta.
GRID = dict(lrs=np.geomspace(1e-3, 2.0, 12), rhos=(0.01, 0.05, 0.2), L=1.0, beta=1.0, n=100, T=1000)


def experiments(scale, results=None):
    return []


def theory(scale, results=None) -> TheoryCheck:
    from stablesam.theory.capped import C9_THEORY, capped_excess_risk_comparison, capped_stability_comparison

    g = GRID
    common = dict(L=g["L"], beta=g["beta"], n=g["n"], T=g["T"])
    numbers = {}
    for method in ("stablesam-n", "stablesam-u"):
        g_min = 1.0 if method == "stablesam-n" else None  # ||g|| >= 1 on the N grid (the bound needs a floor)
        per = {}
        for setting in ("convex", "nonconvex"):
            out = capped_stability_comparison(method, setting, g["lrs"], g["rhos"], g_min=g_min, **common)
            per[f"stability, {setting}"] = {"holds_everywhere": bool(out.holds.all()), "theorem": bool(out.theorem),
                                            "largest_ratio": float(np.max(out.capped / out.base))}
        risk = capped_excess_risk_comparison(method, g["lrs"], g["rhos"], D=1.0, g_min=g_min, **common)
        per["excess risk, convex"] = {"holds_everywhere": bool(risk.holds.all()), "theorem": bool(risk.theorem),
                                      "largest_ratio": float(np.max(risk.capped / risk.base))}
        numbers[method] = per
    stability_holds = all(v["holds_everywhere"] for m in numbers.values() for k, v in m.items() if "stability" in k)
    return TheoryCheck(
        "consistent" if stability_holds else "no prediction",
        "Derived, under the shared-factor assumption: " + C9_THEORY["convex"] + "; non-convex: " + C9_THEORY["nonconvex"]
        + "; strongly convex: " + C9_THEORY["strongly-convex"] + "; excess risk: " + C9_THEORY["excess-risk"]
        + ". On the grid (L = beta = 1, n = 100, T = 1000, eta in [1e-3, 2], rho 0.01-0.2): " + "; ".join(
            f"{m} {k}: {'holds' if v['holds_everywhere'] else 'fails'} (largest capped/base {v['largest_ratio']:.3g})"
            for m, per in numbers.items() for k, v in per.items())
        + ". A smaller bound is consistent with 'beats SAM', not a proof of better accuracy.",
        "docs/theory.md (capped StableSAM); stablesam.theory.capped", numbers)


def evaluate(scale, results, generator) -> ClaimResult:
    return ClaimResult(INCONCLUSIVE, "inconclusive (experiment not run at this scale): capped StableSAM vs SAM vs "
                       "uncapped is not implemented yet; the theory check is reported", "accuracy gain over SAM",
                       None, [], ["the modification (gamma_t <= 1) is inferred from the official code",
                                  f"experiment not run at the {scale.name} scale (not implemented)"], {})


def plot(claim, figure_data):
    from stablesam.analysis.plots.claims import claim_figure

    fig, ax = claim_figure(claim)
    numbers = claim.get("theory", {}).get("numbers", {}) if isinstance(claim.get("theory"), dict) else {}
    labels, ratios = [], []
    for method, per in numbers.items():
        for key, value in per.items():
            labels.append(f"{method}\n{key}")
            ratios.append(value["largest_ratio"])
    if ratios:
        ax.bar(range(len(ratios)), ratios, color="0.5")
        ax.set_xticks(range(len(ratios)), labels, rotation=40, ha="right", fontsize=5)
        ax.axhline(1.0, color="0.2", lw=0.8, ls="--")
    ax.set_ylabel("largest capped / base bound\non the grid")
    ax.text(0.02, 0.95, "theory only: experiment not run", transform=ax.transAxes, fontsize=6, va="top")
    return fig


CLAIM = Claim(
    id="C9", title="With a small modification StableSAM consistently beats SAM",
    statement="With a small modification, StableSAM can consistently beat SAM (the modification is inferred: the "
              "cap gamma_t <= 1, commented out in the official code).",
    source=f"Abstract and conclusion; {SOURCE}", rule=RULE, combine=UNIVERSAL,
    quantity="capped StableSAM (cap 1) against SAM and uncapped StableSAM on stability, accuracy and trainability "
             "(not run yet); the theory's capped-vs-base bounds on a grid",
    stronger="The modification is inferred; 'consistently' would mean every setting run.",
    would_change="Running the experiment; another reading of the modification.",
    experiments=experiments, theory=theory, evaluate=evaluate, plot=plot,
    decided_by="No experiment is run yet: the claim is inconclusive at every scale; the theory check is reported.")
