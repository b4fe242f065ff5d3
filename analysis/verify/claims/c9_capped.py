"""C9: with a small modification, StableSAM can consistently beat SAM.

The modification is **inferred**: the paper does not spell it out; the official code carries the cap
``gamma_t <- min(gamma_t, 1)`` commented out, and the toolkit has it as ``--gamma-cap`` (the twin config key
``gamma_cap``). What is tested is capped StableSAM (``gamma_cap = 1``) against its base (SAM for StableSAM-N; at
the standard and full scales also USAM and ASAM, every pair of :data:`~stablesam.analysis.verify.experiments.PAIRS`),
with uncapped StableSAM beside it.

**Theory** (:mod:`stablesam.theory.capped`, derived, under the shared-factor assumption): the capped stability
bound is at most the base's at every eta in the convex and non-convex settings (any cap ``<= 1``); not implied in
the strongly convex setting, nor for the excess-risk bound unless the cap binds on every step. The check evaluates
both comparisons on a grid of eta and rho.

**Experiment** (twin runs, the same settings as C3/C4/C5, so the base and uncapped runs are theirs, cached once).
Three aspects, each case paired over seeds, each with a non-inferiority rule (:data:`RULES`: "capped is not worse
than its base by more than a margin") and a superiority rule (:data:`BEATS`: "capped is better"), fixed here
before anything ran:

- **stability** per (model, pair, eta) of the scale's stability grid: the cross-fitted stability ratio
  capped / base (:func:`~stablesam.analysis.verify.compare.stability_comparison`, as C4); not worse: the whole
  interval below 1.1; better: below 1/1.1 (C4's margin);
- **accuracy** per (pair, label noise) of the scale's label-noise runs: test accuracy capped - base in points (as
  C5); not worse: the lower end above -1 point; better: above 0;
- **trainability** per (model, pair) over the stability grid's eta: per seed, ``log2 eta_max(capped) - log2
  eta_max(base)``, the largest eta at which the run trains (C3's definition: target train accuracy, no divergence,
  no failure to train; a seed that trains nowhere counts one grid step below the grid); not worse: the lower end
  above -1 (in effect: no seed loses a grid step); better: above 0.

**Failed runs are outcomes.** A stability case whose arm failed in most seeds is "not comparable": it leaves the
stability aspect, because the trainability case of its (model, pair) counts every seed's failure at every eta (a
capped run that fails where the base trains shows there as a lost grid step). An accuracy case that is not
comparable, or a stability case below its noise floor, stays in the family with p = 1 (it measured nothing).

**Rule** ("consistently" = every setting run): *supported* when every case of the family is not worse
(intersection-union: each at the one-sided 2.5% level, so no correction) **and** some case is better (Holm over
every case's superiority p-values, family-wise 2.5%) -- "beats" read as never worse and better somewhere;
*not supported* when some case is worse by more than its margin (Holm over the reverse p-values); *inconclusive*
otherwise. Capped against uncapped StableSAM (the same three aspects, the same rules) is reported, not decided.

**Scales.** quick: the SAM pair only (digits MLP, 4 eta; label noise 0 and 0.4): 6 new twin runs, the other 12
arms are C3/C4/C5's; standard and full: every pair of ``PAIRS`` on the scale's grids.
"""

from __future__ import annotations

__all__ = []  # the registry (claims/__init__.py) reads CLAIM; nothing else is public

import math

import numpy as np

from stablesam.analysis.verify.claim import SOURCE, Claim, ClaimResult, ExperimentFailed, TheoryCheck, case
from stablesam.analysis.verify.compare import difference_comparison, stability_comparison
from stablesam.analysis.verify.experiments import PAIRS, twin_experiment
from stablesam.analysis.verify.verdicts import (
    INCONCLUSIVE,
    NOT_COMPARABLE,
    NOT_SUPPORTED,
    SUPPORTED,
    DecisionRule,
    Interval,
    holm,
    median_interval,
)

