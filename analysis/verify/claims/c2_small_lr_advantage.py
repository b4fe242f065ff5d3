"""C2: SAM's advantage over SGD (stability, generalization gap) holds only at small learning rates.

The paper's claim is about SAM's *advantage*: its excess risk, generalization gap and test loss, with uniform
stability as the part its analysis bounds. On the twin runs it is decided on two tracks, each per (model,
method) over the eta grid, for SAM and for USAM:

- stability: the cross-fitted ``sup_z |E_A D(z)|`` of the method over SGD's
  (:func:`stablesam.analysis.verify.compare.stability_comparison`; rule :data:`STABILITY_RULE`), beside its
  noise floor and the twin distance;
- generalization gap: per seed, ``(test loss - train loss)`` of the method minus SGD's (rule :data:`GAP_RULE`).

Every (model, method, track, eta) is one case of one Holm family (both directions corrected together); per
(model, method, track) the corrected verdicts over eta form the pattern "advantage at small eta, gone or reversed
at a larger one" (:func:`~stablesam.analysis.verify.verdicts.only_below`). The claim is decided on SAM: supported
when both of SAM's tracks show the pattern on a model and none of SAM's contradicts it; USAM's tracks are
reported beside it. Theory: the exact excess-risk regimes of least squares
(:func:`stablesam.theory.least_squares.lr_ranges_beating`), exact within their model.
"""

from __future__ import annotations

__all__ = []  # the registry (claims/__init__.py) reads CLAIM; nothing else is public

import math

import numpy as np

from stablesam.analysis.verify.claim import SOURCE, Claim, ClaimResult, TheoryCheck, case
from stablesam.analysis.verify.compare import difference_comparison, stability_comparison
from stablesam.analysis.verify.experiments import regimes_experiment, twin_experiment
from stablesam.analysis.verify.verdicts import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    DecisionRule,
    holm_verdicts,
    only_below,
)

STABILITY_RULE = DecisionRule("cross-fitted stability, method / SGD, at one eta", claimed="less", boundary=1 / 1.1,
                              null=1.0, min_units=10)
GAP_RULE = DecisionRule("generalization gap, method - SGD, at one eta", claimed="less", boundary=0.0, null=0.0,
                        min_units=10)
RULE = STABILITY_RULE
METHODS = ("sam", "usam")


def experiments(scale, results=None):
    twins = [twin_experiment(scale, d, m, o, lr) for d, m in scale.stability_models
             for o in ("sgd", *METHODS) for lr in scale.lrs]
    return twins + [regimes_experiment(scale, m) for m in METHODS]


def theory(scale, results) -> TheoryCheck:
    numbers, parts, status = {}, [], "no prediction"
    for method in METHODS:
        r = results[regimes_experiment(scale, method)]
        ranges = r["ranges"]
        small = bool(ranges) and math.isclose(ranges[0][0], r["lr_min"], rel_tol=1e-9)
        vanishes = bool(ranges) and ranges[0][1] < r["gd_edge"]
        numbers[method] = {**r, "advantage_at_small_eta": small, "first_range_ends_before_gd_edge": vanishes}
        parts.append(f"{method}: excess risk below GD's for eta in "
                     + (", ".join(f"[{a:.3g}, {b:.3g}]" for a, b in ranges) or "no range")
                     + f" (GD's edge 2/lambda = {r['gd_edge']:.3g})")
        if method == "sam":
            status = "consistent" if small and vanishes else "contradicts" if ranges and not small else "no prediction"
    summary = ("Exact excess risk R(w_T) - R(w*) after T = 100 full-batch steps on least squares (x ~ N(0, diag(1, "
               "1/3, 1/9)), w* = (1, -1, 1), noise 0.5, 20 examples, rho = "
               f"{scale.rho:g}; stablesam.theory.least_squares.lr_ranges_beating, SAM in certified high precision): "
               + "; ".join(parts) + ". 'Only at small eta' is consistent when SAM's first winning range starts at the "
               "smallest eta and ends before GD's edge (later winning ranges, if any, are listed).")
    return TheoryCheck(status, summary, "stablesam.theory.least_squares.lr_ranges_beating (exact in its model)",
                       numbers)


def _track_cases(scale, results, generator):
    """Every (model, method, track, eta) case with its interval (or ``None``) and fields."""
    raw = []
    for dataset, model in scale.stability_models:
        for method in METHODS:
            for lr in scale.lrs:
                m = results[twin_experiment(scale, dataset, model, method, lr)]
                sgd = results[twin_experiment(scale, dataset, model, "sgd", lr)]
                where = {"dataset": dataset, "model": model, "method": method, "lr": lr}
                stability = stability_comparison(m, sgd, STABILITY_RULE, generator)
                raw.append(({**where, "track": "stability"}, STABILITY_RULE, stability))
                gap = difference_comparison(m.table["gen_gap"], sgd.table["gen_gap"], m.failures, sgd.failures,
                                            GAP_RULE)
                raw.append(({**where, "track": "generalization gap"}, GAP_RULE, gap))
    return raw


