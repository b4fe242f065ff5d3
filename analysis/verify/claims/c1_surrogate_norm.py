"""C1: the surrogate gradient is often much longer than the true gradient (the paper's Figure 1).

Per seed of a long run (its late, small-``||g||`` phase included: ``trajectory_epochs`` epochs, at least 1000
steps per case), the ratio ``||g~||/||g|| = 1/gamma`` at every step; its median and 90th percentile over steps.
"Often" is read as "in at least a tenth of the steps", so the 90th percentile over steps decides; "much larger"
as at least :data:`MUCH_LARGER` = 2: a surrogate twice the gradient's length, where StableSAM halves SAM's step,
as large a change as the factor-2-3 steps of a learning-rate grid. The ratio is at least 1 by proof on convex
losses, so a boundary of 1 (or 1.05) would be nearly automatic.
"""

from __future__ import annotations

__all__ = []  # the registry (claims/__init__.py) reads CLAIM; nothing else is public

import numpy as np

from stablesam.analysis.verify.claim import SOURCE, UNIVERSAL, Claim, ClaimResult, TheoryCheck, case, weakest
from stablesam.analysis.verify.experiments import trajectory_experiment
from stablesam.analysis.verify.verdicts import DecisionRule, combine_universal, median_interval

MUCH_LARGER = 2.0
RULE = DecisionRule("per-seed 90th percentile over steps of ||g~||/||g||, median over seeds", claimed="greater",
                    boundary=MUCH_LARGER, null=1.0)
METHODS = ("sam", "usam")


def grid(scale, methods=METHODS):
    """``[((dataset, model, method, lr, rho), [one trajectory experiment per seed])]``."""
    return [((d, m, method, lr, rho), [trajectory_experiment(scale, d, m, method, lr, rho, s) for s in scale.trajectory_seeds])
            for d, m in scale.trajectory_models for method in methods for lr in scale.trajectory_lrs
            for rho in scale.trajectory_rhos]


def experiments(scale, results=None):
    return [e for _, runs in grid(scale) for e in runs]


def least_squares_spectrum():
    """Eigenvalues of the digits least-squares Hessian and the gradient norm at ``w = 0`` (exact, float64)."""
    from stablesam.analysis.experiments.least_squares_digits import least_squares_problem

    problem = least_squares_problem(generator=np.random.default_rng(0))
    x = np.hstack([problem.x.numpy(), np.ones((len(problem.y), 1))])
    grad0 = -x.T @ problem.y.numpy() / len(problem.y)
    return problem.eigenvalues, float(np.linalg.norm(grad0))


def theory(scale, results=None) -> TheoryCheck:
    from stablesam.theory.renormalization import gamma_range

    eigenvalues, grad_norm = least_squares_spectrum()
    positive = eigenvalues[eigenvalues > 1e-12 * eigenvalues[-1]]
    numbers = {}
    for rho in scale.trajectory_rhos:
        g_min, g_max = gamma_range("stablesam-u", positive, rho)
        n_min, n_max = gamma_range("stablesam-n", positive, rho, grad_norm=grad_norm)
        numbers[f"rho={rho:g}"] = {"usam_ratio_range": [1 / g_max, 1 / g_min],
                                   "sam_ratio_range_at_w0": [1 / n_max, 1 / n_min]}
    return TheoryCheck(
        "consistent",
        "On a PSD quadratic the ratio ||g~||/||g|| = 1/gamma lies in [1 + rho lambda_min, 1 + rho lambda_max] (USAM) and "
        "[1 + rho lambda_min/||g||, 1 + rho lambda_max/||g||] (SAM): never below 1, and for SAM growing like "
        "rho lambda/||g|| as ||g|| -> 0. This proves a ratio of at least 1 on least squares, not 'much larger' on a "
        "network: consistent with the claim, no proof of it. Digits least-squares Hessian (exact spectrum; SAM at "
        "w = 0): " + "; ".join(f"{k}: USAM [{v['usam_ratio_range'][0]:.4g}, {v['usam_ratio_range'][1]:.4g}], "
                               f"SAM [{v['sam_ratio_range_at_w0'][0]:.4g}, {v['sam_ratio_range_at_w0'][1]:.4g}]"
                               for k, v in numbers.items()),
        "docs/theory.md section 2 (derived); stablesam.theory.renormalization.gamma_range", numbers)


