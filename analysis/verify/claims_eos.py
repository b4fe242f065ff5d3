r"""Claim C3's edge-of-stability part: does StableSAM train stably at sharpness its base cannot sustain?

The edges (``docs/theory.md`` section 3; :func:`stablesam.theory.stability_edge.max_stable_sharpness`) say: at a learning rate
``eta`` and radius ``rho``, the local quadratic model of StableSAM-N and StableSAM-U is stable up to the sharpness
``2/eta`` (GD's edge), SAM's only up to ``(||g||/(2 rho))(sqrt(1 + 8 rho/(eta ||g||)) - 1)`` (Long and Bartlett
2023) and USAM's only up to ``(sqrt(1 + 8 rho/eta) - 1)/(2 rho)`` (Agarwala and Dauphin 2023), both below
``2/eta``. Read at a fixed sharpness ``lambda``, the same inequality is "StableSAM allows larger learning rates":
``2/lambda`` against the base's smaller ``eta_max(lambda)``.

On a network trained at ``eta`` (:mod:`stablesam.analysis.experiments.edge_of_stability`, full batch, square loss), the sharpness rises
until it meets the method's edge and hovers there (Cohen et al. 2021 for GD, Long and Bartlett 2023 for SAM). The
claim therefore **predicts**: StableSAM, at the same ``eta`` and ``rho``, trains without diverging while its
sharpness plateaus *above its base's edge* -- in the region where its base, at that ``eta``, is unstable.

The effect, per seed: ``median over the last half of training of lambda_max(StableSAM) / lambda*_base(eta, rho,
||g||)``, both sides measured in the StableSAM run (``||g||`` is the run's own, so SAM's edge is evaluated at the
point StableSAM is at: the comparison is paired within the run). Equivalently, ``eta / eta_max,base(lambda) > 1``:
StableSAM runs stably at a learning rate its base could not use at that sharpness.

Decision, per (model, ``eta``, pair), with a bootstrap interval over seeds
(:func:`stablesam.analysis.verify.verdicts.bootstrap_interval`, which calls :func:`scipy.stats.bootstrap`):

- supported: the 95% interval of the mean ratio lies above 1;
- not supported: StableSAM diverged in at least half the seeds while its base did not (it could not train at an
  ``eta`` its base trains at);
- inconclusive otherwise. A ratio *below* 1 is **not** evidence against the claim: the base's edge is at most
  ``2/eta``, so a StableSAM run below it has simply not sharpened to the region where the methods differ
  (the base would be stable there too).

The base's own runs are trained too and reported (every method's plateau ratio against its own edge, over seeds:
GD, SAM, USAM, StableSAM-U, StableSAM-N), so a reader sees whether each method did hover at its edge.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stablesam.analysis.verify.claims import PAIRS, Experiment, Scale
from stablesam.analysis.verify.verdicts import INCONCLUSIVE, NOT_SUPPORTED, DecisionRule, bootstrap_interval

__all__ = ["EOS_METHODS", "EOS_SETTINGS", "PLATEAU_RULE", "PLATEAU_RULE_TEXT", "eos_experiments", "plateau_cases",
           "run_eos_experiment"]

PLATEAU_RULE = DecisionRule("plateau sharpness of StableSAM / its base's edge at (eta, rho, ||g||), mean over seeds",
                            claimed="greater", boundary=1.0, null=1.0)

EOS_METHODS = ("gd", "sam", "usam", "stablesam-u", "stablesam-n")

# Fixed before any verdict was seen (only the time per run and the initial sharpness were measured). Quick: a
# small digits tanh MLP (one hidden layer of 32, 256 examples, 400 full-batch steps, 3 seeds; 15-20 s for the five
# methods on one shared CPU core); at eta = 0.1 the initial sharpness (about 34) lies above 2/eta = 20, so every
# method has to settle somewhere. Full: the 64-64 tanh MLPs and learning rates of the README's edge-of-stability
# table, where GD was seen to reach 2/eta (digits at eta 0.1, MNIST-1D at 0.2), 5 seeds (50 runs).
EOS_SETTINGS: dict[str, tuple[dict[str, Any], ...]] = {
    "quick": (dict(dataset="digits", model="mlp", activation="tanh", hidden=[32], n_train=256, lrs=[0.1],
                   seeds=[0, 1, 2], steps=400, measure_every=20),),
    "full": (dict(dataset="digits", model="mlp", activation="tanh", hidden=[64, 64], lrs=[0.1],
                  seeds=[0, 1, 2, 3, 4], steps=1000, measure_every=20),
             dict(dataset="mnist1d", model="mlp", activation="tanh", hidden=[64, 64], n_train=1000, lrs=[0.2],
                  seeds=[0, 1, 2, 3, 4], steps=1500, measure_every=25)),
}

PLATEAU_RULE_TEXT = (
    f"{PLATEAU_RULE.description}: supported when the whole {100 * PLATEAU_RULE.confidence:g}% CI is > 1; not "
    "supported when StableSAM diverged in at least half its seeds and its base did not; inconclusive otherwise (a "
    f"plateau below the base's edge is no evidence either way) or with fewer than {PLATEAU_RULE.min_units} seeds")


def _groups(scale: Scale) -> list[list[Experiment]]:
    """Per setting of :data:`EOS_SETTINGS`, one ``eos`` experiment per method."""
    return [[Experiment("eos", {**setting, "rhos": [scale.rho], "loss": "mse", "device": scale.device,
                                "methods": [m]}) for m in EOS_METHODS] for setting in EOS_SETTINGS[scale.name]]


def eos_experiments(scale: Scale) -> list[Experiment]:
    """One ``eos`` experiment per setting and method (cached separately, so an interrupted verification keeps each
    finished method): the settings are :class:`~stablesam.analysis.experiments.edge_of_stability.EosConfig`'s keyword arguments."""
    return [e for group in _groups(scale) for e in group]


