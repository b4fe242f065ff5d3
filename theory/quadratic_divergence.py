r"""Exact divergence thresholds and linear rates of the quadratic maps (docs/theory.md section 2).

On ``f(w) = 1/2 w^T H w`` with ``H`` PSD and top eigenvalue ``lambda = lambda_max > 0``:

===============  ===================================  =================================================================
method           diverges iff                         below the threshold
===============  ===================================  =================================================================
GD               ``eta lambda > 2``                   converges at rate ``max_i |1 - eta lambda_i|``
USAM             ``eta lambda (1 + rho lambda) > 2``  converges at rate ``max_i |1 - eta lambda_i (1 + rho lambda_i)|``
SAM              ``eta lambda >= 2``                  attracting 2-cycle, see :mod:`stablesam.theory.sam_cycle`
StableSAM-U, -N  ``eta lambda > 2``                   converges (proved in 1-D and 2-D; observed in
                                                      simulation for d <= 10, not proved beyond)
===============  ===================================  =================================================================

GD and USAM are linear maps, so their rows are exact in any dimension. SAM in 1-D is
``x' = (1 - eta lambda) x - eta rho lambda sign(x)``: for ``eta lambda > 1`` both terms push the same
way, ``|x'| = (eta lambda - 1)|x| + eta rho lambda``, which grows linearly at ``eta lambda = 2``
(``|x_t| = |x_0| + 2 rho t``) and geometrically beyond. StableSAM's top eigen-coordinate is multiplied
by ``1 - eta lambda c_1 q`` with ``c_1 q >= 1`` (:mod:`stablesam.theory.renormalization`), so for ``eta lambda > 2`` it
grows by at least ``eta lambda - 1 > 1`` per step; at or below, in 1-D and along an eigenvector StableSAM
*is* GD. These StableSAM results, and SAM's threshold, are derived (quadratic model) by this toolkit for
the methods of Tan et al. 2024; the paper's body is not available here, so they are not quoted from it.

The USAM-vs-GD crossover (a "limited regime" that is exact): for ``rho > 0`` and
``lambda_min > 0``, USAM's rate is strictly below GD's iff
``eta < 2 / (lambda_max (1 + rho lambda_max) + lambda_min)`` (derived).

Example
-------
>>> from stablesam.theory.quadratic_divergence import divergence_threshold, quadratic_map_diverges
>>> float(divergence_threshold("usam", [4.0, 1.0], rho=0.25))
0.25
>>> bool(quadratic_map_diverges("sam", 0.5, [4.0, 1.0], rho=0.1)), bool(quadratic_map_diverges("gd", 0.5, [4.0, 1.0]))
(True, False)
"""

from __future__ import annotations

import numpy as np

from stablesam.core.validation import UsageError, check_array
from stablesam.core.methods import Method
from stablesam.theory.quadratic import quadratic_row

__all__ = [
    "convergence_rate",
    "divergence_threshold",
    "quadratic_map_diverges",
    "threshold_source",
    "usam_gd_crossover",
]

_DERIVED = "derived (quadratic model), docs/theory.md section 2"
# Sources by the row's fields (ascent, stable): a new row with an existing ascent has its source with no edit here.
_SOURCES = {
    ("none", False): (False, "classical: eta lambda_max > 2"),
    ("unnormalized", False): (False, "Agarwala and Dauphin 2023 (USAM is linear on a quadratic)"),
    ("normalized", False): (True, _DERIVED),
    ("unnormalized", True): (True, _DERIVED),
    ("normalized", True): (True, _DERIVED),
}


def _kind(method: Method | str) -> tuple[str, bool]:
    """``(ascent, stable)`` of ``method``'s row (``("none", False)`` for a row without an ascent)."""
    row = quadratic_row(method)
    return (row.ascent, row.stable) if row.uses_rho else ("none", False)


def threshold_source(method: Method | str) -> tuple[bool, str]:
    """``(derived, source)`` of ``method``'s divergence threshold on a quadratic."""
    return _SOURCES[_kind(method)]


def _spectrum(eigenvalues, *, strictly_positive: bool = False) -> np.ndarray:
    lam = np.array(eigenvalues, dtype=np.float64, ndmin=1)
    if lam.shape[-1] == 0 or not np.all(np.isfinite(lam)):
        raise UsageError(f"eigenvalues must be a non-empty array of finite numbers, got {eigenvalues!r}")
    if strictly_positive and np.any(lam <= 0):
        raise UsageError(f"eigenvalues must all be > 0 here, got {eigenvalues!r}")
    if np.any(lam < 0):
        raise UsageError(f"eigenvalues must be >= 0 (H positive semi-definite; saddles: stablesam.theory.saddle), got {eigenvalues!r}")
    if np.any(lam.max(axis=-1) <= 0):
        raise UsageError(f"the largest eigenvalue must be > 0, got {eigenvalues!r}")
    return lam


