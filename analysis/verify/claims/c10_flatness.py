"""C10: StableSAM, like SAM, finds flatter minima than SGD (the paper's Hessian analysis).

Per seed, the ratio to SGD/GD of the top Hessian eigenvalue ``lambda_max`` (Lanczos, with its residual) at the
first step where each run reaches a stated training loss (sharpness falls with the loss anyway, so the comparison
is at equal loss: :func:`stablesam.analysis.experiments.flatness.flatness_table`). The effect of a case (method x
stated loss) is the median over seeds of ``log(lambda_max(m) / lambda_max(GD))``, with its exact sign-test interval
(:func:`~stablesam.analysis.verify.verdicts.median_interval`): supported (flatter) when the whole 95% interval lies
below 0, not supported (sharper) when wholly above. A seed where either run never reaches the loss is an outcome
(counted, not a number) and leaves the case. "StableSAM, like SAM" is universal over the cases
``{every StableSAM and its base run here} x stated losses`` (:func:`claimed`: the pairs of
:data:`~stablesam.analysis.verify.experiments.PAIRS` whose two methods the experiment ran: every pair of the method
table, StableSAM-N/SAM, StableSAM-U/USAM and StableSAM-A/ASAM, at standard and full): supported when every case is,
not supported when one contradicts it after Holm's correction
(:func:`~stablesam.analysis.verify.verdicts.combine_universal`). The trace (Hutchinson, with its standard error)
and each StableSAM against its base are reported beside it. Network runs: standard and full scales only. The ASAM pair's cost at standard: the flatness experiment (one process) took 341 s
for its seven methods on 2 quiet cores, and 258 s for the five without the ASAM pair on cores shared with other
jobs (the two were not timed under the same load).
"""

from __future__ import annotations

__all__ = []  # the registry (claims/__init__.py) reads CLAIM; nothing else is public

import math

import numpy as np

from stablesam.analysis.verify.claim import SOURCE, UNIVERSAL, Claim, ClaimResult, TheoryCheck, case, weakest
from stablesam.analysis.verify.experiments import PAIRS, Experiment
from stablesam.analysis.verify.verdicts import INCONCLUSIVE, DecisionRule, combine_universal, median_interval

RULE = DecisionRule("log(lambda_max(method) / lambda_max(GD)) at equal training loss, per seed, median",
                    claimed="less", boundary=0.0, null=0.0)
TRACE_RULE = DecisionRule("log(trace(method) / trace(GD)) at equal training loss, per seed, median",
                          claimed="less", boundary=0.0, null=0.0)
TARGET_LOSSES = (0.1, 0.05)  # FlatnessConfig's stated losses
# Fixed before any run: FlatnessConfig's model and losses (digits tanh MLP 32, full batch, eta 0.1, rho 0.05, stated
# losses 0.1 and 0.05); 10 seeds (a universal family needs 6 per case for the sign test) at standard, 20 at full.
SETTINGS = {"quick": None,
            "standard": dict(methods=["gd", "sam", "stablesam-n", "usam", "stablesam-u", "asam", "stablesam-a"],
                             seeds=list(range(10)), steps=2000, target_losses=list(TARGET_LOSSES)),
            "full": dict(methods=["gd", "sam", "stablesam-n", "usam", "stablesam-u", "asam", "stablesam-a"],
                         seeds=list(range(20)), steps=2000, target_losses=list(TARGET_LOSSES))}


def claimed(methods) -> tuple[str, ...]:
    """The methods whose cases decide: every StableSAM and its base (``PAIRS``) that ``methods`` both hold."""
    return tuple(m for base, stable in PAIRS if base in methods and stable in methods for m in (stable, base))


def flatness_experiment(scale) -> Experiment | None:
    settings = SETTINGS[scale.name]
    return None if settings is None else Experiment("flatness", dict(settings))


def experiments(scale, results=None):
    e = flatness_experiment(scale)
    return [] if e is None else [e]


def theory(scale, results=None) -> TheoryCheck:
    from stablesam.analysis.experiments.flatness import C10_THEORY

    return TheoryCheck("no prediction", C10_THEORY["line"], C10_THEORY["source"], {"status_line": C10_THEORY["status"]})


def log_ratios(table, method: str, target: float, metric: str = "lambda_max", reference: str = "gd"):
    """Per seed reached by both runs, ``log(metric(method) / metric(reference))`` at the first step reaching
    ``target``; and how many seeds of either run never reached it."""
    at = table[(table["point"] != "final") & np.isclose(table["target"].astype(float), target)]
    arm = at[at["method"] == method].set_index("seed")
    ref = at[at["method"] == reference].set_index("seed")
    seeds = arm.index.intersection(ref.index)
    both = arm.loc[seeds, "reached"].astype(bool).to_numpy() & ref.loc[seeds, "reached"].astype(bool).to_numpy()
    values = np.log(arm.loc[seeds, metric].to_numpy(float)[both] / ref.loc[seeds, metric].to_numpy(float)[both])
    return values, int((~both).sum())


