"""The record of one claim of ``stablesam verify`` and what its evaluation returns.

A claim lives in one file of :mod:`stablesam.analysis.verify.claims` holding its statement, its
:class:`~stablesam.analysis.verify.verdicts.DecisionRule` (fixed there before anything runs), the experiments it
needs, its theory check, its ``evaluate`` and its ``plot``. ``evaluate(scale, results, generator)`` receives
``results``, a mapping ``{experiment: what its kind's reader returns}``
(:data:`stablesam.analysis.verify.experiments.KINDS`); looking up an experiment that failed or did not run raises
:class:`ExperimentFailed`, which makes the claim inconclusive with the failure in its notes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from stablesam.analysis.verify.verdicts import INCONCLUSIVE, DecisionRule, Interval, detectable

__all__ = ["SOURCE", "Claim", "ClaimResult", "ExperimentFailed", "TheoryCheck", "case", "weakest"]

SOURCE = ("Tan et al., \"Stabilizing Sharpness-aware Minimization Through A Simple Renormalization Strategy\", "
          "arXiv:2401.07250 (v1 2024; JMLR 2025)")
UNIVERSAL, EXISTENTIAL = "every setting", "some setting, none contradicting (Holm)"


class ExperimentFailed(RuntimeError):
    """An experiment a claim needs did not finish (its error is recorded)."""


@dataclass
class TheoryCheck:
    """What :mod:`stablesam.theory` says about a claim: ``status`` is ``proved``, ``consistent``, ``contradicts``
    (the theory predicts the opposite in its setting), ``no prediction`` or ``not applicable``; ``numbers`` are
    the values behind ``summary``."""

    status: str
    summary: str
    source: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClaimResult:
    """A claim's verdict, its one-line reading, its key number with its interval, and every case behind it."""

    verdict: str
    reading: str
    key_label: str
    key: Interval | None
    cases: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    figure_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One claim (see the module docstring). ``experiments(scale, results)`` may add experiments that depend on
    finished ones (``results`` is ``None`` on the first pass): :func:`stablesam.analysis.verify.run.verify`
    asks again until nothing new is needed."""

    id: str
    title: str
    statement: str
    source: str
    rule: DecisionRule
    combine: str
    quantity: str
    stronger: str  # where the paper's claim is stronger than what is checked here
    would_change: str
    experiments: Callable[..., list]
    theory: Callable[..., TheoryCheck]
    evaluate: Callable[..., ClaimResult]
    plot: Callable[[dict[str, Any], dict[str, Any]], Any]
    decided_by: str = ("The experiment decides the verdict under the rule; the theory check is reported beside it and "
                       "does not change the verdict.")
    pending: tuple[str, ...] = ()


def case(setting: dict[str, Any], interval: Interval | None, verdict: str, *, values=None,
         rule: DecisionRule | None = None, family: int = 1, **extra: Any) -> dict[str, Any]:
    """One case's entry; an inconclusive case with per-seed ``values`` reports its minimum detectable effect and
    the seeds that would decide the observed effect (at the Holm level of a family of ``family`` cases). For a
    paired ratio, ``values`` is ``(a, b)`` and the effect is the per-seed ``a - boundary * b`` against 0 (in the
    units of ``a``)."""
    out = {"setting": setting, "interval": None if interval is None else interval.to_dict(), "verdict": verdict,
           **extra}
    if isinstance(values, tuple) and rule is not None:
        a, b = (np.asarray(v, dtype=np.float64) for v in values)
        values, rule = a - rule.boundary * b, replace(rule, boundary=0.0, null=0.0)
    if verdict == INCONCLUSIVE and values is not None and rule is not None:
        out["detectable"] = detectable(values, rule, family=family)
    return out


def weakest(cases: list[dict[str, Any]], claimed: str) -> Interval | None:
    """The case interval nearest to contradicting the claim (the key number of a universal claim)."""
    intervals = [Interval(**c["interval"]) for c in cases if c["interval"] is not None
                 and c["interval"]["low"] is not None and math.isfinite(c["interval"]["low"])]
    if not intervals:
        return None
    return min(intervals, key=lambda i: i.low) if claimed == "greater" else max(intervals, key=lambda i: i.high)


def finite(values) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    return x[np.isfinite(x)]
