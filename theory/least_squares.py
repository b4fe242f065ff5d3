"""Exact full-batch least squares: trajectories, training error, population risk and excess risk, no bounds needed.

Data model (known distribution): ``x ~ N(0, Sigma)``, ``y = x^T w* + noise``, ``noise ~ N(0, s^2)`` independent
of ``x``. Squared loss with the factor one half, ``l(w; (x, y)) = (x^T w - y)^2 / 2``, so::

    population risk  R(w) = E l(w; z) = 1/2 (w - w*)^T Sigma (w - w*) + s^2 / 2,      R(w*) = s^2 / 2,
    excess risk      R(w) - R(w*) = 1/2 (w - w*)^T Sigma (w - w*),
    training error   F_S(w) = 1/(2n) ||X w - y||^2 = 1/2 w^T H w - b^T w + ||y||^2/(2n),
                     H = X^T X / n,  b = X^T y / n,  g = grad F_S(w) = H w - b.

On ``F_S`` the full-batch methods are the quadratic maps of docs/theory.md section 2 written around the empirical
minimiser (``g = H (w - w_hat)``):

- GD ``w - eta g``;  USAM ``w - eta g~``, ``g~ = g + rho H g``;  SAM ``g~ = g + rho H g / ||g||``;
- StableSAM-U / -N: ``w - eta (||g|| / ||g~||) g~`` with USAM's / SAM's ``g~`` (zero step when ``g~ = 0``).

Every function is vectorised over learning rates (leading axes of ``lr``), so a whole excess-risk-vs-lr
curve is one loop over ``T`` steps. Diverged runs (non-finite iterates) report ``inf``.

Rounding. GD, USAM and StableSAM-U are continuous maps with a bounded Lipschitz constant, so float64 is accurate
(checked against 50 digits in the tests). SAM's normalised ascent ``rho H g/||g||`` has length ``rho ||H u||`` however
small ``||g||`` is: wherever ``||g||`` passes near 0 the direction ``u`` is rounding noise, and SAM's later
iterates inherit it (on the figure's problem at ``eta = 0.2567`` float64 gives an excess risk of 5.7e-4 against
4.79e-3 at 50 digits). :func:`certified_excess_risk` therefore runs the iteration in mpmath at increasing
precision until two successive precisions agree to ``rtol``; :func:`excess_risk_curves` uses it for the
methods with a normalised ascent (SAM, StableSAM-N) and reports ``nan`` where no precision up to ``max_digits``
agrees (the value is not known, so it is not drawn).

Example
-------
>>> import numpy as np
>>> from stablesam.theory.least_squares import LinearModel, excess_risk_curves
>>> model = LinearModel(np.diag([1.0, 0.1]), np.array([1.0, -1.0]), noise_std=0.5)
>>> X, y = model.sample(20, np.random.default_rng(0))
>>> curves = excess_risk_curves(model, X, y, ["gd", "usam"], np.array([0.1, 1.0]), rho=0.1, T=50)
>>> sorted(curves)
['gd', 'usam']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stablesam.core.methods import method as method_row
from stablesam.core.methods import method_keys
from stablesam.core.validation import UsageError, check_choice, check_integer, check_nonnegative, check_positive

__all__ = [
    "LS_METHODS",
    "LinearModel",
    "NORMALISED_ASCENT",
    "certified_excess_risk",
    "excess_risk_curves",
    "final_iterates",
    "lr_ranges_beating",
    "step",
    "training_error",
    "trajectory",
]

LS_METHODS = method_keys(quadratic=True, full_batch=True)
# float64 is not reliable for the normalized ascent where ||g|| passes near 0
NORMALISED_ASCENT = tuple(key for key in LS_METHODS if method_row(key).ascent == "normalized")


@dataclass(frozen=True)
class LinearModel:
    """``x ~ N(0, covariance)``, ``y = x^T w_star + N(0, noise_std^2)``."""

    covariance: np.ndarray
    w_star: np.ndarray
    noise_std: float = 0.0

    def __post_init__(self) -> None:
        sigma = np.asarray(self.covariance, dtype=np.float64)
        w_star = np.asarray(self.w_star, dtype=np.float64)
        if sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1] or not np.allclose(sigma, sigma.T):
            raise UsageError(f"covariance must be a symmetric square matrix, got shape {sigma.shape}")
        if np.linalg.eigvalsh(sigma)[0] < -1e-12 * max(1.0, np.abs(sigma).max()):
            raise UsageError("covariance must be positive semi-definite")
        if w_star.shape != (sigma.shape[0],):
            raise UsageError(f"w_star must have shape ({sigma.shape[0]},), got {w_star.shape}")
        check_nonnegative("noise_std", self.noise_std)
        object.__setattr__(self, "covariance", sigma)
        object.__setattr__(self, "w_star", w_star)

    @property
    def dim(self) -> int:
        return self.w_star.shape[0]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` draws ``(X, y)``, ``X`` of shape (n, d), from the explicit generator ``rng``."""
        n = check_integer("n", n, minimum=1)
        # eigh, not Cholesky: a singular (PSD) covariance is allowed.
        values, vectors = np.linalg.eigh(self.covariance)
        root = vectors * np.sqrt(np.clip(values, 0.0, None))
        X = rng.standard_normal((n, self.dim)) @ root.T
        y = X @ self.w_star + self.noise_std * rng.standard_normal(n)
        return X, y

    def excess_risk(self, w: np.ndarray) -> np.ndarray:
        """``R(w) - R(w*) = 1/2 (w - w*)^T Sigma (w - w*)``, over the leading axes of ``w``; ``inf`` if not finite."""
        e = np.asarray(w, dtype=np.float64) - self.w_star
        with np.errstate(over="ignore", invalid="ignore"):
            value = 0.5 * np.einsum("...i,ij,...j->...", e, self.covariance, e)
        return np.where(np.isfinite(value), value, np.inf)

    def population_risk(self, w: np.ndarray) -> np.ndarray:
        """``R(w) = 1/2 (w - w*)^T Sigma (w - w*) + noise_std^2 / 2``."""
        return self.excess_risk(w) + 0.5 * self.noise_std**2