CAP = 1.0
ASPECTS = ("stability", "accuracy", "trainability")
# Non-inferiority (decides "never worse"): fixed before anything ran.
RULES = {
    "stability": DecisionRule("cross-fitted stability, capped StableSAM / base, at one eta (not worse: below 1.1)",
                              claimed="less", boundary=1.1, null=1.0, min_units=10),
    "accuracy": DecisionRule("test accuracy capped StableSAM - base, points (not worse: above -1)", claimed="greater",
                             boundary=-1.0, null=0.0, min_units=10),
    "trainability": DecisionRule("log2 eta_max(capped StableSAM) - log2 eta_max(base), per seed (not worse: above -1)",
                                 claimed="greater", boundary=-1.0, null=0.0, min_units=8),
}
# Superiority (decides "better somewhere"): C4's, C5's and C3's boundaries.
BEATS = {
    "stability": DecisionRule("cross-fitted stability, capped / base (better: below 1/1.1)", claimed="less",
                              boundary=1 / 1.1, null=1.0, min_units=10),
    "accuracy": DecisionRule("test accuracy capped - base, points (better: above 0)", claimed="greater", boundary=0.0,
                             null=0.0, min_units=10),
    "trainability": DecisionRule("log2 eta_max gain of capped StableSAM (better: above 0)", claimed="greater",
                                 boundary=0.0, null=0.0, min_units=8),
}
RULE = RULES["accuracy"]  # the claim record's headline rule; every aspect's rule is in RULES and BEATS
# The theory grid (fixed): L = beta = 1, n = 100 examples, T = 1000 steps, eta up to the convex condition 2/beta.
GRID = dict(lrs=np.geomspace(1e-3, 2.0, 12), rhos=(0.01, 0.05, 0.2), L=1.0, beta=1.0, n=100, T=1000)


def pairs(scale) -> tuple[tuple[str, str], ...]:
    """The (base, StableSAM) pairs C9 runs at ``scale``: SAM's alone at quick (the claim names SAM), every pair of
    ``PAIRS`` at standard and full."""
    return tuple(p for p in PAIRS if p[0] == "sam") if scale.name == "quick" else PAIRS


def _grid_run(scale, d, m, method, lr, cap=None):
    return twin_experiment(scale, d, m, method, lr, gamma_cap=cap)


def _noise_run(scale, method, noise, cap=None):
    dataset, model = scale.noise_model
    return twin_experiment(scale, dataset, model, method, scale.noise_lr, label_noise=noise,
                           epochs=scale.noise_epochs, seeds=scale.noise_seeds, gamma_cap=cap)


def experiments(scale, results=None):
    out = []
    for base, stable in pairs(scale):
        for d, m in scale.stability_models:
            for lr in scale.lrs:
                out += [_grid_run(scale, d, m, o, lr) for o in (base, stable)] + [_grid_run(scale, d, m, stable, lr, CAP)]
        for noise in scale.label_noises:
            out += [_noise_run(scale, o, noise) for o in (base, stable)] + [_noise_run(scale, stable, noise, CAP)]
    return out


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


def combine(entries: list[dict]) -> tuple[str, list[str], list[str]]:
    """The claim's verdict from its cases (see the module docstring); ``entries``: one dict per case with
    ``aspect``, ``interval`` (non-inferiority, :data:`RULES`; ``None``: measured nothing, p = 1), ``beats``
    (superiority, :data:`BEATS`; ``None`` likewise) and ``excluded`` (a not-comparable stability case, left to the
    trainability aspect). Returns the verdict, the per-case non-inferiority and superiority verdicts."""
    kept = [e for e in entries if not e.get("excluded")]

    def p(interval, which, rule):
        if interval is None or interval.n < rule.min_units or not math.isfinite(getattr(interval, which)):
            return 1.0
        return getattr(interval, which)

    worse = holm([p(e["interval"], "p_reverse", RULES[e["aspect"]]) for e in kept], RULES["accuracy"].alpha)
    better = holm([p(e["beats"], "p_claimed", BEATS[e["aspect"]]) for e in kept], BEATS["accuracy"].alpha)
    ni, sup, k = [], [], 0
    for e in entries:
        if e.get("excluded"):
            ni.append(INCONCLUSIVE)
            sup.append(INCONCLUSIVE)
            continue
        each = RULES[e["aspect"]].decide(e["interval"])
        ni.append(NOT_SUPPORTED if worse[k] else SUPPORTED if each == SUPPORTED else INCONCLUSIVE)
        sup.append(SUPPORTED if better[k] else INCONCLUSIVE)
        k += 1
    decided = [v for v, e in zip(ni, entries) if not e.get("excluded")]
    aspects = {e["aspect"] for e in kept}
    if NOT_SUPPORTED in decided:
        return NOT_SUPPORTED, ni, sup
    if decided and all(v == SUPPORTED for v in decided) and aspects == set(ASPECTS) and SUPPORTED in sup:
        return SUPPORTED, ni, sup
    return INCONCLUSIVE, ni, sup


def _trains(outcome, target: float) -> np.ndarray:
    from stablesam.analysis.verify.claims.c3_larger_lr import _trains as trains

    return trains(outcome, target)[0]


