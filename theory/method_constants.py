r"""Per-step constants of every method with a stability bound: the one place the bounds derive from.

:mod:`stablesam.theory.uniform_stability` (stability bounds, growth recursion) and
:mod:`stablesam.theory.excess_risk` (optimization terms) read every constant here; fixing one constant is an edit of
this file (plus its tests). Constants are chosen by the fields of a method's row
(:class:`stablesam.core.methods.Method`: ``ascent``, ``stable``), never by its key, so a new row with an existing
ascent has its constants with no edit here. A *base* is the non-renormalized method of an ascent: ``"sgd"``
(``ascent="none"``), ``"usam"`` (``"unnormalized"``), ``"sam"`` (``"normalized"``).

Notation: per-example loss ``l(w; z)``, ``L``-Lipschitz and ``beta``-smooth (``grad l`` is ``beta``-Lipschitz),
``g = grad l(w)``, ascent point ``w~ = w + rho g`` (U) or ``w + rho g/||g||`` (N), ``g~ = grad l(w~)``,
``gamma = ||g||/||g~||``, ``r = rho beta``.

Same-example step of a base (HRS = Hardt, Recht & Singer 2016, arXiv:1509.01240), ``||G(v) - G(w)|| <= alpha
||v - w|| + tau``, at the (effective) learning rate ``eta`` -- :func:`base_step_constants`:

=========  =======================  ===================================  =========================================
base       convex                   strongly convex (``eta <= 1/beta``)  non-convex
=========  =======================  ===================================  =========================================
sgd        ``1, 0`` (HRS 3.7)       ``1 - eta mu, 0`` (HRS 3.9 proof)    ``1 + eta beta, 0`` (HRS 3.7)
usam       ``1 + eta r beta, 0``    ``1 - eta mu + eta r beta, 0``       ``1 + eta beta (1 + r), 0``
sam        ``1, 4 rho``             ``1 - eta mu, 2 rho (2 - eta mu)``   ``1 + eta beta, 2 eta beta rho``
=========  =======================  ===================================  =========================================

(USAM and SAM derived; docs/theory.md section 4.) Every step is ``eta L``-bounded (``sigma = eta L``).

StableSAM's lipschitz-step constant (**derived**; :func:`lipschitz_step_constant`)
-----------------------------------------------------------------------------------
The StableSAM step is ``G(w) = w - eta phi(w)`` with ``phi(w) = ||g|| u``, ``u = g~/||g~||`` (``phi = 0`` where
``g = 0``), so ``G`` is ``(1 + eta beta K)``-expansive with ``K = Lip(phi)/beta``. We prove

    StableSAM-U (``r = rho beta < 1``):                 ``K_U = sqrt(1 + ((1 + r)/(1 - r))^2)``,
    StableSAM-N (``s = rho beta / g_min < 1``):         ``K_N = sqrt(1 + ((1 + s)/(1 - s))^2)``,

and ``K = 1`` at ``rho = 0`` (then ``phi = g``). StableSAM-N needs ``||grad l(x; z)|| >= g_min`` for every example
``z`` and every ``x`` on the segment joining the two runs' iterates (the assumption ``g_min`` names).

1. *C^2 losses, ``g(w) != 0``.* ``||g~ - g|| <= beta ||w~ - w||``, which is ``r ||g||`` (U) or ``rho beta`` (N), so
   ``||g~|| >= (1 - r) ||g|| > 0`` (U) or ``>= ||g|| - rho beta > 0`` (N) and ``phi`` is ``C^1`` near ``w``. With
   ``H = hess l(w)``, ``H~ = hess l(w~)``, ``e = g/||g||``, ``P = I - u u^T``, ``Q = I - e e^T``:
   ``D||g|| = e^T H``, ``Du = P Dg~ / ||g~||`` and ``Dg~ = H~ (I + rho H)`` (U) or ``H~ (I + (rho/||g||) Q H)`` (N), so

       Dphi = u (H e)^T + gamma P Dg~.

2. *Orthogonal split.* For every ``x`` the first term lies along ``u`` and the second in ``u``'s orthogonal
   complement, so ``||Dphi x||^2 = (e^T H x)^2 + gamma^2 ||P Dg~ x||^2``. Since ``spec(H), spec(H~) in [-beta, beta]``,
   ``|e^T H x| <= beta ||x||``, ``||P|| <= 1`` and
   U: ``gamma ||Dg~|| <= beta (1 + r)/(1 - r)``;
   N: ``gamma ||Dg~|| <= beta (||g|| + rho beta)/(||g|| - rho beta) <= beta (1 + s)/(1 - s)`` (decreasing in ``||g||``).
   Hence ``||Dphi|| <= beta K``.
3. *Segments.* On a segment ``c(t) = w + t (v - w)``, ``phi o c`` is continuous and ``C^1`` off the closed set
   ``Z = {t : g(c(t)) = 0}`` (empty for N by assumption), where ``phi = 0``. The mean-value inequality on
   ``[0, min Z)`` and ``(max Z, 1]`` (by continuity at their ends) gives ``||phi(v) - phi(w)|| <= beta K (t_1 + 1 - t_2)
   ||v - w|| <= beta K ||v - w||``.
4. *Merely beta-smooth losses.* Mollify: ``l_eps = l * psi_eps`` (``psi_eps`` smooth, supported in the ball of
   radius ``eps``) is ``C^inf``, ``grad l_eps = g * psi_eps`` is ``beta``-Lipschitz and ``||grad l_eps - g|| <= beta eps``.
   ``phi_eps -> phi`` pointwise (where ``g != 0`` by continuity of ``(g, g~) -> ||g|| g~/||g~||`` at ``g~ != 0``;
   where ``g = 0`` because ``||phi_eps|| = ||grad l_eps|| -> 0``); for N, ``||grad l_eps|| >= g_min - beta eps`` on
   the segment and ``K_N`` is continuous in ``g_min``. Steps 1-3 hold for ``l_eps``, and the inequality passes to the
   limit: **the same constants hold for every beta-smooth loss**, C^2 or not.

Tightness. Each inequality of step 2 is attained by some ``(H, H~, mean Hessian on [w, w~])``: ``H e = beta e``,
``H~ e = beta f`` (``f`` orthogonal to ``e``), mean Hessian ``-beta e e^T`` gives ``||Dphi e|| = beta K`` exactly (the
test checks it with sympy). Whether one beta-smooth loss attains them at one point is open; the largest
``K_emp / K`` found by adversarial search (four loss families) is reported in docs/theory.md section 4.1. In 1-D
``phi = g`` (``K_emp = 1``). ``K`` jumps from 1 at ``rho = 0`` to ``sqrt 2`` as ``rho -> 0+``: ``H~`` need not be near
``H`` however small ``rho`` is (C^2 gives no modulus of continuity of the Hessian).

These replace the constants ``1 + 2 (1 + r)/(1 - r)`` and ``1 + 2 (g_min + 2 rho beta)/(g_min - rho beta)`` of
the toolkit before issue 24 (a triangle inequality; ``K_U`` is ``0.46x`` of the old at ``r = 0.05``).

Example
-------
>>> from stablesam.theory.method_constants import lipschitz_step_constant
>>> round(lipschitz_step_constant("stablesam-u", beta=1.0, rho=0.05), 6)   # sqrt(1 + (1.05/0.95)^2)
1.490506
>>> lipschitz_step_constant("stablesam-u", beta=1.0, rho=0.0)
1.0
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from stablesam.core.methods import Method, method_keys
from stablesam.core.methods import method as method_row
from stablesam.core.validation import UsageError, check_choice, check_nonnegative, check_positive

__all__ = [
    "BASES",
    "C7_THEORY",
    "GammaRange",
    "RenormalizationTheory",
    "SAM_CONVEX_OFFSET",
    "SETTINGS",
    "base_of",
    "base_step_constants",
    "bound_row",
    "gamma_range",
    "lipschitz_step_constant",
    "lr_condition",
    "optimization_extra",
    "renormalization_theory",
    "usam_convex_growth",
    "usam_smoothness",
]

SETTINGS = ("convex", "strongly-convex", "nonconvex")
BASES = {"none": "sgd", "unnormalized": "usam", "normalized": "sam"}  # ascent -> its non-renormalized method


def bound_row(method: Method | str) -> Method:
    """The row of ``method`` (a :class:`~stablesam.core.methods.Method` or its key) if it has a stability bound
    (a stochastic method with a map on quadratics); a one-line :class:`UsageError` naming the allowed keys otherwise."""
    allowed = method_keys(quadratic=True, full_batch=False)
    if isinstance(method, str):
        return method_row(check_choice("method", method, allowed))
    if not method.has_quadratic_map:
        raise UsageError(f"method {method.key!r} has no stability bound (ascent {method.ascent!r}); allowed: {', '.join(allowed)}")
    return method


def base_of(row: Method) -> str:
    """The base whose constants apply to ``row``'s ascent: ``"sgd"``, ``"usam"`` or ``"sam"``."""
    return BASES[row.ascent]


