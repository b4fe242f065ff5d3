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

Example
-------
>>> from stablesam.theory.saddle import saddle_multiplier
>>> float(saddle_multiplier("usam", -2.0, 0.1, rho=1.0))
0.8
"""

from __future__ import annotations

import numpy as np

from stablesam.core.validation import UsageError
from stablesam.theory.quadratic import quadratic_row

__all__ = ["saddle_multiplier"]


def saddle_multiplier(method: str, curvature, lr, rho=0.0, x=None):
    r"""``x' / x`` of ``method`` at a 1-D saddle of curvature ``lambda < 0`` (see the module table).

    ``x`` (the current point, ``!= 0``) is needed by SAM and StableSAM-N, whose multipliers depend on it.
    """
    row = quadratic_row(method)
    kind = (row.ascent if row.uses_rho else "none", row.stable and row.uses_rho)  # the row's fields, never its key
    lam = np.asarray(curvature, dtype=np.float64)
    if not np.all(np.isfinite(lam)) or np.any(lam >= 0):
        raise UsageError(f"curvature must be finite and < 0 (a saddle direction), got {curvature!r}")
    lr = np.asarray(lr, dtype=np.float64)
    if not np.all(np.isfinite(lr)) or np.any(lr <= 0):
        raise UsageError(f"lr must be finite and > 0, got {lr!r}")
    rho = np.asarray(rho, dtype=np.float64)
    if not np.all(np.isfinite(rho)) or np.any(rho < 0):
        raise UsageError(f"rho must be finite and >= 0, got {rho!r}")
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
