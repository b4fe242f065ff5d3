r"""Vectorised simulation of the quadratic maps over a grid of configurations.

One call advances every configuration (learning rate, radius, spectrum or Hessian, start) together:
each step is a handful of numpy array operations over the whole batch, with no Python loop over
configurations. A configuration *diverges* at the first step ``t`` where ``w_t`` is non-finite or
``||w_t|| > blowup * max(1, ||w_0||)``; it is then frozen at that iterate ``w_t``.

The *rate* is the asymptotic per-step factor ``(||w_T|| / ||w_{T-k}||)^(1/k)`` over the last
``k = 2 floor(T/4)`` steps (an even window, so 2-periodic "bouncing" is averaged exactly). Where the
iterate becomes tiny (``||w|| < 1e-140``, where ``||w||^2`` underflows) the configuration has converged to
float64 precision: it is frozen at that iterate and its rate is measured over ``[p, s]``, ``s`` the step
before and ``p`` the largest power of two ``<= s/2``; where
a configuration diverged, the reported rate is its mean growth factor ``(||w_t|| / ||w_0||)^(1/t)``
up to the divergence step ``t`` (so it is > 1).

Finite-horizon bias
-------------------
Detection with blow-up level ``B`` and horizon ``T`` misses growth that is too slow: a configuration
whose iterate grows by ``1 + delta`` per step is only caught when ``T ln(1 + delta) > ln B``, so an
observed divergence threshold (:func:`observed_lr_max`) *overestimates* the exact one by about
``ln(B) / T`` in relative terms (docs/theory.md section 2); for a top multiplier ``1 - eta lambda`` (GD, USAM,
StableSAM), whose modulus grows like ``1 + 2 delta`` at ``eta = (1 + delta) eta*``, the bias is about
``ln(B) / (2T)``. Compare with the exact formulas
(:mod:`stablesam.theory.quadratic_divergence`) or use a long horizon. Growth that is not geometric is never caught:
SAM at exactly ``eta lambda = 2`` grows linearly, ``|x_t| = |x_0| + 2 rho t``.

Example
-------
>>> import numpy as np
>>> from stablesam.theory.simulate import simulate
>>> result = simulate("gd", [[2.0, 1.0]], lr=np.array([0.5, 0.9, 1.1]), steps=200)
>>> result.diverged.tolist()
[False, False, True]
>>> np.round(result.rate[:2], 6).tolist()
[0.5, 0.8]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stablesam.core.validation import UsageError, check_array, check_integer, check_positive
from stablesam.theory.quadratic import Quadratic, _norm, map_of

__all__ = ["SimulationResult", "observed_lr_max", "simulate"]

# Below this norm ||w||^2 underflows (1e-308), so the norm itself is no longer accurate.
_TINY = 1e-140


@dataclass(frozen=True)
class SimulationResult:
    """Outcome per configuration; every array has the batch shape (``final`` adds the last axis ``d``)."""

    diverged: np.ndarray  # bool
    divergence_step: np.ndarray  # int: first step t with w_t non-finite or above the blow-up level; -1 if none
    final: np.ndarray  # last iterate (at divergence: the first iterate above the level, if finite)
    final_norm: np.ndarray
    rate: np.ndarray  # asymptotic per-step factor (see the module docstring)
    steps: int


def _model(eigenvalues, hessian) -> Quadratic:
    if (eigenvalues is None) == (hessian is None):
        raise UsageError("give exactly one of eigenvalues (spectrum, shape (..., d)) or hessian (shape (..., d, d))")
    if isinstance(eigenvalues, Quadratic):
        return eigenvalues
    return Quadratic.from_spectrum(eigenvalues) if hessian is None else Quadratic.from_matrix(hessian)


def simulate(
    method: str,
    eigenvalues=None,
    *,
    hessian=None,
    lr,
    rho=0.0,
    start=None,
    steps: int = 1000,
    blowup: float = 1e8,
) -> SimulationResult:
    r"""Run ``steps`` iterations of ``method``'s map for a whole batch of configurations.

    Args:
        method: ``"gd"`` (or ``"sgd"``), ``"usam"``, ``"sam"``, ``"stablesam-u"``, ``"stablesam-n"``.
        eigenvalues: spectrum, shape ``(..., d)`` (the simulation runs in the eigenbasis; a
            :class:`~stablesam.theory.quadratic.Quadratic` is accepted too), or
        hessian: full symmetric matrices, shape ``(..., d, d)``. Exactly one of the two.
        lr, rho: learning rate ``> 0`` and radius ``>= 0``, arrays broadcasting with the batch shape.
        start: initial iterate(s), shape ``(..., d)``; default all ones (every eigen-component present
            when ``eigenvalues`` is given).
        steps: horizon ``T >= 1``.
        blowup: divergence level ``B > 1`` (relative to ``max(1, ||w_0||)``).

    The batch shape is the broadcast of ``lr``, ``rho``, the model's batch shape and ``start[..., 0]``.
    """
    advance = map_of(method)
    model = _model(eigenvalues, hessian)
    steps = check_integer("steps", steps, minimum=1)
    if check_positive("blowup", blowup) <= 1:
        raise UsageError(f"blowup must be > 1, got {blowup!r}")
    lr = check_array("lr", lr, positive=True)
    rho = check_array("rho", rho, positive=False)
    d = model.dim
    start = np.ones(d) if start is None else np.asarray(start, dtype=np.float64)
    if start.ndim == 0 or start.shape[-1] != d or not np.all(np.isfinite(start)):
        raise UsageError(f"start must be finite with last axis of length d = {d}, got shape {start.shape}")
    shape = np.broadcast_shapes(lr.shape, rho.shape, model.batch_shape, start.shape[:-1])
    curvature_shape = shape + ((d,) if model.diagonal else (d, d))
    # Internally the batch is flat, shape (n,); results are reshaped to ``shape`` at the end.
    n = int(np.prod(shape, dtype=np.int64))
    flat_curvature = np.broadcast_to(model.curvature, curvature_shape).reshape((n,) + curvature_shape[len(shape):])
    curvature = np.ascontiguousarray(flat_curvature)
    lr = np.ascontiguousarray(np.broadcast_to(lr, shape).reshape(n))
    rho = np.ascontiguousarray(np.broadcast_to(rho, shape).reshape(n))
    w = np.broadcast_to(start, shape + (d,)).reshape(n, d).copy()

    norm0 = _norm(w)
    level = blowup * np.maximum(norm0, 1.0)
    mid_step = steps - 2 * (steps // 4)  # even window: 2-periodic bouncing averages out exactly
    # Per configuration (full batch): divergence, and the last step with ||w_t|| >= _TINY with that norm
    # (``steps`` and the final norm unless the iterate became tiny or diverged first).
    diverged = np.zeros(n, dtype=bool)
    divergence_step = np.full(n, -1, dtype=np.int64)
    final = w.copy()
    final_norm = norm0.copy()
    last_step = np.full(n, steps, dtype=np.int64)
    last_norm = np.zeros(n)
    mid_norm = norm0.copy() if mid_step == 0 else np.full(n, np.nan)
    # Norms at steps 1, 2, 4, 8, ...: the window of an iterate that becomes tiny at step s is [p, s], p <= s/2.
    snapshots = {1 << k: np.full(n, np.nan) for k in range(steps.bit_length())}
    # Only active configurations are advanced: diverged ones, and converged ones (``||w_t|| < _TINY``, below
    # which float64 arithmetic turns subnormal and slow), are dropped from the arrays (rare events).
    idx = np.arange(n)
    norm = norm0.copy()
    start_tiny = norm0 < _TINY
    last_step[start_tiny], last_norm[start_tiny] = 0, norm0[start_tiny]
    keep = ~start_tiny
    idx, w, norm, lr, rho, curvature = idx[keep], w[keep], norm[keep], lr[keep], rho[keep], curvature[keep]
    model = Quadratic(curvature, model.diagonal)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            if idx.size == 0:
                break
            w_next = advance(model, w, lr, rho)
            norm_next = _norm(w_next)
            if t == mid_step:
                mid_norm[idx] = norm_next
            if t in snapshots:
                snapshots[t][idx] = norm_next
            became_tiny = norm_next < _TINY
            blew_up = ~(norm_next <= level[idx])  # ~(<=) also catches NaN
            leaving = became_tiny | blew_up
            if leaving.any():
                out = idx[became_tiny]
                last_step[out], last_norm[out] = t - 1, norm[became_tiny]
                out = idx[blew_up]
                diverged[out], divergence_step[out] = True, t
                out = idx[leaving]
                final[out], final_norm[out] = w_next[leaving], norm_next[leaving]
                keep = ~leaving
                idx, w_next, norm_next, lr, rho = idx[keep], w_next[keep], norm_next[keep], lr[keep], rho[keep]
                model = Quadratic(model.curvature[keep], model.diagonal)
            w, norm = w_next, norm_next
    final[idx], final_norm[idx] = w, norm
    alive = ~diverged & (last_step == steps)
    last_norm[alive] = final_norm[alive]
    # Diverged: mean growth up to the divergence step (a non-finite norm counts as the blow-up level).
    last_step[diverged] = divergence_step[diverged]
    last_norm[diverged] = np.where(np.isfinite(final_norm[diverged]), final_norm[diverged], level[diverged])
    use_mid = ~diverged & (last_step > mid_step) & (mid_step > 0)
    ref_norm = np.where(use_mid, mid_norm, norm0)
    ref_step = np.where(use_mid, mid_step, 0)
    became_tiny = ~diverged & (last_step < steps) & (last_step >= 2)
    if became_tiny.any():
        power = np.left_shift(1, np.floor(np.log2(last_step[became_tiny] // 2)).astype(np.int64))
        rows = np.flatnonzero(became_tiny)
        for p in np.unique(power):
            chosen = rows[power == p]
            ref_norm[chosen], ref_step[chosen] = snapshots[int(p)][chosen], p
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.exp((np.log(last_norm) - np.log(ref_norm)) / np.maximum(last_step - ref_step, 1))
    rate = np.where(last_step == 0, 0.0, rate)  # w_0 = 0, or exactly zero after one step
    return SimulationResult(
        diverged.reshape(shape),
        divergence_step.reshape(shape),
        final.reshape(shape + (d,)),
        final_norm.reshape(shape),
        rate.reshape(shape),
        steps,
    )


def observed_lr_max(
    method: str,
    eigenvalues=None,
    *,
    hessian=None,
    rho=0.0,
    start=None,
    steps: int = 2000,
    blowup: float = 1e8,
    lr_high=None,
    rel_tol: float = 1e-5,
) -> np.ndarray:
    r"""Observed divergence threshold of the learning rate, by bisection with :func:`simulate`.

    For every configuration (the batch of ``eigenvalues``/``hessian``, ``rho`` and ``start``) it returns
    the learning rate separating "converged or bounded after ``steps`` steps" from "diverged", to a
    relative precision ``rel_tol``. All configurations are bisected together: each bisection round is one
    vectorised :func:`simulate` call. The upper bracket ``lr_high`` defaults to ``4 / lambda_max`` and is
    doubled where it does not diverge.

    The result overestimates the exact threshold by about ``ln(blowup) / steps`` (relative; see the
    module docstring). Divergence is assumed monotone in the learning rate, as it is for every exact
    threshold of :mod:`stablesam.theory.quadratic_divergence`.
    """
    model = _model(eigenvalues, hessian)
    rho = check_array("rho", rho, positive=False)
    check_positive("rel_tol", rel_tol)
    top = np.max(model.eigenvalues, axis=-1)
    if np.any(top <= 0):
        raise UsageError("the largest eigenvalue must be > 0 for a divergence threshold to exist")
    d = model.dim
    start_arr = np.ones(d) if start is None else np.asarray(start, dtype=np.float64)
    shape = np.broadcast_shapes(rho.shape, model.batch_shape, start_arr.shape[:-1])
    high = np.broadcast_to(4.0 / top if lr_high is None else check_array("lr_high", lr_high, positive=True), shape).copy()
    low = np.zeros(shape)

    def diverges(lr: np.ndarray) -> np.ndarray:
        return simulate(method, model, lr=lr, rho=rho, start=start_arr, steps=steps, blowup=blowup).diverged

    for _ in range(60):
        ok = diverges(high)
        if ok.all():
            break
        low = np.where(ok, low, high)
        high = np.where(ok, high, 2.0 * high)
    else:
        raise ValueError("no divergence found up to 2^60 times the upper bracket; the map may be unconditionally stable")
    while np.any(high - low > rel_tol * high):
        mid = 0.5 * (low + high)
        blew = diverges(mid)
        high = np.where(blew, mid, high)
        low = np.where(blew, low, mid)
    return 0.5 * (low + high)
