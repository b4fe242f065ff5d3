r"""Symbolic derivations (sympy) of every closed form in :mod:`theory`, starting from the update maps.

Each derivation starts from the map of docs/theory.md section 2 written in sympy (1-D, or 2-D in the
eigenbasis), takes the multiplier, fixed point or 2-cycle condition, and solves it. A
:class:`Derivation` keeps the intermediate steps, so a reader can follow (and print) the argument;
its ``result`` and ``symbols`` turn into a numeric function with :meth:`Derivation.lambdify`, which the
tests compare with the float64 functions of :mod:`theory` on random inputs.

Derivations are computed once and cached.

Example
-------
>>> from stablesam.theory.symbolic import derive
>>> d = derive("usam_edge")
>>> d.result
(sqrt(1 + 8*rho/eta) - 1)/(2*rho)
>>> print(d.pretty())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import sympy as sp

from stablesam.core.validation import UsageError

__all__ = ["DERIVATIONS", "Derivation", "derive", "symbols"]

# Shared symbols. Curvatures, rates and radii are positive; ``a = |lambda|`` at a saddle.
eta, rho, G = sp.symbols("eta rho G", positive=True)
lam, lam1, lam2, lamj, a = sp.symbols("lambda lambda_1 lambda_2 lambda_j a", positive=True)
lam_min, lam_max = sp.symbols("lambda_min lambda_max", positive=True)
x, y, c, q, t = sp.symbols("x y c q t", positive=True)


def symbols() -> dict[str, sp.Symbol]:
    """The symbols used by the derivations, by name (for substitutions in a notebook)."""
    return {str(s): s for s in (eta, rho, G, lam, lam1, lam2, lamj, a, lam_min, lam_max, x, y, c, q, t)}


@dataclass(frozen=True)
class Derivation:
    """A closed form with the steps that lead to it from the update map."""

    name: str
    statement: str
    steps: tuple[tuple[str, sp.Basic], ...]
    result: sp.Expr
    arguments: tuple[sp.Symbol, ...]

    def lambdify(self) -> Callable:
        """``result`` as a numpy function of ``arguments`` (in that order)."""
        return sp.lambdify(self.arguments, self.result, "numpy")

    def pretty(self) -> str:
        """The derivation as text: statement, numbered steps, result."""
        lines = [f"{self.name}: {self.statement}"]
        for i, (title, expr) in enumerate(self.steps, 1):
            lines.append(f"  {i}. {title}:")
            lines += ["       " + row for row in sp.pretty(expr, use_unicode=False).splitlines()]
        lines.append(f"  => {sp.sstr(self.result)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.pretty()

    def _repr_markdown_(self) -> str:
        """Jupyter's rendering: the statement, then each step and the result typeset by ``sympy.latex``."""
        lines = [f"**{self.name}**: {self.statement}", ""]
        for i, (title, expr) in enumerate(self.steps, 1):
            lines.append(f"{i}. {title}: $\\displaystyle {sp.latex(expr)}$")
        lines += ["", f"$$\\Rightarrow\\; {sp.latex(self.result)}$$"]
        return "\n".join(lines)


def _multiplier(update: sp.Expr, var: sp.Symbol) -> sp.Expr:
    return sp.simplify(sp.diff(update, var))


def _positive_root(equation: sp.Eq, var: sp.Symbol) -> sp.Expr:
    roots = [r for r in sp.solve(equation, var) if r.is_positive is not False]
    if len(roots) != 1:
        raise RuntimeError(f"expected one positive root for {var}, got {roots}")
    return roots[0]


# ---------------------------------------------------------------- thresholds of the linear maps (1-D)


@cache
def _gd_threshold() -> Derivation:
    update = x - eta * lam * x
    m = _multiplier(update, x)
    eta_star = _positive_root(sp.Eq(m, -1), eta)
    return Derivation(
        "gd_threshold", "GD diverges iff eta lambda > 2",
        (("GD map x' = x - eta g, g = lambda x", sp.Eq(sp.Symbol("x'"), update)),
         ("multiplier dx'/dx", m), ("multiplier = -1 at the threshold", sp.Eq(m, -1)),
         ("solve for eta", sp.Eq(sp.Symbol("eta*"), eta_star)),
         ("solve for lambda (GD edge)", sp.Eq(sp.Symbol("lambda*"), _positive_root(sp.Eq(m, -1), lam)))),
        eta_star, (lam,))


