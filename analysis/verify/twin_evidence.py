r"""Evidence from twin runs for ``stablesam verify``: failed runs, the cross-fitted stability estimate and its
noise floor, and the paired comparison of two arms.

**Failed runs are outcomes** (:func:`failure_kinds`). Per seed, a run *diverged* (the harness's divergence flag)
or *never trained*: its final train accuracy is within :data:`CHANCE_MARGIN` of chance (``1/classes``), or its
final train loss is above :data:`NEVER_TRAINED_FACTOR` times its loss at the start (it fell by less than 10%).
A case where either arm failed in a majority of seeds is *not comparable* for stability and accuracy claims;
otherwise it is decided on the seeds where both arms trained.

**Cross-fitted stability** (:func:`crossfit_pair`). The theory's quantity is ``sup_z |E_A D(z)|``, ``D_s(z) =
l(A_s(S); z) - l(A_s(S'); z)``. Its plug-in estimate ``sup_z |mean_s D_s(z)|`` is won by the noisiest test point
at small seed counts (on the quick scale seed noise alone gives 0.113 against an estimate of 0.105). Here the
seeds are split in two folds (even and odd positions, fixed before anything runs). On one fold each arm of a
comparison proposes its three test points of largest ``|mean|``; each arm then takes, among the proposals of
both arms, the one of its largest ``|mean|`` over all seeds, and reads the per-seed values ``sign * D_s(z*)`` on
the other fold; and the other way round. The sup is thus searched over a handful of candidates found on other
seeds, not over every test point of the same seeds, so seed noise cannot win it (the plug-in estimate's bias);
sharing the candidates keeps a noisy arm, whose own proposals miss the peak more often, from looking more stable
than a quiet one of equal true stability (a single ``argmax`` per arm does: 14% "more stable" at 20 seeds, in
``tests/analysis/verify/test_twin_evidence.py``). The estimate is the mean of the per-seed values.

**Noise floor** (:func:`noise_floors`): the 95th percentile of the same cross-fitted estimate over random sign
flips of each arm's seeds' whole ``D_s`` (the null ``E_A D = 0``, under which ``D_s`` and ``-D_s`` are equally likely).
A case where an arm's estimate does not clear its floor decides nothing.

**Paired comparison** (:func:`ratio_interval`): per seed, ``a_s`` (method) and ``b_s`` (base); the parameter is
the ratio ``c`` at which ``median_s(a_s - c b_s) = 0``; its sign-test p-values at the rule's boundary and the
inverted sign-test interval (the ``c`` that neither one-sided test rejects) make an
:class:`~stablesam.analysis.verify.verdicts.Interval`. With positive ``b_s`` this is the median of the per-seed
ratios with its order-statistic interval; it stays defined when a noisy held-out value is negative.
"""

from __future__ import annotations

import math

import numpy as np

from stablesam.analysis.verify.verdicts import METHOD, DecisionRule, Interval, _binom_cdf, _order_index

__all__ = ["CHANCE_MARGIN", "FAILED", "NEVER_TRAINED_FACTOR", "crossfit_pair", "failure_kinds", "noise_floors",
           "ratio_interval", "trained_seeds"]

CHANCE_MARGIN = 0.05  # final train accuracy below 1/classes + 5 points: never trained
NEVER_TRAINED_FACTOR = 0.9  # final train loss above 0.9 times its start: never trained
FAILED = ("diverged", "never trained")
CANDIDATES = 3  # test points each arm proposes per fold (fixed before anything ran; see tests/analysis/verify/test_twin_evidence.py)


def failure_kinds(*, diverged, final_accuracy, initial_loss, final_loss, classes: int | None) -> list[str]:
    """Per seed: ``"ok"``, ``"diverged"`` or ``"never trained"`` (see the module docstring)."""
    out = []
    for d, acc, start, end in zip(diverged, final_accuracy, initial_loss, final_loss):
        if bool(d) or not (math.isfinite(float(end))):
            out.append("diverged")
        elif (classes and float(acc) < 1.0 / classes + CHANCE_MARGIN) or float(end) > NEVER_TRAINED_FACTOR * float(start):
            out.append("never trained")
        else:
            out.append("ok")
    return out


