r"""SAM's attracting 2-cycle on a quadratic (docs/theory.md section 2).

Below its threshold (``0 < eta lambda_1 < 2``) SAM (Foret et al. 2021) does not converge from a
generic start on ``f(w) = 1/2 w^T H w``: it settles on the 2-cycle ``w = +-c v_1`` along the top
eigenvector, with

    ``c = eta rho lambda_1 / (2 - eta lambda_1)``          (amplitude)
    ``||g|| = lambda_1 c = eta rho lambda_1^2 / (2 - eta lambda_1)``  (gradient norm on the cycle).

Derivation (1-D, ``x > 0``): ``x' = (1 - eta lambda) x - eta rho lambda``; ``x' = -x`` gives ``c``. The two-step
map has slope ``(1 - eta lambda)^2 < 1``, so the cycle attracts along ``v_1``. The cycle sits exactly on
Long and Bartlett's (2023) SAM-edge: at ``||g|| = eta rho lambda_1^2 / (2 - eta lambda_1)`` the edge
``lambda*`` equals ``lambda_1`` (see :func:`stablesam.theory.stability_edge.max_stable_sharpness`).

Transverse stability (derived): linearising the SAM map at ``w = c v_1`` in the direction ``v_j``
(``(Hw)^T H v_j = 0`` there) gives the multiplier

    ``m_j = 1 - eta lambda_j - (lambda_j / lambda_1)^2 (2 - eta lambda_1)``,

the same at ``-c v_1``, so ``m_j^2`` per period. For ``0 < lambda_j < lambda_1`` and ``eta lambda_1 < 2``,
``|m_j| < 1`` (``m_j + 1 = (1 - r)(2 (1 + r) - eta lambda_1 r)``, ``r = lambda_j / lambda_1``): the cycle attracts
in every direction; a repeated top eigenvalue gives ``m_j = -1`` (neutral).

Example
-------
>>> from stablesam.theory.sam_cycle import sam_cycle_amplitude, sam_cycle_grad_norm
>>> float(sam_cycle_amplitude(0.5, 3.0, 0.1)), float(sam_cycle_grad_norm(0.5, 3.0, 0.1))
(0.30000000000000004, 0.9)
"""

from __future__ import annotations

import numpy as np

from stablesam.core.validation import UsageError

__all__ = ["sam_cycle_amplitude", "sam_cycle_grad_norm", "sam_transverse_multipliers"]


def _check(lr, sharpness, rho=None):
    lr = np.asarray(lr, dtype=np.float64)
    lam = np.asarray(sharpness, dtype=np.float64)
    if not np.all(np.isfinite(lr)) or np.any(lr <= 0):
        raise UsageError(f"lr must be finite and > 0, got {lr!r}")
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise UsageError(f"sharpness (top eigenvalue) must be finite and > 0, got {sharpness!r}")
    if np.any(lr * lam >= 2):
        raise UsageError("SAM has no 2-cycle for eta * lambda_1 >= 2 (it diverges); need lr * sharpness < 2")
    if rho is not None:
        rho = np.asarray(rho, dtype=np.float64)
        if not np.all(np.isfinite(rho)) or np.any(rho < 0):
            raise UsageError(f"rho must be finite and >= 0, got {rho!r}")
    return lr, lam, rho


def _out(value: np.ndarray):
    return value[()] if value.ndim == 0 else value


def sam_cycle_amplitude(lr, sharpness, rho):
    """``c = eta rho lambda_1 / (2 - eta lambda_1)``: the 2-cycle ``w = +-c v_1`` (needs ``eta lambda_1 < 2``)."""
    lr, lam, rho = _check(lr, sharpness, rho)
    return _out(lr * rho * lam / (2.0 - lr * lam))


def sam_cycle_grad_norm(lr, sharpness, rho):
    """``||g|| = eta rho lambda_1^2 / (2 - eta lambda_1)`` on the 2-cycle: exactly on the SAM-edge (Long and Bartlett 2023)."""
    lr, lam, rho = _check(lr, sharpness, rho)
    return _out(lr * rho * lam**2 / (2.0 - lr * lam))


def sam_transverse_multipliers(lr, eigenvalues):
    r"""``m_j = 1 - eta lambda_j - (lambda_j / lambda_1)^2 (2 - eta lambda_1)`` for every eigenvalue (last axis).

    ``lambda_1`` is the largest eigenvalue of each spectrum; its own entry is the multiplier along ``v_1``
    transverse to nothing, reported as ``1 - eta lambda_1 - (2 - eta lambda_1) = -1`` by the formula (the
    exact multiplier along ``v_1`` is ``1 - eta lambda_1``: the normalized term has zero derivative there).
    Independent of ``rho``. Derived (see module docstring); checked against the Jacobian and simulation.
    """
    lam = np.array(eigenvalues, dtype=np.float64, ndmin=1)
    top = lam.max(axis=-1, keepdims=True)
    lr, _, _ = _check(lr, top[..., 0])
    lr = lr[..., None]
    return 1.0 - lr * lam - (lam / top) ** 2 * (2.0 - lr * top)