def lr_condition(setting: str, beta: float) -> float:
    """Largest (effective) learning rate the same-example constants need: ``2/beta`` convex (HRS Lemma 3.7.2),
    ``1/beta`` strongly convex (proof of HRS Thm 3.9), ``inf`` non-convex."""
    return {"convex": 2.0 / beta, "strongly-convex": 1.0 / beta, "nonconvex": math.inf}[check_choice("setting", setting, SETTINGS)]


SAM_CONVEX_OFFSET = 4.0  # convex SAM: tau = 4 rho (2 rho per side: the normalized ascent's offset)


def usam_convex_growth(eta, *, beta: float, rho: float):
    """Convex USAM: ``alpha - 1 = eta rho beta^2`` (``eta rho ||H(w~) H(w)|| <= eta rho beta^2``)."""
    return eta * rho * beta**2


def usam_smoothness(*, beta: float, rho: float) -> float:
    """Non-convex USAM: ``beta' = beta (1 + rho beta)``, the Lipschitz constant of ``w -> grad l(w + rho grad l(w))``."""
    return beta * (1.0 + rho * beta)


def base_step_constants(base: str, setting: str, eta: np.ndarray, *, beta: float, rho: float, mu: float | None):
    """``(alpha, tau)`` of the same-example step of ``base`` at learning rates ``eta`` (the module table).

    Derivations (docs/theory.md section 4): USAM's Jacobian is ``I - eta H(w~) (I + rho H(w))``; convex, ``||I - eta
    H|| <= 1`` and ``eta rho ||H(w~) H(w)|| <= eta rho beta^2``. SAM's step is the 1-expansive gradient step at
    ``w~`` minus ``rho g/||g||`` on each side (``tau = 2 rho`` per side, and ``2 rho (1 - eta mu)`` after the
    contraction in the strongly convex case); non-convex, ``||w~(v) - w~(w)|| <= ||v - w|| + 2 rho``.
    The closed forms of :mod:`stablesam.theory.uniform_stability` read :data:`SAM_CONVEX_OFFSET`,
    :func:`usam_convex_growth` and :func:`usam_smoothness`, so each constant is written once.
    """
    eta = np.asarray(eta, dtype=np.float64)
    zero, one = np.zeros_like(eta), np.ones_like(eta)
    if setting == "convex":
        alpha = {"sgd": one, "usam": 1.0 + usam_convex_growth(eta, beta=beta, rho=rho), "sam": one}[base]
        tau = SAM_CONVEX_OFFSET * rho * one if base == "sam" else zero
    elif setting == "strongly-convex":
        contraction = 1.0 - eta * mu
        alpha = {"sgd": contraction, "usam": contraction + usam_convex_growth(eta, beta=beta, rho=rho), "sam": contraction}[base]
        tau = 2.0 * rho * (1.0 + contraction) if base == "sam" else zero
    else:
        alpha = 1.0 + eta * beta * ((1.0 + rho * beta) if base == "usam" else 1.0)  # usam: 1 + eta usam_smoothness
        tau = 2.0 * eta * beta * rho if base == "sam" else zero
    return np.asarray(alpha, dtype=np.float64), np.asarray(tau, dtype=np.float64)