def _out(value: np.ndarray):
    return value[()] if value.ndim == 0 else value


def divergence_threshold(method: str, eigenvalues, rho=0.0):
    r"""Critical learning rate ``eta*`` of ``method`` on the PSD spectrum ``eigenvalues`` (last axis).

    ``2 / lambda_max`` for GD and both StableSAM variants (divergence iff ``eta > eta*``), and for SAM
    (divergence iff ``eta >= eta*``: at equality the 1-D iterate grows linearly); USAM:
    ``2 / (lambda_max (1 + rho lambda_max))`` (divergence iff ``eta > eta*``). Use :func:`quadratic_map_diverges` for the
    exact predicate. Broadcasts ``rho`` against the batch axes of ``eigenvalues``.
    """
    kind = _kind(method)
    top = _spectrum(eigenvalues).max(axis=-1)
    rho = check_array("rho", rho, positive=False)
    if kind == ("unnormalized", False):
        return _out(2.0 / (top * (1.0 + rho * top)))
    return _out(np.broadcast_to(2.0 / top, np.broadcast_shapes(top.shape, rho.shape)).copy())


def quadratic_map_diverges(method: str, lr, eigenvalues, rho=0.0):
    """Exact predicate: does ``method`` diverge from a generic start at learning rate ``lr``? (see module table)."""
    kind = _kind(method)
    lr = check_array("lr", lr, positive=True)
    top = _spectrum(eigenvalues).max(axis=-1)
    rho = check_array("rho", rho, positive=False)
    if kind == ("unnormalized", False):
        return _out(np.asarray(lr * top * (1.0 + rho * top) > 2.0))
    if kind == ("normalized", False):
        return _out(np.broadcast_to(lr * top >= 2.0, np.broadcast_shapes(lr.shape, top.shape, rho.shape)).copy())
    return _out(np.broadcast_to(lr * top > 2.0, np.broadcast_shapes(lr.shape, top.shape, rho.shape)).copy())


def convergence_rate(method: str, lr, eigenvalues, rho=0.0):
    r"""Exact per-step rate of the linear maps: ``max_i |1 - eta lambda_i (1 + r lambda_i)|``, ``r = 0`` (GD) or ``rho`` (USAM).

    This is the spectral radius of ``I - eta H`` or ``I - eta (H + rho H^2)``: the asymptotic factor from a start
    with a component along the maximizing eigenvector. SAM and StableSAM are not linear: see
    :mod:`stablesam.theory.sam_cycle` and :mod:`stablesam.theory.renormalization`.
    """
    kind = _kind(method)
    if kind not in (("none", False), ("unnormalized", False)):
        raise UsageError(f"method must be 'gd' or 'usam' (the linear maps), got {method!r}")
    lam = _spectrum(eigenvalues)
    lr = check_array("lr", lr, positive=True)[..., None]
    r = check_array("rho", rho, positive=False)[..., None] if kind[0] == "unnormalized" else 0.0
    return _out(np.max(np.abs(1.0 - lr * lam * (1.0 + r * lam)), axis=-1))


def usam_gd_crossover(eigenvalues, rho):
    r"""``eta_c = 2 / (lambda_max (1 + rho lambda_max) + lambda_min)``: USAM contracts strictly faster than GD iff ``eta < eta_c``.

    Needs ``lambda_min > 0`` and ``rho > 0`` (at ``rho = 0`` USAM is GD and never strictly faster). Derived:
    for ``eta < eta_c <= 2/(lambda_max + lambda_min)`` GD's rate is ``1 - eta lambda_min``; USAM's is
    ``max(1 - eta p_min, eta p_max - 1)`` with ``p = lambda (1 + rho lambda)``, and
    ``eta p_max - 1 < 1 - eta lambda_min`` iff ``eta < eta_c``; above, ``eta p_max - 1 >= 1 - eta lambda_min``.
    """
    lam = _spectrum(eigenvalues, strictly_positive=True)
    rho = check_array("rho", rho, positive=True)
    top, bottom = lam.max(axis=-1), lam.min(axis=-1)
    return _out(2.0 / (top * (1.0 + rho * top) + bottom))