def _aspect_entries(scale, results, generator, reference, pair) -> list[dict]:
    """The cases of one comparison: capped StableSAM against ``reference`` ((method, gamma_cap): the base, or the
    uncapped StableSAM) for every aspect."""
    from stablesam.analysis.verify.claims.c3_larger_lr import largest_trainable

    base, stable = pair
    other, other_cap = reference
    lrs = sorted(scale.lrs)
    out = []
    for d, m in scale.stability_models:
        trains = {}
        for lr in lrs:
            a, b = results[_grid_run(scale, d, m, stable, lr, CAP)], results[_grid_run(scale, d, m, other, lr, other_cap)]
            fields = {**stability_comparison(a, b, RULES["stability"], generator), "cap_active": _cap_active(a)}
            interval = fields.pop("interval")
            values = fields.pop("values", None)
            beats = None if interval is None else _ratio(values, BEATS["stability"])
            out.append({"aspect": "stability", "setting": {"aspect": "stability", "dataset": d, "model": m,
                                                            "method": stable, "base": other, "lr": lr},
                        "interval": interval, "beats": beats, "values": values, "fields": fields,
                        "excluded": fields["status"].startswith(NOT_COMPARABLE)})
            trains.setdefault("a", []).append(_trains(a, scale.target_accuracy))
            trains.setdefault("b", []).append(_trains(b, scale.target_accuracy))
        gain = largest_trainable(lrs, np.stack(trains["a"])) - largest_trainable(lrs, np.stack(trains["b"]))
        out.append({"aspect": "trainability", "setting": {"aspect": "trainability", "dataset": d, "model": m,
                                                           "method": stable, "base": other},
                    "interval": median_interval(gain, RULES["trainability"]),
                    "beats": median_interval(gain, BEATS["trainability"]), "values": gain,
                    "fields": {"trains_per_eta": {name: [int(t.sum()) for t in trains[key]]
                                                  for name, key in (("capped", "a"), (other, "b"))},
                               "lrs": lrs}})
    dataset, model = scale.noise_model
    for noise in scale.label_noises:
        a, b = results[_noise_run(scale, stable, noise, CAP)], results[_noise_run(scale, other, noise, other_cap)]
        fields = {**difference_comparison(a.table["test_accuracy"], b.table["test_accuracy"], a.failures, b.failures,
                                          RULES["accuracy"], scale=100.0), "cap_active": _cap_active(a)}
        interval, values = fields.pop("interval"), fields.pop("values", None)
        out.append({"aspect": "accuracy", "setting": {"aspect": "accuracy", "dataset": dataset, "model": model,
                                                       "method": stable, "base": other, "label_noise": noise},
                    "interval": interval, "beats": None if values is None else median_interval(values, BEATS["accuracy"]),
                    "values": values, "fields": fields})
    return out


def _cap_active(outcome) -> float | None:
    """The median over seeds of the fraction of steps on which the cap acted in a capped run (``None``: a run
    written before the trainer logged it)."""
    fractions = outcome.table["cap_active"]
    return None if np.all(np.isnan(fractions)) else float(np.nanmedian(fractions))


def _ratio(values, rule):
    from stablesam.analysis.verify.twin_evidence import ratio_interval

    return ratio_interval(values[0], values[1], rule)


