"""Paired comparisons of two twin runs (same seeds) for the stability and accuracy claims (C2, C4, C5).

:func:`stability_comparison` decides on the cross-fitted stability estimate
(:func:`~stablesam.analysis.verify.twin_evidence.crossfit_pair`) on the seeds where both arms trained, with
each arm's sign-flip noise floor and the twin distance beside it:

- either arm failed (diverged or never trained) in a majority of seeds: ``not comparable``, no interval;
- an arm's estimate does not clear its noise floor: ``below noise floor``, no interval (decides nothing);
- otherwise the sign-test interval of the paired ratio decides; the twin distance ratio (per seed, median) is
  reported with its own verdict under the same rule, and a disagreement in direction is flagged.

A case without an interval enters its claim's Holm family with p = 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stablesam.analysis.verify.twin_evidence import crossfit_pair, noise_floors, ratio_interval, trained_seeds
from stablesam.analysis.verify.verdicts import NOT_COMPARABLE, DecisionRule, median_interval

__all__ = ["difference_comparison", "failure_counts", "stability_comparison"]


def failure_counts(kinds: list[str]) -> dict[str, int]:
    return {k: kinds.count(k) for k in ("diverged", "never trained")}


def _direction(estimate: float, null: float) -> int:
    return 0 if not np.isfinite(estimate) else int(np.sign(estimate - null))


def stability_comparison(method, base, rule: DecisionRule, generator: np.random.Generator) -> dict[str, Any]:
    """Compare ``method`` with ``base`` (two :class:`~stablesam.analysis.verify.twin_outcome.TwinOutcome`) under
    ``rule`` (a ratio rule); see the module docstring. Returns the case's fields (``interval`` an
    :class:`~stablesam.analysis.verify.verdicts.Interval` or ``None``)."""
    out: dict[str, Any] = {"failed": {"method": failure_counts(method.failures), "base": failure_counts(base.failures)},
                           "seeds": len(method.failures)}
    seeds = trained_seeds(method.failures, base.failures)
    if seeds is None:
        return {**out, "status": NOT_COMPARABLE + " (an arm failed in most seeds)", "interval": None}
    diff_m = method.losses.diff[seeds]
    diff_b = base.losses.diff[seeds]
    a, b = crossfit_pair(diff_m, diff_b)
    floors = noise_floors(diff_m, diff_b, generator)
    estimates = (float(np.mean(a)), float(np.mean(b)))
    distance = ratio_interval(method.table["distance"][seeds], base.table["distance"][seeds], rule)
    out.update(stability={"method": estimates[0], "base": estimates[1]},
               noise_floor={"method": floors[0], "base": floors[1]}, distance_ratio=distance.to_dict(),
               distance_verdict=rule.decide(distance), values=(a, b))
    if estimates[0] <= floors[0] or estimates[1] <= floors[1]:
        return {**out, "status": "below noise floor (decides nothing)", "interval": None}
    interval = ratio_interval(a, b, rule)
    out.update(status="ran", interval=interval)
    if _direction(interval.estimate, rule.null) * _direction(distance.estimate, rule.null) < 0:
        out["disagreement"] = "the twin distance points the other way"
    return out


def difference_comparison(values_method, values_base, method_failures: list[str], base_failures: list[str],
                          rule: DecisionRule, *, scale: float = 1.0) -> dict[str, Any]:
    """Paired per-seed differences ``scale * (method - base)`` on the seeds where both arms trained (``not
    comparable`` when either failed in most)."""
    out: dict[str, Any] = {"failed": {"method": failure_counts(method_failures), "base": failure_counts(base_failures)},
                           "seeds": len(method_failures)}
    seeds = trained_seeds(method_failures, base_failures)
    if seeds is None:
        return {**out, "status": NOT_COMPARABLE + " (an arm failed in most seeds)", "interval": None}
    d = scale * (np.asarray(values_method, dtype=np.float64)[seeds] - np.asarray(values_base, dtype=np.float64)[seeds])
    return {**out, "status": "ran", "interval": median_interval(d, rule), "values": d}