def trained_seeds(kinds_a: list[str], kinds_b: list[str]) -> np.ndarray | None:
    """Indices of the seeds where both arms trained; ``None`` when either arm failed in a majority of seeds
    (the case is not comparable)."""
    n = len(kinds_a)
    if sum(k != "ok" for k in kinds_a) > n / 2 or sum(k != "ok" for k in kinds_b) > n / 2:
        return None
    return np.array([s for s in range(n) if kinds_a[s] == "ok" and kinds_b[s] == "ok"], dtype=int)


def _flat(diff) -> np.ndarray:
    return np.asarray(diff, dtype=np.float64).reshape(len(diff), -1)


def crossfit_pair(diff_method, diff_base, *, candidates: int = CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the cross-fitted values of both arms (see the module docstring): on one fold each arm proposes
    its ``candidates`` test points of largest ``|mean|``; each arm then reads, on the other fold, ``sign * D_s(z)``
    at the proposed point of its largest ``|mean over all seeds|``; and the other way round. ``diff_*``: seeds
    first, then any axes of candidates (replaced indices and test points, all part of the sup)."""
    arms = [_flat(diff_method), _flat(diff_base)]
    n = len(arms[0])
    folds = np.arange(n) % 2 == 0
    out = [np.full(n, math.nan), np.full(n, math.nan)]
    totals = [arm.mean(axis=0) for arm in arms]
    for chooser in (folds, ~folds):
        if not chooser.any() or chooser.all():
            continue
        proposed: set[int] = set()
        for arm in arms:
            proposed |= {int(z) for z in np.argsort(-np.abs(arm[chooser].mean(axis=0)))[:candidates]}
        ordered = sorted(proposed)
        for arm, total, values in zip(arms, totals, out):
            z = max(ordered, key=lambda c: abs(total[c]))
            values[~chooser] = np.sign(total[z]) * arm[~chooser, z]
    return out[0], out[1]


def noise_floors(diff_method, diff_base, generator: np.random.Generator, *, draws: int = 200,
                 level: float = 0.95) -> tuple[float, float]:
    """Each arm's noise floor: the ``level`` quantile of the mean of its :func:`crossfit_pair` values over ``draws``
    independent random sign flips of each arm's seeds."""
    arms = [_flat(diff_method), _flat(diff_base)]
    null = []
    for _ in range(draws):
        flipped = [generator.choice([-1.0, 1.0], size=(len(arm), 1)) * arm for arm in arms]
        null.append([np.mean(v) for v in crossfit_pair(*flipped)])
    quantiles = np.quantile(np.asarray(null), level, axis=0)
    return float(quantiles[0]), float(quantiles[1])


def _count(a: np.ndarray, b: np.ndarray, c: float, below: bool) -> int:
    d = a - c * b
    return int(np.sum(d < 0)) if below else int(np.sum(d > 0))


def ratio_interval(a, b, rule: DecisionRule) -> Interval:
    """The paired ratio parameter of ``a`` over ``b`` (see the module docstring) with its sign-test interval and
    p-values at ``rule.boundary`` (claimed) and ``rule.against`` (reverse)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = len(a)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, rule.confidence, "none")
    less = rule.claimed == "less"

    def p(c: float, below: bool) -> float:  # one-sided p of "median(a - c b) < 0" (below) or "> 0"
        return 1.0 - _binom_cdf(_count(a, b, c, below) - 1, n)

    p_claimed = p(rule.boundary, below=less)
    p_reverse = p(rule.against, below=not less)
    breaks = np.unique(a[b != 0] / b[b != 0])
    candidates = np.unique(np.concatenate([breaks, (breaks[1:] + breaks[:-1]) / 2, breaks * (1 + 1e-9),
                                           breaks * (1 - 1e-9)])) if len(breaks) else np.array([])
    alpha = (1.0 - rule.confidence) / 2
    kept = [c for c in candidates if p(c, True) > alpha and p(c, False) > alpha]
    k = _order_index(n, 1.0 - rule.confidence)
    middle = [c for c in candidates if _count(a, b, c, True) >= n / 2 and _count(a, b, c, False) >= n / 2]
    estimate = float(np.median(middle)) if middle else (float(np.median(a / b)) if (b != 0).all() else math.nan)
    if not kept or not k:
        return Interval(estimate, math.nan, math.nan, n, rule.confidence, "none", p_claimed, p_reverse)
    return Interval(estimate, float(min(kept)), float(max(kept)), n, rule.confidence, METHOD + " (ratio, inverted)",
                    p_claimed, p_reverse)
