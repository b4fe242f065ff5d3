"""C3: StableSAM allows larger learning rates than SAM.

**Trainability** (decides). Per seed and method, the largest eta of the grid at which the run *trains*: its
train accuracy reaches ``target_accuracy`` after ``epochs`` epochs and it neither diverged nor failed to train
(:func:`stablesam.analysis.verify.twin_evidence.failure_kinds`); the failure kind of every (method, eta, seed) is
recorded. The effect per seed is the gain ``log2 eta_max(StableSAM) - log2 eta_max(base)`` (a seed that trains
nowhere counts one grid step below the grid); the cases (model, pair) form one Holm family. Failed runs are the
evidence here, not a reason to drop a case.

**Plateau against its own edge** (reported). On full-batch edge-of-stability runs
(:mod:`stablesam.analysis.experiments.edge_of_stability`) each method's plateau sharpness over *its own* predicted
edge (``2/eta`` for GD and StableSAM, SAM's and USAM's edges): does the formula predict where training settles?
The former test -- StableSAM's sharpness over SAM's edge at StableSAM's own ``||g||`` -- is dropped: SAM's edge
tends to 0 with ``||g||``, so any converged StableSAM run "supported" it (on the quadratic ``lambda = (15, 3)``,
``eta = 0.1``, ``rho = 0.05`` it gave 2.3e5 while SAM at that eta sits on a bounded 2-cycle;
``tests/analysis/verify/test_claims.py`` checks that the trainability test does not read "supported" there).
"""

from __future__ import annotations

__all__ = []  # the registry (claims/__init__.py) reads CLAIM; nothing else is public

import math

import numpy as np

from stablesam.analysis.verify.claim import SOURCE, EXISTENTIAL, Claim, ClaimResult, TheoryCheck, case
from stablesam.analysis.verify.experiments import PAIRS, Experiment, twin_experiment
from stablesam.analysis.verify.verdicts import DecisionRule, Interval, combine_existential, median_interval

RULE = DecisionRule("log2 eta_max(StableSAM) - log2 eta_max(base), per seed, median", claimed="greater",
                    boundary=0.0, null=0.0, min_units=8)
EOS_METHODS = ("gd", "sam", "usam", "stablesam-u", "stablesam-n")
# Edge-of-stability settings, fixed before any verdict was seen: a small digits tanh MLP (one hidden layer of 32,
# 256 examples, 200 full-batch steps at quick scale, 800 at standard), eta = 0.1 where the initial sharpness (about 34) lies above 2/eta = 20;
# full: the 64-64 tanh MLPs of the README's edge-of-stability table.
EOS_SETTINGS = {
    "quick": (dict(dataset="digits", model="mlp", activation="tanh", hidden=[32], n_train=256, lrs=[0.1], steps=200,
                   measure_every=20),),
    "standard": (dict(dataset="digits", model="mlp", activation="tanh", hidden=[32], n_train=256, lrs=[0.1],
                      steps=800, measure_every=20),),
    "full": (dict(dataset="digits", model="mlp", activation="tanh", hidden=[64, 64], lrs=[0.1], steps=1000,
                  measure_every=20),
             dict(dataset="mnist1d", model="mlp", activation="tanh", hidden=[64, 64], n_train=1000, lrs=[0.2],
                  steps=1500, measure_every=25)),
}


def eos_groups(scale) -> list[list[Experiment]]:
    return [[Experiment("eos", {**s, "seeds": list(scale.eos_seeds), "rhos": [scale.rho], "loss": "mse",
                                "device": scale.device, "methods": [m]}) for m in EOS_METHODS]
            for s in EOS_SETTINGS[scale.name]]


def experiments(scale, results=None):
    return ([twin_experiment(scale, d, m, o, lr) for d, m in scale.edge_models for pair in PAIRS for o in pair
             for lr in scale.lrs] + [e for group in eos_groups(scale) for e in group])


