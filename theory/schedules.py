"""Learning-rate schedules as float64 arrays ``eta_1, ..., eta_T`` (1-based steps, as in Hardt et al. 2016).

Step ``t`` (``t = 1, ..., T``) uses ``eta_t``; index ``t - 1`` of the returned array holds it. The
non-convex stability theorem needs ``eta_t <= c / t`` with this indexing, so :func:`inverse_time` is
``eta_t = c / t`` exactly.

- constant:    ``eta_t = eta``
- inverse_time: ``eta_t = c / t``
- step_decay:  ``eta_t = eta * factor ** floor((t - 1) / every)``
- cosine:      ``eta_t = eta_min + (eta - eta_min) (1 + cos(pi (t - 1) / T)) / 2``
- as_schedule: a scalar, an array of length ``T`` or a callable ``t -> eta_t`` (called once on ``t = 1..T``).

A schedule is an array of ``T`` float64 values, so ``T`` is limited to ``MAX_STEPS`` (10^8 steps, 800 MB
per array): a larger ``T`` is refused in one line rather than failing deep inside numpy's allocator.

Example
-------
>>> from stablesam.theory.schedules import cosine, inverse_time
>>> inverse_time(0.5, 4).tolist()
[0.5, 0.25, 0.16666666666666666, 0.125]
>>> float(cosine(0.1, 100)[0])
0.1
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stablesam.core.validation import UsageError, check_in_range, check_integer, check_nonnegative, check_positive

__all__ = ["MAX_STEPS", "SCHEDULES", "as_schedule", "constant", "cosine", "inverse_time", "make_schedule",
           "step_decay"]

MAX_STEPS = 10**8


def check_steps(T: object) -> int:
    """``T`` as an int in ``0..MAX_STEPS``; a larger ``T`` names the memory its per-step arrays would need."""
    T = check_integer("T", T, minimum=0)
    if T > MAX_STEPS:
        raise UsageError(f"T = {T} steps is too many: each per-step array would need {8 * T / 2**30:.3g} GiB; "
                         f"allowed up to T = {MAX_STEPS:.0e}")
    return T


def _steps(T: int) -> np.ndarray:
    return np.arange(1, check_steps(T) + 1, dtype=np.float64)


def constant(lr: float, T: int) -> np.ndarray:
    """``eta_t = lr`` for ``t = 1..T``."""
    return np.full(check_steps(T), check_positive("lr", lr), dtype=np.float64)


def inverse_time(c: float, T: int) -> np.ndarray:
    """``eta_t = c / t`` for ``t = 1..T`` (the schedule of Hardt et al. 2016, Theorem 3.12)."""
    return check_positive("c", c) / _steps(T)


def step_decay(lr: float, T: int, *, factor: float = 0.1, every: int = 1) -> np.ndarray:
    """``eta_t = lr * factor ** floor((t - 1) / every)``; ``0 < factor <= 1``."""
    check_positive("lr", lr)
    factor = check_in_range("factor", factor, 0.0, 1.0, low_open=True)
    every = check_integer("every", every, minimum=1)
    return lr * factor ** np.floor((_steps(T) - 1) / every)


def cosine(lr: float, T: int, *, lr_min: float = 0.0) -> np.ndarray:
    """``eta_t = lr_min + (lr - lr_min) (1 + cos(pi (t - 1) / T)) / 2``: starts at ``lr``, never reaches ``lr_min``."""
    check_positive("lr", lr)
    lr_min = check_nonnegative("lr_min", lr_min)
    if lr_min > lr:
        raise UsageError(f"lr_min must be <= lr = {lr}, got {lr_min!r}")
    t = _steps(T)
    return lr_min + (lr - lr_min) * 0.5 * (1.0 + np.cos(np.pi * (t - 1) / max(T, 1)))


def as_schedule(lr: float | np.ndarray | Callable[[np.ndarray], np.ndarray], T: int) -> np.ndarray:
    """Return ``eta_1..eta_T`` from a scalar, an array of length ``T`` or a callable of ``t = 1..T``."""
    T = check_steps(T)
    if callable(lr):
        values = np.broadcast_to(np.asarray(lr(_steps(T)), dtype=np.float64), (T,)).copy()
    elif np.ndim(lr) == 0:
        return constant(float(lr), T)
    else:
        values = np.asarray(lr, dtype=np.float64)
        if values.shape != (T,):
            raise UsageError(f"a learning-rate array must have shape (T,) = ({T},), got {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise UsageError("every learning rate eta_t must be finite and > 0")
    return values


SCHEDULES = ("constant", "inverse-time", "step", "cosine")


def make_schedule(name: str, lr: float, T: int, *, factor: float = 0.1, every: int | None = None) -> np.ndarray:
    """Schedule by name (``constant``, ``inverse-time`` with ``c = lr``, ``step``, ``cosine``), as the CLI uses it."""
    if name == "constant":
        return constant(lr, T)
    if name == "inverse-time":
        return inverse_time(lr, T)
    if name == "step":
        return step_decay(lr, T, factor=factor, every=every if every is not None else max(1, T // 3))
    if name == "cosine":
        return cosine(lr, T)
    raise UsageError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))}; got {name!r}")
