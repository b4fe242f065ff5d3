"""The growth recursion of uniform stability (Hardt, Recht and Singer 2016, Lemma 2.5), in expectation.

Two runs on datasets ``S, S'`` that differ in one example share the initialisation and the sample
indices; ``delta_t = ||w_t - w'_t||``, ``delta_0 = 0``. If step ``t`` is ``alpha_t``-expansive and
``sigma_t``-bounded:

- same example (probability ``1 - p``): ``delta_t <= alpha_t delta_{t-1} + tau_t``
- differing example (probability ``p = 1/n``): ``delta_t <= min(alpha_t delta_{t-1} + tau_t, delta_{t-1}) + 2 sigma_t``

``tau_t`` is an optional additive term for steps that are not Lipschitz (``tau = 0`` in Hardt et al.;
SAM's normalised ascent needs it, see :mod:`stablesam.theory.uniform_stability`).

Derivation of the differing-example step (HRS Lemma 2.5 with ``tau``). The runs apply ``G`` and ``G'``, both
``sigma``-bounded (``||G(w) - w|| <= sigma``), and ``G`` obeys ``||G(v) - G(w)|| <= alpha ||v - w|| + tau``.
Two triangle inequalities bound ``||G(w) - G'(w')||``:

    ||G(w) - G(w')|| + ||G(w') - w'|| + ||w' - G'(w')|| <= alpha delta + tau + 2 sigma
    ||w - w'|| + ||G(w) - w|| + ||w' - G'(w')||          <= delta + 2 sigma

so ``delta_t <= min(alpha delta + tau, delta) + 2 sigma``. (Dropping ``tau`` from the first line, as
``min(alpha, 1) delta + 2 sigma`` does, is not justified when ``alpha < 1`` and ``tau > 0``: strongly convex
SAM and StableSAM-N.) For ``alpha >= 1`` the minimum is ``delta``; for ``alpha < 1`` we bound it by its
affine piece ``alpha delta + tau`` (the piece that is active once ``delta >= tau / (1 - alpha)``, which is
where a strongly convex recursion settles), so the expectation stays a linear recursion
``E delta_t <= a_t E delta_{t-1} + b_t`` with

    a_t = (1 - p) alpha_t + p min(alpha_t, 1),     b_t = (1 - p) tau_t + p tau_t [alpha_t < 1] + 2 p sigma_t,

and ``eps_stab <= L E[delta_T]`` for an ``L``-Lipschitz loss (Hardt et al., Lemma 3.3).

For the non-convex theorem (Hardt et al., Lemma 3.11) the recursion starts at ``t0`` with
``delta_{t0} = 0`` and ``eps_stab <= t0 sup(l) / n + L E[delta_T | delta_{t0} = 0]``;
:func:`stability_from_start` evaluates this for every ``t0`` at once and :func:`nonconvex_stability`
minimises it.

Example
-------
>>> import numpy as np
>>> from stablesam.theory.growth_recursion import expected_distance
>>> d = expected_distance(alpha=1.0, sigma=0.1, n=10, T=5)   # convex SGD, eta L = 0.1
>>> np.allclose(d, 2 * 0.1 / 10 * np.arange(6))
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from stablesam.core.validation import UsageError, check_integer, check_nonnegative, check_positive

__all__ = ["NonconvexStability", "expected_distance", "nonconvex_stability", "stability_from_start", "step_coefficients"]

ArrayLike = float | np.ndarray | Callable[[np.ndarray], np.ndarray]

# exp() of a cumulative log-product stays finite below this; beyond it the loop is used.
_LOG_SAFE = 600.0


def _per_step(name: str, value: ArrayLike, T: int) -> np.ndarray:
    """Broadcast a scalar, an array (..., T) or a callable of t = 1..T to a float64 array (..., T)."""
    if callable(value):
        value = value(np.arange(1, T + 1, dtype=np.float64))
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(T, float(array))
    if array.shape[-1] != T:
        raise UsageError(f"{name} must be a scalar, a callable of t or an array with last axis T = {T}; got shape {array.shape}")
    if np.any(np.isnan(array)) or np.any(array < 0):
        raise UsageError(f"{name} must be >= 0 at every step")
    return array


def step_coefficients(alpha: ArrayLike, sigma: ArrayLike, *, n: int, T: int, tau: ArrayLike = 0.0):
    """Return ``(a_t, b_t)``, each (..., T): ``E delta_t <= a_t E delta_{t-1} + b_t`` (see module docstring)."""
    n = check_integer("n", n, minimum=2)
    T = check_integer("T", T, minimum=0)
    alpha, sigma, tau = (_per_step(k, v, T) for k, v in (("alpha", alpha), ("sigma", sigma), ("tau", tau)))
    p = 1.0 / n
    a = (1.0 - p) * alpha + p * np.minimum(alpha, 1.0)
    b = (1.0 - p) * tau + p * np.where(alpha < 1.0, tau, 0.0) + 2.0 * p * sigma
    a, b = np.broadcast_arrays(a, b)
    return np.array(a), np.array(b)


def _forward(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x_0 = 0, x_t = a_t x_{t-1} + b_t``; returns x_0..x_T along the last axis."""
    T = a.shape[-1]
    out = np.zeros(a.shape[:-1] + (T + 1,))
    if T == 0:
        return out
    with np.errstate(divide="ignore"):
        log_prod = np.cumsum(np.log(a), axis=-1)  # log prod_{r<=t} a_r
    if np.all(np.isfinite(log_prod)) and np.max(np.abs(log_prod)) < _LOG_SAFE:
        # x_t = prod_{r<=t} a_r * sum_{s<=t} b_s / prod_{r<=s} a_r
        out[..., 1:] = np.exp(log_prod) * np.cumsum(b * np.exp(-log_prod), axis=-1)
        return out
    # Products leave float range (long non-convex runs) or vanish (a_t = 0): the plain loop is exact.
    x = np.zeros(a.shape[:-1])
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T):
            x = np.where(np.isinf(x), np.inf, a[..., t] * x) + b[..., t]
            out[..., t + 1] = x
    return out


