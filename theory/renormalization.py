r"""StableSAM's renormalization on a quadratic: gamma, coordinate multipliers, 2-D regimes (docs/theory.md section 2).

StableSAM (Tan et al. 2024) steps ``w' = w - eta gamma g~`` with ``gamma = ||g|| / ||g~||``. On
``f(w) = 1/2 w^T H w`` in the eigenbasis (``g_i = lambda_i w_i``) both variants act coordinate-wise:

    ``w_i' = (1 - eta lambda_i c_i q) w_i``,   ``q = ||g|| / ||(c_i g_i)_i||``,

with ``c_i = 1 + rho lambda_i`` (StableSAM-U, USAM base) or ``c_i = 1 + rho lambda_i / ||g||`` (StableSAM-N,
SAM base); ``gamma = q`` is the same number. Everything below is derived (quadratic model)
from these maps (not quoted from the paper) and checked symbolically and by simulation in the tests.

- gamma ranges (PSD ``H``): ``gamma in [1/c_max, 1/c_min]`` over the eigen-components present in ``g``,
  i.e. ``[1/(1 + rho lambda_max), 1/(1 + rho lambda_min)]`` (U) and
  ``[||g||/(||g|| + rho lambda_max), ||g||/(||g|| + rho lambda_min)]`` (N). So ``gamma <= 1``; for N,
  ``1/gamma`` grows like ``rho lambda / ||g||`` near a minimum.
- Along an eigenvector (and in 1-D) ``q = 1/c_i`` and both variants are exactly GD.
- When a flat direction ``k`` dominates ``g``, ``q ~ 1/c_k`` and the sharp coordinate's multiplier is about
  ``1 - eta lambda_1 c_1 / c_k``: transient amplification is possible below ``2 / lambda_max``.
- 2-D, ``lambda_1 > lambda_2 > 0``, ``p_i = lambda_i c_i``: the asymptotic per-step factor of StableSAM-U is
  ``1 - eta lambda_2`` for ``eta < 2 c_2 / (p_1 + p_2)``; ``(p_1 - p_2)/(p_1 + p_2)`` (bouncing: ``m_1 = -m_2``,
  independent of ``eta``) for ``2 c_2/(p_1+p_2) <= eta <= 2 c_1/(p_1+p_2)``; ``|1 - eta lambda_1|`` above.
  StableSAM-N near the minimum (``||g|| << rho lambda``, so ``c_i ~ rho lambda_i / ||g||``): the same with
  boundaries ``2 lambda_2 / (lambda_1^2 + lambda_2^2)``, ``2 lambda_1 / (lambda_1^2 + lambda_2^2)`` and bouncing
  factor ``(lambda_1^2 - lambda_2^2) / (lambda_1^2 + lambda_2^2)``. Proved in 2-D only; in higher dimension
  StableSAM's convergence below ``2/lambda_max`` is observed in simulation (d <= 10), not proved.

Example
-------
>>> from stablesam.theory.renormalization import stablesam_2d_rate, stablesam_2d_boundaries
>>> [round(float(x), 6) for x in stablesam_2d_boundaries("stablesam-u", 2.0, 1.0, rho=0.5)]
[0.545455, 0.727273]
>>> round(float(stablesam_2d_rate("stablesam-u", 0.6, 2.0, 1.0, rho=0.5)), 6)
0.454545
"""

from __future__ import annotations

import numpy as np

from stablesam.core.methods import Method, method_keys
from stablesam.core.methods import method as method_row
from stablesam.core.validation import UsageError, check_array, check_choice

__all__ = [
    "flat_dominated_multiplier",
    "gamma",
    "gamma_range",
    "stablesam_2d_boundaries",
    "stablesam_2d_rate",
    "stablesam_2d_regime",
    "stablesam_coordinate_multipliers",
]

def _ascent(method: Method | str) -> str:
    """The ascent (``"unnormalized"`` or ``"normalized"``) of a renormalized row (a
    :class:`~stablesam.core.methods.Method` or its key); the formulas here follow the row's fields, never its key."""
    renormalized = tuple(k for k in method_keys() if method_row(k).stable
                         and method_row(k).ascent in ("unnormalized", "normalized"))
    row = method if isinstance(method, Method) else method_row(check_choice("method", method, renormalized))
    if not row.stable or row.ascent not in ("unnormalized", "normalized"):
        raise UsageError(f"method {row.key!r} is not a renormalized method with the unnormalized or normalized "
                         f"ascent; allowed: {', '.join(renormalized)}")
    return row.ascent