class GammaRange(NamedTuple):
    lowest: float
    highest: float


def gamma_range(row: Method, setting: str, *, rho: float, beta: float, g_min: float | None = None) -> GammaRange:
    """Range of ``gamma_t = ||g||/||g~||`` on every ``beta``-smooth loss of ``setting`` (module docstring of
    :mod:`stablesam.theory.uniform_stability`): U ``[1/(1 + r), 1/(1 - r)]``; N with ``||g|| >= g_min``
    ``[g_min/(g_min + r), g_min/(g_min - r)]`` (``inf`` above if ``g_min <= r``; ``g_min = None`` means 0);
    capped at 1 for convex settings (:func:`renormalization_theory`)."""
    rho, beta = check_nonnegative("rho", rho), check_positive("beta", beta)
    check_choice("setting", setting, SETTINGS)
    r = rho * beta
    if row.ascent == "unnormalized":
        lowest, highest = 1.0 / (1.0 + r), (1.0 / (1.0 - r) if r < 1.0 else math.inf)
    elif row.ascent == "normalized":
        g = 0.0 if g_min is None else check_nonnegative("g_min", g_min)
        lowest = 1.0 if r == 0 else g / (g + r)
        highest = 1.0 if r == 0 else (g / (g - r) if g > r else math.inf)
    else:
        raise UsageError(f"method {row.key!r} has no renormalization range (ascent {row.ascent!r}); allowed: the unnormalized and normalized ascents")
    if setting != "nonconvex":
        highest = min(highest, 1.0)
    return GammaRange(lowest, highest)


