r"""Edge-of-stability formulas: the largest stable sharpness at a learning rate, and its inverse.

A real loss near the current iterate is modelled by its quadratic ``f(w) = 1/2 w^T H w`` with top
Hessian eigenvalue (sharpness) ``lambda``. Each method has an *edge*: the sharpness at which the
quadratic model's iteration stops being stable (THEORY.md section 3).

=================  ==============================================  =====================================
method             largest stable sharpness ``lambda*(eta)``       largest stable rate ``eta*(lambda)``
=================  ==============================================  =====================================
GD / SGD           ``2 / eta``                                     ``2 / lambda``
USAM               ``(sqrt(1 + 8 rho/eta) - 1) / (2 rho)``         ``2 / (lambda (1 + rho lambda))``
SAM                ``(G / (2 rho)) (sqrt(1 + 8 rho/(eta G)) - 1)`` ``2 / (lambda (1 + rho lambda / G))``
StableSAM-U, -N    ``2 / eta``                                     ``2 / lambda``
=================  ==============================================  =====================================

``G = ||g||`` is the current gradient norm. Sources: GD is classical; the USAM edge is Agarwala and
Dauphin (2023), "SAM operates far from home: eigenvalue regularization as a dynamical phenomenon";
the SAM edge is Long and Bartlett (2023), "Sharpness-Aware Minimization and the Edge of Stability"
(it is USAM's edge with ``rho -> rho / G``, tends to ``2/eta`` as ``rho -> 0`` and is always below it).
StableSAM's step has the length of a GD step and its renormalization factor is ``<= 1`` on PSD
quadratics, so its top component grows as soon as ``eta lambda > 2`` and the edge is GD's
(THEORY.md section 2; derived (quadratic model), see :mod:`theory.quadratic_divergence`). Divergence above
the edge holds in any dimension; convergence below it is proved in 1-D and 2-D and only observed in
simulation beyond (d <= 10).

All functions broadcast their array arguments (numpy rules) and compute in float64. ``rho = 0``
reduces every formula to GD's exactly (the ``rho -> 0`` limit of the square-root form is taken
analytically, not numerically).

Example
-------
>>> from theory.stability_edge import max_stable_lr, max_stable_sharpness
>>> float(max_stable_lr("usam", 10.0, rho=0.05))
0.13333333333333333
>>> round(float(max_stable_sharpness("usam", 0.13333333333333333, rho=0.05)), 12)
10.0
>>> float(max_stable_lr("sam", 10.0, rho=0.05, grad_norm=0.5))
0.1
"""

from __future__ import annotations

import numpy as np

from core.methods import method as method_row
from core.methods import method_keys
from core.validation import UsageError, check_array, check_choice

__all__ = ["EDGE_METHODS", "edge_source", "max_stable_lr", "max_stable_sharpness"]

EDGE_METHODS = method_keys(edge=True)
_SOURCES = {
    "gd": (False, "classical: GD on a quadratic is stable iff eta lambda <= 2"),
    "sgd": (False, "classical: GD on a quadratic is stable iff eta lambda <= 2"),
    "usam": (False, "Agarwala and Dauphin 2023"),
    "sam": (False, "Long and Bartlett 2023"),
    "stablesam-u": (True, "derived (quadratic model), THEORY.md section 2"),
    "stablesam-n": (True, "derived (quadratic model), THEORY.md section 2"),
}


def edge_source(method: str) -> tuple[bool, str]:
    """``(derived, source)`` of ``method``'s edge: published (with its source) or derived by this toolkit."""
    return _SOURCES[check_choice("method", method, EDGE_METHODS)]


def _effective_rho(edge: str, rho: np.ndarray, grad_norm) -> np.ndarray:
    """USAM's radius, or SAM's ``rho / ||g||`` (SAM's local edge is USAM's with this radius); ``edge`` is the
    row's :attr:`core.methods.Method.edge`."""
    if edge == "usam":
        return rho
    if grad_norm is None:
        raise UsageError("method 'sam' needs grad_norm (the current gradient norm ||g|| > 0): its edge depends on it")
    return rho / check_array("grad_norm", grad_norm, positive=True)


