r"""Exact expected stability of SGD and USAM on least squares: linear recursions of the twins' moments.

Setting (Hardt, Recht and Singer 2016, arXiv:1509.01240, section 2): datasets ``S`` and ``S'`` of ``n`` examples
that differ in one example ``k``; two runs from the same ``w_0`` that draw the *same* index ``i_t`` at step ``t``,
uniformly and independently (with replacement). Per-example loss ``l_i(w) = (x_i^T w - y_i)^2 / 2``, so
``grad l_i(w) = A_i w - c_i`` with the rank-one Hessian ``A_i = x_i x_i^T`` and ``c_i = y_i x_i``.

**One example per step** (``sampling="uniform"``). Every step is a random *affine* map of each run:

- SGD: ``w <- M_i w + v_i``, ``M_i = I - e_i A_i``, ``v_i = e_i c_i``, ``e_i = eta``.
- USAM: ``g~ = grad l_i(w + rho grad l_i(w)) = (I + rho A_i)(A_i w - c_i) = (1 + rho ||x_i||^2)(A_i w - c_i)``
  (``A_i^2 = ||x_i||^2 A_i``): SGD with the per-example rate ``e_i = eta (1 + rho ||x_i||^2)``.
- StableSAM-U and -N (derived): ``g = r x_i`` with residual ``r = x_i^T w - y_i``, and the ascent point moves along
  ``x_i``, so ``g~ = r~ x_i`` with ``r~ = r (1 + rho ||x_i||^2)`` (U) or ``r~ = r + rho sign(r) ||x_i||`` (N); in
  both ``sign(r~) = sign(r)``, hence ``gamma g~ = (|r| / |r~|) r~ x_i = r x_i = g``: **both StableSAM variants are
  exactly SGD** with one example per step (``tests/theory/test_twin_moments.py`` checks it symbolically and by running
  the optimizers).

Because ``i_t`` is independent of the past, the first and second moments of the pair follow exact linear
recursions. With ``a = E w``, ``b = E w'``, ``B = E[w w'^T]`` (also ``E[w w^T]``, ``E[w' w'^T]``), averages over
``i`` written ``<.>``, ``G = <e_i A_i>``, ``u = <e_i c_i>``, and runs that apply the same map (``i != k``)::

    a_+ = a - G a + u
    B_+ = <M_i B M_i^T + M_i a v_i^T + v_i b^T M_i^T + v_i v_i^T>
        = B - G B - B G + a u^T + u b^T + <e_i^2 rho_i x_i x_i^T>,
    rho_i = x_i^T B x_i - y_i x_i^T (a + b) + y_i^2            (= E[r_i(w) r_i(w')], the residual product)

and the ``k``-th term of the average replaced by the one with ``S'``'s ``(M'_k, v'_k)`` where a run uses ``S'``.
Rank-one Hessians make each step ``O(n d^2)`` (``X B`` and ``X^T diag(.) X``), not ``O(n d^3)``, batched over
learning rates. Then ``E[w_t - w'_t] = a - b`` and ``E||w_t - w'_t||^2 = tr E[ww^T] + tr E[w'w'^T] - 2 tr E[ww'^T]``.
``||E delta|| <= E||delta|| <= sqrt(E||delta||^2)`` (Jensen) bracket HRS's ``E delta_T``; both ends are exact.

Rounding: the squared distance is a difference of second moments of size ``||w||^2``, so its absolute error is
about ``1e-16 * T * ||w||^2`` -- relative ``1e-9`` or better on standardised digits (the tests state the margin).

**Full batch** (``sampling="full-batch"``): each run is deterministic and the distance is computed by running
both (:func:`stablesam.theory.least_squares.trajectory`), for every method including StableSAM. Mini-batches of size
``> 1`` are not affine for StableSAM (and not with rank-one Hessians for USAM): use the twin harness's Monte Carlo.

Example
-------
>>> import numpy as np
>>> from stablesam.theory.twin_moments import expected_twin_distance
>>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]); y = np.array([1.0, -1.0, 0.5])
>>> X2, y2 = X.copy(), y.copy(); y2[0] = -1.0
>>> d = expected_twin_distance(X, y, X2, y2, 0.1, method="sgd", steps=1)
>>> round(float(d.mean_sq[-1]), 12)   # one step: index 0 with probability 1/3, then ||eta (y0 - y0') x0||^2 = 0.04
0.013333333333
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from stablesam.core.methods import method as method_row
from stablesam.core.methods import method_keys
from stablesam.core.validation import UsageError, check_choice, check_integer, check_nonnegative

__all__ = ["SAMPLINGS", "TWIN_METHODS", "TwinDistance", "expected_twin_distance", "per_example_rates"]

TWIN_METHODS = method_keys(quadratic=True)
SAMPLINGS = ("uniform", "full-batch")


class TwinDistance(NamedTuple):
    """Per step ``t = 0..T`` (last axis), one row per learning rate (leading axes of ``lr``)."""

    mean_sq: np.ndarray  # E||w_t - w'_t||^2 (exact)
    mean_difference_norm: np.ndarray  # ||E[w_t - w'_t]|| (exact; a lower bound on E||w_t - w'_t||)
    rms: np.ndarray  # sqrt(E||w_t - w'_t||^2) (exact; an upper bound on E||w_t - w'_t||)
    method: str
    sampling: str


def per_example_rates(method: str, X: np.ndarray, lr, rho: float = 0.0) -> np.ndarray:
    """``e_i`` of the affine one-example step, shape ``lr.shape + (n,)``: ``eta`` (SGD, StableSAM) or
    ``eta (1 + rho ||x_i||^2)`` (USAM). See the module docstring."""
    row = method_row(check_choice("method", method, method_keys(quadratic=True)))
    lr = np.asarray(lr, dtype=np.float64)
    if row.ascent == "none" or row.stable:
        # One example: g~ is parallel to g = r x_i (with g's sign), so the renormalized step is SGD's.
        scale = np.ones(len(X))
    elif row.ascent == "unnormalized":
        scale = 1.0 + rho * np.sum(X * X, axis=1)
    else:
        raise UsageError(f"method {row.key!r} has no affine one-example step (its ascent is sign(r) x_i/||x_i||): "
                         "use the twin harness's Monte Carlo")
    return lr[..., None] * scale


def _check_twins(X, y, X_prime, y_prime) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    X_prime, y_prime = np.asarray(X_prime, dtype=np.float64), np.asarray(y_prime, dtype=np.float64)
    if X.ndim != 2 or X.shape != X_prime.shape or y.shape != (len(X),) or y_prime.shape != y.shape:
        raise UsageError(f"X, X' must be (n, d) and y, y' (n,) of the same shapes; got {X.shape}, {X_prime.shape}, {y.shape}, {y_prime.shape}")
    differ = np.flatnonzero(np.any(X != X_prime, axis=1) | (y != y_prime))
    if len(differ) > 1:
        raise UsageError(f"S and S' must differ in at most one example; they differ in {len(differ)} (rows {differ[:5].tolist()}...)")
    if len(X) < 2:
        raise UsageError(f"need n >= 2 examples, got {len(X)}")
    return X, y, X_prime, y_prime, int(differ[0]) if len(differ) else 0


def _term(x, y, e, B, a, b, x2, y2, e2):
    """``M B M~^T + M a v~^T + v b^T M~^T + v v~^T`` for one index: left map from ``(x, y, e)``, right from
    ``(x2, y2, e2)`` (``M = I - e x x^T``, ``v = e y x``); batched over the leading axis of ``B, a, b, e``."""
    Bx2 = B @ x2  # (E, d)
    xB = x @ B  # x^T B, (E, d)
    xBx2 = xB @ x2  # (E,)
    # M B M~^T = B - e x (x^T B) - e2 (B x2) x2^T + e e2 (x^T B x2) x x2^T
    out = B - e[:, None, None] * np.einsum("i,ej->eij", x, xB) - e2[:, None, None] * np.einsum("ei,j->eij", Bx2, x2)
    out += (e * e2 * xBx2)[:, None, None] * np.outer(x, x2)
    Ma = a - (e * (a @ x))[:, None] * x  # M a
    Mb = b - (e2 * (b @ x2))[:, None] * x2  # M~ b
    out += np.einsum("ei,ej->eij", Ma, (e2 * y2)[:, None] * x2)  # M a v~^T
    out += np.einsum("ei,ej->eij", (e * y)[:, None] * x, Mb)  # v b^T M~^T
    out += (e * y * e2 * y2)[:, None, None] * np.outer(x, x2)  # v v~^T
    return out


def _average_step(X, XT, y, e, G, u, B, a, b):
    """``<M_i B M_i^T + M_i a v_i^T + v_i b^T M_i^T + v_i v_i^T>`` over all ``n`` indices, batched over the leading
    axes of ``B`` (..., d, d), ``a``, ``b`` (..., d) and ``e`` (..., n). Two ``O(n d^2)`` matrix products per matrix
    (``X B`` and ``X^T diag(e^2 rho) X``); ``G = <e_i x_i x_i^T>`` and ``u = <e_i y_i x_i>`` are passed in."""
    residual_product = np.sum(np.matmul(X, B) * X, axis=-1) - y * ((a + b) @ XT) + y**2  # x_i^T B x_i - ...
    K = np.matmul(XT * (e**2 * residual_product)[..., None, :], X) / len(X)
    return B - G @ B - B @ G + a[..., :, None] * u[..., None, :] + u[..., :, None] * b[..., None, :] + K


def expected_twin_distance(
    X, y, X_prime, y_prime, lr, *, method: str = "sgd", rho: float = 0.0, steps: int, sampling: str = "uniform",
    w0: np.ndarray | None = None,
) -> TwinDistance:
    """Exact ``E||w_t - w'_t||^2`` and ``||E[w_t - w'_t]||`` for ``t = 0..steps``, for every learning rate in ``lr``.

    ``(X, y)`` is ``S`` and ``(X_prime, y_prime)`` is ``S'`` (same shapes, at most one differing row). ``sampling``:
    ``"uniform"`` (one example per step, uniform with replacement; SGD, USAM and StableSAM, which equals SGD there)
    or ``"full-batch"`` (deterministic; every method). ``w0`` (default 0): the shared start, ``(d,)`` or one per
    learning rate (``lr.shape + (d,)``). Float64; see the module docstring for the recursions.
    """
    check_choice("method", method, method_keys(quadratic=True))
    check_choice("sampling", sampling, SAMPLINGS)
    rho = check_nonnegative("rho", rho)
    steps = check_integer("steps", steps, minimum=0)
    X, y, X_prime, y_prime, k = _check_twins(X, y, X_prime, y_prime)
    lr = np.asarray(lr, dtype=np.float64)
    if np.any(~np.isfinite(lr)) or np.any(lr <= 0):
        raise UsageError("lr must be finite and > 0")
    d = X.shape[1]
    start = np.zeros(d) if w0 is None else np.asarray(w0, dtype=np.float64)
    if start.shape[-1:] != (d,):
        raise UsageError(f"w0 must have last axis d = {d}, got shape {start.shape}")
    start = np.broadcast_to(start, lr.shape + (d,))
    if sampling == "full-batch":
        from stablesam.theory.least_squares import trajectory

        ls_method = "gd" if method == "sgd" else method
        diff = trajectory(ls_method, X, y, lr, rho=rho, T=steps, w0=start) - trajectory(ls_method, X_prime, y_prime, lr, rho=rho, T=steps, w0=start)
        with np.errstate(over="ignore", invalid="ignore"):
            sq = np.moveaxis(np.sum(diff**2, axis=-1), 0, -1)
        sq = np.where(np.isfinite(sq), sq, np.inf)
        return TwinDistance(sq, np.sqrt(sq), np.sqrt(sq), method, sampling)

    flat = lr.reshape(-1)
    E = flat.size
    e = per_example_rates(method, X, flat, rho)  # (E, n)
    e2k = per_example_rates(method, X_prime[k : k + 1], flat, rho)[:, 0]  # S' rate at k
    ek = e[:, k]
    x, yk, x2, y2k = X[k], y[k], X_prime[k], y_prime[k]
    n = len(X)
    a = start.reshape(E, d).copy()
    b = a.copy()
    P = a[:, :, None] * a[:, None, :]
    P2, C = P.copy(), P.copy()
    mean_sq = np.zeros((E, steps + 1))
    mean_diff = np.zeros((E, steps + 1))
    XT = np.ascontiguousarray(X.T)
    G = np.matmul(XT * e[:, None, :], X) / n
    u = (e * y) @ X / n
    # The three second moments E[w w^T], E[w' w'^T], E[w w'^T] stacked on a leading axis: one batched product each.
    moments = np.stack([P, P2, C])
    left, right = np.stack([a, b, a]), np.stack([a, b, b])
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            P, P2, C = moments
            bulk = _average_step(X, XT, y, e, G, u, moments, left, right)
            bulk[1] += (_term(x2, y2k, e2k, P2, b, b, x2, y2k, e2k) - _term(x, yk, ek, P2, b, b, x, yk, ek)) / n
            bulk[2] += (_term(x, yk, ek, C, a, b, x2, y2k, e2k) - _term(x, yk, ek, C, a, b, x, yk, ek)) / n
            mapped_k = b - (ek * (b @ x))[:, None] * x + (ek * yk)[:, None] * x
            mapped2_k = b - (e2k * (b @ x2))[:, None] * x2 + (e2k * y2k)[:, None] * x2
            a, b = a - np.einsum("eij,ej->ei", G, a) + u, b - np.einsum("eij,ej->ei", G, b) + u + (mapped2_k - mapped_k) / n
            moments, left, right = bulk, np.stack([a, b, a]), np.stack([a, b, b])
            traces = np.trace(moments, axis1=-2, axis2=-1)
            mean_sq[:, t + 1] = traces[0] + traces[1] - 2.0 * traces[2]
            mean_diff[:, t + 1] = np.linalg.norm(a - b, axis=1)
    bad = ~np.isfinite(mean_sq)
    mean_sq = np.where(bad, np.inf, np.maximum(mean_sq, 0.0))  # tiny negative values are rounding (module docstring)
    mean_diff = np.where(np.isfinite(mean_diff), mean_diff, np.inf)
    shape = lr.shape + (steps + 1,)
    return TwinDistance(mean_sq.reshape(shape), mean_diff.reshape(shape), np.sqrt(mean_sq).reshape(shape), method, sampling)
