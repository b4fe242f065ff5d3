"""Validation at the boundary: one clear message naming the bad value and what is allowed.

Every public entry point validates its arguments with these helpers, which raise
:class:`UsageError` (a subclass of both ``ValueError`` and ``TypeError``, as scikit-learn's
``InvalidParameterError``). The command line turns a ``UsageError``, and nothing else, into one line on
stderr and exit status 2: a ``ValueError`` raised by a bug keeps its traceback.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Real

__all__ = [
    "UsageError",
    "check_array",
    "check_choice",
    "check_finite",
    "check_in_range",
    "check_integer",
    "check_nonnegative",
    "check_positive",
    "check_probability",
]


class UsageError(ValueError, TypeError):
    """Bad input from the user: the message names the bad value and what is allowed."""


def _as_real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise UsageError(f"{name} must be a real number, got {value!r}")
    return float(value)


def check_finite(name: str, value: object) -> float:
    """Return ``value`` as a float; raise unless it is a finite real number."""
    x = _as_real(name, value)
    if not math.isfinite(x):
        raise UsageError(f"{name} must be finite, got {value!r}")
    return x


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float; raise unless it is finite and > 0."""
    x = check_finite(name, value)
    if x <= 0:
        raise UsageError(f"{name} must be > 0, got {value!r}")
    return x


def check_nonnegative(name: str, value: object) -> float:
    """Return ``value`` as a float; raise unless it is finite and >= 0."""
    x = check_finite(name, value)
    if x < 0:
        raise UsageError(f"{name} must be >= 0, got {value!r}")
    return x


def check_probability(name: str, value: object) -> float:
    """Return ``value`` as a float; raise unless 0 <= value <= 1."""
    x = check_finite(name, value)
    if not 0.0 <= x <= 1.0:
        raise UsageError(f"{name} must lie in [0, 1], got {value!r}")
    return x


def check_in_range(
    name: str, value: object, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """Return ``value`` as a float; raise unless it lies in the given interval."""
    x = check_finite(name, value)
    below = x <= low if low_open else x < low
    above = x >= high if high_open else x > high
    if below or above:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise UsageError(f"{name} must lie in {interval}, got {value!r}")
    return x


def check_integer(name: str, value: object, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int; raise unless it is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise UsageError(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and value < minimum:
        raise UsageError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value: object, allowed: Iterable[str]) -> str:
    """Return ``value``; raise unless it is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise UsageError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value  # type: ignore[return-value]


def check_array(name: str, value: object, *, positive: bool):
    """Return ``value`` as a float64 numpy array; raise unless every entry is finite and > 0 (``positive``) or
    >= 0. A scalar gives a 0-d array."""
    import numpy as np

    if isinstance(value, bool):
        raise UsageError(f"{name} must be a real number or array of them, got {value!r}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a real number or array of them, got {value!r}") from None
    bad = (array <= 0) if positive else (array < 0)
    if not np.all(np.isfinite(array)) or np.any(bad):
        raise UsageError(f"{name} must be finite and {'> 0' if positive else '>= 0'}, got {value!r}")
    return array