def training_error(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``F_S(w) = 1/(2n) ||X w - y||^2`` over the leading axes of ``w``; ``inf`` if not finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        value = 0.5 * np.mean((np.asarray(w) @ X.T - y) ** 2, axis=-1)
    return np.where(np.isfinite(value), value, np.inf)


def _norm(v: np.ndarray) -> np.ndarray:
    return np.linalg.norm(v, axis=-1, keepdims=True)


def step(method: str, w: np.ndarray, H: np.ndarray, b: np.ndarray, lr, rho: float) -> np.ndarray:
    """One full-batch step of ``method`` on ``F_S(w) = 1/2 w^T H w - b^T w``; ``w`` (..., d), ``lr`` broadcast (...)."""
    row = method_row(method)
    lr = np.asarray(lr, dtype=np.float64)[..., None]
    g = w @ H - b  # H symmetric
    if row.ascent == "none":
        return w - lr * g
    g_norm = _norm(g)
    Hg = g @ H
    if row.ascent == "unnormalized":
        surrogate = g + rho * Hg
    else:  # normalized ascent; g = 0 gives no ascent
        surrogate = g + rho * np.divide(Hg, g_norm, out=np.zeros_like(Hg), where=g_norm > 0)
    if not row.stable:
        return w - lr * surrogate
    s_norm = _norm(surrogate)
    gamma = np.divide(g_norm, s_norm, out=np.zeros_like(s_norm), where=s_norm > 0)
    return w - lr * gamma * surrogate


def _prepare(method, X, y, lr, rho, T, w0):
    check_choice("method", method, method_keys(quadratic=True, full_batch=True))
    rho = check_nonnegative("rho", rho)
    T = check_integer("T", T, minimum=0)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n, d = X.shape
    lr = np.asarray(lr, dtype=np.float64)
    start = np.broadcast_to(np.zeros(d) if w0 is None else np.asarray(w0, dtype=np.float64), lr.shape + (d,)).copy()
    return X.T @ X / n, X.T @ y / n, lr, rho, T, start


def trajectory(method: str, X: np.ndarray, y: np.ndarray, lr, *, rho: float, T: int, w0: np.ndarray | None = None) -> np.ndarray:
    """Every iterate ``w_0, ..., w_T`` (axis 0) of ``T`` full-batch steps on ``F_S``, one column per learning rate."""
    H, b, lr, rho, T, w = _prepare(method, X, y, lr, rho, T, w0)
    out = np.empty((T + 1,) + w.shape)
    out[0] = w
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T):
            out[t + 1] = step(method, out[t], H, b, lr, rho)
    return out


