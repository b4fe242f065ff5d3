"""Declarative parameter constraints: each accepts what it says, refuses its own invalid example, and the error is
one line naming the parameter, the value and what is allowed."""

import math

import pytest

from stablesam.core.constraints import Boolean, Interval, NoneValue, Options, Satisfies, validate_parameters
from stablesam.core.validation import UsageError

CASES = [
    (Interval(float, 0, None, closed="neither"), [1e-300, 0.5, 7], [0, -1, math.nan, math.inf, True, "1"]),
    (Interval(float, 0, 1, closed="both"), [0, 1, 0.5], [-1e-12, 1 + 1e-12, math.nan]),
    (Interval(float, 0, 1, closed="left"), [0, 0.999], [1, -0.1]),
    (Interval(int, 1, None), [1, 10**9], [0, 1.5, True, "2"]),
    (Interval(float, None, 3, closed="right"), [-1e9, 3], [3.1, -math.inf]),
    (Options({"sam", "sgd"}), ["sam", "sgd"], ["SAM", None, ["sam"]]),
    (Boolean(), [True, False], [1, 0, "true"]),
    (NoneValue(), [None], [0, ""]),
    (Satisfies(lambda v: isinstance(v, tuple) and len(v) > 0, "a non-empty tuple", ()), [(0,), (1, 2)], [(), [0]]),
]


@pytest.mark.parametrize("constraint, good, bad", CASES, ids=lambda c: type(c).__name__ if not isinstance(c, list) else "")
def test_constraint_accepts_and_refuses(constraint, good, bad):
    assert all(constraint.accepts(v) for v in good)
    assert not any(constraint.accepts(v) for v in bad)
    assert not constraint.accepts(constraint.invalid_example())


def test_validate_parameters_names_value_and_what_is_allowed():
    table = {"rho": [Interval(float, 0, None)], "foreach": [Boolean(), NoneValue()]}
    validate_parameters(table, {"rho": 0.0, "foreach": None, "unchecked": object()}, owner="SAM")
    with pytest.raises(UsageError) as error:
        validate_parameters(table, {"rho": 0.05, "foreach": "yes"}, owner="SAM")
    assert str(error.value) == "SAM: foreach must be a boolean or None; got 'yes'"
    assert "\n" not in str(error.value)
