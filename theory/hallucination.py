r"""Hallucinated minimizers: points where SAM's surrogate gradient vanishes but the gradient does not (*derived*).

"Sharpness-Aware Minimization Can Hallucinate Minimizers" (arXiv:2509.21818) calls a point ``x_h``
with ``grad f(x_h + rho g/||g||) = 0`` and ``grad f(x_h) != 0`` a hallucinated minimizer: SAM's step
``-eta g~`` is zero there, and SAM can converge to it. This module's 1-D instance is constructed here (the
paper's own example function is not reproduced; the construction follows its definition), on the double well

    f(x) = (x^2 - s^2)^2 / 4,   f'(x) = x (x^2 - s^2),   minima +-s, maximum 0.

For ``s < rho < 2 s`` the point ``x_h = rho - s`` lies in ``(0, s)``, where ``f' < 0``: SAM's ascent goes left by
``rho`` and lands exactly on the minimum ``-s`` across the hump, so ``g~ = f'(-s) = 0`` while
``f'(x_h) = rho (rho - s)(rho - 2 s) != 0`` (and symmetrically ``-x_h``). Near ``x_h`` SAM's map is
``x - eta f'(x - rho)``, with derivative ``1 - eta f''(-s) = 1 - 2 eta s^2``: ``x_h`` attracts SAM iff
``eta s^2 < 1`` (:func:`sam_hallucinated_minimizer`).

StableSAM-N there. Its factor ``gamma = |f'(x)| / |f'(x - rho)|`` tends to infinity at ``x_h``, and its step
``-eta |f'(x)| sign(f'(x - rho))`` has GD's length ``eta |f'(x)|`` and points towards ``x_h`` from both sides
(``f'(x - rho) ~ 2 s^2 (x - x_h)``). So it cannot converge to ``x_h`` (its steps do not shrink) but, once within
``delta = eta |f'(x_h)|`` of it, it stays within about ``delta`` for ever: it *hovers*
(:func:`stablesam_hover_width`). The same holds for any StableSAM at any point where its base's ``g~`` vanishes
and ``g`` does not: renormalization removes convergence to a hallucinated minimizer, not the trap.

Example
-------
>>> x_h, slope = sam_hallucinated_minimizer(0.3, 0.5)
>>> round(x_h, 12), round(slope, 12)
(0.2, -0.01)
"""

from __future__ import annotations

import numpy as np

from stablesam.core.validation import UsageError, check_positive

__all__ = [
    "double_well",
    "double_well_grad",
    "double_well_hessian",
    "sam_hallucinated_minimizer",
    "sam_hallucination_attracts",
    "stablesam_hover_width",
    "usam_hallucinated_minimizers",
]


def double_well(x, s: float):
    """``f(x) = (x^2 - s^2)^2 / 4``."""
    x = np.asarray(x, dtype=np.float64)
    return (x * x - s * s) ** 2 / 4


def double_well_grad(x, s: float):
    """``f'(x) = x (x^2 - s^2)``."""
    x = np.asarray(x, dtype=np.float64)
    return x * (x * x - s * s)


def double_well_hessian(x, s: float):
    """``f''(x) = 3 x^2 - s^2``."""
    x = np.asarray(x, dtype=np.float64)
    return 3 * x * x - s * s


def _check(s, rho):
    s, rho = check_positive("s", s), check_positive("rho", rho)
    return s, rho


def sam_hallucinated_minimizer(s: float, rho: float) -> tuple[float, float]:
    r"""``(x_h, f'(x_h))`` of SAM on the double well: ``x_h = rho - s``, ``f'(x_h) = rho (rho - s)(rho - 2 s)``.

    Exists for ``s < rho < 2 s`` (a :class:`~stablesam.core.validation.UsageError` otherwise); ``-x_h`` is the other one.
    """
    s, rho = _check(s, rho)
    if not s < rho < 2 * s:
        raise UsageError(f"rho must lie in (s, 2 s) = ({s:g}, {2 * s:g}) for a hallucinated minimizer of SAM, got {rho!r}")
    return rho - s, rho * (rho - s) * (rho - 2 * s)


def sam_hallucination_attracts(s: float, lr: float) -> bool:
    """Whether SAM's map contracts at ``x_h``: ``|1 - 2 eta s^2| < 1``, i.e. ``eta s^2 < 1``."""
    s, lr = check_positive("s", s), check_positive("lr", lr)
    return bool(lr * s * s < 1)


def stablesam_hover_width(s: float, rho: float, lr: float) -> float:
    r"""``eta |f'(x_h)|``: the distance within which StableSAM-N hovers around SAM's ``x_h`` (first order in ``eta``)."""
    lr = check_positive("lr", lr)
    return lr * abs(sam_hallucinated_minimizer(s, rho)[1])


def usam_hallucinated_minimizers(s: float, rho: float) -> np.ndarray:
    r"""USAM's hallucinated points on the double well: the real roots of ``x + rho f'(x) = +-s`` with ``f'(x) != 0``.

    ``x + rho (x^3 - s^2 x) = -s`` is the cubic ``rho x^3 + (1 - rho s^2) x + s = 0`` (and ``x -> -x`` for ``+s``);
    its roots are returned sorted, both signs, as float64 (``numpy.roots``, polished by two Newton steps).
    """
    s, rho = _check(s, rho)
    roots = np.roots([rho, 0.0, 1.0 - rho * s * s, s])
    real = roots[np.abs(roots.imag) <= 1e-9 * (1 + np.abs(roots.real))].real
    for _ in range(2):
        real = real - (rho * real**3 + (1 - rho * s * s) * real + s) / (3 * rho * real**2 + 1 - rho * s * s)
    real = real[np.abs(double_well_grad(real, s)) > 1e-12 * s**3]
    return np.sort(np.concatenate([real, -real]))
