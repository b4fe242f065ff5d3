"""Trial directory names built from a trial's parameters.

A trial varying ``optimizer``, ``lr``, ``rho`` and ``seed`` lives in
``optimizer=sam__lr=0.1__rho=0.05__seed=0``: ``key=value`` tokens in the sweep file's axis order,
joined by ``__``. Names are stable (the same parameters always give the same name, so a rerun finds
its finished trials), filesystem-safe (only ``A-Z a-z 0-9 . , _ + - = ~``) and human-readable.
A value that needs other characters is sanitised and tagged with a short digest of its exact
value, so different values never share a name; :func:`stablesam.stability.sweeps.expand` still checks that
the names of a sweep are unique.

>>> trial_name({"optimizer": "sam", "lr": 0.1, "rho": 0.05, "seed": 0})
'optimizer=sam__lr=0.1__rho=0.05__seed=0'
>>> format_value([0, 1]), format_value(1e-05), format_value(True)
('0,1', '1e-05', 'true')
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

__all__ = ["format_value", "trial_name"]

_SAFE = re.compile(r"[A-Za-z0-9._+\-]+")
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._+\-]")
# Leaves room below the usual 255-byte limit of a path component.
_MAX_NAME = 200


def _digest(value: object, length: int = 8) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def format_value(value: object) -> str:
    """The token that stands for ``value`` in a trial name (see the module docstring)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form: 0.1, 1e-05
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, str) and _SAFE.fullmatch(value):
        return value
    sanitised = _UNSAFE_CHAR.sub("-", str(value))[:40].strip("-") if isinstance(value, str) else "value"
    return f"{sanitised}~{_digest(value)}"


def trial_name(params: Mapping[str, object]) -> str:
    """The directory name of the trial with parameters ``params`` (in their order)."""
    if not params:
        return "base"
    name = "__".join(f"{format_value(key)}={format_value(value)}" for key, value in params.items())
    if len(name) > _MAX_NAME:
        name = f"{name[: _MAX_NAME - 17]}~{_digest(dict(params), 16)}"
    return name
