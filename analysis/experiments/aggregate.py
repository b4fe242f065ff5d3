"""Many run directories into one tidy table, and summaries across seeds.

A run directory (written by the twin harness, ``stablesam.stability.twin.run_twin``) holds ``metrics.csv``, a tidy long
table with at least the columns ``run, seed, optimizer, rho, lr, epoch, step, metric, value``, and
``config.json``. :func:`load_runs` concatenates the tables of many runs, adding ``run_dir`` and any
requested ``config.json`` fields as columns (``epoch`` is an integer column when every epoch is whole). The summary over seeds is the toolkit's one,
:func:`stablesam.stability.sweeps.aggregate.summarize_over_seeds` (re-exported here): for each group, the number of
finite values ``n`` (and of non-finite ones, a diverged run's record), their mean, sample standard deviation,
standard error ``std / sqrt(n)`` and a percentile bootstrap interval of the mean from an explicit generator.

Example::

    >>> import pandas as pd, numpy as np
    >>> table = pd.DataFrame({"optimizer": ["sgd"] * 3, "metric": ["gap"] * 3, "seed": [0, 1, 2], "value": [1.0, 2.0, 3.0]})
    >>> summary = summarize_over_seeds(table, by=["optimizer", "metric"], generator=np.random.default_rng(0))
    >>> summary[["n", "mean", "sem"]].round(4).values.tolist()
    [[3.0, 2.0, 0.5774]]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from stablesam.core.validation import UsageError
from stablesam.stability.sweeps.aggregate import summarize_over_seeds

__all__ = ["TIDY_COLUMNS", "find_run_dirs", "load_runs", "load_summaries", "summarize_over_seeds"]

TIDY_COLUMNS = ("run", "seed", "optimizer", "rho", "lr", "epoch", "step", "metric", "value")


def find_run_dirs(root: str | os.PathLike[str]) -> list[Path]:
    """Every directory under ``root`` (``root`` included) that holds a ``metrics.csv``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"run directory root {str(root)!r} does not exist or is not a directory")
    return sorted(p.parent for p in root.rglob("metrics.csv"))


def _as_dirs(runs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(runs, (str, os.PathLike)):
        dirs = find_run_dirs(runs)
    else:
        dirs = [Path(r) for r in runs]
    if not dirs:
        raise UsageError(f"no run directory (a folder with metrics.csv) found in {runs!r}")
    return dirs


def _flatten(mapping: dict, prefix: str = "") -> dict:
    """Nested fields as dotted columns. A mapping whose keys are data rather than field names (``checkpoints``:
    file name -> sha256) stays one JSON column, as a list does: a column per file name is no tidy column."""
    out = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and all(isinstance(k, str) and k.isidentifier() for k in value):
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, (dict, list)):
            out[name] = json.dumps(value, sort_keys=isinstance(value, dict))
        else:
            out[name] = value
    return out


def _integral_epochs(frame):
    """``epoch`` as integers when every logged epoch is whole (CSV reads ``0.0``); per-step logging records
    fractional epochs, which stay floats."""
    epochs = frame["epoch"]
    finite = epochs.dropna()
    if len(finite) and (finite == finite.round()).all():
        frame["epoch"] = epochs.astype("int64" if len(finite) == len(epochs) else "Int64")
    return frame


def _config(path: Path) -> dict:
    file = path / "config.json"
    return _flatten(json.loads(file.read_text())) if file.is_file() else {}


def load_runs(
    runs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, config_fields: Sequence[str] = ()
):
    """One tidy DataFrame from the ``metrics.csv`` of each run (``runs``: a root folder searched recursively,
    or a list of run directories). Adds ``run_dir``; ``config_fields`` (dotted names for nested keys of
    ``config.json``) become columns, ``NaN`` where a run's config lacks them."""
    import pandas as pd

    frames = []
    for path in _as_dirs(runs):
        file = path / "metrics.csv"
        if not file.is_file():
            raise UsageError(f"{str(path)!r} is not a run directory: it has no metrics.csv")
        frame = pd.read_csv(file)
        missing = [c for c in TIDY_COLUMNS if c not in frame.columns]
        if missing:
            raise UsageError(f"{str(file)!r} lacks the tidy column(s) {', '.join(missing)}")
        frame.insert(0, "run_dir", str(path))
        if config_fields:
            config = _config(path)
            for name in config_fields:
                frame[name] = config.get(name, np.nan)
        frames.append(frame)
    return _integral_epochs(pd.concat(frames, ignore_index=True))


def load_summaries(runs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]):
    """One row per run: ``run_dir`` and the flattened ``summary.json`` (and ``config.json`` fields, prefixed
    ``config.``). Nested fields become dotted columns; lists and mappings keyed by data (the ``checkpoints``
    file name -> sha256) stay one JSON column each."""
    import pandas as pd

    rows = []
    for path in _as_dirs(runs):
        file = path / "summary.json"
        if not file.is_file():
            raise UsageError(f"{str(path)!r} has no summary.json")
        config = {f"config.{k}": v for k, v in _config(path).items()}
        rows.append({"run_dir": str(path), **_flatten(json.loads(file.read_text())), **config})
    return pd.DataFrame(rows)

