"""Tolerances from an error estimate, for tests that compare two float64 computations of an iteration.

Two evaluations of ``T`` steps of ``w -> step(w)`` that round differently (another BLAS kernel, another
summation order, torch against numpy) drift apart by at most ``sum_t S_t e_t``: ``e_t`` is the rounding of
step ``t`` (``ops`` roundings of relative size eps on numbers of the size of the iterate) and ``S_t`` the
sensitivity of the remaining ``T - t`` steps to a perturbation of ``w_t``. ``S_t`` is measured by finite
differences along three random directions, with a factor 4 of slack for directions not sampled: a fixed
tolerance would be loose for contracting maps and wrong where SAM's normalized ascent, ``g / ||g||``,
amplifies errors near ``g = 0``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EPS = np.finfo(np.float64).eps


def propagated_rounding_bound(
    advance: Callable[[np.ndarray, int], np.ndarray], w0: np.ndarray, steps: int, *, ops: int, rng: np.random.Generator
) -> np.ndarray:
    """Bound on ``|w_T - w'_T|_inf`` between two roundings of ``advance(w0, steps)``, one per leading index.

    ``advance(w, k)`` runs ``k`` steps from ``w`` (shape ``(..., d)``, vectorised over the leading axes).
    Sizes are ``max(|w_t|, |w_T|)``: near a minimiser the rounding of ``g = H w - b`` scales with the
    minimiser, not with the iterate.
    """
    w0 = np.asarray(w0, dtype=np.float64)
    final = np.abs(advance(w0, steps)).max(axis=-1)
    bound = np.zeros(w0.shape[:-1])
    w_t = w0
    for t in range(steps):
        scale = np.maximum(np.abs(w_t).max(axis=-1), final)
        end = advance(w_t, steps - t)
        gain = np.zeros_like(bound)
        for _ in range(3):
            delta = 1e-9 * scale[..., None] * rng.standard_normal(w_t.shape)
            moved = advance(w_t + delta, steps - t)
            gain = np.maximum(gain, np.linalg.norm(moved - end, axis=-1) / np.linalg.norm(delta, axis=-1))
        bound += 4 * gain * ops * EPS * scale
        w_t = advance(w_t, 1)
    return bound


def whole_run_rounding_bound(
    run: Callable[[np.ndarray], np.ndarray], w0: np.ndarray, steps: int, *, ops: int, rng: np.random.Generator
) -> np.ndarray:
    """Bound on ``|w_T - w'_T|_inf`` for an iteration with state beside ``w`` (momentum, Adam's moments).

    ``run(starts)`` trains ``steps`` steps from each start (shape ``(..., d)``, fresh optimizer state) and returns the
    final weights. Every step's rounding (``ops`` roundings of relative size eps) is propagated with the sensitivity
    of the *whole* run to its start, measured along three random directions with a factor 4 of slack, which is an
    upper estimate where perturbations grow over the run (the state's own rounding enters the weights' next step).
    """
    w0 = np.asarray(w0, dtype=np.float64)
    final = run(w0)
    scale = np.maximum(np.abs(w0).max(axis=-1), np.abs(final).max(axis=-1))
    gain = np.zeros(w0.shape[:-1])
    for _ in range(3):
        delta = 1e-9 * scale[..., None] * rng.standard_normal(w0.shape)
        moved = run(w0 + delta)
        gain = np.maximum(gain, np.linalg.norm(moved - final, axis=-1) / np.linalg.norm(delta, axis=-1))
    return 4 * np.maximum(gain, 1.0) * steps * ops * EPS * scale
