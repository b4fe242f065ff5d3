"""Uniform-stability bounds for SGD (Hardt, Recht and Singer 2016) and for the SAM family (derived).

Source: M. Hardt, B. Recht, Y. Singer, "Train faster, generalize better: stability of stochastic gradient
descent", ICML 2016, arXiv:1509.01240 ("HRS" below). Per-example loss ``l(w; z)``, ``L``-Lipschitz and
``beta``-smooth in ``w``; ``n`` training examples sampled uniformly with replacement; ``T`` steps.

Published (SGD):

- HRS Theorem 3.8, convex, ``eta_t <= 2/beta``:      ``eps <= (2 L^2 / n) sum_{t=1}^T eta_t``
- HRS Theorem 3.9, ``mu``-strongly convex, constant ``eta <= 1/beta``: ``eps <= 2 L^2 / (mu n)``
- HRS Theorem 3.12, non-convex, ``0 <= l <= 1``, ``eta_t <= c/t``:
  ``eps <= (1 + 1/(beta c)) / (n - 1) * (2 c L^2)^(1/(beta c + 1)) * T^(beta c / (beta c + 1))``

Derived in the same framework (not published; **derived** by this toolkit, docs/theory.md section 4):

- USAM, ``w <- w - eta grad l(w + rho grad l(w))``. Its Jacobian is ``I - eta H(w~)(I + rho H(w))``, so the
  step is ``(1 + eta beta (1 + rho beta))``-expansive (non-convex: HRS 3.12 with ``beta' = beta (1 + rho beta)``)
  and, for convex ``C^2`` losses with ``eta <= 2/beta``, ``(1 + eta rho beta^2)``-expansive (``||I - eta H|| <= 1``
  plus ``eta rho ||H(w~) H(w)|| <= eta rho beta^2``; not 1-expansive, the two Hessians need not commute).
  With the differing-example step bounded by ``delta + 2 eta L``:
  ``eps <= (2 L^2 / (n rho beta^2)) ((1 + eta rho beta^2)^T - 1)``  (tends to HRS 3.8 as ``rho -> 0``).
  Strongly convex, ``eta <= 1/beta``: ``(1 - eta mu + eta rho beta^2)``-expansive (recursion).
- SAM, ``w~ = w + rho g/||g||``: the normalised ascent is not Lipschitz, so the same-example step obeys an
  *affine* bound ``delta' <= alpha delta + tau``: convex ``alpha = 1, tau = 4 rho`` (write the step as the
  1-expansive gradient step at ``w~`` minus ``rho g/||g||``); strongly convex ``alpha = 1 - eta mu``,
  ``tau = 2 rho (2 - eta mu)``; non-convex ``alpha = 1 + eta beta``, ``tau = 2 eta beta rho``. The convex
  closed form is ``eps <= L T ((1 - 1/n) 4 rho + 2 eta L / n)``: SAM's bound keeps an ``n``-independent term.
- StableSAM (``gamma g~``, ``gamma_t = ||g|| / ||g~||``): every step is ``eta L``-bounded (its length is
  ``eta ||g||``) but ``gamma_t`` is not Lipschitz where gradients vanish. The caller names one of two
  assumptions (``assumption=``):

  ``"shared-gamma"``: both runs apply the same factor ``gamma_t <= gamma`` at step ``t`` (a step-size factor,
  as if ``gamma_t`` were a schedule). StableSAM-U then has USAM's constants and StableSAM-N SAM's, with
  ``eta -> gamma eta``. Not every ``gamma`` is possible (:func:`stablesam_gamma_range`): beta-smoothness gives
  ``| ||g~|| - ||g|| | <= ||g~ - g|| <= beta ||w~ - w||``, so StableSAM-U has
  ``gamma_t in [1/(1 + rho beta), 1/(1 - rho beta)]`` and StableSAM-N
  ``gamma_t in [||g||/(||g|| + rho beta), ||g||/(||g|| - rho beta)_+]``; for convex losses co-coercivity
  (``<g~ - g, w~ - w> >= 0``, hence ``||g~|| >= ||g||``) caps both at 1. A ``gamma`` below the lowest value is
  refused; ``gamma`` at or above the highest holds on every trajectory; in between it is an *assumption about
  the trajectory* and the result says so. StableSAM-N's lowest value needs ``g_min <= ||g_t||`` (without it
  the lower end is 0, reached as ``||g|| -> 0``).

  ``"lipschitz-step"`` (**derived**, no assumption on ``gamma_t``): the step is ``G(w) = w - eta phi(w)``,
  ``phi = ||g|| g~/||g~||``, and ``Lip(phi) <= beta K`` with (proof in :mod:`stablesam.theory.method_constants`:
  the Jacobian of ``phi`` splits into ``u (H e)^T`` along ``u = g~/||g~||`` and ``gamma (I - u u^T) Dg~`` orthogonal
  to it; a mollifier extends it from ``C^2`` to every ``beta``-smooth loss)

      K_U = sqrt(1 + ((1 + r)/(1 - r))^2),   r = rho beta < 1,
      K_N = sqrt(1 + ((1 + s)/(1 - s))^2),   s = rho beta / g_min < 1,   ||g|| >= g_min on the segments between the runs,

  and ``K = 1`` at ``rho = 0`` (StableSAM is SGD). The step is ``(1 + eta beta K)``-expansive in every setting (no
  convexity used), with ``sigma = eta L`` and ``tau = 0``; :func:`stablesam_expansiveness` returns it. Checked by
  sympy, by adversarial search over pairs of points on four loss families and by hand in
  ``tests/theory/test_lipschitz_step.py``.

  In every case the shared-factor part is an assumption: two runs on ``S`` and ``S'`` apply ``gamma(w_t)`` and
  ``gamma(w'_t)``, which differ; ``assumption_detail`` says so even when ``gamma`` is at the top of its range.

Every function validates the theorem's condition and raises ``ValueError`` naming it. The generic
:func:`stability_bound` dispatches on ``(method, setting)``; it uses a closed form where one exists and the
growth recursion (:mod:`stablesam.theory.growth_recursion`) otherwise.

Example
-------
>>> from stablesam.theory.uniform_stability import sgd_convex, usam_convex
>>> round(sgd_convex(0.1, L=1.0, beta=1.0, n=100, T=1000), 12)   # 2 * 1 * 0.1 * 1000 / 100
2.0
>>> round(usam_convex(0.1, L=1.0, beta=1.0, rho=1e-9, n=100, T=1000), 6)
2.0
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from stablesam.core.methods import Method, method_keys
from stablesam.core.methods import method as method_row
from stablesam.core.validation import UsageError, check_choice, check_integer, check_nonnegative, check_positive
from stablesam.theory import method_constants as _constants
from stablesam.theory.method_constants import (
    SAM_CONVEX_OFFSET,
    SETTINGS,
    base_of,
    base_step_constants,
    bound_row,
    lipschitz_step_constant,
    lr_condition,
    usam_convex_growth,
    usam_smoothness,
)
from stablesam.theory.growth_recursion import expected_distance, nonconvex_stability
from stablesam.theory.schedules import as_schedule, inverse_time

__all__ = [
    "ASSUMPTIONS",
    "CURVATURES",
    "METHODS",
    "SETTINGS",
    "StabilityBound",
    "StepConstants",
    "assumption_detail",
    "max_nonexpansive_lr",
    "sam_convex",
    "sgd_convex",
    "sgd_nonconvex",
    "sgd_strongly_convex",
    "stability_bound",
    "stablesam_expansiveness",
    "stablesam_gamma_range",
    "step_constants",
    "usam_convex",
    "usam_nonconvex",
]

METHODS = method_keys(quadratic=True, full_batch=False)  # at import; the functions read the table at call time
ASSUMPTIONS = ("shared-gamma", "lipschitz-step")
CURVATURES = ("general", "quadratic")
_HRS = "Hardt et al. 2016"


def _common(L: float, beta: float, n: int) -> tuple[float, float, int]:
    # n >= 2: neighbouring datasets share n - 1 examples, and the non-convex bound divides by n - 1.
    return check_positive("L", L), check_positive("beta", beta), check_integer("n", n, minimum=2)


def _check_mu(mu, beta: float) -> float:
    if mu is None:
        raise UsageError("setting 'strongly-convex' needs mu > 0")
    mu = check_positive("mu", mu)
    if mu > beta:
        raise UsageError(f"mu={mu:.6g} violates mu <= beta = {beta:.6g} (a mu-strongly convex, beta-smooth loss)")
    return mu


def _check_lr_limit(lr: np.ndarray, limit: float, condition: str, theorem: str, *, name: str = "lr") -> None:
    """Raise naming the first step whose learning rate breaks ``eta_t <= limit``."""
    bad = np.flatnonzero(lr > limit * (1 + 1e-12))
    if bad.size:
        t = int(bad[0])
        where = f"{name}={lr[t]:.6g}" if lr.size == 1 or np.all(lr == lr[0]) else f"{name.replace('lr', 'eta')}_t={lr[t]:.6g} at step t={t + 1}"
        raise UsageError(f"{where} violates {condition} = {limit:.6g} required by {theorem}")


def _schedule(lr, T) -> np.ndarray:
    if np.ndim(lr) == 0:
        if T is None:
            raise UsageError("T is required with a constant learning rate")
        return as_schedule(check_positive("lr", lr), T)
    return as_schedule(lr, len(np.asarray(lr)) if T is None else T)


# ---------------------------------------------------------------------------------------------------
# Published closed forms (SGD)
# ---------------------------------------------------------------------------------------------------


def sgd_convex(lr, *, L: float, beta: float, n: int, T: int | None = None) -> float:
    """HRS Theorem 3.8: convex, ``L``-Lipschitz, ``beta``-smooth, ``eta_t <= 2/beta``: ``eps <= (2 L^2/n) sum_t eta_t``.

    ``lr`` is a constant (with ``T``) or the schedule ``eta_1..eta_T``.
    """
    L, beta, n = _common(L, beta, n)
    eta = _schedule(lr, T)
    _check_lr_limit(eta, 2.0 / beta, "eta <= 2/beta", f"the convex theorem ({_HRS}, Thm 3.8)")
    return float(2.0 * L**2 / n * eta.sum())


def sgd_strongly_convex(lr: float, *, L: float, beta: float, mu: float, n: int) -> float:
    """HRS Theorem 3.9: ``mu``-strongly convex, ``beta``-smooth, constant ``eta <= 1/beta``: ``eps <= 2 L^2 / (mu n)``.

    Independent of ``T`` and ``eta``: the recursion ``E delta_t <= (1 - eta mu) E delta_{t-1} + 2 eta L / n``
    (the step is ``(1 - eta mu)``-expansive for ``eta <= 1/beta``) sums to at most ``2 L / (mu n)``.
    """
    L, beta, n = _common(L, beta, n)
    mu = _check_mu(mu, beta)
    lr = check_positive("lr", lr)
    _check_lr_limit(np.array([lr]), 1.0 / beta, "eta <= 1/beta", f"the strongly convex theorem ({_HRS}, Thm 3.9)")
    return 2.0 * L**2 / (mu * n)


def sgd_nonconvex(c: float, *, L: float, beta: float, n: int, T: int) -> float:
    """HRS Theorem 3.12: ``0 <= l <= 1``, ``L``-Lipschitz, ``beta``-smooth, ``eta_t <= c/t``, ``n >= 2``:

    ``eps <= (1 + 1/(beta c)) / (n - 1) * (2 c L^2)^(1/(beta c + 1)) * T^(beta c / (beta c + 1))``.

    It is the minimum over a real ``t0`` of ``t0/(n-1) + 2 L^2/(beta (n-1)) (T/t0)^(beta c)``, an upper bound
    on the recursion started at ``t0`` (HRS Lemma 3.11); see :func:`stablesam.theory.growth_recursion.nonconvex_stability`.
    """
    L, beta, n = _common(L, beta, n)
    c = check_positive("c", c)
    T = check_integer("T", T, minimum=0)
    q = beta * c
    return (1.0 + 1.0 / q) / (n - 1) * (2.0 * c * L**2) ** (1.0 / (q + 1.0)) * T ** (q / (q + 1.0))


# ---------------------------------------------------------------------------------------------------
# Derived closed forms (SAM family) -- derived by this toolkit, not published
# ---------------------------------------------------------------------------------------------------


def usam_convex(lr: float, *, L: float, beta: float, rho: float, n: int, T: int) -> float:
    """Derived: USAM, convex ``C^2`` loss, constant ``eta <= 2/beta``:

    ``eps <= (2 L^2 / (n rho beta^2)) ((1 + eta rho beta^2)^T - 1)``, and ``(2 L^2/n) eta T`` at ``rho = 0``
    (HRS 3.8). Upper bound on the recursion with ``alpha = 1 + eta rho beta^2``, ``sigma = eta L`` (it replaces
    the recursion's factor ``1 + (1 - 1/n) eta rho beta^2`` by ``1 + eta rho beta^2``).
    """
    L, beta, n = _common(L, beta, n)
    rho = check_nonnegative("rho", rho)
    lr = check_positive("lr", lr)
    T = check_integer("T", T, minimum=0)
    _check_lr_limit(np.array([lr]), 2.0 / beta, "eta <= 2/beta", "the convex USAM bound (derived, HRS Thm 3.8 framework)")
    x = usam_convex_growth(lr, beta=beta, rho=rho)
    growth = T if x == 0 else math.expm1(T * math.log1p(x)) / x  # ((1 + x)^T - 1) / x, exact as x -> 0
    return 2.0 * L**2 * lr / n * growth


def usam_nonconvex(c: float, *, L: float, beta: float, rho: float, n: int, T: int) -> float:
    """Derived: USAM, non-convex, ``0 <= l <= 1``, ``eta_t <= c/t``: HRS Theorem 3.12 with ``beta' = beta (1 + rho beta)``."""
    rho = check_nonnegative("rho", rho)
    beta = check_positive("beta", beta)
    return sgd_nonconvex(c, L=L, beta=usam_smoothness(beta=beta, rho=rho), n=n, T=T)


def sam_convex(lr, *, L: float, beta: float, rho: float, n: int, T: int | None = None) -> float:
    """Derived: SAM (normalised ascent), convex, ``eta_t <= 2/beta``: ``eps <= L sum_t ((1 - 1/n) 4 rho + 2 eta_t L / n)``."""
    L, beta, n = _common(L, beta, n)
    rho = check_nonnegative("rho", rho)
    eta = _schedule(lr, T)
    _check_lr_limit(eta, 2.0 / beta, "eta <= 2/beta", "the convex SAM bound (derived, HRS Thm 3.8 framework)")
    return float(L * np.sum((1.0 - 1.0 / n) * SAM_CONVEX_OFFSET * rho + 2.0 * eta * L / n))


# ---------------------------------------------------------------------------------------------------
# Per-step constants and the generic bound
# ---------------------------------------------------------------------------------------------------


class StepConstants(NamedTuple):
    """Per-step ``alpha_t`` (expansiveness), ``sigma_t`` (boundedness) and ``tau_t`` (additive term), each (T,)."""

    alpha: np.ndarray
    sigma: np.ndarray
    tau: np.ndarray


GammaRange = _constants.GammaRange


def _stable_row(method: Method | str) -> Method:
    row = bound_row(method)
    if not (row.stable and row.uses_rho):
        raise UsageError(f"method {row.key!r} is not a renormalized method (StableSAM); allowed: "
                         + ", ".join(k for k in method_keys(quadratic=True, full_batch=False) if method_row(k).stable))
    return row


def stablesam_gamma_range(method: Method | str, setting: str, *, rho: float, beta: float, g_min: float | None = None) -> GammaRange:
    """Range of StableSAM's factor ``gamma_t`` for a ``beta``-smooth loss (convex: co-coercive), see the module docstring.

    StableSAM-U: ``[1/(1 + rho beta), 1/(1 - rho beta)]`` (``inf`` above if ``rho beta >= 1``), capped at 1 if convex.
    StableSAM-N with ``||g_t|| >= g_min``: ``[g_min/(g_min + rho beta), g_min/(g_min - rho beta)]`` (``inf`` above
    if ``g_min <= rho beta``), capped at 1 if convex; ``g_min = None`` means 0.
    (:func:`stablesam.theory.method_constants.gamma_range`.)
    """
    return _constants.gamma_range(_stable_row(method), setting, rho=rho, beta=beta, g_min=g_min)


def stablesam_expansiveness(method: Method | str, lr, *, beta: float, rho: float, g_min: float | None = None) -> np.ndarray:
    """Derived (``assumption="lipschitz-step"``): ``alpha = 1 + eta beta K`` with
    :func:`stablesam.theory.method_constants.lipschitz_step_constant`'s ``K``: StableSAM-U
    ``sqrt(1 + ((1 + r)/(1 - r))^2)`` (``r = rho beta < 1``), StableSAM-N ``sqrt(1 + ((1 + s)/(1 - s))^2)``
    (``s = rho beta / g_min < 1``, ``||g|| >= g_min`` on the segments between the runs); any ``beta``-smooth loss."""
    K = lipschitz_step_constant(_stable_row(method), beta=beta, rho=rho, g_min=g_min)
    return 1.0 + np.asarray(lr, dtype=np.float64) * beta * K


_SAMPLING = ("per-example loss L-Lipschitz and beta-smooth; both runs sample the same index (uniform, with "
             "replacement) on datasets differing in one example (Hardt et al. 2016)")


class _StableSAM(NamedTuple):
    base: str  # whose constants apply: sgd/usam/sam, or "lipschitz-step" (the StableSAM constant)
    gamma: float  # step-size factor (shared-gamma: the upper end gamma), 1 otherwise
    assumption: str | None  # the assumption's name
    detail: str  # what the bound assumes, always named
    gamma_low: float = 1.0  # shared-gamma: the lowest factor gamma_t can take (constants hold on [gamma_low, gamma])
    row: Method | None = None


def _resolve_stablesam(
    method: Method | str, gamma, assumption, *, setting: str = "convex", rho: float = 0.0, beta: float = 1.0,
    g_min: float | None = None,
) -> _StableSAM:
    """The constants' source of ``method`` under the named assumption, and what is assumed; refuses a ``gamma`` no
    trajectory can meet."""
    row = bound_row(method)
    base = base_of(row)
    if not (row.stable and row.uses_rho):
        return _StableSAM(base, 1.0, None, _SAMPLING, 1.0, row)
    if assumption is None:
        raise UsageError(
            f"method {row.key!r} has no stability bound without an assumption: pass assumption='shared-gamma' "
            "(both runs share gamma_t <= gamma; with gamma) or 'lipschitz-step' (derived constant; the normalized ascent needs g_min)"
        )
    check_choice("assumption", assumption, ASSUMPTIONS)
    if assumption == "lipschitz-step":
        lipschitz_step_constant(row, beta=beta, rho=rho, g_min=g_min)  # validates rho beta, g_min
        floor = ("rho*beta < 1" if row.ascent == "unnormalized"
                 else f"||grad l(x; z)|| >= g_min={g_min:.6g} > rho*beta for every example z and every x on the segments between the two runs' iterates")
        detail = f"{_SAMPLING}; derived expansiveness constant, no assumption on gamma_t ({floor})"
        return _StableSAM("lipschitz-step", 1.0, assumption, detail, 1.0, row)
    if gamma is None:
        raise UsageError("assumption 'shared-gamma' needs gamma, an upper bound on gamma_t (gamma <= 1 holds for convex losses)")
    gamma = check_positive("gamma", gamma)
    low, high = _constants.gamma_range(row, setting, rho=rho, beta=beta, g_min=g_min)
    if gamma < low * (1 - 1e-12):
        where = "" if row.ascent == "unnormalized" else f" with ||g|| >= g_min={0.0 if g_min is None else g_min:.6g}"
        raise UsageError(
            f"gamma={gamma:.6g} is below what any trajectory meets: {row.key}'s gamma_t lies in [{low:.6g}, {high:.6g}] "
            f"for a {setting} beta-smooth loss with rho*beta={rho * beta:.6g}{where}; allowed: gamma >= {low:.6g}"
        )
    status = ("gamma_t <= gamma holds on every trajectory" if gamma >= high * (1 - 1e-12)
              else "gamma_t <= gamma is an assumption about the trajectory")
    detail = (f"{_SAMPLING}; shared-factor assumption: both runs apply the same factor gamma_t at step t (an "
              f"assumption even at the top of the range: gamma(w_t) != gamma(w'_t)); {status} "
              f"(gamma_t in [{low:.6g}, {high:.6g}]; constants hold for every gamma_t in [{low:.6g}, {min(gamma, high):.6g}])")
    return _StableSAM(base, gamma, assumption, detail, min(low, gamma), row)


def assumption_detail(
    method: Method | str, setting: str, *, beta: float, rho: float = 0.0, gamma: float | None = None,
    assumption: str | None = None, g_min: float | None = None,
) -> str:
    """What the bound of ``method`` assumes, in words (every method: the sampling model; StableSAM also its named
    assumption, the shared-factor one included); refuses an impossible ``gamma``."""
    check_choice("setting", setting, SETTINGS)
    rho, beta = check_nonnegative("rho", rho), check_positive("beta", beta)
    return _resolve_stablesam(method, gamma, assumption, setting=setting, rho=rho, beta=beta, g_min=g_min).detail


def step_constants(
    method: Method | str,
    setting: str,
    lr,
    *,
    L: float,
    beta: float,
    rho: float = 0.0,
    mu: float | None = None,
    gamma: float | None = None,
    assumption: str | None = None,
    g_min: float | None = None,
    T: int | None = None,
) -> StepConstants:
    """Per-step constants of ``method`` in ``setting`` for the schedule ``lr`` (see the module docstring).

    SGD's are from HRS Lemma 3.7 and, strongly convex, from the proof of HRS Thm 3.9: writing
    ``l = r + mu/2 ||w||^2`` (``r`` convex, ``(beta - mu)``-smooth), the step is ``(1 - eta mu)``-expansive for
    ``eta <= 1/beta``. Every other method's are derived (:mod:`stablesam.theory.method_constants`, the one place
    they live). StableSAM needs ``assumption``: under ``"shared-gamma"`` the base's constants hold for every shared
    factor in ``[gamma_low, gamma]`` (each constant is affine in ``gamma_t``, so the larger of its two end values
    is taken: the strongly convex contraction is weakest at ``gamma_low``); under ``"lipschitz-step"``
    ``alpha = 1 + eta beta K``, ``sigma = eta L``, ``tau = 0``, with no learning-rate condition.
    The learning-rate conditions are checked here (``eta_t`` scaled by ``gamma`` for StableSAM).
    """
    check_choice("setting", setting, SETTINGS)
    L, beta = check_positive("L", L), check_positive("beta", beta)
    rho = check_nonnegative("rho", rho)
    resolved = _resolve_stablesam(method, gamma, assumption, setting=setting, rho=rho, beta=beta, g_min=g_min)
    base, gamma_factor, row = resolved.base, resolved.gamma, resolved.row
    eta = gamma_factor * _schedule(lr, T)
    if setting == "strongly-convex":
        mu = _check_mu(mu, beta)
    if base == "lipschitz-step":
        alpha = stablesam_expansiveness(row, eta, beta=beta, rho=rho, g_min=g_min)
        return StepConstants(alpha, eta * L, np.zeros_like(eta))
    stable = row.stable and row.uses_rho
    source = "HRS Lemma 3.7" if base == "sgd" else "derived" + (", assumption shared-gamma" if stable else "")
    theorem = f"the {setting} {row.key} bound ({source})"
    limit = lr_condition(setting, beta)
    if math.isfinite(limit):
        condition = ("gamma*eta <= " if stable else "eta <= ") + ("2/beta" if setting == "convex" else "1/beta")
        _check_lr_limit(eta, limit, condition, theorem, name="gamma*lr" if stable else "lr")
    alpha, tau = base_step_constants(base, setting, eta, beta=beta, rho=rho, mu=mu)
    if stable and resolved.gamma_low < gamma_factor:
        low_alpha, low_tau = base_step_constants(base, setting, eta * (resolved.gamma_low / gamma_factor), beta=beta, rho=rho, mu=mu)
        alpha, tau = np.maximum(alpha, low_alpha), np.maximum(tau, low_tau)
    # A StableSAM step has length eta ||g|| <= eta L whatever gamma_t is, and gamma eta ||g~|| <= gamma eta L.
    sigma = np.minimum(eta, eta / gamma_factor) * L
    return StepConstants(np.asarray(alpha, dtype=np.float64), sigma, np.asarray(tau, dtype=np.float64))


class StabilityBound(NamedTuple):
    eps: float  # the bound reported by default: the closed form where one exists, else the recursion
    method: str
    setting: str
    source: str  # which theorem / derivation, and whether closed form or recursion
    derived: bool
    assumption: str | None
    t0: int | None  # non-convex recursion: the minimising start step
    assumption_detail: str | None = None  # what the bound assumes (every method)
    recursion: float | None = None  # the exact growth recursion (tighter) where eps is a closed form
    closed_form: float | None = None  # the closed form, where one exists (then eps == closed_form)


def stability_bound(
    method: Method | str,
    setting: str,
    *,
    L: float,
    beta: float,
    n: int,
    T: int,
    lr=None,
    c: float | None = None,
    rho: float = 0.0,
    mu: float | None = None,
    gamma: float | None = None,
    assumption: str | None = None,
    g_min: float | None = None,
) -> StabilityBound:
    """``eps_stab`` for ``method`` in ``setting``: closed form where one exists, growth recursion otherwise.

    ``method`` is a row of :data:`stablesam.core.methods.METHODS` or its key. Convex and strongly convex take
    ``lr`` (a constant or the schedule ``eta_1..eta_T``); non-convex takes ``c`` (``eta_t = c/t``, losses in
    ``[0, 1]``). ``rho`` is ignored by SGD. StableSAM needs ``assumption="shared-gamma"`` and ``gamma``, or
    ``assumption="lipschitz-step"`` (StableSAM-N with ``g_min``); see the module docstring. Where a closed form
    exists the result also carries ``recursion``, the exact growth recursion of the same constants, which is never
    above it (tighter; both are valid bounds); ``assumption_detail`` names what every bound assumes.
    """
    check_choice("setting", setting, SETTINGS)
    L, beta, n = _common(L, beta, n)
    rho = check_nonnegative("rho", rho)
    T = check_integer("T", T, minimum=0)
    resolved = _resolve_stablesam(method, gamma, assumption, setting=setting, rho=rho, beta=beta, g_min=g_min)
    row, base, gamma_factor, used_assumption, detail = resolved.row, resolved.base, resolved.gamma, resolved.assumption, resolved.detail
    key = row.key
    derived = base != "sgd"
    options = dict(gamma=gamma, assumption=assumption, g_min=g_min)
    tag = "derived, " if derived else ""
    shared_low = row.stable and row.uses_rho and resolved.gamma_low < gamma_factor and setting == "strongly-convex"

    def bound(eps, source, closed, t0=None, recursion=None):
        return StabilityBound(float(eps), key, setting, source, derived, used_assumption, t0, detail,
                              None if recursion is None else float(recursion), float(eps) if closed else None)

    if setting == "nonconvex":
        if c is None:
            raise UsageError("setting 'nonconvex' needs c (eta_t = c/t); --lr is not used")
        c = check_positive("c", c)
        k = step_constants(row, setting, inverse_time(c, T), L=L, beta=beta, rho=rho, **options)
        recursion, t0 = nonconvex_stability(k.alpha, k.sigma, n=n, T=T, L=L, tau=k.tau)
        if base == "sgd":
            return bound(sgd_nonconvex(c, L=L, beta=beta, n=n, T=T), f"{_HRS}, Thm 3.12 (closed form)", True, None, recursion)
        if base == "usam":
            eps = usam_nonconvex(gamma_factor * c, L=L, beta=beta, rho=rho, n=n, T=T)
            return bound(eps, "derived: Thm 3.12 with beta' = beta (1 + rho beta) (closed form)", True, None, recursion)
        return bound(recursion, "derived: recursion from t0 (HRS Lemma 3.11)", False, t0)
    if lr is None:
        raise UsageError(f"setting {setting!r} needs lr (a constant or a schedule)")
    eta = _schedule(lr, T)
    constant_lr = bool(np.all(eta == eta[0])) if eta.size else True
    if setting == "strongly-convex" and not constant_lr:
        raise UsageError("the strongly convex bound (HRS Thm 3.9) needs a constant learning rate")
    closed = None  # (eps, source) of the closed form, where one exists; it checks its theorem's condition first
    if base == "sgd" and setting == "convex":
        closed = sgd_convex(eta, L=L, beta=beta, n=n), f"{_HRS}, Thm 3.8 (closed form)"
    elif base == "sgd" and setting == "strongly-convex" and not shared_low:
        eps = sgd_strongly_convex(float(eta[0]) if T else check_positive("lr", lr), L=L, beta=beta, mu=mu, n=n)
        closed = eps, f"{_HRS}, Thm 3.9 (closed form)"
    k = step_constants(row, setting, eta, L=L, beta=beta, rho=rho, mu=mu, **options)  # checks the conditions
    recursion = float(L * expected_distance(k.alpha, k.sigma, n=n, T=T, tau=k.tau)[-1])
    if setting == "convex" and base == "usam" and constant_lr and T:
        closed = usam_convex(gamma_factor * float(eta[0]), L=L, beta=beta, rho=rho, n=n, T=T), f"{tag}closed form (1 + eta rho beta^2)-expansive"
    elif setting == "convex" and base == "sam":
        closed = (sam_convex(gamma_factor * eta, L=L, beta=beta, rho=rho, n=n) if T else 0.0), f"{tag}closed form (affine same-example bound)"
    if closed is not None:
        return bound(closed[0], closed[1], True, None, recursion)
    return bound(recursion, f"{tag}growth recursion", False)


# ---------------------------------------------------------------------------------------------------
# Largest non-expansive learning rate
# ---------------------------------------------------------------------------------------------------


def max_nonexpansive_lr(
    method: Method | str,
    *,
    beta: float,
    rho: float = 0.0,
    curvature: str = "general",
    gamma: float | None = None,
    assumption: str | None = None,
    g_min: float | None = None,
) -> float:
    """Largest ``eta`` for which the convex expansiveness constant of ``method``'s step is ``<= 1``.

    - SGD: ``2/beta`` (HRS Lemma 3.7.2), for any convex ``beta``-smooth loss.
    - USAM (derived): ``curvature="quadratic"`` (constant or commuting Hessians, spectrum in ``[0, beta]``):
      the step is ``I - eta H - eta rho H^2``, non-expansive iff ``eta <= 2 / (beta (1 + rho beta))``.
      ``curvature="general"``: the certified constant ``1 + eta rho beta^2`` exceeds 1 for every ``eta > 0``
      when ``rho > 0``, so the answer is ``0.0`` (no positive learning rate is certified).
    - SAM (derived): ``0.0`` for ``rho > 0`` in either case: the map jumps by ``2 eta rho lambda`` across a
      critical point (1-D quadratic), so it is not non-expansive for any ``eta > 0``.
    - StableSAM-U / -N: under ``assumption="shared-gamma"`` the base method's value divided by ``gamma``; under
      ``"lipschitz-step"`` ``0.0`` (the derived constant ``1 + eta beta K`` exceeds 1 for every ``eta > 0``).
    """
    if isinstance(method, str):
        check_choice("method", method, method_keys(quadratic=True))
        method = method_row(method)
    beta = check_positive("beta", beta)
    rho = check_nonnegative("rho", rho)
    check_choice("curvature", curvature, CURVATURES)
    if not method.uses_rho:  # gd and sgd: the full-batch and stochastic steps have the same expansiveness
        return 2.0 / beta
    resolved = _resolve_stablesam(method, gamma, assumption, rho=rho, beta=beta, g_min=g_min)
    base, gamma_factor = resolved.base, resolved.gamma
    if base == "lipschitz-step":
        limit = 0.0
    elif base == "sgd" or rho == 0.0:
        limit = 2.0 / beta
    elif base == "usam":
        limit = 2.0 / (beta * (1.0 + rho * beta)) if curvature == "quadratic" else 0.0
    else:
        limit = 0.0
    return limit / gamma_factor
