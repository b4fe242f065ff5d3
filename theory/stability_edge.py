r"""Edge-of-stability formulas: the largest stable sharpness at a learning rate, and its inverse.

A real loss near the current iterate is modelled by its quadratic ``f(w) = 1/2 w^T H w`` with top
Hessian eigenvalue (sharpness) ``lambda``. Each method has an *edge*: the sharpness at which the
quadratic model's iteration stops being stable (docs/theory.md section 3).

===============  ===============================================  =====================================
method           largest stable sharpness ``lambda*(eta)``        largest stable rate ``eta*(lambda)``
===============  ===============================================  =====================================
GD / SGD         ``2 / eta``                                      ``2 / lambda``
USAM             ``(sqrt(1 + 8 rho/eta) - 1) / (2 rho)``          ``2 / (lambda (1 + rho lambda))``
SAM              ``(G / (2 rho)) (sqrt(1 + 8 rho/(eta G)) - 1)``  ``2 / (lambda (1 + rho lambda / G))``
StableSAM-U, -N  ``2 / eta``                                      ``2 / lambda``
===============  ===============================================  =====================================

``G = ||g||`` is the current gradient norm. Sources: GD is classical; the USAM edge is Agarwala and
Dauphin (2023), "SAM operates far from home: eigenvalue regularization as a dynamical phenomenon";
the SAM edge is Long and Bartlett (2023), "Sharpness-Aware Minimization and the Edge of Stability"
(it is USAM's edge with ``rho -> rho / G``, tends to ``2/eta`` as ``rho -> 0`` and is always below it).
StableSAM's step has the length of a GD step and its renormalization factor is ``<= 1`` on PSD
quadratics, so its top component grows as soon as ``eta lambda > 2`` and the edge is GD's
(docs/theory.md section 2; derived (quadratic model), see :mod:`stablesam.theory.quadratic_divergence`). Divergence above
the edge holds in any dimension; convergence below it is proved in 1-D and 2-D and only observed in
simulation beyond (d <= 10).

All functions broadcast their array arguments (numpy rules) and compute in float64. ``rho = 0``
reduces every formula to GD's exactly (the ``rho -> 0`` limit of the square-root form is taken
analytically, not numerically). Inputs and results are normal float64 numbers: a subnormal input
(below ``2.2e-308``, where digits are already lost) is refused, and where the direct formula over- or
underflows (``rho lambda`` or ``8 rho / eta`` beyond ``1.8e308``) the result is taken from the same
formula in log space, or refused in one line when it lies outside float64's normal range. No
function returns a 0 or an inf that stands for a number it could not represent.

Example
-------
>>> from stablesam.theory.stability_edge import max_stable_lr, max_stable_sharpness
>>> float(max_stable_lr("usam", 10.0, rho=0.05))
0.13333333333333333
>>> round(float(max_stable_sharpness("usam", 0.13333333333333333, rho=0.05)), 12)
10.0
>>> float(max_stable_lr("sam", 10.0, rho=0.05, grad_norm=0.5))
0.1
"""

from __future__ import annotations

import numpy as np

from stablesam.core.methods import Method, method_keys
from stablesam.core.methods import method as method_row
from stablesam.core.validation import UsageError, check_array, check_choice

__all__ = ["EDGE_METHODS", "edge_row", "edge_source", "max_stable_lr", "max_stable_sharpness"]

EDGE_METHODS = method_keys(edge=True)  # at import; the functions read the table at call time
# Sources by the row's edge formula (``Method.edge``) and renormalization: a new row with an existing ascent has
# its source with no edit here.
_SOURCES = {
    ("gd", False): (False, "classical: GD on a quadratic is stable iff eta lambda <= 2"),
    ("usam", False): (False, "Agarwala and Dauphin 2023"),
    ("sam", False): (False, "Long and Bartlett 2023"),
    ("gd", True): (True, "derived (quadratic model), docs/theory.md section 2"),
}
_TINY, _HUGE = np.finfo(np.float64).tiny, np.finfo(np.float64).max
_LOG_TINY, _LOG_HUGE = np.log(_TINY), np.log(_HUGE)


def edge_row(method: Method | str) -> Method:
    """The row of ``method`` (a :class:`~stablesam.core.methods.Method` or its key), refused in one line if no edge
    formula is known for it (the adaptive ascent)."""
    if isinstance(method, str):
        method = method_row(check_choice("method", method, method_keys(edge=True)))
    if method.edge is None:
        raise UsageError(f"method {method.key!r} has no known edge formula; allowed: {', '.join(method_keys(edge=True))}")
    return method


def edge_source(method: Method | str) -> tuple[bool, str]:
    """``(derived, source)`` of ``method``'s edge: published (with its source) or derived by this toolkit."""
    row = edge_row(method)
    return _SOURCES[row.edge, row.stable and row.uses_rho]


def _as_array(name: str, value, *, positive: bool) -> np.ndarray:
    """:func:`stablesam.core.validation.check_array`, also refusing subnormal entries (their digits are lost)."""
    array = check_array(name, value, positive=positive)
    if np.any((array > 0) & (array < _TINY)):
        raise UsageError(f"{name} must be 0 or at least {_TINY:.4g} (the smallest normal float64; below it digits "
                         f"are lost), got {value!r}")
    return array


def _log(array: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):  # log(0) = -inf: rho = 0 is exact in the log-space forms
        return np.log(array)