def _inputs(method: str, name: str, value, rho, grad_norm) -> tuple[np.ndarray, np.ndarray]:
    """``value`` (sharpness or learning rate, > 0) and the radius of the method's edge: 0 for the GD edge
    (``eta lambda = 2``), USAM's ``rho``, or SAM's ``rho / ||g||``; validated, broadcast against each other."""
    check_choice("method", method, EDGE_METHODS)
    x = check_array(name, value, positive=True)
    rho_arr = check_array("rho", rho, positive=False)
    if grad_norm is not None:
        check_array("grad_norm", grad_norm, positive=True)
    edge = method_row(method).edge
    r = np.zeros_like(rho_arr) if edge == "gd" else _effective_rho(edge, rho_arr, grad_norm)
    return np.broadcast_arrays(x, r)


def _result(value: np.ndarray):
    return value[()] if value.ndim == 0 else value


def max_stable_lr(method: str, sharpness, *, rho=0.0, grad_norm=None):
    r"""Largest learning rate at which the local quadratic model of sharpness ``lambda`` is stable.

    ``2 / lambda`` for GD, SGD and both StableSAM variants; ``2 / (lambda (1 + rho lambda))`` for USAM
    (inverse of Agarwala and Dauphin 2023's edge); ``2 / (lambda (1 + rho lambda / ||g||))`` for SAM
    (inverse of Long and Bartlett 2023's SAM-edge). For SAM the quadratic model diverges at
    *equality* too (THEORY.md section 2), so the returned rate is the supremum of the stable ones.

    Parameters
    ----------
    method: one of ``"gd"``, ``"sgd"``, ``"usam"``, ``"sam"``, ``"stablesam-u"``, ``"stablesam-n"``.
    sharpness: top Hessian eigenvalue ``lambda > 0`` (array-like; broadcasts with ``rho``, ``grad_norm``).
    rho: ascent radius ``>= 0`` (ignored by GD-like methods, whose edge does not depend on it).
    grad_norm: gradient norm ``||g|| > 0``; required for ``"sam"``, validated but unused otherwise.

    Returns a float64 scalar or array ``eta*``.
    """
    lam, r = _inputs(method, "sharpness", sharpness, rho, grad_norm)
    return _result(2.0 / (lam * (1.0 + r * lam)))


def max_stable_sharpness(method: str, lr, *, rho=0.0, grad_norm=None):
    r"""Largest top Hessian eigenvalue at which the local quadratic model is stable at learning rate ``eta``.

    ``2 / eta`` for GD, SGD and both StableSAM variants; the USAM edge
    ``lambda* = (sqrt(1 + 8 rho / eta) - 1) / (2 rho)`` (Agarwala and Dauphin 2023); the SAM edge
    ``lambda* = (||g|| / (2 rho)) (sqrt(1 + 8 rho / (eta ||g||)) - 1)`` (Long and Bartlett 2023), which is
    USAM's with ``rho -> rho / ||g||``. Both are the positive root of ``eta lambda (1 + r lambda) = 2``;
    it is evaluated as ``4 / (eta (1 + sqrt(1 + 8 r / eta)))``, the same number without the cancellation
    of the textbook form as ``r -> 0`` (where it tends to ``2 / eta``).

    Parameters
    ----------
    method: one of ``"gd"``, ``"sgd"``, ``"usam"``, ``"sam"``, ``"stablesam-u"``, ``"stablesam-n"``.
    lr: learning rate ``eta > 0`` (array-like; broadcasts with ``rho``, ``grad_norm``).
    rho: ascent radius ``>= 0``.
    grad_norm: gradient norm ``||g|| > 0``; required for ``"sam"``, validated but unused otherwise.

    Returns a float64 scalar or array ``lambda*``.
    """
    eta, r = _inputs(method, "lr", lr, rho, grad_norm)
    # (sqrt(1 + 8r/eta) - 1) / (2r) multiplied through by (sqrt(1 + 8r/eta) + 1): exact, and finite at r = 0.
    return _result(4.0 / (eta * (1.0 + np.sqrt(1.0 + 8.0 * r / eta))))