def lipschitz_step_constant(method: Method | str, *, beta: float, rho: float, g_min: float | None = None) -> float:
    """``K = Lip(phi)/beta`` of StableSAM's step direction ``phi = ||g|| g~/||g~||`` (module docstring; derived, any
    ``beta``-smooth loss): U ``sqrt(1 + ((1 + r)/(1 - r))^2)``, ``r = rho beta < 1``; N
    ``sqrt(1 + ((1 + s)/(1 - s))^2)``, ``s = rho beta / g_min < 1``; 1 at ``rho = 0``."""
    row = bound_row(method) if isinstance(method, str) else method
    if not row.stable or row.ascent not in ("unnormalized", "normalized"):
        raise UsageError(f"method {row.key!r} has no lipschitz-step constant (a renormalized method with the unnormalized or normalized ascent has)")
    rho, beta = check_nonnegative("rho", rho), check_positive("beta", beta)
    r = rho * beta
    if rho == 0.0 and g_min is None:
        return 1.0  # phi = g: the SGD step
    if row.ascent == "unnormalized":
        if r >= 1.0:
            raise UsageError(f"rho*beta={r:.6g} violates rho*beta < 1 required by the lipschitz-step constant of {row.key}")
        q = (1.0 + r) / (1.0 - r)
    else:
        if g_min is None:
            raise UsageError(f"assumption 'lipschitz-step' for {row.key} needs g_min, a lower bound on ||g|| on the segments between the runs (g_min > rho*beta)")
        g_min = check_positive("g_min", g_min)
        if g_min <= r:
            raise UsageError(f"g_min={g_min:.6g} violates g_min > rho*beta = {r:.6g} required by the lipschitz-step constant of {row.key}")
        q = (g_min + r) / (g_min - r)
    return 1.0 if rho == 0.0 else math.sqrt(1.0 + q * q)


def optimization_extra(base: str, *, rho: float, L: float) -> float:
    """The term the ascent adds to the convex averaged-iterate optimization error (derived; docs/theory.md section
    5): ``0`` (SGD), ``rho L^2`` (USAM, ``u = rho g``), ``rho L`` (SAM, ``u = rho g/||g||``), from
    ``<g~, w - w*> >= l(w) - l(w*) - <g~, u>`` (convexity at ``w~ = w + u`` and ``l(w~) >= l(w)``)."""
    return {"sgd": 0.0, "usam": rho * L**2, "sam": rho * L}[base]


class RenormalizationTheory(NamedTuple):
    """What theory says about ``gamma_t <= 1`` (claim C7) for one method."""

    statement: str
    convex_cap: float | None  # 1.0 where gamma_t <= 1 is proved for convex losses, None where it is not
    nonconvex_highest: float  # largest gamma_t on beta-smooth non-convex losses (with g_min for N), inf if unbounded
    proof: str


C7_THEORY = "proved for convex losses (co-coercivity); not implied on networks"
_C7_PROOF = (
    "convex beta-smooth l: co-coercivity <grad l(x) - grad l(y), x - y> >= ||grad l(x) - grad l(y)||^2 / beta >= 0 at "
    "x = w~ = w + c g (c = rho for the unnormalized ascent, rho/||g|| for the normalized one, c > 0) and y = w gives "
    "<g~ - g, g> >= 0, so ||g~|| ||g|| >= <g~, g> >= ||g||^2 and gamma = ||g||/||g~|| <= 1 (equality iff g~ = g). "
    "On non-convex losses gamma_t reaches 1/(1 - rho beta) (U; 1-D quadratic with lambda = -beta), so nothing "
    "bounds it by 1 on networks"
)


def renormalization_theory(method: Method | str, *, rho: float = 0.0, beta: float = 1.0, g_min: float | None = None) -> RenormalizationTheory:
    """C7's theory for ``method``: ``gamma_t <= 1`` proved for convex ``beta``-smooth losses (co-coercivity) for the
    ascents along ``g`` (unnormalized, normalized); not implied on non-convex losses (networks), where ``gamma_t``
    reaches :func:`gamma_range`'s non-convex upper end. The adaptive ascent ``rho T^2 g/||T g||`` is not along ``g``:
    nothing is proved for it."""
    row = method_row(method) if isinstance(method, str) else method
    if row.ascent == "adaptive":
        return RenormalizationTheory("not proved: the adaptive ascent is not along g", None, math.inf,
                                     "<g~ - g, T^2 g> >= 0 does not bound <g~ - g, g>")
    if not row.uses_rho:
        return RenormalizationTheory("gamma = 1: no ascent", 1.0, 1.0, "g~ = g")
    highest = gamma_range(row, "nonconvex", rho=rho, beta=beta, g_min=g_min).highest
    return RenormalizationTheory(C7_THEORY, 1.0, highest, _C7_PROOF)
