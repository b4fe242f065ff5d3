r"""Capped StableSAM (claim C9): ``gamma_t <- min(gamma_t, c)``, ``c <= 1`` (the toolkit's ``--gamma-cap``), against
its base (SAM for the normalized ascent, USAM for the unnormalized one). **Derived**; the cap is inferred from the
official code, where it is commented out (Tan et al., arXiv:2401.07250).

Setting: the uniform-stability framework of Hardt, Recht & Singer 2016 (arXiv:1509.01240; Lemma 2.5, Thms 3.8 and
3.12) with the per-step constants of :mod:`stablesam.theory.method_constants`, under the **shared-factor
assumption**: both runs apply the same factor ``gamma^c_t`` at step ``t`` (an assumption: ``gamma(w_t) !=
gamma(w'_t)``). The capped factor lies in ``[min(gamma_low, c), c]``, ``gamma_low`` the lowest ``gamma_t`` of
:func:`stablesam.theory.method_constants.gamma_range`, and the step is the base's step at the effective rate
``gamma^c_t eta <= c eta <= eta``. Each per-step constant is affine in the effective rate, so it holds on the
whole range if it is the larger of its two end values.

**Stability.** Convex (``eta <= 2/beta``) and non-convex (``eta_t = c/t``): the capped bound is at most the base's
at every ``eta``, for every cap ``c <= 1``, with equality at ``c = 1``. Proof: the base's ``alpha``, ``tau`` and
``sigma = eta L`` are non-decreasing in the rate (convex SAM ``1, 4 rho``; convex USAM ``1 + eta rho beta^2``;
non-convex ``1 + eta beta (1 + r)``, ``2 eta beta rho``), ``alpha >= 1`` there, and the recursion's
``a_t = (1 - p) alpha + p min(alpha, 1)``, ``b_t = (1 - p) tau + 2 p sigma`` (``p = 1/n``) are non-decreasing in
them, so ``E delta_T`` is; the non-convex bound is a minimum over ``t0`` of non-decreasing terms.
Strongly convex: **not implied** -- the contraction ``1 - gamma^c_t eta mu`` is weakest at the lowest factor, so
the capped bound exceeds the base's wherever ``min(gamma_low, c) < 1``.

**Excess risk** (convex, averaged iterate): the optimization term with a shared, index-independent factor
``gamma^c_t in [g_lo, c]`` is ``D^2/(2 eta T g_lo) + eta L^2 c^2/(2 g_lo) + extra`` (weights ``gamma^c_t``), which
exceeds the base's ``D^2/(2 eta T) + eta L^2/2 + extra`` when ``g_lo < 1``: the excess-risk bound of capped
StableSAM is at most the base's only where ``g_lo = c = 1`` (the cap binds on every step; then they are equal).
On convex losses ``gamma_t <= 1`` already (C7), the cap changes nothing and ``g_lo = 1/(1 + rho beta) < 1``.

Example
-------
>>> from stablesam.theory.capped import capped_stability_comparison
>>> out = capped_stability_comparison("stablesam-n", "convex", [0.1, 1.0], [0.05], L=1.0, beta=1.0, n=50, T=100, g_min=1.0)
>>> bool(out.holds.all()), out.theorem
(True, True)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from stablesam.core.methods import Method
from stablesam.core.validation import UsageError, check_choice, check_integer, check_positive
from stablesam.theory.growth_recursion import expected_distance, nonconvex_stability
from stablesam.theory.method_constants import SETTINGS, base_of, base_step_constants, bound_row, gamma_range, lr_condition, optimization_extra
from stablesam.theory.schedules import inverse_time

__all__ = ["C9_THEORY", "CappedComparison", "capped_excess_risk_comparison", "capped_stability_comparison"]

C9_THEORY = {
    "convex": "the capped stability bound is at most the base's at every eta, any cap <= 1 (shared-factor assumption)",
    "nonconvex": "the capped stability bound is at most the base's at every c, any cap <= 1 (shared-factor assumption)",
    "strongly-convex": "not implied: the contraction 1 - gamma_t eta mu is weakest at the lowest factor",
    "excess-risk": "not implied unless gamma_t = 1 on every step: the optimization term grows as the factor shrinks",
}
ASSUMPTION = ("shared-factor assumption: both runs apply the same capped factor min(gamma_t, cap) at step t, "
              "independent of the sampled index; per-example loss L-Lipschitz and beta-smooth (Hardt et al. 2016)")


class CappedComparison(NamedTuple):
    """Bounds on the grid ``rho x lr`` (arrays of shape ``(len(rhos), len(lrs))``)."""

    lrs: np.ndarray
    rhos: np.ndarray
    capped: np.ndarray  # capped StableSAM's bound (recursion)
    base: np.ndarray  # the base's bound (recursion, same constants at factor 1)
    holds: np.ndarray  # capped <= base (to rounding, 1e-12 relative)
    theorem: bool  # whether the inequality is proved for every grid point in this setting (C9_THEORY)
    assumption: str


def _row(method: Method | str) -> Method:
    row = bound_row(method)
    if not (row.stable and row.uses_rho):
        raise UsageError(f"method {row.key!r} is not renormalized: capping gamma_t concerns StableSAM rows only")
    return row


def _stability(base: str, setting: str, rates: np.ndarray, low: float, high: float, *, L, beta, n, T, rho, mu) -> float:
    """Recursion bound with factors on ``[low, high]`` times ``rates`` (a schedule of length ``T``)."""
    alpha, tau = base_step_constants(base, setting, high * rates, beta=beta, rho=rho, mu=mu)
    low_alpha, low_tau = base_step_constants(base, setting, low * rates, beta=beta, rho=rho, mu=mu)
    alpha, tau, sigma = np.maximum(alpha, low_alpha), np.maximum(tau, low_tau), high * rates * L
    if setting == "nonconvex":
        return float(nonconvex_stability(alpha, sigma, n=n, T=T, L=L, tau=tau).eps)
    return float(L * expected_distance(alpha, sigma, n=n, T=T, tau=tau)[-1])


def capped_stability_comparison(
    method: Method | str, setting: str, lrs, rhos, *, L: float, beta: float, n: int, T: int, mu: float | None = None,
    cap: float = 1.0, g_min: float | None = None,
) -> CappedComparison:
    """Stability bound of ``method`` capped at ``cap <= 1`` against its base's, on the grid ``rhos x lrs``
    (``lrs`` are ``c`` of ``eta_t = c/t`` in the non-convex setting); module docstring for the proof and assumption."""
    row = _row(method)
    check_choice("setting", setting, SETTINGS)
    L, beta, cap = check_positive("L", L), check_positive("beta", beta), check_positive("cap", cap)
    n, T = check_integer("n", n, minimum=2), check_integer("T", T, minimum=1)
    if cap > 1.0:
        raise UsageError(f"cap={cap:.6g} violates cap <= 1 (capped StableSAM: gamma_t <- min(gamma_t, cap))")
    if setting == "strongly-convex":
        mu = check_positive("mu", mu if mu is not None else 0.0)
    lrs, rhos = np.asarray(lrs, dtype=np.float64), np.asarray(rhos, dtype=np.float64)
    limit = lr_condition(setting, beta)
    if np.any(lrs > limit * (1 + 1e-12)):
        raise UsageError(f"lrs must be <= {limit:.6g}, the {setting} theorem's condition on the base's rate")
    base = base_of(row)
    capped, plain = np.empty((rhos.size, lrs.size)), np.empty((rhos.size, lrs.size))
    for i, rho in enumerate(rhos):
        low = min(gamma_range(row, setting, rho=float(rho), beta=beta, g_min=g_min).lowest, cap)
        for j, lr in enumerate(lrs):
            rates = inverse_time(lr, T) if setting == "nonconvex" else np.full(T, lr)
            common = dict(L=L, beta=beta, n=n, T=T, rho=float(rho), mu=mu)
            capped[i, j] = _stability(base, setting, rates, low, cap, **common)
            plain[i, j] = _stability(base, setting, rates, 1.0, 1.0, **common)
    holds = capped <= plain * (1 + 1e-12)
    return CappedComparison(lrs, rhos, capped, plain, holds, setting != "strongly-convex", ASSUMPTION)


def capped_excess_risk_comparison(
    method: Method | str, lrs, rhos, *, L: float, beta: float, D: float, n: int, T: int, cap: float = 1.0,
    g_min: float | None = None, lowest: float | None = None,
) -> CappedComparison:
    """Convex excess-risk bound (optimization + stability recursion) of ``method`` capped at ``cap`` against its
    base's, on ``rhos x lrs``. The capped factor ranges over ``[g_lo, cap]`` with ``g_lo = min(gamma_low, cap)``, or
    ``lowest`` if given (``lowest = cap = 1``: the cap binds on every step, the one case where the inequality holds)."""
    row = _row(method)
    comparison = capped_stability_comparison(row, "convex", lrs, rhos, L=L, beta=beta, n=n, T=T, cap=cap, g_min=g_min)
    D = check_positive("D", D)
    lrs, rhos = comparison.lrs, comparison.rhos
    capped, plain = comparison.capped.copy(), comparison.base.copy()
    base = base_of(row)
    for i, rho in enumerate(rhos):
        g_lo = min(gamma_range(row, "convex", rho=float(rho), beta=beta, g_min=g_min).lowest, cap) if lowest is None else check_positive("lowest", lowest)
        extra = optimization_extra(base, rho=float(rho), L=L)
        with np.errstate(divide="ignore"):
            capped[i] += (D**2 / (2.0 * lrs * T) + lrs * L**2 * cap**2 / 2.0) / g_lo + extra
        plain[i] += D**2 / (2.0 * lrs * T) + lrs * L**2 / 2.0 + extra
    holds = capped <= plain * (1 + 1e-12)
    return CappedComparison(lrs, rhos, capped, plain, holds, lowest == cap == 1.0, ASSUMPTION)