def expected_distance(alpha: ArrayLike, sigma: ArrayLike, *, n: int, T: int, tau: ArrayLike = 0.0) -> np.ndarray:
    """Upper bound on ``E[delta_t]`` for ``t = 0, ..., T`` (last axis, length ``T + 1``; ``delta_0 = 0``).

    ``alpha``, ``sigma`` and ``tau`` are scalars, arrays whose last axis is the step ``t = 1..T`` (leading
    axes broadcast: e.g. one row per learning rate), or callables of ``t`` (a float64 array ``1..T``).
    ``eps_stab <= L * expected_distance(...)[..., -1]``.
    """
    a, b = step_coefficients(alpha, sigma, n=n, T=T, tau=tau)
    return _forward(a, b)


def stability_from_start(
    alpha: ArrayLike, sigma: ArrayLike, *, n: int, T: int, L: float, loss_bound: float = 1.0, tau: ArrayLike = 0.0
) -> np.ndarray:
    """``t0 sup(l) / n + L E[delta_T | delta_{t0} = 0]`` for every ``t0 = 0, ..., T`` (last axis).

    Hardt et al. 2016, Lemma 3.11 (for losses with ``0 <= l <= loss_bound``). Computed with suffix
    products, ``E[delta_T | delta_{t0} = 0] = sum_{s > t0} b_s prod_{r > s} a_r``, so no division is needed.
    """
    L = check_positive("L", L)
    loss_bound = check_nonnegative("loss_bound", loss_bound)
    a, b = step_coefficients(alpha, sigma, n=n, T=T, tau=tau)
    t0 = np.arange(T + 1, dtype=np.float64)
    if T == 0:
        return np.zeros(a.shape[:-1] + (1,))
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        # log prod_{r > s} a_r for s = 1..T (empty product at s = T).
        log_suffix = np.concatenate([np.cumsum(np.log(a[..., :0:-1]), axis=-1)[..., ::-1], np.zeros(a.shape[:-1] + (1,))], axis=-1)
        terms = np.where(b > 0, b * np.exp(log_suffix), 0.0)
        tail = np.cumsum(terms[..., ::-1], axis=-1)[..., ::-1]  # sum_{s >= t0 + 1}
    distance = np.concatenate([tail, np.zeros(a.shape[:-1] + (1,))], axis=-1)
    return t0 * loss_bound / n + L * distance


class NonconvexStability(NamedTuple):
    eps: float | np.ndarray
    t0: int | np.ndarray


def nonconvex_stability(
    alpha: ArrayLike, sigma: ArrayLike, *, n: int, T: int, L: float, loss_bound: float = 1.0, tau: ArrayLike = 0.0
) -> NonconvexStability:
    """Minimum over integer ``t0 in [0, T]`` of :func:`stability_from_start`, and the minimising ``t0``."""
    values = stability_from_start(alpha, sigma, n=n, T=T, L=L, loss_bound=loss_bound, tau=tau)
    t0 = np.argmin(values, axis=-1)
    eps = np.take_along_axis(values, t0[..., None], axis=-1)[..., 0]
    if eps.ndim == 0:
        return NonconvexStability(float(eps), int(t0))
    return NonconvexStability(eps, t0)