@cache
def _usam_threshold() -> Derivation:
    ascent = x + rho * lam * x
    update = x - eta * lam * ascent
    m = _multiplier(update, x)
    eta_star = sp.factor(_positive_root(sp.Eq(m, -1), eta))
    return Derivation(
        "usam_threshold", "USAM diverges iff eta lambda (1 + rho lambda) > 2 (inverse of the USAM edge)",
        (("ascent point x + rho g", ascent), ("USAM map x' = x - eta lambda (x + rho g)", sp.Eq(sp.Symbol("x'"), update)),
         ("multiplier", m), ("solve multiplier = -1 for eta", sp.Eq(sp.Symbol("eta*"), eta_star))),
        eta_star, (lam, rho))


@cache
def _usam_edge() -> Derivation:
    m = _usam_threshold().steps[2][1]
    lam_star = _positive_root(sp.Eq(m, -1), lam)
    target = (sp.sqrt(1 + 8 * rho / eta) - 1) / (2 * rho)
    same = sp.simplify(sp.radsimp(lam_star - target)) == 0 or sp.simplify((lam_star - target).rewrite(sp.sqrt)) == 0
    if not same:
        raise RuntimeError(f"USAM edge root {lam_star} differs from the form cited in docs/theory.md")
    return Derivation(
        "usam_edge", "USAM edge (Agarwala and Dauphin 2023): lambda* = (sqrt(1 + 8 rho/eta) - 1)/(2 rho)",
        (("USAM multiplier", m), ("solve multiplier = -1 for lambda > 0", sp.Eq(sp.Symbol("lambda*"), lam_star)),
         ("matches the form cited in docs/theory.md (Agarwala and Dauphin 2023)", sp.Eq(lam_star, target))),
        target, (eta, rho))


@cache
def _sam_edge() -> Derivation:
    # Frozen ||g|| = G: g~ = g + rho H g / G, i.e. USAM with radius rho / G.
    update = x - eta * (lam * x + rho * lam**2 * x / G)
    m = _multiplier(update, x)
    lam_star = _positive_root(sp.Eq(m, -1), lam)
    target = (G / (2 * rho)) * (sp.sqrt(1 + 8 * rho / (eta * G)) - 1)
    if sp.simplify(lam_star - target) != 0:
        raise RuntimeError(f"SAM edge root {lam_star} differs from the form cited in docs/theory.md")
    eta_star = sp.factor(_positive_root(sp.Eq(m, -1), eta))
    return Derivation(
        "sam_edge", "SAM edge (Long and Bartlett 2023): lambda* = (G/(2 rho)) (sqrt(1 + 8 rho/(eta G)) - 1), G = ||g||",
        (("SAM map with ||g|| = G frozen (USAM with rho -> rho/G)", sp.Eq(sp.Symbol("x'"), update)),
         ("multiplier", m), ("solve multiplier = -1 for lambda > 0", sp.Eq(sp.Symbol("lambda*"), target)),
         ("inverse: solve for eta", sp.Eq(sp.Symbol("eta*"), eta_star)),
         ("limit rho -> 0", sp.limit(target, rho, 0))),
        target, (eta, rho, G))


@cache
def _sam_lr_max() -> Derivation:
    eta_star = _sam_edge().steps[3][1].rhs
    return Derivation("sam_lr_max", "largest stable lr of SAM's local model: 2 / (lambda (1 + rho lambda / G))",
                      (("inverse of the SAM edge", sp.Eq(sp.Symbol("eta*"), eta_star)),), eta_star, (lam, rho, G))


# ---------------------------------------------------------------- SAM's 2-cycle


