r"""Negative curvature: the per-step multipliers ``x' / x`` of the five maps at a 1-D saddle (docs/theory.md section 2).

On ``f(x) = 1/2 lambda x^2`` with ``lambda < 0`` (write ``a = |lambda|``), derived from the maps:

===========  ==============================================================  ===========================================
method       ``x' / x``                                                      attracted to the saddle iff
===========  ==============================================================  ===========================================
GD           ``1 + eta a``                                                   never
USAM         ``1 + eta a (1 - rho a)``                                       ``rho a > 1`` and ``eta a (rho a - 1) < 2``
SAM          ``1 + eta a (1 - rho / |x|)``                                   depends on ``|x|`` (state-dependent)
StableSAM-U  ``1 + eta a`` if ``rho a < 1``; ``1 - eta a`` if ``rho a > 1``  ``rho a > 1`` and ``eta a < 2``
             (1 at ``rho a = 1``: ``g~ = 0``, zero step)
StableSAM-N  ``1 + eta a`` if ``|x| > rho``; ``1 - eta a`` if ``|x| < rho``  once ``|x| < rho`` (and ``eta a < 2``)
             (1 at ``|x| = rho``: ``g~ = 0``)
===========  ==============================================================  ===========================================

USAM's ascent ``x + rho g`` overshoots the saddle once ``rho a > 1`` and the surrogate gradient flips
sign; StableSAM-U then moves by GD's step length towards the saddle. With the normalized ascent
``x + rho sign(g)``, the surrogate flips sign once ``|x| < rho`` and StableSAM-N is attracted.

Escape and fixed points (*derived*, docs/theory.md section 7): the exact 1-D map along a negative-curvature
eigendirection (:func:`saddle_step`, every method including ASAM and StableSAM-A at a saddle at the origin),
the points other than the saddle where it stands still (:func:`saddle_fixed_points`: SAM's and StableSAM-N's
``|x| = rho``, where the ascent lands exactly on the saddle), the radius inside which a start never escapes
(:func:`trap_radius`) and the number of steps to leave a ball (:func:`escape_steps`). In ``d`` dimensions
(:func:`escapes_linearised`): GD, USAM and StableSAM-U act on the eigen-components of ``H``; StableSAM-U escapes
iff some ``lambda_i < 0`` has ``rho |lambda_i| < 1``; StableSAM-N at ``||w|| << rho`` follows
:func:`stablesam_n_local_step`, a normalized descent on ``H^2`` (positive semi-definite whatever the signs of
``H``), so it is attracted to the saddle in every direction (for ``eta`` small enough).

Example
-------
>>> from stablesam.theory.saddle import saddle_multiplier
>>> float(saddle_multiplier("usam", -2.0, 0.1, rho=1.0))
0.8
"""

from __future__ import annotations

import numpy as np

from stablesam.core.methods import Method, method_keys
from stablesam.core.methods import method as method_row
from stablesam.core.validation import UsageError, check_choice, check_nonnegative, check_positive
from stablesam.theory.quadratic import quadratic_row

__all__ = [
    "ESCAPE_CONDITIONS",
    "SADDLE_METHODS",
    "escape_steps",
    "escapes_linearised",
    "saddle_fixed_points",
    "saddle_multiplier",
    "saddle_step",
    "stablesam_n_local_step",
    "trap_radius",
]


def _saddle_arrays(curvature, lr, rho):
    """``curvature < 0``, ``lr > 0`` and ``rho >= 0`` as float64 arrays; one line naming a bad value otherwise."""
    lam = np.asarray(curvature, dtype=np.float64)
    if not np.all(np.isfinite(lam)) or np.any(lam >= 0):
        raise UsageError(f"curvature must be finite and < 0 (a saddle direction), got {curvature!r}")
    lr_array = np.asarray(lr, dtype=np.float64)
    if not np.all(np.isfinite(lr_array)) or np.any(lr_array <= 0):
        raise UsageError(f"lr must be finite and > 0, got {lr_array!r}")
    rho_array = np.asarray(rho, dtype=np.float64)
    if not np.all(np.isfinite(rho_array)) or np.any(rho_array < 0):
        raise UsageError(f"rho must be finite and >= 0, got {rho_array!r}")
    return lam, lr_array, rho_array