def run_eos_experiment(**settings: Any) -> dict[str, Any]:
    """Run one ``eos`` experiment in memory; its tidy table as records (:data:`stablesam.analysis.experiments.edge_of_stability.COLUMNS`)."""
    from stablesam.analysis.experiments.edge_of_stability import EosConfig, run_edge_of_stability

    config = EosConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
    result = run_edge_of_stability(config, progress=False)
    return {"table": result.table.to_dict(orient="records")}


def _table(results, experiments: list[Experiment]):
    import pandas as pd

    return pd.concat([pd.DataFrame.from_records(results.data(e)["table"]) for e in experiments], ignore_index=True)


def _cross_ratios(table, stable: str, base: str, lr: float, rho: float) -> dict[int, float]:
    """Per seed of ``stable``'s runs at ``(lr, rho)``: median over the last half of the measurements of
    ``sharpness / edge_base(lr, rho, ||g||)`` (NaN for a diverged run)."""
    from stablesam.analysis.experiments.edge_of_stability import edge_for

    rows = table[(table["optimizer"] == stable) & np.isclose(table["lr"], lr) & np.isclose(table["rho"], rho)]
    out = {}
    for seed, group in rows.groupby("seed"):
        wide = group.pivot_table(index="step", columns="metric", values="value", aggfunc="first").sort_index()
        if "diverged" in wide.columns and (wide["diverged"] == 1).any():
            out[int(seed)] = math.nan
            continue
        late = wide[wide.index >= 0.5 * wide.index.max()]
        edges = np.array([float(edge_for(base, lr, rho=rho, grad_norm=g)) if g > 0 else math.nan
                          for g in late["grad_norm"]])
        out[int(seed)] = float(np.nanmedian(late["sharpness"].to_numpy() / edges))
    return out


def plateau_cases(scale: Scale, results, generator: np.random.Generator, resamples: int) -> tuple[list, list, dict]:
    """C3's edge-of-stability cases (one per setting, eta and StableSAM/base pair), notes and figure data."""
    cases, notes, figure = [], [], {"plateaus": [], "plateau_runs": [], "plateau_cross": []}
    for group in _groups(scale):
        _setting_cases(results, group, float(scale.rho), generator, resamples, cases, notes, figure)
    return cases, notes, figure


def _setting_cases(results, group: list[Experiment], rho: float, generator, resamples: int, cases: list, notes: list,
                   figure: dict) -> None:
    from stablesam.analysis.experiments.edge_of_stability import plateau_ratios, plateau_summary

    table = _table(results, group)
    settings = group[0].settings
    per_run = plateau_ratios(table)
    summary = plateau_summary(per_run)
    where = {"dataset": settings["dataset"], "model": str(table["model"].iloc[0])}
    for lr in settings["lrs"]:
        for base, stable in PAIRS:
            ratios = _cross_ratios(table, stable, base, lr, rho)
            values = np.array([ratios[s] for s in sorted(ratios)])
            figure["plateau_cross"] += [{**where, "method": stable, "base": base, "lr": lr, "seed": s,
                                         "ratio": ratios[s]} for s in sorted(ratios)]
            n = len(values)
            diverged = {m: int(summary[(summary["optimizer"] == m) & np.isclose(summary["lr"], lr)]["diverged"].sum())
                        for m in (base, stable)}
            setting = {"part": "plateau", **where, "method": stable, "base": base, "lr": lr, "rho": rho}
            extra = {"diverged_seeds": diverged, "seeds": n,
                     "plateau_ratio_own_edge": _median_plateau(summary, stable, lr),
                     "plateau_ratio_base": _median_plateau(summary, base, lr)}
            finite = values[np.isfinite(values)]
            if diverged[stable] >= n / 2:
                verdict = INCONCLUSIVE if diverged[base] >= n / 2 else NOT_SUPPORTED
                cases.append({"setting": setting, "interval": None, "verdict": verdict,
                              "status": "both diverged" if verdict == INCONCLUSIVE else "StableSAM diverged", **extra})
                continue
            interval = bootstrap_interval(lambda idx: finite[idx].mean(), len(finite), generator=generator,
                                          confidence=PLATEAU_RULE.confidence, n_resamples=resamples)
            verdict = PLATEAU_RULE.decide(interval)
            status = "ran"
            if verdict == NOT_SUPPORTED:  # below the base's edge: the base would be stable there too
                verdict, status = INCONCLUSIVE, "plateau below the base's edge (not sharpened to where they differ)"
            cases.append({"setting": setting, "interval": interval.to_dict(), "verdict": verdict, "status": status,
                          **extra})
    for row in summary.itertuples():
        notes.append(f"plateau ratio (sharpness / own edge, median over the last half) {row.dataset}/{row.model} "
                     f"{row.optimizer} eta={row.lr:g}: median {row.plateau_ratio_median:.3g} [min "
                     f"{row.plateau_ratio_min:.3g}, max {row.plateau_ratio_max:.3g}] over "
                     f"{row.seeds - row.diverged} seeds, {row.diverged} diverged")
    figure["plateaus"] += summary.to_dict(orient="records")
    figure["plateau_runs"] += per_run[["dataset", "model", "optimizer", "lr", "seed", "plateau_ratio"]].to_dict(
        orient="records")


def _median_plateau(summary, optimizer: str, lr: float) -> float:
    rows = summary[(summary["optimizer"] == optimizer) & np.isclose(summary["lr"], lr)]
    return float(rows["plateau_ratio_median"].iloc[0]) if len(rows) else math.nan