@cache
def _sam_cycle() -> Derivation:
    update = x - eta * lam * (x + rho)  # x > 0: g = lambda x > 0, ascent x + rho
    amplitude = sp.factor(_positive_root(sp.Eq(update, -x), x))
    two_step_slope = sp.factor(sp.diff(update, x) ** 2)
    return Derivation(
        "sam_cycle_amplitude", "SAM's 2-cycle +-c: c = eta rho lambda / (2 - eta lambda), attracting for 0 < eta lambda < 2",
        (("SAM map for x > 0: x' = x - eta lambda (x + rho)", sp.Eq(sp.Symbol("x'"), update)),
         ("2-cycle condition x' = -x", sp.Eq(update, -x)), ("solve for x", sp.Eq(c, amplitude)),
         ("two-step slope (attracting iff < 1)", two_step_slope),
         ("at eta = 2/lambda: x' (linear growth |x'| = |x| + 2 rho)", sp.expand(update.subs(eta, 2 / lam)))),
        amplitude, (eta, lam, rho))


@cache
def _sam_cycle_grad_norm() -> Derivation:
    amplitude = _sam_cycle().result
    grad_norm = sp.factor(lam * amplitude)
    on_edge = sp.simplify(_sam_lr_max().result.subs(G, grad_norm) - eta)
    if on_edge != 0:
        raise RuntimeError("the SAM cycle is not on the SAM edge")
    return Derivation(
        "sam_cycle_grad_norm", "gradient norm on SAM's 2-cycle: eta rho lambda^2 / (2 - eta lambda), exactly on the SAM edge",
        (("||g|| = lambda c", sp.Eq(G, grad_norm)),
         ("SAM-edge lr at this ||g|| minus eta", on_edge)),
        grad_norm, (eta, lam, rho))


@cache
def _sam_transverse() -> Derivation:
    g = sp.Matrix([lam1 * x, lamj * y])
    g_norm = sp.sqrt(g.dot(g))
    w = sp.Matrix([x, y])
    update = w - eta * (g + rho * sp.Matrix([lam1 * g[0], lamj * g[1]]) / g_norm)
    jacobian = update.jacobian(w)
    amplitude = _sam_cycle().result.subs(lam, lam1)
    m = sp.simplify(jacobian[1, 1].subs(y, 0).subs(x, amplitude))
    along = sp.simplify(jacobian[0, 0].subs(y, 0).subs(x, amplitude))
    target = 1 - eta * lamj - (lamj / lam1) ** 2 * (2 - eta * lam1)
    if sp.simplify(m - target) != 0:
        raise RuntimeError(f"transverse multiplier {m} differs from {target}")
    return Derivation(
        "sam_transverse_multiplier", "transverse multiplier at SAM's cycle: 1 - eta lambda_j - (lambda_j/lambda_1)^2 (2 - eta lambda_1)",
        (("2-D SAM map (eigenbasis)", update), ("Jacobian", jacobian),
         ("entry (j, j) at w = (c, 0)", m), ("entry (1, 1) at w = (c, 0)", along)),
        target, (eta, lam1, lamj))


# ---------------------------------------------------------------- StableSAM


def _stablesam_2d(variant: str):
    """2-D StableSAM map in the eigenbasis at w = (x, y), x, y > 0: returns (update, gamma, c_1, c_2, g_norm)."""
    g = sp.Matrix([lam1 * x, lam2 * y])
    g_norm = sp.sqrt(g.dot(g))
    scale = rho if variant == "stablesam-u" else rho / g_norm
    surrogate = g + scale * sp.Matrix([lam1 * g[0], lam2 * g[1]])
    gamma = g_norm / sp.sqrt(surrogate.dot(surrogate))
    update = sp.Matrix([x, y]) - eta * gamma * surrogate
    return update, gamma, 1 + scale * lam1, 1 + scale * lam2, g_norm