def _out(value: np.ndarray):
    return value[()] if value.ndim == 0 else value


def _weights(ascent: str, lam: np.ndarray, rho: np.ndarray, grad_norm: np.ndarray | None) -> np.ndarray:
    """``c_i`` (U: ``1 + rho lambda_i``; N: ``1 + rho lambda_i / ||g||``)."""
    if ascent == "unnormalized":
        return 1.0 + rho * lam
    return 1.0 + rho * lam / grad_norm


def _spectrum(eigenvalues) -> np.ndarray:
    lam = np.array(eigenvalues, dtype=np.float64, ndmin=1)
    if not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise UsageError(f"eigenvalues must be finite and >= 0 (PSD), got {eigenvalues!r}")
    return lam


def gamma(method: Method | str, eigenvalues, w, rho):
    r"""``gamma = ||g|| / ||g~||`` at the point ``w`` (eigenbasis coordinates, last axis), ``g = H w``.

    Defined as 0 where ``g~ = 0`` (zero StableSAM step) and, for ``g = 0``, as 1 when ``g~ = g = 0`` would
    make it ``0/0`` (the step is zero either way). Works for any sign of the eigenvalues.
    """
    ascent = _ascent(method)
    lam = np.array(eigenvalues, dtype=np.float64, ndmin=1)
    rho = check_array("rho", rho, positive=False)[..., None]
    g = lam * np.asarray(w, dtype=np.float64)
    g_norm = np.linalg.norm(g, axis=-1)
    if ascent == "unnormalized":
        scale = rho * lam
    else:
        scale = np.divide(rho * lam, g_norm[..., None], out=np.zeros(np.broadcast_shapes(g.shape, (rho * lam).shape)),
                          where=g_norm[..., None] > 0)
    surrogate_norm = np.linalg.norm(g * (1.0 + scale), axis=-1)
    safe = np.divide(g_norm, surrogate_norm, out=np.zeros(np.broadcast_shapes(g_norm.shape, surrogate_norm.shape)),
                     where=surrogate_norm > 0)
    return _out(np.where(g_norm == 0, 1.0, safe))


def gamma_range(method: str, eigenvalues, rho, grad_norm=None):
    r"""``(gamma_min, gamma_max)`` over gradients whose eigen-components lie in ``eigenvalues`` (PSD).

    U: ``[1/(1 + rho lambda_max), 1/(1 + rho lambda_min)]``; N (needs ``grad_norm = ||g|| > 0``):
    ``[||g||/(||g|| + rho lambda_max), ||g||/(||g|| + rho lambda_min)]``. Pass only the eigenvalues whose
    components are present in ``g``. Both ends are attained (``g`` along the corresponding eigenvector).
    """
    ascent = _ascent(method)
    lam = _spectrum(eigenvalues)
    rho = check_array("rho", rho, positive=False)
    if ascent == "normalized":
        if grad_norm is None:
            raise UsageError(f"method {getattr(method, 'key', method)!r} needs grad_norm (||g|| > 0): its gamma depends on it")
        g = check_array("grad_norm", grad_norm, positive=True)
        return _out(g / (g + rho * lam.max(axis=-1))), _out(g / (g + rho * lam.min(axis=-1)))
    return _out(1.0 / (1.0 + rho * lam.max(axis=-1))), _out(1.0 / (1.0 + rho * lam.min(axis=-1)))


def stablesam_coordinate_multipliers(method: str, lr, eigenvalues, w, rho):
    r"""Exact ``w_i' / w_i = 1 - eta lambda_i c_i q`` at the point ``w`` (eigenbasis, last axis).

    ``q = ||g|| / ||(c_i g_i)_i|| = gamma``. At ``g = 0`` the step is zero and every multiplier is 1.
    """
    ascent = _ascent(method)
    lam = _spectrum(eigenvalues)
    lr = check_array("lr", lr, positive=True)[..., None]
    w = np.asarray(w, dtype=np.float64)
    g_norm = np.linalg.norm(lam * w, axis=-1)[..., None]
    rho_col = check_array("rho", rho, positive=False)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        c = _weights(ascent, lam, rho_col, g_norm)
    q = np.asarray(gamma(method, lam, w, rho_col[..., 0]), dtype=np.float64)[..., None]
    return np.where(g_norm > 0, 1.0 - lr * lam * np.where(np.isfinite(c), c, 0.0) * q, 1.0)