def saddle_multiplier(method: str, curvature, lr, rho=0.0, x=None):
    r"""``x' / x`` of ``method`` at a 1-D saddle of curvature ``lambda < 0`` (see the module table).

    ``x`` (the current point, ``!= 0``) is needed by SAM and StableSAM-N, whose multipliers depend on it.
    """
    row = quadratic_row(method)
    kind = (row.ascent if row.uses_rho else "none", row.stable and row.uses_rho)  # the row's fields, never its key
    lam, lr, rho = _saddle_arrays(curvature, lr, rho)
    a = -lam
    if kind[0] == "normalized":
        if x is None:
            raise UsageError(f"method {method!r} needs x (the current point): its multiplier depends on |x|")
        ax = np.abs(np.asarray(x, dtype=np.float64))
        if not np.all(np.isfinite(ax)) or np.any(ax == 0):
            raise UsageError(f"x must be finite and non-zero, got {x!r}")
    if kind == ("none", False):
        value = 1.0 + lr * a + 0.0 * rho
    elif kind == ("unnormalized", False):
        value = 1.0 + lr * a * (1.0 - rho * a)
    elif kind == ("normalized", False):
        value = 1.0 + lr * a * (1.0 - rho / ax)
    elif kind == ("unnormalized", True):
        value = 1.0 + lr * a * np.sign(1.0 - rho * a)
    else:
        value = 1.0 + lr * a * np.sign(ax - rho)
    value = np.asarray(value)
    return value[()] if value.ndim == 0 else value


# ------------------------------------------------------------------ escape from a strict saddle (derived)

SADDLE_METHODS = method_keys(full_batch=True)
"""Methods with an exact 1-D saddle map here: every full-batch row of the table, by its ascent (ASAM and
StableSAM-A for a saddle at the origin, where ASAM's ``T = |x| + eta_a`` is known)."""

ESCAPE_CONDITIONS: dict[str, str] = {
    "gd": "always escapes (x_t = (1 + eta a)^t x_0); the saddle is its only fixed point, repelling",
    "usam": "escapes iff rho a < 1 (factor 1 + eta a (1 - rho a)) or eta a (rho a - 1) > 2 (oscillating); "
    "converges onto the saddle iff 1 < rho a < 1 + 2/(eta a); at rho a = 1 every point is fixed",
    "sam": "fixed points +-rho (repelling: |x_t| - rho = (1 + eta a)^t (|x_0| - rho)); escapes iff |x_0| > rho; "
    "from |x_0| < rho never escapes when eta a <= 1 ((-rho, rho) is invariant; it bounces, never converges)",
    "asam": "SAM with a -> a (1 - rho) and rho -> r* = rho eta_a / (1 - rho) (saddle at the origin, rho < 1)",
    "stablesam-u": "escapes iff rho a < 1, at GD's factor 1 + eta a; converges onto the saddle iff rho a > 1 and "
    "eta a < 2 (factor 1 - eta a); at rho a = 1 the step is zero",
    "stablesam-n": "fixed points +-rho (repelling); escapes at GD's factor iff |x_0| > rho; from |x_0| < rho it "
    "converges onto the saddle (factor 1 - eta a) iff eta a < 2",
    "stablesam-a": "fixed points +-r*; from |x_0| < r* it converges onto the saddle (asymptotic factor "
    "1 - eta a / (1 + rho)) when eta a / (1 - rho) < 2",
}
"""The escape condition of each method along a 1-D negative-curvature direction ``f = -a x^2 / 2`` (*derived*)."""


def _saddle_row(method: Method | str) -> Method:
    """The row of ``method`` (a :class:`~stablesam.core.methods.Method` or its key; ``"sgd"`` is ``"gd"``: the
    gradient is exact). Every ascent has an exact 1-D saddle map here, so every row of the table is allowed."""
    if isinstance(method, Method):
        return method
    return method_row(check_choice("method", {"sgd": "gd"}.get(method, method), method_keys(full_batch=True)))


def _saddle_inputs(method, curvature, lr, rho, adaptive_eta):
    """``(ascent, stable)`` of the row (``("none", False)``: GD), ``a = |lambda|``, ``lr``, ``rho``, ``eta_a``."""
    row = _saddle_row(method)
    lam, lr, rho = _saddle_arrays(curvature, lr, rho)
    if row.ascent == "adaptive" and np.any(rho >= 1):
        raise UsageError(f"rho must be < 1 for {row.key} at a saddle (its ascent overshoots by (1 - rho)), got {rho!r}")
    adaptive_eta = check_positive("adaptive_eta", adaptive_eta)
    kind = (row.ascent, row.stable) if row.uses_rho else ("none", False)  # the row's fields, never its key
    return kind, -lam, lr, rho, adaptive_eta