def theory(scale, results=None) -> TheoryCheck:
    from stablesam.analysis.verify.claims.c1_surrogate_norm import least_squares_spectrum
    from stablesam.theory.stability_edge import max_stable_lr

    eigenvalues, grad_norm = least_squares_spectrum()
    lam = float(eigenvalues[-1])
    edges = {m: float(max_stable_lr(m, lam, rho=scale.rho, grad_norm=grad_norm if m == "sam" else None))
             for m in EOS_METHODS}
    larger = all(edges[s] >= max(edges["sam"], edges["usam"]) for s in ("stablesam-u", "stablesam-n"))
    return TheoryCheck(
        "consistent" if larger else "no prediction",
        f"Edges of the local quadratic model (digits least squares, lambda_max = {lam:.4g}, ||g|| = {grad_norm:.3g} at "
        f"w = 0, rho = {scale.rho:g}): " + ", ".join(f"{k} {v:.4g}" for k, v in edges.items()) +
        ". StableSAM keeps GD's edge 2/lambda, at or above USAM's and SAM's; SAM's edge depends on ||g|| and "
        "reaches GD's as ||g|| grows, so on a quadratic both can train up to 2/lambda (the toy in the tests).",
        "docs/theory.md section 3; stablesam.theory.stability_edge.max_stable_lr",
        {"lambda_max": lam, "grad_norm": grad_norm, "edges": edges})


def largest_trainable(lrs, trains: np.ndarray) -> np.ndarray:
    """Per seed (columns of ``trains``, rows over ``lrs`` ascending), ``log2`` of the largest eta at which it
    trains; one grid step below the grid where it trains nowhere."""
    log_lrs = np.log2(np.asarray(lrs, dtype=np.float64))
    step = float(np.min(np.diff(log_lrs))) if len(log_lrs) > 1 else 1.0
    return np.array([log_lrs[np.flatnonzero(trains[:, s])[-1]] if trains[:, s].any() else log_lrs[0] - step
                     for s in range(trains.shape[1])])


def trainability_interval(lrs, trains_stable: np.ndarray, trains_base: np.ndarray) -> tuple[Interval, np.ndarray]:
    """The case's interval of the per-seed gain (see the module docstring) and the gains."""
    gain = largest_trainable(lrs, trains_stable) - largest_trainable(lrs, trains_base)
    return median_interval(gain, RULE), gain


def _trains(outcome, target: float) -> tuple[np.ndarray, list[str]]:
    kinds = [k if k != "ok" or a >= target else "below target"
             for k, a in zip(outcome.failures, outcome.table["train_accuracy"])]
    return np.array([k == "ok" for k in kinds]), kinds


def evaluate(scale, results, generator) -> ClaimResult:
    lrs = sorted(scale.lrs)
    raw, points = [], []
    for dataset, model in scale.edge_models:
        for base, stable in PAIRS:
            trains, kinds = {}, {}
            for method in (base, stable):
                rows = [_trains(results[twin_experiment(scale, dataset, model, method, lr)], scale.target_accuracy)
                        for lr in lrs]
                trains[method] = np.stack([r[0] for r in rows])
                kinds[method] = {f"{lr:g}": {k: r[1].count(k) for k in set(r[1])} for lr, r in zip(lrs, rows)}
                points += [{"dataset": dataset, "model": model, "method": method, "seed": s, "lr_max": float(2 ** v)}
                           for s, v in zip(scale.seeds, largest_trainable(lrs, trains[method]))]
            interval, gain = trainability_interval(lrs, trains[stable], trains[base])
            raw.append(({"dataset": dataset, "model": model, "method": stable, "base": base}, interval, gain,
                        {"outcomes_per_eta": kinds,
                         "median_lr_max": {m: float(2 ** np.median(largest_trainable(lrs, trains[m])))
                                           for m in (base, stable)}}))
    verdict, per_case = combine_existential([r[1] for r in raw], RULE)
    cases = [case(s, i, v, values=g, rule=RULE, family=len(raw), **extra)
             for (s, i, g, extra), v in zip(raw, per_case)]
    plateau_notes, plateaus = _plateaus(scale, results)
    key = max((Interval(**c["interval"]) for c in cases), key=lambda i: i.low, default=None)
    reading = (f"decided by the largest trainable eta per seed (target train accuracy {scale.target_accuracy:g}, "
               f"Holm over {len(cases)} cases); " + "; ".join(
                   f"{c['setting']['dataset']}/{c['setting']['model']} {c['setting']['method']}: {c['verdict']}"
                   for c in cases) + ". Plateaus against each method's own edge are reported, not decided.")
    return ClaimResult(verdict, reading, "log2 eta_max gain of StableSAM (largest case)", key, cases,
                       [f"trainability: target train accuracy {scale.target_accuracy:g} after {scale.epochs} epochs, "
                        f"without divergence or a failure to train; 'none' counts as one grid step below {lrs[0]:g}",
                        *plateau_notes], {"points": points, "plateaus": plateaus})


