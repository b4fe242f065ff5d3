"""Sweep files: base run settings, the axes to vary, and their expansion into trials.

A sweep file is TOML with three tables::

    [base]                      # settings shared by every trial (keys of the trial's config)
    dataset = "digits"
    epochs = 5

    [axes]                      # each key takes every value of its list: the cartesian product
    optimizer = ["sam", "stablesam-n"]
    lr = [0.05, 0.5]
    seed = [0, 1, 2]

    [[include]]                 # optional extra grids: fixed values, crossed with the axes they omit
    optimizer = "sgd"           # e.g. SGD once per (lr, seed), not once per rho

The trials are ``product(axes)`` in the file's order, followed by each ``[[include]]`` entry crossed
with the axes it does not name; a trial's config is ``base`` updated by its parameters, and its
directory name comes from those parameters (:func:`stablesam.stability.sweeps.trial_name`). Trials with the
same config are run once.

Validation happens here, before anything is written: a sweep without axes (an empty file, or
``[base]`` alone, would run one trial of defaults), unknown tables, empty or non-list axes, keys
set both in ``[base]`` and ``[axes]``, duplicate axis values and duplicate trial names raise
``ValueError``; every expanded trial's config is then checked by the trial runner (for twin runs,
by ``stablesam.stability.twin.TwinConfig``, which rejects unknown keys and invalid values).
"""

from __future__ import annotations

import itertools
import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stablesam.core.validation import UsageError
from stablesam.stability.sweeps.naming import trial_name

__all__ = ["SweepSpec", "Trial", "expand", "load_sweep"]

_TABLES = ("base", "axes", "include")


@dataclass(frozen=True)
class Trial:
    """One point of a sweep: its directory ``name``, the varied ``params`` and the full ``config``."""

    name: str
    params: dict[str, Any]
    config: dict[str, Any]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file. Build it with :meth:`from_dict` or :func:`load_sweep`, which validate it."""

    base: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, list[Any]] = field(default_factory=dict)
    include: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        """Validate the structure of a sweep (tables, axes) and return it."""
        if not isinstance(data, Mapping):
            raise UsageError(f"a sweep must be a table, got {type(data).__name__}")
        unknown = [key for key in data if key not in _TABLES]
        if unknown:
            raise UsageError(f"unknown sweep table {unknown[0]!r}; allowed: {', '.join(map(repr, _TABLES))}")
        base = _table(data.get("base", {}), "base")
        axes = _table(data.get("axes", {}), "axes")
        include = data.get("include", [])
        if not isinstance(include, list) or not all(isinstance(entry, Mapping) for entry in include):
            raise UsageError("include must be an array of tables ([[include]] entries)")
        for key, values in axes.items():
            if not isinstance(values, list):
                raise UsageError(f"axes.{key} must be a list of values, got {values!r}")
            if not values:
                raise UsageError(f"axes.{key} is empty; give it at least one value")
            seen: list[str] = []
            for value in values:
                token = json.dumps(value, sort_keys=True)
                if token in seen:
                    raise UsageError(f"axes.{key} lists {value!r} twice")
                seen.append(token)
            if key in base:
                raise UsageError(f"{key!r} is set in both [base] and [axes]; set it in one place")
        if not axes and not include:
            raise UsageError("a sweep needs an [axes] table with at least one axis (or [[include]] entries): "
                             "without one it would run a single trial of defaults")
        for number, entry in enumerate(include):
            if not entry:
                raise UsageError(f"include entry {number} is empty; give it at least one key")
        return cls(base=dict(base), axes={k: list(v) for k, v in axes.items()}, include=[dict(e) for e in include])

    def to_dict(self) -> dict[str, Any]:
        """The sweep as plain data (the inverse of :meth:`from_dict`)."""
        return {"base": self.base, "axes": self.axes, "include": self.include}


def _table(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UsageError(f"[{name}] must be a table, got {value!r}")
    return value


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate the sweep file ``path`` (TOML)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"sweep file {str(path)!r} does not exist")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"sweep file {str(path)!r} is not valid TOML: {error}") from None
    return SweepSpec.from_dict(data)


def expand(spec: SweepSpec, validate: Callable[[dict[str, Any]], object] | None = None) -> list[Trial]:
    """Expand ``spec`` into its trials, in order; check each config with ``validate`` if given.

    ``validate(config)`` raises ``ValueError``/``TypeError`` for a bad config; the message is
    prefixed with the trial's name so the user knows which point of the grid is wrong.
    """
    grids = [dict(spec.axes)]
    for entry in spec.include:
        fixed = {key: [value] for key, value in entry.items()}
        grids.append({**{k: v for k, v in spec.axes.items() if k not in entry}, **fixed})
    order = list(spec.axes) + [key for entry in spec.include for key in entry if key not in spec.axes]
    trials: list[Trial] = []
    by_name: dict[str, Trial] = {}
    configs: set[str] = set()
    for grid in grids:
        keys = sorted(grid, key=order.index)
        for values in itertools.product(*(grid[key] for key in keys)):
            params = dict(zip(keys, values))
            config = {**spec.base, **params}
            token = json.dumps(config, sort_keys=True)
            if token in configs:
                continue  # an [[include]] point that the grid already has
            name = trial_name(params)
            if name in by_name:
                raise UsageError(f"two different trials are both named {name!r}; make their values distinct")
            configs.add(token)
            trial = Trial(name=name, params=params, config=config)
            by_name[name] = trial
            trials.append(trial)
    if validate is not None:
        for trial in trials:
            try:
                validate(trial.config)
            except (ValueError, TypeError) as error:
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise type(error)(f"trial {trial.name}: {message}") from None
    return trials