def _scalar(value):
    value = np.asarray(value, dtype=np.float64)
    return value[()] if value.ndim == 0 else value


def saddle_step(method: Method | str, x, curvature, lr, rho=0.0, *, adaptive_eta: float = 0.01):
    r"""One exact step of ``method`` on ``f(x) = lambda x^2 / 2`` (``lambda = -a < 0``), vectorised.

    ``g = -a x``; the ascent point is ``x + rho g`` (USAM), ``x + rho sign(g)`` (SAM), ``x + rho T sign(g)`` with
    ``T = |x| + eta_a`` (ASAM, Kwon et al. 2021, at a saddle at the origin); StableSAM steps ``-eta gamma g~``
    with ``gamma = |g| / |g~|`` (``T_x |g| / (T_x~ |g~|)`` for StableSAM-A). Degenerate cases as
    docs/theory.md section 1: ``g = 0``: no ascent; ``g~ = 0``: a zero StableSAM step.

    >>> round(float(saddle_step("stablesam-n", 0.02, -1.0, 0.1, 0.05)), 12)  # |x| < rho: pulled onto the saddle
    0.018
    """
    (ascent_kind, stable), a, lr, rho, eta_a = _saddle_inputs(method, curvature, lr, rho, adaptive_eta)
    x = np.asarray(x, dtype=np.float64)
    g = -a * x
    s = np.sign(g)
    if ascent_kind == "none":
        return _scalar(x - lr * g)
    if ascent_kind == "unnormalized":
        ascent = x + rho * g
    elif ascent_kind == "normalized":
        ascent = x + rho * s
    else:  # adaptive: T = |x| + eta_a
        ascent = x + rho * (np.abs(x) + eta_a) * s
    surrogate = -a * ascent
    if not stable:
        return _scalar(x - lr * surrogate)
    if ascent_kind == "adaptive":
        num, den = (np.abs(x) + eta_a) * np.abs(g), (np.abs(ascent) + eta_a) * np.abs(surrogate)
    else:
        num, den = np.abs(g), np.abs(surrogate)
    num, den = np.broadcast_arrays(num, den)
    gamma = np.divide(num, den, out=np.zeros(num.shape), where=den > 0)
    return _scalar(x - lr * gamma * surrogate)


def saddle_fixed_points(method: Method | str, curvature, rho, *, adaptive_eta: float = 0.01):
    r"""The positive fixed point ``x* > 0`` of the 1-D saddle map other than the saddle ``x = 0`` (*derived*).

    Where the ascent lands exactly on the saddle, ``g~ = 0`` while ``g != 0``: ``x* = rho`` for SAM and StableSAM-N,
    ``x* = rho eta_a / (1 - rho)`` for ASAM and StableSAM-A. USAM and StableSAM-U have one only at ``rho a = 1``
    (then every point is fixed; returned as ``inf``); GD has none. ``nan`` means none. Both ``+-x*`` are fixed.

    >>> float(saddle_fixed_points("sam", -1.0, 0.05))
    0.05
    """
    (ascent_kind, _), a, _, rho, eta_a = _saddle_inputs(method, curvature, 1.0, rho, adaptive_eta)
    if ascent_kind == "normalized":
        value = rho + 0.0 * a
    elif ascent_kind == "adaptive":
        value = rho * eta_a / (1.0 - rho) + 0.0 * a
    elif ascent_kind == "unnormalized":
        value = np.where(rho * a == 1.0, np.inf, np.nan)
    else:
        value = np.full(np.broadcast(a, rho).shape, np.nan)
    return _scalar(value)


