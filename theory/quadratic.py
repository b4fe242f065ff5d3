r"""The five update maps on the quadratic ``f(w) = 1/2 w^T H w`` (docs/theory.md section 2).

With ``g = H w``, learning rate ``eta`` and radius ``rho >= 0``:

- GD:          ``w' = (I - eta H) w``
- USAM:        ``w' = (I - eta H - eta rho H^2) w``                       (ascent ``w + rho g``)
- SAM:         ``w' = w - eta (H w + rho H^2 w / ||H w||)``               (ascent ``w + rho g / ||g||``; Foret et al. 2021)
- StableSAM-U: ``w' = w - eta (||H w|| / ||P w||) P w``, ``P = H + rho H^2``
- StableSAM-N: ``w' = w - eta (||H w|| / ||g~||) g~``, ``g~ = H w + rho H^2 w / ||H w||``

StableSAM (Tan et al. 2024, arXiv:2401.07250) multiplies the surrogate gradient ``g~`` by
``gamma = ||g|| / ||g~||``, so its step has GD's length ``eta ||g||``.

Degenerate points are defined, never NaN (docs/theory.md section 1): ``||g|| = 0`` gives no ascent
(``g~ = g = 0``); ``||g~|| = 0`` gives a zero StableSAM step. ``rho = 0`` reproduces GD exactly.

``H`` is given either by its spectrum (the map then runs in the eigenbasis, coordinate-wise) or as a
full symmetric matrix. All five maps only use ``H``, Euclidean norms and inner products, so they
commute with rotations: running in the eigenbasis is the same iteration in other coordinates. Every
argument broadcasts over leading *batch* axes, so one call advances many configurations at once.

Example
-------
>>> import numpy as np
>>> from stablesam.theory.quadratic import Quadratic, step
>>> model = Quadratic.from_spectrum([2.0, 1.0])
>>> step("sam", model, np.array([1.0, 0.0]), lr=0.5, rho=0.1)
array([-0.1,  0. ])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stablesam.core.methods import Method, method_keys
from stablesam.core.methods import method as method_row
from stablesam.core.validation import UsageError, check_choice

__all__ = [
    "METHODS",
    "Quadratic",
    "canonical_method",
    "map_of",
    "quadratic_row",
    "gd_step",
    "sam_step",
    "stablesam_n_step",
    "stablesam_u_step",
    "step",
    "usam_step",
]

# The full-batch methods with a map on quadratics; ``sgd`` is ``gd`` here (the gradient is exact).
METHODS = method_keys(quadratic=True, full_batch=True)
_ALIASES = {"sgd": "gd"}


@dataclass(frozen=True)
class Quadratic:
    r"""``f(w) = 1/2 w^T H w`` for a batch of Hessians.

    ``curvature`` is either the spectrum, shape ``(..., d)`` (``diagonal=True``: ``H = diag(curvature)``,
    coordinates are the eigenbasis), or the full symmetric matrix, shape ``(..., d, d)``.
    Build it with :meth:`from_spectrum` or :meth:`from_matrix`, which validate the input.
    """

    curvature: np.ndarray
    diagonal: bool

    @classmethod
    def from_spectrum(cls, eigenvalues) -> Quadratic:
        """``H = diag(eigenvalues)``; ``eigenvalues`` has shape ``(..., d)``, finite, any sign (saddles allowed)."""
        lam = np.array(eigenvalues, dtype=np.float64, ndmin=1)
        if lam.shape[-1] == 0 or not np.all(np.isfinite(lam)):
            raise UsageError(f"eigenvalues must be a non-empty array of finite numbers, got {eigenvalues!r}")
        return cls(lam, True)

    @classmethod
    def from_matrix(cls, hessian, *, atol: float = 1e-12) -> Quadratic:
        """``H`` given as a symmetric matrix, shape ``(..., d, d)`` (symmetric up to ``atol`` relative)."""
        h = np.array(hessian, dtype=np.float64)
        if h.ndim < 2 or h.shape[-1] != h.shape[-2] or h.shape[-1] == 0:
            raise UsageError(f"hessian must have shape (..., d, d) with d >= 1, got shape {h.shape}")
        if not np.all(np.isfinite(h)):
            raise UsageError("hessian must be finite")
        scale = max(float(np.max(np.abs(h))), 1.0)
        if not np.allclose(h, np.swapaxes(h, -1, -2), rtol=0.0, atol=atol * scale):
            raise UsageError("hessian must be symmetric")
        return cls(h, False)

    @property
    def dim(self) -> int:
        return self.curvature.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.curvature.shape[:-1] if self.diagonal else self.curvature.shape[:-2]

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues in ascending order along the last axis (a copy for a spectrum, ``eigvalsh`` otherwise)."""
        return np.sort(self.curvature, axis=-1) if self.diagonal else np.linalg.eigvalsh(self.curvature)

    def hvp(self, v: np.ndarray) -> np.ndarray:
        """``H v`` over the last axis of ``v`` (batch axes broadcast)."""
        if self.diagonal:
            return self.curvature * v
        return np.einsum("...ij,...j->...i", self.curvature, v)

    def grad(self, w: np.ndarray) -> np.ndarray:
        """``g = H w``."""
        return self.hvp(w)

    def loss(self, w: np.ndarray) -> np.ndarray:
        """``1/2 w^T H w``."""
        return 0.5 * np.einsum("...i,...i->...", w, self.hvp(w))


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...i,...i->...", v, v))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den > 0``, else 0 (the degenerate cases of docs/theory.md section 1)."""
    num, den = np.broadcast_arrays(num, den)
    return np.divide(num, den, out=np.zeros(num.shape), where=den > 0)


