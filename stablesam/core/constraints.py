"""Declarative parameter constraints, as scikit-learn's ``_parameter_constraints``: a table, not ``if`` chains.

A class (or a function) states what each parameter may be as a list of constraints; the value must satisfy one
of them. :func:`validate_parameters` checks a mapping of values against the table and raises one
:class:`~stablesam.core.validation.UsageError` naming the parameter, the bad value and everything allowed.
Each constraint can also produce a value it refuses (:meth:`Constraint.invalid_example`), so one generic test
feeds every constrained parameter of the toolkit a bad value.

>>> constraints = {"lr": [Interval(float, 0, None, closed="neither")], "method": [Options({"sam", "sgd"})]}
>>> validate_parameters(constraints, {"lr": 0.1, "method": "sam"}, owner="SAM")
>>> validate_parameters(constraints, {"lr": -1.0, "method": "sam"}, owner="SAM")
Traceback (most recent call last):
  ...
stablesam.core.validation.UsageError: SAM: lr must be a real number in (0, inf); got -1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

from stablesam.core.validation import UsageError

__all__ = ["Boolean", "Constraint", "Interval", "NoneValue", "Options", "Satisfies", "validate_parameters"]


class Constraint:
    """One allowed form of a parameter: :meth:`accepts` a value, :meth:`describe` says which in words."""

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def invalid_example(self) -> Any:
        """A value this constraint refuses (for the generic bad-input tests)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Interval(Constraint):
    """A real (``float``) or integer (``int``) number in ``[low, high]``; ``None`` leaves a side open to infinity.

    ``closed`` says which finite ends belong to the interval. NaN and infinities never do; a bool is not a number.
    """

    kind: type
    low: float | None
    high: float | None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, Integral if self.kind is int else Real):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or value == self.low and self.closed in ("right", "neither")):
            return False
        return not (self.high is not None
                    and (value > self.high or value == self.high and self.closed in ("left", "neither")))

    def describe(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        noun = "an integer" if self.kind is int else "a real number"
        return f"{noun} in {left}{low}, {high}{right}"

    def invalid_example(self) -> Any:
        if self.low is not None:
            return self.kind(self.low - 1)
        if self.high is not None:
            return self.kind(self.high + 1)
        return "not-a-number"


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values (strings, usually: the method keys, the datasets)."""

    values: Collection[Any]

    def accepts(self, value: Any) -> bool:
        try:
            return value in self.values
        except TypeError:  # an unhashable value is not one of them
            return False

    def describe(self) -> str:
        return "one of " + ", ".join(map(repr, sorted(self.values, key=str)))

    def invalid_example(self) -> Any:
        return "not-an-option"


@dataclass(frozen=True)
class Boolean(Constraint):
    """``True`` or ``False`` (not 0/1)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "a boolean"

    def invalid_example(self) -> Any:
        return "yes"


@dataclass(frozen=True)
class NoneValue(Constraint):
    """``None`` (the parameter is optional)."""

    def accepts(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"

    def invalid_example(self) -> Any:
        return "not-none"


@dataclass(frozen=True)
class Satisfies(Constraint):
    """Any value for which ``predicate`` is true, described by ``description`` (tuples of seeds, paths...)."""

    predicate: Callable[[Any], bool]
    description: str
    example: Any

    def accepts(self, value: Any) -> bool:
        try:
            return bool(self.predicate(value))
        except (TypeError, ValueError):
            return False

    def describe(self) -> str:
        return self.description

    def invalid_example(self) -> Any:
        return self.example


def validate_parameters(constraints: Mapping[str, list[Constraint]], values: Mapping[str, Any], *,
                        owner: str) -> None:
    """Raise a one-line :class:`UsageError` for the first value of ``values`` that meets none of its constraints.

    Parameters missing from ``constraints`` are not checked (they are validated where they are interpreted);
    ``owner`` names the class or command in the message.
    """
    for name, allowed in constraints.items():
        if name not in values:
            continue
        value = values[name]
        if not any(constraint.accepts(value) for constraint in allowed):
            described = " or ".join(constraint.describe() for constraint in allowed)
            raise UsageError(f"{owner}: {name} must be {described}; got {value!r}")