def trap_radius(method: Method | str, curvature, lr, rho=0.0, *, adaptive_eta: float = 0.01):
    r"""The radius ``r``: every start with ``0 < |x_0| < r`` stays within ``max(|x_0|, r)`` of the saddle forever,
    every start with ``|x_0| > r`` escapes (*derived*; ``0``: every start escapes; ``inf``: none does).

    - GD: 0. USAM: ``inf`` iff ``1 <= rho a < 1 + 2/(eta a)``. StableSAM-U: ``inf`` iff ``rho a >= 1`` and
      ``eta a < 2``.
    - SAM: ``rho`` iff ``eta a <= 1`` (the interval ``(-rho, rho)`` maps into itself), else 0 (almost every
      start escapes: the expanding map then sends part of the interval out each step). ASAM: ``r*`` iff
      ``eta a (1 - rho) <= 1``.
    - StableSAM-N: ``rho`` iff ``eta a < 2``. StableSAM-A: ``r* = rho eta_a / (1 - rho)`` when ``eta a < 2 (1 - rho)``
      (a sufficient condition: the multiplier ``1 - eta a T_x / T_x~`` lies in ``[1 - eta a/(1 - rho), 1 - eta a/(1 + rho)]``);
      ``nan`` (not known in closed form) otherwise.

    >>> float(trap_radius("stablesam-u", -1.0, 0.1, 2.0)), float(trap_radius("stablesam-u", -1.0, 0.1, 0.5))
    (inf, 0.0)
    """
    kind, a, lr, rho, eta_a = _saddle_inputs(method, curvature, lr, rho, adaptive_eta)
    ea = lr * a
    if kind == ("none", False):
        value = 0.0 * ea
    elif kind == ("unnormalized", False):
        value = np.where((rho * a >= 1) & (ea * (rho * a - 1) < 2), np.inf, 0.0)
    elif kind == ("unnormalized", True):
        value = np.where((rho * a >= 1) & (ea < 2), np.inf, 0.0)
    elif kind == ("normalized", False):
        value = np.where(ea <= 1, rho, 0.0)
    elif kind == ("normalized", True):
        value = np.where(ea < 2, rho, 0.0)
    elif kind == ("adaptive", False):
        value = np.where(ea * (1 - rho) <= 1, rho * eta_a / (1 - rho), 0.0)
    else:
        value = np.where(ea < 2 * (1 - rho), rho * eta_a / (1 - rho), np.nan)
    return _scalar(np.broadcast_to(value, np.broadcast(ea, rho).shape))


def escape_steps(method: Method | str, curvature, lr, rho, x0, radius, *, adaptive_eta: float = 0.01):
    r"""Steps until ``|x_t| >= radius`` from ``0 < |x_0| < radius`` (closed form, *derived*); ``inf``: never.

    With factor ``m > 1`` on ``u_t = |x_t| - x*``: ``t = ceil(log((radius - x*) / (|x_0| - x*)) / log m)``, where
    GD and StableSAM-U (``rho a < 1``) have ``x* = 0``, ``m = 1 + eta a``; USAM ``x* = 0``,
    ``m = |1 + eta a (1 - rho a)|``; SAM ``x* = rho``, ``m = 1 + eta a``; ASAM ``x* = r*``, ``m = 1 + eta a (1 - rho)``;
    StableSAM-N (``|x_0| > rho``) ``x* = 0``, ``m = 1 + eta a`` (it keeps GD's multiplier while ``|x| > rho``).
    A start inside :func:`trap_radius` gives ``inf``. StableSAM-A's factor is not constant (no closed form: ``nan``),
    and so are SAM's, ASAM's and StableSAM-N's from inside the trap radius when it is 0 (chaotic or oscillating
    growth: ``nan``).

    >>> int(escape_steps("gd", -1.0, 0.1, 0.0, 0.01, 1.0))  # ceil(log(100) / log(1.1)) = ceil(48.3)
    49
    """
    row = _saddle_row(method)
    kind, a, lr, rho, eta_a = _saddle_inputs(row, curvature, lr, rho, adaptive_eta)
    x0 = np.abs(np.asarray(x0, dtype=np.float64))
    radius = np.asarray(radius, dtype=np.float64)
    if np.any(x0 <= 0) or np.any(x0 >= radius):
        raise UsageError(f"x0 must satisfy 0 < |x0| < radius, got x0={x0!r}, radius={radius!r}")
    ea = lr * a
    trapped = x0 < trap_radius(row, -a, lr, rho, adaptive_eta=eta_a)  # nan (unknown) compares False
    if kind in (("none", False), ("unnormalized", True), ("normalized", True)):
        shift, factor = 0.0, 1 + ea
    elif kind == ("unnormalized", False):
        shift, factor = 0.0, np.abs(1 + ea * (1 - rho * a))
    elif kind == ("normalized", False):
        shift, factor = rho, 1 + ea
    elif kind == ("adaptive", False):
        shift, factor = rho * eta_a / (1 - rho), 1 + ea * (1 - rho)
    else:
        shift, factor = np.nan, np.nan
    shift, factor = np.broadcast_arrays(np.asarray(shift, dtype=np.float64), np.asarray(factor, dtype=np.float64))
    inside = x0 <= shift  # starts at or within the repelling fixed point: no constant factor (or fixed)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.ceil(np.log((radius - shift) / (x0 - shift)) / np.log(factor))
    value = np.where(trapped, np.inf, np.where(inside | ~np.isfinite(steps) | (factor <= 1), np.nan, steps))
    if kind == ("normalized", True):
        value = np.where(~trapped & (x0 > rho), steps, np.where(trapped, np.inf, np.nan))
    return _scalar(value)