def _col(x) -> np.ndarray:
    """A per-configuration scalar (batch-shaped) as a column that broadcasts against ``(..., d)``."""
    return np.asarray(x, dtype=np.float64)[..., None]


def gd_step(model: Quadratic, w: np.ndarray, lr) -> np.ndarray:
    """``w - eta H w``."""
    return w - _col(lr) * model.grad(w)


def usam_step(model: Quadratic, w: np.ndarray, lr, rho) -> np.ndarray:
    """``w - eta (H w + rho H^2 w)``: the gradient at the unnormalized ascent point ``w + rho g``."""
    g = model.grad(w)
    return w - _col(lr) * (g + _col(rho) * model.hvp(g))


def _sam_surrogate(model: Quadratic, g: np.ndarray, rho) -> tuple[np.ndarray, np.ndarray]:
    """``(g~, ||g||)`` with ``g~ = g + rho H g / ||g||`` (``g~ = g`` where ``g = 0``)."""
    g_norm = _norm(g)
    return g + _ratio(np.asarray(rho, dtype=np.float64), g_norm)[..., None] * model.hvp(g), g_norm


def sam_step(model: Quadratic, w: np.ndarray, lr, rho) -> np.ndarray:
    """``w - eta (H w + rho H^2 w / ||H w||)``: the gradient at the normalized ascent point ``w + rho g/||g||``."""
    surrogate, _ = _sam_surrogate(model, model.grad(w), rho)
    return w - _col(lr) * surrogate


def stablesam_u_step(model: Quadratic, w: np.ndarray, lr, rho) -> np.ndarray:
    """``w - eta gamma g~`` with USAM's ``g~ = (H + rho H^2) w`` and ``gamma = ||g|| / ||g~||``."""
    g = model.grad(w)
    surrogate = g + _col(rho) * model.hvp(g)
    gamma = _ratio(_norm(g), _norm(surrogate))
    return w - _col(np.asarray(lr, dtype=np.float64) * gamma) * surrogate


def stablesam_n_step(model: Quadratic, w: np.ndarray, lr, rho) -> np.ndarray:
    """``w - eta gamma g~`` with SAM's ``g~ = H w + rho H^2 w / ||H w||`` and ``gamma = ||g|| / ||g~||``."""
    surrogate, g_norm = _sam_surrogate(model, model.grad(w), rho)
    gamma = _ratio(g_norm, _norm(surrogate))
    return w - _col(np.asarray(lr, dtype=np.float64) * gamma) * surrogate


# Each map keyed by the fields of its row in stablesam.core.methods: (ascent, stable); never by the key, so a new
# row with an existing ascent has its map with no edit here.
_MAPS = {
    ("none", False): lambda model, w, lr, rho: gd_step(model, w, lr),
    ("unnormalized", False): usam_step,
    ("normalized", False): sam_step,
    ("unnormalized", True): stablesam_u_step,
    ("normalized", True): stablesam_n_step,
}


def quadratic_row(method: Method | str) -> Method:
    """The row of ``method`` (a :class:`~stablesam.core.methods.Method` or its key), refused in one line if it has
    no map on quadratics (the adaptive ascent). ``"sgd"`` is ``"gd"`` here: the gradient is exact."""
    if isinstance(method, str):
        choices = method_keys(quadratic=True)
        method = method_row(check_choice("method", method, choices))
    if not method.has_quadratic_map:
        raise UsageError(f"method {method.key!r} has no map on quadratics (ascent {method.ascent!r}); "
                         f"allowed: {', '.join(method_keys(quadratic=True))}")
    return method


def canonical_method(method: Method | str) -> str:
    """Validate a method of the quadratic maps and return its key (``"sgd"`` is ``"gd"`` here: the gradient is exact)."""
    key = quadratic_row(method).key
    return _ALIASES.get(key, key)


def map_of(method: Method | str):
    """``(model, w, lr, rho) -> w'``: the map of ``method``'s row, chosen by its fields ``(ascent, stable)``."""
    row = quadratic_row(method)
    return _MAPS[row.ascent, row.stable and row.uses_rho]


def step(method: Method | str, model: Quadratic, w, lr, rho=0.0) -> np.ndarray:
    """One step of ``method`` (see the module docstring) from ``w``, shape ``(..., d)``.

    ``method`` is a row of :data:`stablesam.core.methods.METHODS` or its key. ``lr`` and ``rho`` are scalars or
    arrays broadcasting against the batch shape ``w.shape[:-1]``.
    """
    return map_of(method)(model, np.asarray(w, dtype=np.float64), lr, rho)