def final_iterates(method: str, X: np.ndarray, y: np.ndarray, lr, *, rho: float, T: int, w0: np.ndarray | None = None) -> np.ndarray:
    """``w_T`` of ``T`` full-batch steps on ``F_S`` from ``w0`` (default 0), one row per learning rate in ``lr``;
    ``inf`` rows where the run diverged (non-finite iterate)."""
    H, b, lr, rho, T, w = _prepare(method, X, y, lr, rho, T, w0)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(T):
            w = step(method, w, H, b, lr, rho)
    return np.where(np.all(np.isfinite(w), axis=-1, keepdims=True), w, np.inf)


def _final_iterate_mp(method, H, b, w0, lr, rho, T):
    """``w_T`` in mpmath at the current working precision (lists of mpf; exact copies of the float64 inputs)."""
    import mpmath

    d = len(b)
    lr, rho = mpmath.mpf(lr), mpmath.mpf(rho)
    w = list(w0)
    zero = mpmath.mpf(0)

    def matvec(v):
        return [mpmath.fsum(H[i][j] * v[j] for j in range(d)) for i in range(d)]

    def norm(v):
        return mpmath.sqrt(mpmath.fsum(x * x for x in v))

    row = method_row(method)  # the row's fields choose the map, as in :func:`step`
    for _ in range(T):
        g = [gi - bi for gi, bi in zip(matvec(w), b)]
        if row.ascent == "none":
            direction = g
        else:
            Hg, g_norm = matvec(g), norm(g)
            scale = rho if row.ascent == "unnormalized" else (rho / g_norm if g_norm > 0 else zero)
            surrogate = [gi + scale * hi for gi, hi in zip(g, Hg)]
            if not row.stable:
                direction = surrogate
            else:
                s_norm = norm(surrogate)
                factor = g_norm / s_norm if s_norm > 0 else zero
                direction = [factor * x for x in surrogate]
        w = [wi - lr * di for wi, di in zip(w, direction)]
        if any(abs(x) > mpmath.mpf(10) ** 300 for x in w):  # float64 would overflow: diverged
            return None
    return w


