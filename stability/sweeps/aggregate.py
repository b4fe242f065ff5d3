"""Aggregation: all trials' metrics in one tidy table, and their summary across seeds.

The table stacks each finished trial's ``metrics`` (the run's tidy long table), adding a ``trial``
column (its directory name) and one column per varied parameter that the run's table lacks
(list values as their name token, e.g. ``0,1``). :func:`summarize_over_seeds`, the one summary across
seeds of the toolkit (:mod:`stablesam.analysis.experiments.aggregate` uses it too), groups the rows by ``by`` (default: every
column but ``value``, ``trial`` and the replicate columns, :data:`REPLICATES`) and gives

    mean = (1/n) sum_i v_i,    sem = s / sqrt(n),    s^2 = (1/(n-1)) sum_i (v_i - mean)^2,

over the ``n`` *finite* values of each group. Non-finite values (NaN, or the inf of a diverged run) are
counted in ``n_nonfinite``, never averaged: a mean over a diverged seed would be inf or NaN and say nothing
about the others. ``std`` and ``sem`` are NaN below two finite values. With a ``generator`` it adds a
percentile bootstrap interval of the mean (Efron and Tibshirani 1993, ch. 13), ``ci_low, ci_high``.

>>> import pandas as pd
>>> table = pd.DataFrame({"trial": ["a", "b"], "seed": [0, 1], "lr": [0.1, 0.1], "metric": ["gap", "gap"],
...                       "value": [1.0, 3.0]})
>>> summarize_over_seeds(table)[["lr", "metric", "mean", "sem", "n", "n_nonfinite"]].to_dict("records")
[{'lr': 0.1, 'metric': 'gap', 'mean': 2.0, 'sem': 1.0, 'n': 2, 'n_nonfinite': 0}]
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from stablesam.stability.sweeps.naming import format_value
from stablesam.stability.sweeps.spec import Trial
from stablesam.stability.sweeps.trial import FINISHED, trial_state
from stablesam.core.io import atomic_path
from stablesam.core.validation import UsageError, check_in_range, check_integer

__all__ = ["REPLICATES", "aggregate_sweep", "collect_metrics", "read_table", "summarize_over_seeds"]

# Columns that tell replicates apart, which the summary averages over: the run table's ``seed`` and
# ``pair`` (a pair's position in a run of several seeds), and ``seeds``, a sweep axis of twin runs.
REPLICATES = ("seed", "seeds", "pair")


def has_pyarrow() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def read_table(directory: Path, stem: str = "metrics") -> pd.DataFrame:
    """Read ``directory/<stem>.parquet`` (when pyarrow is present) or ``directory/<stem>.csv``."""
    parquet, csv = directory / f"{stem}.parquet", directory / f"{stem}.csv"
    if parquet.is_file() and has_pyarrow():
        return pd.read_parquet(parquet)
    if csv.is_file():
        return pd.read_csv(csv)
    raise FileNotFoundError(f"no {stem}.parquet or {stem}.csv in {directory}")


def _param_column(values: list[object]) -> list[object]:
    tokens = [format_value(v) if isinstance(v, (list, tuple, dict)) else v for v in values]
    kinds = {type(v) for v in tokens if v is not None}
    numeric = kinds <= {int, float} and bool not in kinds
    return tokens if len(kinds) <= 1 or numeric else [None if v is None else format_value(v) for v in tokens]


def collect_metrics(trials_dir: Path, trials: Sequence[Trial]) -> pd.DataFrame:
    """Stack the metrics of the finished ``trials`` (directories under ``trials_dir``)."""
    frames = []
    finished = [t for t in trials if trial_state(trials_dir / t.name) == FINISHED]
    param_keys = list(dict.fromkeys(key for t in finished for key in t.params))
    columns = {key: _param_column([t.params.get(key) for t in finished]) for key in param_keys}
    for index, trial in enumerate(finished):
        frame = read_table(trials_dir / trial.name)
        frame.insert(0, "trial", trial.name)
        for key in param_keys:
            if key not in frame.columns:
                frame[key] = columns[key][index]
        frames.append(frame)
    if not frames:
        return pd.DataFrame({"trial": [], "metric": [], "value": []})
    return pd.concat(frames, ignore_index=True)


def summarize_over_seeds(
    table: pd.DataFrame,
    over: Sequence[str] = REPLICATES,
    value: str = "value",
    *,
    by: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    generator: np.random.Generator | None = None,
) -> pd.DataFrame:
    """Mean, spread and counts of ``value`` in each group of ``by`` (default: all columns but ``value``,
    ``trial`` and ``over``), as in the module docstring. Columns ``*by, mean, sem, n, n_nonfinite, std``, and
    ``ci_low, ci_high`` (the ``confidence`` interval over ``n_bootstrap`` resamples) when ``generator`` is given.
    """
    if by is None:
        dropped = {value, "trial", *over}
        keys = [c for c in table.columns if c not in dropped]
    else:
        keys = list(by)
        missing = [c for c in [*keys, value] if c not in table.columns]
        if missing:
            raise UsageError(f"table lacks the column(s) {', '.join(missing)}; it has {', '.join(map(str, table.columns))}")
    if generator is not None:
        if not isinstance(generator, np.random.Generator):
            raise UsageError(f"generator must be a numpy.random.Generator, got {type(generator).__name__}")
        confidence = check_in_range("confidence", confidence, 0.0, 1.0, low_open=True, high_open=True)
        n_bootstrap = check_integer("n_bootstrap", n_bootstrap, minimum=1)
    alpha = (1 - confidence) / 2
    columns = [*keys, "mean", "sem", "n", "n_nonfinite", "std", *(("ci_low", "ci_high") if generator else ())]
    rows = []
    for key, group in table.groupby(keys, dropna=False, sort=False):
        values = group[value].to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        n = len(finite)
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row.update(n=n, n_nonfinite=len(values) - n, mean=finite.mean() if n else np.nan, std=np.nan, sem=np.nan,
                   ci_low=np.nan, ci_high=np.nan)
        if n >= 2:
            row.update(std=finite.std(ddof=1), sem=finite.std(ddof=1) / np.sqrt(n))
            if generator is not None:
                means = finite[generator.integers(0, n, size=(n_bootstrap, n))].mean(axis=1)
                row["ci_low"], row["ci_high"] = np.quantile(means, [alpha, 1 - alpha])
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def aggregate_sweep(out_dir: Path, trials: Sequence[Trial], over: Sequence[str] = REPLICATES) -> tuple[Path, Path]:
    """Write ``out_dir/metrics.parquet`` (``.csv`` without pyarrow) and ``out_dir/summary.csv``."""
    table = collect_metrics(out_dir / "trials", trials)
    if has_pyarrow():
        metrics = out_dir / "metrics.parquet"
        with atomic_path(metrics) as tmp:
            table.to_parquet(tmp, index=False)
        (out_dir / "metrics.csv").unlink(missing_ok=True)
    else:
        metrics = out_dir / "metrics.csv"
        with atomic_path(metrics) as tmp:
            table.to_csv(tmp, index=False)
    summary = out_dir / "summary.csv"
    with atomic_path(summary) as tmp:
        summarize_over_seeds(table, over).to_csv(tmp, index=False)
    return metrics, summary
