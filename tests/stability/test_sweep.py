"""Sweeps: expansion, naming, validation, the local executor's failure and resume behaviour, aggregation."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from _sweep_runners import ToyTrial, calls

from stablesam.stability.sweeps import SweepSpec, expand, format_value, plan_sweep, run_sweep, summarize_over_seeds, trial_name
from stablesam.stability.sweeps import aggregate as aggregate_module

GRID = {"base": {"epochs": 2}, "axes": {"optimizer": ["sam", "sgd"], "lr": [0.1, 0.5], "seed": [0, 1]}}


def test_trial_names_are_readable_stable_and_safe():
    name = trial_name({"optimizer": "sam", "lr": 0.1, "rho": 0.05, "seed": 0})
    assert name == "optimizer=sam__lr=0.1__rho=0.05__seed=0"
    assert [format_value(v) for v in (1e-05, True, [0, 1], "stablesam-n")] == ["1e-05", "true", "0,1", "stablesam-n"]
    # characters a file system or shell dislikes are replaced; a digest of the exact value keeps names apart
    a, b = format_value("data/x y"), format_value("data:x?y")
    assert a != b and all(c.isalnum() or c in "._+-~" for c in a + b)
    assert format_value("data/x y") == a  # stable across calls
    long = trial_name({f"key{i}": "v" * 30 for i in range(10)})
    assert len(long) <= 200 and long != trial_name({f"key{i}": "w" * 30 for i in range(10)})


def test_expansion_is_the_cartesian_product_in_file_order():
    trials = expand(SweepSpec.from_dict(GRID))
    assert len(trials) == 8
    assert trials[0].name == "optimizer=sam__lr=0.1__seed=0" and trials[-1].name == "optimizer=sgd__lr=0.5__seed=1"
    assert trials[1].config == {"epochs": 2, "optimizer": "sam", "lr": 0.1, "seed": 1}
    assert len({t.name for t in trials}) == 8


def test_include_entries_are_crossed_with_the_axes_they_omit_and_deduplicated():
    spec = SweepSpec.from_dict(
        {
            "base": {"epochs": 1},
            "axes": {"optimizer": ["sam"], "rho": [0.05, 0.1], "seed": [0, 1]},
            "include": [{"optimizer": "sgd", "rho": 0.0}, {"optimizer": "sam", "rho": 0.05, "seed": 0}],
        }
    )
    names = [t.name for t in expand(spec)]
    assert names[4:] == ["optimizer=sgd__rho=0.0__seed=0", "optimizer=sgd__rho=0.0__seed=1"]
    assert len(names) == 6  # the second include point is already in the grid


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"base": {}, "axis": {"lr": [0.1]}}, "unknown sweep table 'axis'"),
        ({"axes": {"lr": []}}, "axes.lr is empty"),
        ({"axes": {"lr": 0.1}}, "axes.lr must be a list"),
        ({"axes": {"lr": [0.1, 0.1]}}, "axes.lr lists 0.1 twice"),
        ({"base": {"lr": 0.1}, "axes": {"lr": [0.2]}}, "'lr' is set in both [base] and [axes]"),
        ({"axes": {"optimizer": ["0.1"], "lr": [0.1]}, "include": [{"optimizer": 0.1}]}, "both named"),
        ({"include": [{}]}, "include entry 0 is empty"),
    ],
)
def test_bad_sweeps_name_the_culprit(data, message):
    with pytest.raises((ValueError, TypeError)) as error:
        expand(SweepSpec.from_dict(data))
    assert message in str(error.value)


def test_every_trial_is_validated_and_the_bad_one_named(tmp_path):
    spec = SweepSpec.from_dict({"axes": {"optimizer": ["sam", "adam"], "lr": [0.1]}})
    with pytest.raises(ValueError, match=r"trial optimizer=adam__lr=0.1: optimizer must be one of"):
        run_sweep(spec, tmp_path / "out", runner=ToyTrial())
    with pytest.raises(ValueError, match=r"trial lr=-1: lr must be > 0"):
        run_sweep(SweepSpec.from_dict({"axes": {"lr": [0.1, -1]}}), tmp_path / "out", runner=ToyTrial())
    with pytest.raises(ValueError, match="unknown config key 'lrr'"):
        run_sweep(SweepSpec.from_dict({"axes": {"lrr": [0.1]}}), tmp_path / "out", runner=ToyTrial())
    assert not (tmp_path / "out").exists()


def test_failing_trial_is_recorded_and_the_others_go_on(tmp_path):
    spec = SweepSpec.from_dict(
        {"base": {"fail": False}, "axes": {"lr": [0.1, 0.5, 0.9], "seed": [0]}, "include": [{"lr": 2.0, "fail": True}]}
    )
    result = run_sweep(spec, tmp_path, runner=ToyTrial(), workers=2)
    assert result.counts == {"finished": 3, "failed": 1, "pending": 0}
    bad = tmp_path / "trials" / "lr=2.0__seed=0__fail=true"
    error = json.loads((bad / "error.json").read_text())
    assert error["error"] == "RuntimeError" and "diverged at lr=2.0" in error["message"]
    assert "Traceback" in error["traceback"] and "raise RuntimeError" in error["traceback"]
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    assert manifest["state"] == "done" and manifest["counts"] == result.counts
    assert {t["name"]: t["status"] for t in manifest["trials"]}[bad.name] == "failed"
    table = pd.read_parquet(result.metrics)
    assert sorted(table["trial"].unique()) == sorted(r["name"] for r in result.trials if r["status"] == "finished")
    # a rerun retries only the failed trial
    again = run_sweep(spec, tmp_path, runner=ToyTrial(), workers=0)  # in this process
    assert again.ran == [bad.name] and calls(bad) == 2


def test_interrupted_sweep_keeps_finished_trials_and_resumes_only_the_missing(tmp_path):
    spec = SweepSpec.from_dict({"axes": {"lr": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}})
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path, runner=ToyTrial(abort_at_lr=0.3), workers=1)
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    assert manifest["state"] == "interrupted"
    trials = tmp_path / "trials"
    finished = {t["name"] for t in manifest["trials"] if (trials / t["name"] / "summary.json").is_file()}
    assert {"lr=0.1", "lr=0.2"} <= finished and "lr=0.3" not in finished
    assert {t["name"] for t in manifest["trials"] if t["status"] == "finished"} == finished

    result = run_sweep(spec, tmp_path, runner=ToyTrial(), workers=0)
    assert sorted(result.ran) == sorted({f"lr={lr}" for lr in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)} - finished)
    assert all(calls(trials / name) == 1 for name in finished)
    assert result.counts == {"finished": 6, "failed": 0, "pending": 0}
    # nothing left: a third run runs nothing
    assert run_sweep(spec, tmp_path, runner=ToyTrial(), workers=0).ran == []


def test_a_changed_sweep_does_not_reuse_trials_of_another_config(tmp_path):
    first = SweepSpec.from_dict({"base": {"epochs": 1}, "axes": {"lr": [0.1]}})
    run_sweep(first, tmp_path, runner=ToyTrial(), workers=0)
    changed = SweepSpec.from_dict({"base": {"epochs": 2}, "axes": {"lr": [0.1]}})
    with pytest.raises(ValueError, match="already holds trial lr=0.1 with a different config"):
        plan_sweep(changed, tmp_path, runner=ToyTrial())
    # extending an axis is fine: only the new point runs
    extended = SweepSpec.from_dict({"base": {"epochs": 1}, "axes": {"lr": [0.1, 0.2]}})
    assert run_sweep(extended, tmp_path, runner=ToyTrial(), workers=0).ran == ["lr=0.2"]


def test_aggregate_table_and_summary_across_seeds(tmp_path, monkeypatch):
    monkeypatch.setattr(aggregate_module, "has_pyarrow", lambda: False)  # the CSV fallback
    spec = SweepSpec.from_dict({"base": {"epochs": 3, "rho": 0.05}, "axes": {"lr": [0.1, 0.5], "seed": [0, 1, 2]}})
    result = run_sweep(spec, tmp_path, runner=ToyTrial(), workers=0)
    assert result.metrics == tmp_path / "metrics.csv" and not (tmp_path / "metrics.parquet").exists()
    table = pd.read_csv(result.metrics)
    assert len(table) == 6 * 3 and {"trial", "seed", "lr", "epoch", "metric", "value"} <= set(table.columns)
    summary = pd.read_csv(result.summary)
    assert len(summary) == 2 * 3 and (summary["n"] == 3).all()
    for lr in (0.1, 0.5):
        for epoch in (1, 2, 3):
            values = []
            for seed in range(3):
                trial = pd.read_csv(tmp_path / "trials" / f"lr={lr}__seed={seed}" / "metrics.csv")
                values.append(trial.loc[trial["epoch"] == epoch, "value"].item())
            row = summary[(summary["lr"] == lr) & (summary["epoch"] == epoch)].iloc[0]
            assert math.isclose(row["mean"], np.mean(values), rel_tol=1e-12)
            assert math.isclose(row["sem"], np.std(values, ddof=1) / math.sqrt(3), rel_tol=1e-12)


def test_summary_of_a_single_seed_has_undefined_standard_error():
    table = pd.DataFrame({"trial": ["a"], "seed": [0], "metric": ["gap"], "value": [1.5]})
    row = summarize_over_seeds(table).iloc[0]
    assert row["mean"] == 1.5 and row["n"] == 1 and math.isnan(row["sem"])


def test_trial_state_reads_the_run_directory(tmp_path):
    from stablesam.stability.sweeps.trial import trial_state

    assert trial_state(tmp_path / "absent") == "pending"
    (tmp_path / "summary.json").write_text(json.dumps({"status": "running"}))  # a twin run mid-way
    assert trial_state(tmp_path) == "pending"
    (tmp_path / "error.json").write_text("{}")
    assert trial_state(tmp_path) == "failed"
    (tmp_path / "summary.json").write_text(json.dumps({"status": "finished"}))
    assert trial_state(tmp_path) == "finished"


@pytest.mark.parametrize("damage", ["metrics-cut", "metrics-deleted", "summary-edited", "config-unrecorded"])
def test_a_damaged_verified_run_is_pending_not_finished(tmp_path, damage):
    """A finished twin run is a verified store: the sweep hands a damaged one to the harness to repair, instead
    of taking its finished summary at its word."""
    from stablesam.core.store import Store
    from stablesam.stability.sweeps.trial import trial_state

    store = Store(tmp_path)
    with store:
        store.put_json("config.json", {"lr": 0.1})
        store.put_text("metrics.csv", "step,value\n0,1.0\n")
        store.put_json("summary.json", {"status": "finished"})
    assert trial_state(tmp_path) == "finished"
    if damage == "metrics-cut":
        (tmp_path / "metrics.csv").write_text("step,va")
    elif damage == "metrics-deleted":
        (tmp_path / "metrics.csv").unlink()
    elif damage == "summary-edited":
        (tmp_path / "summary.json").write_text(json.dumps({"status": "finished", "edited": True}))
    else:  # a file written around the store that claims to be its config
        (tmp_path / "config.json").write_text(json.dumps({"lr": 0.2}))
    assert trial_state(tmp_path) == "pending"


def test_summary_counts_a_diverged_seed_instead_of_averaging_it():
    table = pd.DataFrame({"trial": list("abc"), "seed": [0, 1, 2], "metric": ["gap"] * 3, "value": [1.0, 3.0, np.inf]})
    row = summarize_over_seeds(table).iloc[0]
    assert row["mean"] == 2.0 and row["n"] == 2 and row["n_nonfinite"] == 1
    assert row["sem"] == pytest.approx(np.std([1.0, 3.0], ddof=1) / math.sqrt(2), rel=1e-15)
def test_off_a_terminal_progress_is_one_line_per_trial(tmp_path, capsys):
    spec = SweepSpec.from_dict({"axes": {"lr": [0.1, 0.2]}})
    run_sweep(spec, tmp_path / "out", runner=ToyTrial(), workers=0)  # progress=None; stderr is not a terminal
    assert capsys.readouterr().err.splitlines() == ["stablesam: trial lr=0.1 finished (1/2 done)",
                                                    "stablesam: trial lr=0.2 finished (2/2 done)"]