def certified_excess_risk(
    model: LinearModel, X: np.ndarray, y: np.ndarray, method: str, lr: float, *, rho: float, T: int,
    w0: np.ndarray | None = None, rtol: float = 1e-10, digits: int = 30, max_digits: int = 960,
) -> tuple[float, int]:
    """Excess risk after ``T`` full-batch steps, computed in mpmath at ``digits``, ``2 digits``, ... decimal digits
    until two successive precisions agree to relative ``rtol``. Returns ``(value, digits used)``; ``(nan, 0)``
    if no two precisions up to ``max_digits`` agree, ``(inf, digits)`` if the run diverges.

    The data ``X, y, w0`` are float64 numbers, converted exactly; ``H = X^T X / n`` and ``b = X^T y / n`` are
    formed in high precision.
    """
    import mpmath

    check_choice("method", method, method_keys(quadratic=True, full_batch=True))
    rho, T = check_nonnegative("rho", rho), check_integer("T", T, minimum=0)
    lr, rtol = check_positive("lr", lr), check_nonnegative("rtol", rtol)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n, d = X.shape
    start = np.zeros(d) if w0 is None else np.asarray(w0, dtype=np.float64)
    previous = None
    while digits <= max_digits:
        with mpmath.workdps(digits):
            Xm = [[mpmath.mpf(float(v)) for v in row] for row in X]
            H = [[mpmath.fsum(Xm[k][i] * Xm[k][j] for k in range(n)) / n for j in range(d)] for i in range(d)]
            b = [mpmath.fsum(Xm[k][i] * mpmath.mpf(float(y[k])) for k in range(n)) / n for i in range(d)]
            w = _final_iterate_mp(method, H, b, [mpmath.mpf(float(v)) for v in start], lr, rho, T)
            if w is None:
                return np.inf, digits
            e = [wi - mpmath.mpf(float(si)) for wi, si in zip(w, model.w_star)]
            value = mpmath.fsum(e[i] * mpmath.mpf(float(model.covariance[i, j])) * e[j] for i in range(d) for j in range(d)) / 2
        if previous is not None and abs(value - previous) <= rtol * abs(value):
            return float(value), digits
        previous, digits = value, 2 * digits
    return float("nan"), 0


def excess_risk_curves(
    model: LinearModel, X: np.ndarray, y: np.ndarray, methods, lrs, *, rho: float, T: int, w0: np.ndarray | None = None,
    high_precision=NORMALISED_ASCENT, rtol: float = 1e-10,
) -> dict[str, np.ndarray]:
    """Exact excess risk ``R(w_T) - R(w*)`` of each method at each learning rate (``inf`` where it diverged).

    Methods in ``high_precision`` (default: SAM and StableSAM-N, see the module docstring) are evaluated by
    :func:`certified_excess_risk` (``nan`` where no precision is certified); the others in float64.
    """
    out = {}
    for m in methods:
        if m in high_precision:
            flat = np.asarray(lrs, dtype=np.float64).ravel()
            values = [certified_excess_risk(model, X, y, m, float(lr), rho=rho, T=T, w0=w0, rtol=rtol)[0] for lr in flat]
            out[m] = np.array(values).reshape(np.shape(lrs))
        else:
            out[m] = model.excess_risk(final_iterates(m, X, y, lrs, rho=rho, T=T, w0=w0))
    return out


def lr_ranges_beating(
    model: LinearModel,
    X: np.ndarray,
    y: np.ndarray,
    method: str,
    *,
    baseline: str = "gd",
    rho: float,
    T: int,
    lr_min: float,
    lr_max: float,
    num: int = 400,
    w0: np.ndarray | None = None,
    rtol: float = 1e-6,
) -> list[tuple[float, float]]:
    """Learning-rate intervals where ``method``'s exact excess risk after ``T`` steps is below ``baseline``'s by
    more than the relative tolerance ``rtol``.

    Grid scan plus bisection on the exact risks (:func:`stablesam.theory.excess_risk.regimes`; SAM and StableSAM-N in
    certified high precision). ``rtol`` (default one part in a million) makes differences between two runs that
    both converged to the empirical minimiser ties: at ``eta = 1.985`` on the figure's problem StableSAM-U and
    GD differ by 1e-12, far below anything the figure or an experiment could resolve.
    """
    from stablesam.theory.excess_risk import regimes

    def risk(m):
        if m in NORMALISED_ASCENT:
            return lambda lr: certified_excess_risk(model, X, y, m, lr, rho=rho, T=T, w0=w0)[0]
        return lambda lr: float(model.excess_risk(final_iterates(m, X, y, lr, rho=rho, T=T, w0=w0)))

    return regimes(risk(method), risk(baseline), lr_min, lr_max, num=num, rtol=rtol)