def evaluate(scale, results, generator) -> ClaimResult:
    import pandas as pd

    experiment = flatness_experiment(scale)
    if experiment is None:
        return ClaimResult(INCONCLUSIVE, f"inconclusive: the network experiment is not run at the {scale.name} scale "
                           "(standard and full only)", "lambda_max ratio to GD at equal loss", None, [],
                           [f"experiment not run at the {scale.name} scale"], {})
    table = pd.DataFrame.from_records(results[experiment]["table"])
    targets = sorted({float(t) for t in table["target"] if isinstance(t, (int, float)) and math.isfinite(t)})
    raw, notes, points = [], [], []
    for method in claimed(set(table["method"])):
        for target in targets:
            values, missing = log_ratios(table, method, target)
            trace, _ = log_ratios(table, method, target, "trace")
            interval = median_interval(values, RULE)
            raw.append(({"method": method, "target_loss": target}, interval, values,
                        {"never_reached": missing, "trace_log_ratio": median_interval(trace, TRACE_RULE).to_dict()}))
            points += [{"method": method, "target": target, "ratio": float(np.exp(v))} for v in values]
    verdict, per_case = combine_universal([r[1] for r in raw], RULE)
    cases = [case(s, i, v, values=x, rule=RULE, family=len(raw), **extra) for (s, i, x, extra), v in zip(raw, per_case)]
    present = set(table["method"])
    for base, stable in PAIRS:
        if base not in present or stable not in present:
            continue
        for target in targets:
            values, missing = log_ratios(table, stable, target, reference=base)
            i = median_interval(values, RULE)
            notes.append(f"reported: {stable} / {base} lambda_max at loss {target:g}: {math.exp(i.estimate):.3g} "
                         f"[{math.exp(i.low):.3g}, {math.exp(i.high):.3g}] over {i.n} seeds ({missing} not reached)"
                         if i.n and math.isfinite(i.low) else f"reported: {stable} / {base} at loss {target:g}: too "
                         "few seeds")
    residual = table["lanczos_residual"].astype(float)
    notes.append(f"largest Lanczos residual {np.nanmax(residual) if residual.notna().any() else math.nan:.3g}")
    key = weakest(cases, "less")
    reading = (f"decided by per-seed log lambda_max ratios to GD at equal training loss (sign test, every one of "
               f"{len(cases)} cases, Holm on contradictions): " + "; ".join(
                   f"{c['setting']['method']} at loss {c['setting']['target_loss']:g} {c['verdict']}" for c in cases))
    return ClaimResult(verdict, reading, "log lambda_max ratio to GD (weakest case)", key, cases, notes,
                       {"points": points})


def plot(claim, figure_data):
    from stablesam.analysis.plots.claims import claim_figure
    from stablesam.analysis.plots.style import METHOD_COLORS, label

    fig, ax = claim_figure(claim)
    points = figure_data.get("points", [])
    groups = list(dict.fromkeys((p["method"], p["target"]) for p in points))
    for k, (method, target) in enumerate(groups):
        values = [p["ratio"] for p in points if (p["method"], p["target"]) == (method, target)]
        ax.scatter(k + np.linspace(-0.1, 0.1, len(values)), values, s=8, color=METHOD_COLORS.get(method, "0.3"))
    ax.set_xticks(range(len(groups)), [f"{label(m)}\nloss {t:g}" for m, t in groups], fontsize=6)
    ax.axhline(1.0, color="0.2", lw=0.8, ls="--")
    if points:
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "not run at this scale", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("lambda_max / lambda_max(GD) at equal loss")
    return fig


CLAIM = Claim(
    id="C10", title="StableSAM, like SAM, finds flatter minima than SGD",
    statement="StableSAM, like SAM, converges to flatter minima than SGD (Hessian analysis of the experiments).",
    source=f"Experiments (Hessian analysis); {SOURCE}", rule=RULE, combine=UNIVERSAL,
    quantity="per seed, lambda_max(method) / lambda_max(GD) at the first step each run reaches a stated training "
             "loss (Lanczos with its residual; the Hutchinson trace beside it)",
    stronger="The paper compares final sharpness; here at equal training loss, on a small digits MLP, full batch.",
    would_change="Other stated losses, models or batch sizes; the final rather than the equal-loss sharpness.",
    experiments=experiments, theory=theory, evaluate=evaluate, plot=plot)