def _ratios(run) -> np.ndarray:
    gamma = np.asarray(run["gamma"], dtype=np.float64)
    ok = np.isfinite(gamma) & (gamma > 0)
    return 1.0 / gamma[ok]


def evaluate(scale, results, generator) -> ClaimResult:
    cases, curves, intervals = [], {}, []
    for (dataset, model, method, lr, rho), runs in grid(scale):
        data = [results[e] for e in runs]
        ratios = [_ratios(d) for d in data]
        p90 = np.array([np.percentile(r, 90) if r.size else np.nan for r in ratios])
        median = np.array([np.median(r) if r.size else np.nan for r in ratios])
        late = np.array([np.percentile(r[len(r) // 2:], 90) if r.size > 1 else np.nan for r in ratios])
        interval = median_interval(p90, RULE)
        intervals.append(interval)
        cases.append(case({"dataset": dataset, "model": model, "method": method, "lr": lr, "rho": rho}, interval,
                          RULE.decide(interval), values=p90, rule=RULE,
                          median_over_steps=median_interval(median, RULE).to_dict(),
                          p90_late_half=median_interval(late, RULE).to_dict(),
                          steps_per_seed=int(np.median([len(r) for r in ratios])),
                          diverged_runs=sum(bool(d["diverged"]) for d in data)))
        length = max(len(r) for r in ratios)
        padded = [np.concatenate([r, np.full(length - len(r), np.nan)]) for r in ratios]
        curves[f"{method} lr={lr:g} rho={rho:g}"] = {"method": method, "ratio": np.nanmedian(padded, axis=0).tolist()}
    verdict, per_case = combine_universal(intervals, RULE)
    for c, v in zip(cases, per_case):
        c["verdict"] = v
    key = weakest(cases, "greater")
    reading = (f"decided by the 90th percentile over steps of ||g~||/||g|| against {MUCH_LARGER:g} ('much larger') in "
               "every case; " + "; ".join(
                   f"{c['setting']['method']} eta={c['setting']['lr']:g} rho={c['setting']['rho']:g}: "
                   + (f"{c['interval']['estimate']:.3g} [{c['interval']['low']:.3g}, {c['interval']['high']:.3g}]"
                      if c["interval"] and c["interval"]["low"] is not None and np.isfinite(c["interval"]["low"])
                      else "no interval") + f" {c['verdict']}" for c in cases))
    return ClaimResult(verdict, reading, "smallest per-setting 90th-percentile ratio", key, cases,
                       figure_data={"curves": curves})


def plot(claim, figure_data):
    from stablesam.analysis.plots.claims import boundaries, claim_figure
    from stablesam.analysis.plots.style import FULL_WIDTH, METHOD_COLORS

    fig, ax = claim_figure(claim, width=FULL_WIDTH * 0.6)
    for name, curve in figure_data.get("curves", {}).items():
        ax.plot(curve["ratio"], color=METHOD_COLORS[curve["method"]], alpha=0.8, lw=0.8, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("||g~|| / ||g|| (median over seeds)")
    boundaries(ax, claim["rule"])
    ax.legend(frameon=False, fontsize=5, ncol=2)
    return fig


CLAIM = Claim(
    id="C1", title="The surrogate gradient is often much longer than the true gradient",
    statement="The norm of the surrogate gradient is often much larger than that of the true gradient (Figure 1).",
    source=f"Figure 1 of the paper; {SOURCE}", rule=RULE, combine=UNIVERSAL,
    quantity="||g~|| / ||g|| = 1/gamma at every step of a long run (SAM, USAM); per seed the median and the 90th "
             "percentile over steps",
    stronger=f"'Often' is read as at least 10% of the steps, 'much larger' as at least {MUCH_LARGER:g}.",
    would_change="A setting whose 90th-percentile interval reaches below 2 is inconclusive; wholly below 1, not "
                 "supported.",
    experiments=experiments, theory=theory, evaluate=evaluate, plot=plot)
