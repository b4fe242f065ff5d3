"""Loading run directories into one tidy table and summarising across seeds."""

import json

import numpy as np
import pandas as pd
import pytest

from stablesam.analysis.experiments.aggregate import TIDY_COLUMNS, find_run_dirs, load_runs, load_summaries, summarize_over_seeds


def _write_run(path, seed, optimizer, values):
    path.mkdir(parents=True)
    rows = [
        {"run": path.name, "seed": seed, "optimizer": optimizer, "rho": 0.05, "lr": 0.1, "epoch": e, "step": 10 * e,
         "metric": "gap", "value": v}
        for e, v in enumerate(values)
    ]
    pd.DataFrame(rows).to_csv(path / "metrics.csv", index=False)
    (path / "config.json").write_text(json.dumps({"optimizer": {"name": optimizer}, "seed": seed}))
    (path / "summary.json").write_text(json.dumps({"diverged": False, "final": {"gap": values[-1]}}))


def test_load_runs_concatenates_and_adds_config_fields(tmp_path):
    _write_run(tmp_path / "a" / "s0", 0, "sam", [1.0, 2.0])
    _write_run(tmp_path / "b" / "s1", 1, "sgd", [3.0, float("nan")])
    assert [p.name for p in find_run_dirs(tmp_path)] == ["s0", "s1"]
    table = load_runs(tmp_path, config_fields=["optimizer.name", "absent"])
    assert len(table) == 4 and set(TIDY_COLUMNS) <= set(table.columns)
    assert table["optimizer.name"].tolist() == ["sam", "sam", "sgd", "sgd"] and table["absent"].isna().all()
    summaries = load_summaries(tmp_path)
    assert summaries["final.gap"].iloc[0] == 2.0 and summaries["config.seed"].tolist() == [0, 1]


def test_checkpoints_are_one_column_and_epochs_are_integers(tmp_path):
    """Issue 26: a column per checkpoint file name, and ``epoch`` read back from CSV as a float (``0.0``)."""
    _write_run(tmp_path / "s0", 0, "sgd", [1.0, 2.0])
    summary = {"status": "finished", "checkpoints": {"epoch_0001.pt": "ab", "epoch_0002.pt": "cd"},
               "config": {"optimizer": "sgd", "epochs": 2}, "pairs": [{"pair": 0, "distance": 0.1}]}
    (tmp_path / "s0" / "summary.json").write_text(json.dumps(summary))
    table = load_runs(tmp_path)
    pd.DataFrame(table.drop(columns="run_dir")).assign(epoch=table["epoch"].astype(float)).to_csv(
        tmp_path / "s0" / "metrics.csv", index=False)  # as the harness writes it: 0.0, 1.0
    assert load_runs(tmp_path)["epoch"].dtype == np.int64
    row = load_summaries(tmp_path)
    assert not [c for c in row.columns if c.startswith("checkpoints.")]
    assert json.loads(row["checkpoints"].iloc[0]) == summary["checkpoints"]
    assert row["config.epochs"].iloc[0] == 2 and json.loads(row["pairs"].iloc[0]) == summary["pairs"]


def test_fractional_epochs_stay_floats(tmp_path):
    path = tmp_path / "s0"
    _write_run(path, 0, "sgd", [1.0, 2.0])
    pd.read_csv(path / "metrics.csv").assign(epoch=[0.5, 1.0]).to_csv(path / "metrics.csv", index=False)
    assert load_runs(tmp_path)["epoch"].tolist() == [0.5, 1.0]


def test_summarise_mean_sem_and_bootstrap_interval():
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 2.0, size=40)
    table = pd.DataFrame({"optimizer": "sam", "metric": "gap", "seed": range(42), "value": [*values, np.nan, np.inf]})
    summary = summarize_over_seeds(table, by=["optimizer", "metric"], generator=np.random.default_rng(1)).iloc[0]
    assert summary["n"] == 40 and summary["n_nonfinite"] == 2
    assert summary["mean"] == pytest.approx(values.mean(), rel=1e-14)
    assert summary["sem"] == pytest.approx(values.std(ddof=1) / np.sqrt(40), rel=1e-14)
    # For 40 normal draws the percentile interval is close to mean +- 1.96 SE.
    assert summary["ci_low"] < summary["mean"] < summary["ci_high"]
    assert (summary["ci_high"] - summary["ci_low"]) / (2 * 1.96 * summary["sem"]) == pytest.approx(1.0, abs=0.12)
    again = summarize_over_seeds(table, by=["optimizer", "metric"], generator=np.random.default_rng(1)).iloc[0]
    assert again["ci_low"] == summary["ci_low"]


def test_single_value_groups_have_no_spread():
    table = pd.DataFrame({"optimizer": ["sgd", "sam", "sam"], "metric": "gap", "value": [1.0, 2.0, 4.0]})
    summary = summarize_over_seeds(table, by=["optimizer"], generator=np.random.default_rng(0)).set_index("optimizer")
    assert np.isnan(summary.loc["sgd", "sem"]) and summary.loc["sam", "mean"] == 3.0


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_runs(tmp_path / "missing")
    with pytest.raises(ValueError, match="no run directory"):
        load_runs(tmp_path)
    (tmp_path / "bad").mkdir()
    pd.DataFrame({"metric": ["gap"], "value": [1.0]}).to_csv(tmp_path / "bad" / "metrics.csv", index=False)
    with pytest.raises(ValueError, match="lacks the tidy column"):
        load_runs(tmp_path)
    table = pd.DataFrame({"metric": ["gap"], "value": [1.0]})
    with pytest.raises(ValueError, match="lacks the column"):
        summarize_over_seeds(table, by=["optimizer"], generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="confidence"):
        summarize_over_seeds(table, by=["metric"], confidence=1.0, generator=np.random.default_rng(0))
    with pytest.raises(TypeError, match="generator"):
        summarize_over_seeds(table, by=["metric"], generator=0)