def evaluate(scale, results, generator) -> ClaimResult:
    entries, reported = [], []
    for pair in pairs(scale):  # the decided cases first: their noise floors do not depend on the reported ones
        entries += _aspect_entries(scale, results, generator, (pair[0], None), pair)
    for pair in pairs(scale):
        try:
            reported += _aspect_entries(scale, results, generator, (pair[1], None), pair)
        except ExperimentFailed as error:
            reported.append({"error": str(error)})
    verdict, ni, sup = combine(entries)
    family = sum(not e.get("excluded") for e in entries)
    cases = []
    for e, v, s in zip(entries, ni, sup):
        fields = dict(e["fields"])
        if e.get("excluded"):
            fields["status"] = fields.get("status", NOT_COMPARABLE) + " (left to the trainability case)"
        cases.append(case(e["setting"], e["interval"], v, values=e["values"], rule=RULES[e["aspect"]], family=family,
                          beats=None if e["beats"] is None else {"interval": e["beats"].to_dict(), "verdict": s},
                          **fields))
    notes = ["the modification (gamma_t <= 1, gamma_cap = 1) is inferred from the official code, where it is "
             "commented out; the paper does not spell it out",
             f"pairs at the {scale.name} scale: " + ", ".join(f"capped {s} vs {b}" for b, s in pairs(scale))]
    active = [e["fields"]["cap_active"] for e in entries if e["fields"].get("cap_active") is not None]
    if active:  # the runs' own count; C7 asks the same of the uncapped trajectories
        notes.append(f"the cap acted on {100 * min(active):.3g}%-{100 * max(active):.3g}% of steps (median over seeds "
                     f"of each capped run, {len(active)} cases)")
    excluded = sum(bool(e.get("excluded")) for e in entries)
    if excluded:
        notes.append(f"{excluded} stability cases not comparable (an arm failed in most seeds): decided by their "
                     "trainability cases")
    uncapped = []
    for e in reported:
        if "error" in e:
            notes.append(f"capped vs uncapped not reported: {e['error']}")
            continue
        rule = RULES[e["aspect"]]
        i = e["interval"]
        text = "no interval" if i is None else f"{i.estimate:.3g} [{i.low:.3g}, {i.high:.3g}]"
        s = e["setting"]
        where = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{v}" for k, v in s.items()
                          if k not in ("aspect", "method", "base"))
        outcome = f"not worse: {rule.decide(i)}" if i is not None else e["fields"].get("status", "n/a")
        notes.append(f"reported, not deciding: capped vs uncapped {s['method']} {e['aspect']} ({where}): {text} "
                     f"({outcome})")
        uncapped.append({"setting": s, "interval": None if i is None else i.to_dict()})
    by_aspect = {a: [c for c in cases if c["setting"]["aspect"] == a] for a in ASPECTS}
    reading = (f"decided by non-inferiority in every case and superiority in some (Holm over {family} cases): "
               + "; ".join(f"{a}: " + ", ".join(f"{c['verdict']}" + ("/better" if (c.get("beats") or {}).get("verdict")
                                                                    == SUPPORTED else "") for c in cs)
                           for a, cs in by_aspect.items())
               + f". Capped vs uncapped StableSAM reported ({len(uncapped)} cases).")
    weakest_accuracy = [Interval(**c["interval"]) for c in by_aspect["accuracy"] if c["interval"]]
    key = min(weakest_accuracy, key=lambda i: i.low if math.isfinite(i.low) else -math.inf, default=None)
    return ClaimResult(verdict, reading, "accuracy difference capped StableSAM - base, points (weakest case)", key,
                       cases, notes, {"uncapped": uncapped})


def plot(claim, figure_data):
    from stablesam.analysis.plots.claims import claim_figure, errorbar
    from stablesam.analysis.plots.style import METHOD_COLORS, label

    fig, axes = claim_figure(claim, panels=3)
    for ax, aspect in zip(axes, ASPECTS):
        cases = [c for c in claim["cases"] if c["setting"].get("aspect") == aspect]
        ticks = []
        for k, c in enumerate(cases):
            s = c["setting"]
            ticks.append(f"{s['base']}\n" + (f"eta {s['lr']:g}" if "lr" in s else f"noise {s['label_noise']:g}"
                                             if "label_noise" in s else s["model"]))
            if c["interval"] is None:
                ax.annotate(str(c.get("status", "n/a"))[:14], (k, RULES[aspect].null), fontsize=4, rotation=90,
                            ha="center")
                continue
            errorbar(ax, k, c["interval"], METHOD_COLORS.get(s["method"], "0.3"),
                     label=label(s["method"]) + " capped" if k == 0 else None)
        ax.axhline(RULES[aspect].boundary, color="0.2", lw=0.8, ls="--", label="not worse")
        ax.axhline(BEATS[aspect].boundary, color="0.5", lw=0.8, ls=":", label="better")
        ax.set_xticks(range(len(ticks)), ticks, fontsize=5)
        ax.set_ylabel({"stability": "stability, capped / base", "accuracy": "test accuracy, capped - base (points)",
                       "trainability": "log2 eta_max, capped - base"}[aspect], fontsize=6)
        if aspect == "stability" and any(c["interval"] for c in cases):
            ax.set_yscale("log")
        ax.legend(frameon=False, fontsize=5)
    return fig


CLAIM = Claim(
    id="C9", title="With a small modification StableSAM consistently beats SAM",
    statement="With a small modification, StableSAM can consistently beat SAM (the modification is inferred: the "
              "cap gamma_t <= 1, commented out in the official code).",
    source=f"Abstract and conclusion; {SOURCE}", rule=RULE,
    combine="every case not worse (non-inferiority) and some case better (Holm); any case worse by more than its "
            "margin contradicts (Holm)",
    quantity="capped StableSAM (gamma_cap = 1) against its base, paired over seeds: cross-fitted stability ratio per "
             "eta, test accuracy difference per label noise, largest trainable eta per model; uncapped StableSAM "
             "beside it; the theory's capped-vs-base bounds on a grid",
    stronger="The modification is inferred; 'consistently beats' is read as never worse (margins 10% stability, 1 "
             "point accuracy, one eta grid step) and better somewhere; small models, few epochs; quick runs the SAM "
             "pair only.",
    would_change="Another reading of the modification (a cap below 1); longer training, more seeds, other eta grids.",
    experiments=experiments, theory=theory, evaluate=evaluate, plot=plot)