def _plateaus(scale, results) -> tuple[list[str], list[dict]]:
    import pandas as pd

    from stablesam.analysis.experiments.edge_of_stability import plateau_ratios, plateau_summary

    notes, rows = [], []
    for group in eos_groups(scale):
        table = pd.concat([pd.DataFrame.from_records(results[e]["table"]) for e in group], ignore_index=True)
        summary = plateau_summary(plateau_ratios(table))
        for row in summary.itertuples():
            near = math.isfinite(row.plateau_ratio_median) and 0.8 <= row.plateau_ratio_median <= 1.25
            notes.append(f"plateau sharpness / own edge, {row.dataset}/{row.model} {row.optimizer} eta={row.lr:g}: "
                         f"median {row.plateau_ratio_median:.3g} [min {row.plateau_ratio_min:.3g}, max "
                         f"{row.plateau_ratio_max:.3g}] over {row.seeds - row.diverged} seeds, {row.diverged} diverged"
                         f" -- the edge formula {'predicts' if near else 'does not predict'} where it settles "
                         "(within 0.8-1.25)")
        rows += summary.to_dict(orient="records")
    return notes, rows


def plot(claim, figure_data):
    from stablesam.analysis.plots.claims import claim_figure
    from stablesam.analysis.plots.style import METHOD_COLORS, label

    fig, axes = claim_figure(claim, panels=2)
    ax = axes[0]
    points = figure_data.get("points", [])
    groups = sorted({(p["dataset"], p["model"]) for p in points})
    methods = list(dict.fromkeys(p["method"] for p in points))
    for g, group in enumerate(groups):
        for k, method in enumerate(methods):
            values = [p["lr_max"] for p in points if (p["dataset"], p["model"]) == group and p["method"] == method]
            x = g + 0.8 * (k + 0.5) / len(methods) - 0.4 + np.linspace(-0.06, 0.06, len(values))
            ax.scatter(x, values, s=8, color=METHOD_COLORS[method], label=label(method) if g == 0 else None, alpha=0.7)
    ax.set_xticks(range(len(groups)), ["/".join(g) for g in groups])
    ax.set_yscale("log", base=2)
    ax.set_ylabel("largest eta that trains")
    ax.legend(frameon=False, fontsize=6)
    plateaus = figure_data.get("plateaus", [])
    for k, row in enumerate(plateaus):
        axes[1].scatter([k], [row["plateau_ratio_median"]], color=METHOD_COLORS.get(row["optimizer"], "0.3"))
    axes[1].set_xticks(range(len(plateaus)), [label(r["optimizer"]) for r in plateaus], rotation=30, fontsize=6)
    axes[1].axhline(1.0, color="0.2", lw=0.8, ls="--")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("plateau sharpness / own edge")
    return fig


CLAIM = Claim(
    id="C3", title="StableSAM allows larger learning rates than SAM",
    statement="Presents convergence analysis for both SAM and StableSAM and derives generalization error bounds. "
              "Shows StableSAM allows larger learning rates.", source=f"Main contributions; {SOURCE}", rule=RULE,
    combine=EXISTENTIAL,
    quantity="per seed, the largest grid eta at which each method trains (target train accuracy, no divergence, "
             "no failure to train), with the failure kind of every run; beside it each method's plateau sharpness "
             "over its own predicted edge",
    stronger="The paper's statement is about its bounds' learning-rate conditions; here: trainability on a coarse "
             "grid after few epochs.",
    would_change="A finer grid, longer training or another target accuracy.",
    experiments=experiments, theory=theory, evaluate=evaluate, plot=plot)