def flat_dominated_multiplier(method: str, lr, sharp, flat, rho, grad_norm=None):
    r"""``1 - eta lambda_1 c_1 / c_k``: the sharp coordinate's multiplier when a flat direction ``k`` dominates ``g``.

    The limit of :func:`stablesam_coordinate_multipliers` as ``g -> ||g|| v_k`` (``q -> 1/c_k``). For U:
    ``1 - eta lambda_1 (1 + rho lambda_1) / (1 + rho lambda_k)``; it can be below ``-1`` (transient
    amplification) although ``eta < 2 / lambda_1``. N needs ``grad_norm``.
    """
    ascent = _ascent(method)
    lr = check_array("lr", lr, positive=True)
    sharp = check_array("sharp", sharp, positive=True)
    flat = check_array("flat", flat, positive=False)
    rho = check_array("rho", rho, positive=False)
    if ascent == "normalized":
        if grad_norm is None:
            raise UsageError(f"method {getattr(method, 'key', method)!r} needs grad_norm (||g|| > 0)")
        grad_norm = check_array("grad_norm", grad_norm, positive=True)
    return _out(1.0 - lr * sharp * _weights(ascent, sharp, rho, grad_norm) / _weights(ascent, flat, rho, grad_norm))


def _two_d(method, lambda1, lambda2, rho, grad_norm):
    ascent = _ascent(method)
    l1 = check_array("lambda1", lambda1, positive=True)
    l2 = check_array("lambda2", lambda2, positive=True)
    rho = check_array("rho", rho, positive=False)
    if np.any(l1 <= l2):
        raise UsageError("the 2-D regimes need lambda1 > lambda2 > 0")
    if ascent == "normalized" and grad_norm is None:
        # Near-minimum limit ||g|| -> 0: c_i ~ rho lambda_i / ||g||, and c_i / c_j -> lambda_i / lambda_j.
        if np.any(rho <= 0):
            raise UsageError(f"the near-minimum limit of {getattr(method, 'key', method)!r} needs rho > 0 (at rho = 0 it is GD)")
        return l1, l2, l1, l2, l1**2, l2**2
    g = None if grad_norm is None else check_array("grad_norm", grad_norm, positive=True)
    c1, c2 = _weights(ascent, l1, rho, g), _weights(ascent, l2, rho, g)
    return l1, l2, c1, c2, l1 * c1, l2 * c2


def stablesam_2d_boundaries(method: str, lambda1, lambda2, rho, grad_norm=None):
    r"""``(2 c_2 / (p_1 + p_2), 2 c_1 / (p_1 + p_2))``: the learning rates bounding the bouncing regime in 2-D.

    For StableSAM-N, ``grad_norm=None`` gives the near-minimum limit
    ``(2 lambda_2, 2 lambda_1) / (lambda_1^2 + lambda_2^2)``; with ``grad_norm`` the boundaries frozen at that
    gradient norm (they move as ``||g||`` changes).
    """
    _, _, c1, c2, p1, p2 = _two_d(method, lambda1, lambda2, rho, grad_norm)
    return _out(2.0 * c2 / (p1 + p2)), _out(2.0 * c1 / (p1 + p2))


def stablesam_2d_regime(method: str, lr, lambda1, lambda2, rho, grad_norm=None):
    """``"flat"`` (rate ``1 - eta lambda_2``), ``"bouncing"`` or ``"sharp"`` (rate ``|1 - eta lambda_1|``), per learning rate."""
    low, high = stablesam_2d_boundaries(method, lambda1, lambda2, rho, grad_norm)
    lr = check_array("lr", lr, positive=True)
    return _out(np.where(lr < low, "flat", np.where(lr <= high, "bouncing", "sharp")))


def stablesam_2d_rate(method: str, lr, lambda1, lambda2, rho, grad_norm=None):
    r"""Asymptotic per-step factor of StableSAM in 2-D (three regimes; see the module docstring).

    Valid below the threshold ``eta < 2 / lambda_1`` (above, the iteration diverges and the returned
    ``|1 - eta lambda_1| > 1`` is the growth factor). Proved in 2-D only.
    """
    l1, l2, c1, c2, p1, p2 = _two_d(method, lambda1, lambda2, rho, grad_norm)
    lr = check_array("lr", lr, positive=True)
    low, high = 2.0 * c2 / (p1 + p2), 2.0 * c1 / (p1 + p2)
    bounce = (p1 - p2) / (p1 + p2)
    return _out(np.where(lr < low, 1.0 - lr * l2, np.where(lr <= high, bounce, np.abs(1.0 - lr * l1))))