@cache
def _coordinate_multiplier(variant: str) -> Derivation:
    update, gamma, c1, c2, g_norm = _stablesam_2d(variant)
    m1 = sp.simplify(update[0] / x)
    q_def = g_norm / sp.sqrt((c1 * lam1 * x) ** 2 + (c2 * lam2 * y) ** 2)
    target = 1 - eta * lam1 * c1 * q_def
    if sp.simplify(m1 - target) != 0:
        raise RuntimeError("coordinate multiplier mismatch")
    return Derivation(
        f"{variant}_coordinate_multiplier", "w_1'/w_1 = 1 - eta lambda_1 c_1 q, q = ||g|| / ||(c_i g_i)||",
        (("2-D map, first coordinate", update[0]), ("gamma", gamma), ("w_1'/w_1", m1)),
        target, (eta, lam1, lam2, rho, x, y))


@cache
def _gamma_eigenvector(variant: str) -> Derivation:
    _, gamma, *_ = _stablesam_2d(variant)
    along = sp.simplify(gamma.subs(y, 0))
    if variant == "stablesam-n":
        along = sp.simplify(along.subs(x, G / lam1))
        arguments = (lam1, rho, G)
    else:
        arguments = (lam1, rho)
    update, *_ = _stablesam_2d(variant)
    one_d = sp.simplify(update[0].subs(y, 0))
    return Derivation(
        f"{variant}_gamma_eigenvector", "gamma with g along the eigenvector of lambda_1 (an end of gamma's range)",
        (("gamma", gamma), ("at y = 0", along), ("1-D step equals GD's", sp.Eq(sp.Symbol("x'"), one_d))),
        along, arguments)


@cache
def _flat_dominated(variant: str) -> Derivation:
    m1 = _coordinate_multiplier(variant).result
    limit = sp.simplify(sp.limit(m1, x, 0, "+"))
    if variant == "stablesam-n":
        limit = sp.simplify(limit.subs(y, G / lam2))
        arguments = (eta, lam1, lam2, rho, G)
    else:
        arguments = (eta, lam1, lam2, rho)
    return Derivation(
        f"{variant}_flat_dominated_multiplier", "sharp multiplier when the flat direction dominates g: 1 - eta lambda_1 c_1/c_2",
        (("w_1'/w_1", m1), ("limit x -> 0 (g along v_2)", limit)), limit, arguments)


@cache
def _bouncing(variant: str) -> Derivation:
    p1, p2, c1s, c2s = sp.symbols("p_1 p_2 c_1 c_2", positive=True)
    m1, m2 = 1 - eta * p1 * q, 1 - eta * p2 * q
    q_star = _positive_root(sp.Eq(m1, -m2), q)
    factor = sp.factor(m2.subs(q, q_star))
    low = _positive_root(sp.Eq(q_star, 1 / c2s), eta)
    high = _positive_root(sp.Eq(q_star, 1 / c1s), eta)
    if variant == "stablesam-u":
        subs = {c1s: 1 + rho * lam1, c2s: 1 + rho * lam2}
    else:  # near the minimum: G -> 0, after substituting c_i = 1 + rho lambda_i / G
        subs = {c1s: 1 + rho * lam1 / G, c2s: 1 + rho * lam2 / G}
    subs.update({p1: lam1 * subs[c1s], p2: lam2 * subs[c2s]})
    results = [sp.simplify(e.subs(subs)) for e in (factor, low, high)]
    if variant == "stablesam-n":
        results = [sp.simplify(sp.limit(e, G, 0, "+")) for e in results]
    steps = (("multipliers m_i = 1 - eta p_i q", sp.Matrix([m1, m2])),
             ("bouncing: m_1 = -m_2, solve for q", sp.Eq(q, q_star)), ("factor |m_2|", factor),
             ("q* = 1/c_2 (lower boundary)", sp.Eq(eta, low)), ("q* = 1/c_1 (upper boundary)", sp.Eq(eta, high)),
             ("substituted" + (" and limit G -> 0" if variant == "stablesam-n" else ""), sp.Matrix(results)))
    return Derivation(f"{variant}_2d_bouncing", "2-D bouncing factor and regime boundaries (factor, low, high)",
                      steps, sp.Matrix(results), (lam1, lam2, rho))