def combine(settings: list[dict], intervals: list) -> tuple[str, list[str], list[dict]]:
    """The claim's verdict from its cases: Holm over every case (both directions), the pattern over eta per
    (model, method, track), decided on SAM's two tracks (see the module docstring). Returns the verdict, the
    per-case verdicts and the patterns."""
    verdicts = holm_verdicts(intervals, STABILITY_RULE)  # both rules have alpha 0.025 and 10 seeds at least
    groups: dict[tuple, list[int]] = {}
    for k, s in enumerate(settings):
        groups.setdefault((s["dataset"], s["model"], s["method"], s["track"]), []).append(k)
    patterns = [{"dataset": d, "model": m, "method": method, "track": track,
                 "pattern": only_below([settings[k]["lr"] for k in ks], [verdicts[k] for k in ks])}
                for (d, m, method, track), ks in groups.items()]
    by_model: dict[tuple, list[str]] = {}
    for p in patterns:
        if p["method"] == "sam":
            by_model.setdefault((p["dataset"], p["model"]), []).append(p["pattern"])
    model_verdicts = [SUPPORTED if all(v == SUPPORTED for v in vs) else NOT_SUPPORTED if NOT_SUPPORTED in vs
                      else INCONCLUSIVE for vs in by_model.values()]
    verdict = (SUPPORTED if SUPPORTED in model_verdicts and NOT_SUPPORTED not in model_verdicts else
               NOT_SUPPORTED if NOT_SUPPORTED in model_verdicts and SUPPORTED not in model_verdicts else INCONCLUSIVE)
    return verdict, verdicts, patterns


def evaluate(scale, results, generator) -> ClaimResult:
    raw = _track_cases(scale, results, generator)
    verdict, verdicts, patterns = combine([r[0] for r in raw], [r[2]["interval"] for r in raw])
    cases = []
    for (setting, rule, fields), v in zip(raw, verdicts):
        fields = dict(fields)
        values = fields.pop("values", None)
        interval = fields.pop("interval")
        cases.append(case(setting, interval, v, values=values,
                          rule=rule, family=len(raw), **fields))
    sam = [p for p in patterns if p["method"] == "sam"]
    floor = sum(c.get("status", "").startswith("below noise floor") for c in cases if c["setting"]["track"] == "stability")
    failed = sum(c.get("status", "").startswith("not comparable") for c in cases)
    disagree = sum("disagreement" in c for c in cases)
    reading = ("decided on SAM's stability and generalization-gap patterns over eta (Holm over "
               f"{len(cases)} cases): " + ", ".join(f"{p['track']} {p['pattern']}" for p in sam)
               + f"; {floor} stability cases below their noise floor, {failed} not comparable (failed runs)"
               + (f", twin distance disagrees in {disagree}" if disagree else ""))
    notes = [f"{p['dataset']}/{p['model']} {p['method']} {p['track']}: pattern over eta {p['pattern']}" for p in patterns]
    first = next((c for c in cases if c["interval"] is not None and c["setting"]["method"] == "sam"
                  and c["setting"]["track"] == "stability"), None)
    from stablesam.analysis.verify.verdicts import Interval

    key = Interval(**first["interval"]) if first else None
    return ClaimResult(verdict, reading, "stability ratio SAM/SGD (smallest eta with an interval)", key, cases, notes,
                       {"patterns": patterns})


def plot(claim, figure_data):
    from stablesam.analysis.plots.claims import claim_figure, ratio_over_lr

    fig, axes = claim_figure(claim, panels=2)
    cases = claim["cases"]
    ratio_over_lr(axes[0], [c for c in cases if c["setting"]["track"] == "stability"], claim["rule"],
                  offset_by="method")
    axes[0].set_ylabel("cross-fitted stability, method / SGD")
    gap_rule = {"null": 0.0, "boundary": 0.0}
    ratio_over_lr(axes[1], [c for c in cases if c["setting"]["track"] == "generalization gap"], gap_rule,
                  offset_by="method", log=False)
    axes[1].set_ylabel("generalization gap, method - SGD")
    return fig


CLAIM = Claim(
    id="C2", title="SAM's advantage over SGD holds only at small learning rates",
    statement="Provides stability analysis of SAM using the lens of uniform stability and shows SAM's superiority over "
              "SGD only holds for small learning rates.", source=f"Main contributions; {SOURCE}", rule=RULE,
    combine="per (model, method, track): the pattern over eta of Holm-corrected cases; decided on SAM's two tracks",
    quantity="cross-fitted sup_z |E_A[l(A(S);z) - l(A(S');z)]| (beside its sign-flip noise floor and the twin "
             "distance) and the generalization gap, method against SGD, paired over seeds",
    stronger="The paper proves it for its bounds; here it is an empirical pattern on a finite eta grid.",
    would_change="A finer or wider eta grid, or more seeds narrowing the per-eta intervals.",
    experiments=experiments, theory=theory, evaluate=evaluate, plot=plot,
    decided_by="The twin experiments decide; the exact least-squares excess-risk regimes are the theory track, "
               "reported beside the verdict (a disagreement is noted).")
