"""Excess risk = optimization error + generalization error, its optimal learning rate, regimes and maximal rates.

``E[R(A(S))] - R(w*) <= eps_opt + eps_gen`` with ``eps_gen <= eps_stab`` (Hardt et al. 2016, Thm 2.2) and
``eps_opt`` the expected optimization error on the training set (docs/theory.md section 5).

Convex SGD, ``E||g||^2 <= L^2``, ``||w_0 - w*|| <= D``, constant ``eta``, averaged iterate (Nemirovski et al.
2009; the averaged iterate inherits the last iterate's stability bound because ``E delta_t`` grows with ``t``):

    eps_opt <= D^2 / (2 eta T) + eta L^2 / 2,        eps_gen <= 2 eta T L^2 / n   (HRS Thm 3.8)
    excess  <= D^2 / (2 eta T) + eta L^2 / 2 + 2 eta T L^2 / n,
    eta* = D / (L sqrt(T (1 + 4T/n))),                excess(eta*) = D L sqrt((1 + 4T/n) / T).

Optimization terms of the SAM family (**derived** by this toolkit, convex per-example losses): the same
averaged-iterate argument with ``<g~, w - w*> >= l(w) - l(w*) - rho <g~, u>`` (convexity at ``w~ = w + rho u``
and ``l(w~) >= l(w)``) adds ``rho L^2`` for USAM (``u = g``) and ``rho L`` for SAM (``u = g/||g||``). StableSAM
under ``assumption="shared-gamma"`` is its base method with ``eta -> gamma eta``: here the assumption is
``gamma_t = gamma`` at every step (the optimization term needs ``gamma_t >= gamma``, the stability term
``gamma_t <= gamma``), with ``gamma`` in the feasible range of
:func:`stablesam.theory.uniform_stability.stablesam_gamma_range`. Under ``assumption="lipschitz-step"`` no value of
``gamma_t`` is assumed: the step ``eta gamma_t g~`` has length ``eta ||g|| <= eta L`` and
``gamma_t >= gamma_min`` (``1/(1 + rho beta)`` for StableSAM-U, ``g_min/(g_min + rho beta)`` for StableSAM-N), so
the iterate averaged with weights ``gamma_t`` has
``eps_opt <= D^2 / (2 eta T gamma_min) + eta L^2 / (2 gamma_min) + rho L^2`` (U) or ``+ rho L`` (N), derived
**for full-batch steps only**: under per-example sampling ``gamma_t`` depends on the sampled index, so
``E[gamma_t (l_i(w_t) - l_i(w*))] != E[gamma_t] (F_S(w_t) - F*)`` and the argument has a gap;
:func:`optimization_error` refuses ``sampling="per-example"`` there, and :func:`excess_risk` (whose stability term
needs per-example sampling) refuses ``lipschitz-step``.

Every bound is a function of the learning rate; :func:`optimal_lr` minimises any of them numerically
(so bounds without a closed-form optimum are optimised too), :func:`regimes` returns the learning-rate
intervals where one bound is below another (both within their theorems, by more than a relative tolerance;
:func:`compare_bounds` also reports where a theorem says nothing), :func:`max_lr_for_target` the largest learning rate keeping
a bound below a target. Outside a theorem's learning-rate condition a bound is ``inf`` (it says nothing).

Example
-------
>>> from stablesam.theory.excess_risk import convex_sgd_optimal_lr, convex_sgd_excess_risk
>>> eta, value = convex_sgd_optimal_lr(L=1.0, D=1.0, n=100, T=100)
>>> round(eta, 6), round(value, 6)          # 1/sqrt(500), sqrt(5/100)
(0.044721, 0.223607)
>>> round(convex_sgd_excess_risk(eta, L=1.0, D=1.0, n=100, T=100).total, 6)
0.223607
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize_scalar

from stablesam.core.methods import Method
from stablesam.core.validation import UsageError, check_choice, check_integer, check_nonnegative, check_positive
from stablesam.theory.method_constants import SETTINGS, gamma_range, lr_condition, optimization_extra
from stablesam.theory.uniform_stability import _resolve_stablesam, stability_bound

__all__ = [
    "SAMPLINGS",
    "BoundComparison",
    "ExcessRisk",
    "MaxLr",
    "bound_function",
    "compare_bounds",
    "convex_sgd_excess_risk",
    "convex_sgd_optimal_lr",
    "excess_risk",
    "excess_risk_function",
    "lr_limit",
    "max_lr_for_target",
    "optimal_lr",
    "optimization_error",
    "regimes",
]


SAMPLINGS = ("per-example", "full-batch")


class ExcessRisk(NamedTuple):
    optimization: float
    generalization: float  # eps_stab as the stability bound reports it (the closed form where one exists)
    total: float
    generalization_recursion: float | None = None  # the exact growth recursion (tighter), where the above is a closed form
    total_recursion: float | None = None  # optimization + generalization_recursion


def convex_sgd_excess_risk(lr: float, *, L: float, D: float, n: int, T: int, beta: float | None = None) -> ExcessRisk:
    """Convex SGD: ``D^2/(2 eta T) + eta L^2/2`` (optimization) ``+ 2 eta T L^2/n`` (generalization, HRS 3.8).

    With ``beta`` the stability term's condition ``eta <= 2/beta`` is checked.
    """
    lr, L, D = check_positive("lr", lr), check_positive("L", L), check_positive("D", D)
    n, T = check_integer("n", n, minimum=2), check_integer("T", T, minimum=1)
    if beta is not None and lr > 2.0 / check_positive("beta", beta) * (1 + 1e-12):
        raise UsageError(f"lr={lr:.6g} violates eta <= 2/beta = {2.0 / beta:.6g} required by the convex theorem (Hardt et al. 2016, Thm 3.8)")
    optimization = D**2 / (2.0 * lr * T) + lr * L**2 / 2.0
    generalization = 2.0 * lr * T * L**2 / n
    return ExcessRisk(optimization, generalization, optimization + generalization)


def convex_sgd_optimal_lr(*, L: float, D: float, n: int, T: int) -> tuple[float, float]:
    """``eta* = D / (L sqrt(T (1 + 4T/n)))`` and ``excess(eta*) = D L sqrt((1 + 4T/n) / T)`` (docs/theory.md section 5).

    Unconstrained: compare ``eta*`` with ``2/beta`` (the bound is convex in ``eta``, so the constrained
    optimum is ``min(eta*, 2/beta)``).
    """
    L, D = check_positive("L", L), check_positive("D", D)
    n, T = check_integer("n", n, minimum=2), check_integer("T", T, minimum=1)
    k = 1.0 + 4.0 * T / n
    return D / (L * math.sqrt(T * k)), D * L * math.sqrt(k / T)


def lr_limit(
    method: Method | str, setting: str, *, beta: float, gamma: float | None = None, assumption: str | None = None,
    rho: float = 0.0, g_min: float | None = None,
) -> float:
    """Largest learning rate the bound of ``(method, setting)`` accepts: ``2/beta`` convex, ``1/beta`` strongly
    convex (divided by ``gamma`` for StableSAM under ``shared-gamma``), ``inf`` non-convex (``eta_t = c/t``) and
    for StableSAM under ``lipschitz-step`` (its constant needs no learning-rate condition)."""
    check_choice("setting", setting, SETTINGS)
    beta = check_positive("beta", beta)
    resolved = _resolve_stablesam(method, gamma, assumption, setting=setting, rho=rho, beta=beta, g_min=g_min)
    if resolved.base == "lipschitz-step":
        return math.inf
    return lr_condition(setting, beta) / resolved.gamma


def optimization_error(
    method: Method | str, lr: float, *, L: float, D: float, T: int, rho: float = 0.0, gamma: float | None = None,
    assumption: str | None = None, beta: float | None = None, g_min: float | None = None, sampling: str = "per-example",
) -> float:
    """Convex averaged-iterate optimization term: SGD ``D^2/(2 eta T) + eta L^2/2``; USAM ``+ rho L^2`` and SAM
    ``+ rho L`` (derived, :func:`stablesam.theory.method_constants.optimization_extra`); StableSAM-U / -N: USAM / SAM
    with ``eta -> gamma eta`` (derived, ``shared-gamma``: the runs' factor is ``gamma_t = gamma`` at every step), or
    ``(D^2/(2 eta T) + eta L^2/2) / gamma_min`` plus USAM's / SAM's term (derived, ``lipschitz-step``, needs ``beta``).

    ``sampling`` (``"per-example"``, the default, or ``"full-batch"``) is how each step's gradient is drawn. The
    ``lipschitz-step`` term averages the iterates with weights ``gamma_t``, which needs
    ``E[gamma_t (l_i(w_t) - l_i(w*))] = E[gamma_t] (F_S(w_t) - F*)``: true full-batch, false under per-example
    sampling (``gamma_t`` depends on the sampled index), where it is refused.
    """
    check_choice("sampling", sampling, SAMPLINGS)
    lr, L, D = check_positive("lr", lr), check_positive("L", L), check_positive("D", D)
    T = check_integer("T", T, minimum=1)
    rho = check_nonnegative("rho", rho)
    if assumption == "lipschitz-step" and beta is None:
        raise UsageError("the lipschitz-step optimization term needs beta (gamma_t >= 1/(1 + rho beta))")
    beta = 1.0 if beta is None else check_positive("beta", beta)
    resolved = _resolve_stablesam(method, gamma, assumption, setting="convex", rho=rho, beta=beta, g_min=g_min)
    if resolved.base == "lipschitz-step":
        if sampling != "full-batch":
            raise UsageError(
                "sampling='per-example' is not allowed with the lipschitz-step optimization term: it averages over "
                "gamma_t, which depends on the sampled example (E[gamma_t (l_i(w_t) - l_i(w*))] != E[gamma_t] "
                "(F_S(w_t) - F*)); allowed: sampling='full-batch', or assumption='shared-gamma'"
            )
        row = resolved.row
        gamma_min = gamma_range(row, "convex", rho=rho, beta=beta, g_min=g_min).lowest
        extra = optimization_extra("usam" if row.ascent == "unnormalized" else "sam", rho=rho, L=L)
        return (D**2 / (2.0 * lr * T) + lr * L**2 / 2.0) / gamma_min + extra
    eta = resolved.gamma * lr
    return D**2 / (2.0 * eta * T) + eta * L**2 / 2.0 + optimization_extra(resolved.base, rho=rho, L=L)


def excess_risk(
    method: Method | str,
    lr: float,
    *,
    L: float,
    beta: float,
    D: float,
    n: int,
    T: int,
    rho: float = 0.0,
    gamma: float | None = None,
    assumption: str | None = None,
    g_min: float | None = None,
) -> ExcessRisk:
    """Convex excess-risk bound of ``method`` at a constant ``lr``: :func:`optimization_error` + ``eps_stab``
    (:func:`stablesam.theory.uniform_stability.stability_bound`), both under per-example sampling. Derived for every
    method but SGD. ``generalization_recursion`` / ``total_recursion`` use the exact recursion (tighter) where the
    stability bound is a closed form. StableSAM under ``lipschitz-step`` is refused: its optimization term holds
    full-batch only (:func:`optimization_error`), its stability bound per-example only."""
    options = dict(rho=rho, gamma=gamma, assumption=assumption, g_min=g_min)
    if assumption == "lipschitz-step" and _resolve_stablesam(method, gamma, assumption, rho=rho, beta=beta, g_min=g_min).base == "lipschitz-step":
        raise UsageError(
            "assumption='lipschitz-step' has no excess-risk bound: its optimization term holds full-batch only "
            "(gamma_t depends on the sampled example) and the stability bound needs per-example sampling; allowed: "
            "assumption='shared-gamma'"
        )
    optimization = optimization_error(method, lr, L=L, D=D, T=T, beta=beta, **options)
    stab = stability_bound(method, "convex", L=L, beta=beta, n=n, T=T, lr=lr, **options)
    recursion = stab.eps if stab.recursion is None else stab.recursion
    return ExcessRisk(optimization, stab.eps, optimization + stab.eps, recursion, optimization + recursion)


def _guarded(fn: Callable[[float], float], limit: float) -> Callable[[float], float]:
    def bound(lr: float) -> float:
        return math.inf if lr > limit * (1 + 1e-12) else fn(lr)

    return bound


def bound_function(
    method: Method | str, setting: str, *, beta: float, gamma: float | None = None, assumption: str | None = None,
    g_min: float | None = None, recursion: bool = False, **constants,
) -> Callable[[float], float]:
    """``eta -> eps_stab`` for ``(method, setting)`` (``eta`` is ``c`` in the non-convex setting), ``inf`` beyond
    the theorem's learning-rate condition. ``constants``: ``L, n, T`` and as needed ``rho, mu``. ``recursion=True``:
    the exact growth recursion (tighter) instead of the closed form, where both exist."""
    options = dict(gamma=gamma, assumption=assumption, g_min=g_min)
    limit = lr_limit(method, setting, beta=beta, rho=constants.get("rho", 0.0), **options)
    key = "c" if setting == "nonconvex" else "lr"

    def eps(lr: float) -> float:
        b = stability_bound(method, setting, beta=beta, **options, **{key: lr}, **constants)
        return b.recursion if recursion and b.recursion is not None else b.eps

    return _guarded(eps, limit)


def excess_risk_function(
    method: Method | str, *, beta: float, gamma: float | None = None, assumption: str | None = None,
    g_min: float | None = None, recursion: bool = False, **constants
) -> Callable[[float], float]:
    """``eta -> excess_risk(...).total`` (convex; ``total_recursion`` with ``recursion=True``), ``inf`` beyond
    ``eta <= 2/beta`` (``gamma eta`` for StableSAM)."""
    options = dict(gamma=gamma, assumption=assumption, g_min=g_min)
    limit = lr_limit(method, "convex", beta=beta, rho=constants.get("rho", 0.0), **options)
    pick = (lambda r: r.total_recursion) if recursion else (lambda r: r.total)
    return _guarded(lambda lr: pick(excess_risk(method, lr, beta=beta, **options, **constants)), limit)


def optimal_lr(objective: Callable[[float], float], lr_min: float, lr_max: float, *, num: int = 200) -> tuple[float, float]:
    """Minimise ``objective`` over ``[lr_min, lr_max]``: a log-spaced grid, then bounded Brent around the best point.

    Returns ``(eta, objective(eta))``. Works for any bound, with or without a closed-form optimum.
    """
    lr_min, lr_max = check_positive("lr_min", lr_min), check_positive("lr_max", lr_max)
    if lr_min >= lr_max:
        raise UsageError(f"lr_min={lr_min:.6g} must be < lr_max={lr_max:.6g}")
    grid = np.geomspace(lr_min, lr_max, check_integer("num", num, minimum=3))
    values = np.array([objective(x) for x in grid])
    if not np.any(np.isfinite(values)):
        raise UsageError(f"the bound is infinite on the whole range [{lr_min:.6g}, {lr_max:.6g}]")
    i = int(np.nanargmin(values))
    lo, hi = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, len(grid) - 1)])
    result = minimize_scalar(lambda s: objective(math.exp(s)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    best_lr, best = (math.exp(result.x), float(result.fun)) if result.fun <= values[i] else (float(grid[i]), float(values[i]))
    return best_lr, best


def _bisect(predicate: Callable[[float], bool], lo: float, hi: float, *, rtol: float = 1e-13) -> float:
    """Boundary between ``predicate(lo)`` and ``not predicate(lo)`` within ``[lo, hi]``, by bisection in log space."""
    side = predicate(lo)
    while hi - lo > rtol * hi:
        mid = math.sqrt(lo * hi)
        if mid <= lo or mid >= hi:
            break
        if predicate(mid) == side:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


class BoundComparison(NamedTuple):
    """Learning-rate intervals of :func:`compare_bounds` (each a list of ``(lo, hi)``)."""

    better: list  # both bounds finite (within their theorems) and a < b by more than rtol
    not_better: list  # both finite, a >= b (1 - rtol): worse or a tie at rounding level
    a_silent: list  # a's theorem says nothing there (a is inf), whatever b is
    b_silent: list  # only b's theorem says nothing there: a is finite, b is inf -- not "better"


_STATES = ("better", "not_better", "a_silent", "b_silent")


def compare_bounds(
    bound_a: Callable[[float], float], bound_b: Callable[[float], float], lr_min: float, lr_max: float, *,
    rtol: float = 1e-9, num: int = 400,
) -> BoundComparison:
    """Split ``[lr_min, lr_max]`` by how ``bound_a`` compares with ``bound_b`` (see :class:`BoundComparison`).

    ``a`` beats ``b`` only where both are finite and ``a < b - rtol |b|``: an infinite bound is a theorem that
    says nothing, not a large number, and differences at rounding level are ties. A log-spaced grid finds the
    changes of state, bisection refines each boundary to relative ``1e-13``; intervals narrower than the grid
    spacing can be missed (raise ``num``).
    """
    lr_min, lr_max = check_positive("lr_min", lr_min), check_positive("lr_max", lr_max)
    rtol = check_nonnegative("rtol", rtol)
    if lr_min >= lr_max:
        raise UsageError(f"lr_min={lr_min:.6g} must be < lr_max={lr_max:.6g}")

    def state(lr: float) -> str:
        a, b = bound_a(lr), bound_b(lr)
        if not math.isfinite(a):
            return "a_silent"
        if not math.isfinite(b):
            return "b_silent"
        return "better" if a < b - rtol * abs(b) else "not_better"

    grid = np.geomspace(lr_min, lr_max, check_integer("num", num, minimum=2))
    states = [state(x) for x in grid]
    out: dict[str, list] = {k: [] for k in _STATES}
    start = lr_min
    for k in range(1, len(grid)):
        if states[k] != states[k - 1]:
            left = states[k - 1]
            edge = _bisect(lambda x, left=left: state(x) == left, float(grid[k - 1]), float(grid[k]))
            out[left].append((start, edge))
            start = edge
    out[states[-1]].append((start, lr_max))
    return BoundComparison(**out)


def regimes(
    bound_a: Callable[[float], float], bound_b: Callable[[float], float], lr_min: float, lr_max: float, *,
    rtol: float = 1e-9, num: int = 400,
) -> list[tuple[float, float]]:
    """Learning-rate intervals in ``[lr_min, lr_max]`` where ``bound_a`` beats ``bound_b``: both finite (within
    their theorems) and ``a < b - rtol |b|``. :func:`compare_bounds` also reports where a theorem is silent."""
    return compare_bounds(bound_a, bound_b, lr_min, lr_max, rtol=rtol, num=num).better


class MaxLr(NamedTuple):
    lr: float
    bound: float  # the bound at ``lr``
    binding: str  # "target" (the bound reaches eps) or "condition" (the theorem's learning-rate limit)


def max_lr_for_target(bound: Callable[[float], float], eps: float, lr_max: float, *, lr_min: float = 1e-12) -> MaxLr:
    """Largest ``eta <= lr_max`` with ``bound(eta) <= eps``, for a bound that grows with ``eta``.

    ``binding`` says whether the target or the theorem's condition (``lr_max``) stops it. ``lr = 0.0`` when
    even ``lr_min`` misses the target.
    """
    eps = check_positive("eps", eps)
    lr_max, lr_min = check_positive("lr_max", lr_max), check_positive("lr_min", lr_min)
    at_max = bound(lr_max)
    if at_max <= eps:
        return MaxLr(lr_max, at_max, "condition")
    if bound(lr_min) > eps:
        return MaxLr(0.0, 0.0, "target")
    lr = _bisect(lambda x: bound(x) <= eps, lr_min, lr_max, rtol=1e-14)
    while bound(lr) > eps:  # land on the feasible side of the boundary
        lr = math.nextafter(lr, 0.0) * (1 - 1e-15)
    return MaxLr(lr, bound(lr), "target")