@cache
def _usam_gd_crossover() -> Derivation:
    p_max = lam_max * (1 + rho * lam_max)
    crossing = _positive_root(sp.Eq(eta * p_max - 1, 1 - eta * lam_min), eta)
    return Derivation(
        "usam_gd_crossover", "USAM contracts strictly faster than GD iff eta < 2/(lambda_max (1 + rho lambda_max) + lambda_min)",
        (("GD rate (small eta)", 1 - eta * lam_min), ("USAM's top-mode factor", eta * p_max - 1),
         ("equal: solve for eta", sp.Eq(eta, crossing))),
        crossing, (lam_max, lam_min, rho))


# ---------------------------------------------------------------- saddles (lambda = -a, a > 0, x > 0)


@cache
def _saddle(method: str) -> Derivation:
    g = -a * x
    if method == "gd":
        update, cases = x - eta * g, {}
    elif method == "usam":
        update, cases = x - eta * (-a) * (x + rho * g), {}
    elif method == "sam":
        update, cases = x - eta * (-a) * (x - rho), {}  # ascent x + rho sign(g) = x - rho
    elif method == "stablesam-u":
        surrogate = -a * (x + rho * g)
        update = x - eta * (sp.Abs(g) / sp.Abs(surrogate)) * surrogate
        cases = {"rho a < 1": {rho: (1 - t) / a}, "rho a > 1": {rho: (1 + t) / a}}
    else:
        surrogate = -a * (x - rho)
        update = x - eta * (sp.Abs(g) / sp.Abs(surrogate)) * surrogate
        cases = {"|x| > rho": {rho: x - t}, "|x| < rho": {rho: x + t}}
    ratio = sp.simplify(update / x)
    steps = [("map at lambda = -a, x > 0", sp.Eq(sp.Symbol("x'"), update)), ("x'/x", ratio)]
    results = []
    for label, sub in cases.items():
        value = sp.simplify(ratio.subs(sub))
        steps.append((label, value))
        results.append(value)
    result = sp.Matrix(results) if results else ratio
    arguments = (eta, a) if method in ("gd", "stablesam-u", "stablesam-n") else (eta, a, rho, x) if method == "sam" else (eta, a, rho)
    return Derivation(f"{method}_saddle_multiplier", "x'/x at a saddle of curvature -a", tuple(steps), result, arguments)


DERIVATIONS: dict[str, Callable[[], Derivation]] = {
    "gd_threshold": _gd_threshold,
    "usam_threshold": _usam_threshold,
    "usam_edge": _usam_edge,
    "sam_edge": _sam_edge,
    "sam_lr_max": _sam_lr_max,
    "sam_cycle_amplitude": _sam_cycle,
    "sam_cycle_grad_norm": _sam_cycle_grad_norm,
    "sam_transverse_multiplier": _sam_transverse,
    "usam_gd_crossover": _usam_gd_crossover,
    **{f"{v}_coordinate_multiplier": (lambda v=v: _coordinate_multiplier(v)) for v in ("stablesam-u", "stablesam-n")},
    **{f"{v}_gamma_eigenvector": (lambda v=v: _gamma_eigenvector(v)) for v in ("stablesam-u", "stablesam-n")},
    **{f"{v}_flat_dominated_multiplier": (lambda v=v: _flat_dominated(v)) for v in ("stablesam-u", "stablesam-n")},
    **{f"{v}_2d_bouncing": (lambda v=v: _bouncing(v)) for v in ("stablesam-u", "stablesam-n")},
    **{f"{m}_saddle_multiplier": (lambda m=m: _saddle(m)) for m in ("gd", "usam", "sam", "stablesam-u", "stablesam-n")},
}


def derive(name: str) -> Derivation:
    """The derivation called ``name`` (one of :data:`DERIVATIONS`), computed once and cached."""
    if name not in DERIVATIONS:
        raise UsageError(f"name must be one of {', '.join(map(repr, DERIVATIONS))}; got {name!r}")
    return DERIVATIONS[name]()