def _representable(name: str, direct: np.ndarray, log_value: np.ndarray) -> np.ndarray:
    """``direct`` where it is a normal float64, else ``exp(log_value)``; raise where that is out of range too."""
    bad = ~np.isfinite(direct) | (direct < _TINY)
    if not np.any(bad):
        return direct
    outside = bad & ((log_value < _LOG_TINY) | (log_value > _LOG_HUGE))
    if np.any(outside):
        exponent = float(np.asarray(log_value)[outside].flat[0]) / np.log(10.0)
        raise UsageError(f"{name} = 10^{exponent:.1f} lies outside the range of float64 numbers "
                         f"({_TINY:.4g} to {_HUGE:.4g}); choose inputs whose answer is representable")
    return np.where(bad, np.exp(log_value), direct)


def _inputs(method: str, name: str, value, rho, grad_norm):
    """``value`` (sharpness or learning rate, > 0), the row's effective radius ``r`` (0 for the GD edge, where the
    formulas reduce exactly to ``2/lambda`` and ``2/eta``; ``rho`` for USAM's; ``rho / ||g||`` for SAM's, ``inf``
    where that overflows) and its ``log`` (formed in log space, exact where ``r`` overflows); validated and
    broadcast against each other."""
    row = edge_row(method)
    x = _as_array(name, value, positive=True)
    rho_arr = _as_array("rho", rho, positive=False)
    if grad_norm is not None:
        grad_norm = _as_array("grad_norm", grad_norm, positive=True)
    edge = row.edge
    if edge == "gd":
        r, log_r = np.zeros_like(rho_arr), np.full_like(rho_arr, -np.inf)
    elif edge == "usam":
        r, log_r = rho_arr, _log(rho_arr)
    elif grad_norm is None:
        raise UsageError(f"method {row.key!r} needs grad_norm (the current gradient norm ||g|| > 0): its edge depends on it")
    else:
        with np.errstate(over="ignore", under="ignore"):
            r = rho_arr / grad_norm
        log_r = _log(rho_arr) - _log(grad_norm)
    return np.broadcast_arrays(x, r, log_r)


def _result(value: np.ndarray):
    return value[()] if value.ndim == 0 else value


def max_stable_lr(method: str, sharpness, *, rho=0.0, grad_norm=None):
    r"""Largest learning rate at which the local quadratic model of sharpness ``lambda`` is stable.

    ``2 / lambda`` for GD, SGD and both StableSAM variants; ``2 / (lambda (1 + rho lambda))`` for USAM
    (inverse of Agarwala and Dauphin 2023's edge); ``2 / (lambda (1 + rho lambda / ||g||))`` for SAM
    (inverse of Long and Bartlett 2023's SAM-edge). For SAM the quadratic model diverges at
    *equality* too (docs/theory.md section 2), so the returned rate is the supremum of the stable ones.
    Where the direct formula over- or underflows, the same number is formed in log space; an answer outside
    float64's normal range is refused, never printed wrong.

    Parameters
    ----------
    method: a key of :data:`EDGE_METHODS` (the rows of :mod:`stablesam.core.methods` with an edge).
    sharpness: top Hessian eigenvalue ``lambda > 0`` (array-like; broadcasts with ``rho``, ``grad_norm``).
    rho: ascent radius ``>= 0`` (ignored by GD-like methods, whose edge does not depend on it).
    grad_norm: gradient norm ``||g|| > 0``; required for ``"sam"``, validated but unused otherwise.

    Returns a float64 scalar or array ``eta*``.
    """
    lam, r, log_r = _inputs(method, "sharpness", sharpness, rho, grad_norm)
    with np.errstate(over="ignore", under="ignore"):
        direct = 2.0 / (lam * (1.0 + r * lam))
    # log(2 / (lambda (1 + r lambda))) = log 2 - log lambda - log(1 + e^(log r + log lambda))
    log_lr = np.log(2.0) - _log(lam) - np.logaddexp(0.0, log_r + _log(lam))
    return _result(_representable("lr_max", direct, log_lr))


def max_stable_sharpness(method: str, lr, *, rho=0.0, grad_norm=None):
    r"""Largest top Hessian eigenvalue at which the local quadratic model is stable at learning rate ``eta``.

    ``2 / eta`` for GD, SGD and both StableSAM variants; the USAM edge
    ``lambda* = (sqrt(1 + 8 rho / eta) - 1) / (2 rho)`` (Agarwala and Dauphin 2023); the SAM edge
    ``lambda* = (||g|| / (2 rho)) (sqrt(1 + 8 rho / (eta ||g||)) - 1)`` (Long and Bartlett 2023), which is
    USAM's with ``rho -> rho / ||g||``. Both are the positive root of ``eta lambda (1 + r lambda) = 2``;
    it is evaluated as ``4 / (eta (1 + sqrt(1 + 8 r / eta)))``, the same number without the cancellation
    of the textbook form as ``r -> 0`` (where it tends to ``2 / eta``), and in log space where that over- or
    underflows.

    Parameters
    ----------
    method: a key of :data:`EDGE_METHODS`.
    lr: learning rate ``eta > 0`` (array-like; broadcasts with ``rho``, ``grad_norm``).
    rho: ascent radius ``>= 0``.
    grad_norm: gradient norm ``||g|| > 0``; required for ``"sam"``, validated but unused otherwise.

    Returns a float64 scalar or array ``lambda*``.
    """
    eta, r, log_r = _inputs(method, "lr", lr, rho, grad_norm)
    with np.errstate(over="ignore", under="ignore"):
        direct = 4.0 / (eta * (1.0 + np.sqrt(1.0 + 8.0 * r / eta)))
    # log of the same: log 4 - log eta - log(1 + e^(log(1 + e^(log 8 + log r - log eta)) / 2))
    log_inner = np.logaddexp(0.0, np.log(8.0) + log_r - _log(eta))
    log_sharpness = np.log(4.0) - _log(eta) - np.logaddexp(0.0, 0.5 * log_inner)
    return _result(_representable("sharpness_max", direct, log_sharpness))