def escapes_linearised(method: str, eigenvalues, lr, rho=0.0) -> bool:
    r"""Whether GD, USAM or StableSAM-U leave a strict saddle with Hessian eigenvalues ``eigenvalues`` from a generic
    start (every eigen-component non-zero), in ``d`` dimensions (*derived*).

    GD and USAM are linear: a component escapes iff its multiplier ``|1 - eta lambda_i (1 + rho lambda_i)|`` exceeds 1.
    StableSAM-U multiplies component ``i`` by ``1 - eta p_i q`` with ``p_i = lambda_i (1 + rho lambda_i)`` and
    ``q = ||H w|| / ||P w|| > 0``: a component with ``lambda_i < 0`` and ``rho |lambda_i| < 1`` has ``p_i < 0`` and
    grows every step. Otherwise every ``p_i >= 0`` and the step is a descent on ``w^T P w`` of length ``eta q``;
    with ``q <= 1 / min_j |1 + rho lambda_j|`` it converges when ``eta max_i p_i / min_j |1 + rho lambda_j| < 2``
    (sufficient); where neither holds a ``UsageError`` says the answer is not known in closed form.

    >>> escapes_linearised("stablesam-u", [2.0, -1.0], 0.1, 0.5), escapes_linearised("stablesam-u", [2.0, -1.0], 0.1, 2.0)
    (True, False)
    """
    key = check_choice("method", {"sgd": "gd"}.get(method, method), ("gd", "usam", "stablesam-u"))
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if lam.size == 0 or not np.all(np.isfinite(lam)) or not np.any(lam < 0):
        raise UsageError(f"eigenvalues must be finite with at least one < 0 (a strict saddle), got {eigenvalues!r}")
    lr, rho = check_positive("lr", lr), check_nonnegative("rho", rho)
    if key == "gd":
        return True
    c = 1 + rho * lam
    p = lam * c
    if key == "usam":
        return bool(np.any(np.abs(1 - lr * p) > 1))
    if np.any((lam < 0) & (rho * np.abs(lam) < 1)):
        return True
    if np.any(c == 0):
        return False  # the surrogate vanishes along that direction; every p_i >= 0
    if lr * p.max() / np.abs(c).min() < 2:
        return False
    raise UsageError("StableSAM-U's escape is not known in closed form here (every rho |lambda_i| >= 1 and "
                     f"eta max p / min |c| >= 2); eigenvalues={eigenvalues!r}, lr={lr!r}, rho={rho!r}")


def stablesam_n_local_step(hessian, w, lr):
    r"""StableSAM-N's step at ``||w|| << rho`` near a saddle at the origin: ``w - eta (||H w|| / ||H^2 w||) H^2 w``.

    The limit ``rho -> inf`` (equivalently ``||w|| / rho -> 0``) of the exact step ``w - eta ||g|| g~ / ||g~||`` with
    ``g~ = H (w + rho H w / ||H w||)``: the ascent term dominates, ``g~ / ||g~|| -> H^2 w / ||H^2 w||``. ``H^2`` is
    positive semi-definite whatever the signs of ``H``, so this is a normalized descent on ``w^T H^2 w`` (*derived*).

    >>> import numpy as np
    >>> stablesam_n_local_step(np.diag([1.0, -2.0]), np.array([0.0, 1e-3]), 0.1)
    array([0.    , 0.0008])
    """
    h = np.asarray(hessian, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    hw = h @ w
    h2w = h @ hw
    n1, n2 = np.linalg.norm(hw), np.linalg.norm(h2w)
    return w - (lr * n1 / n2) * h2w if n2 > 0 else w.copy()
