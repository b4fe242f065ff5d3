"""Sweeps on Dask: one 2-worker LocalCluster on loopback, shared by this module's tests."""

from __future__ import annotations

import json
import sys
import warnings

import pandas as pd
import pytest
from _sweep_runners import ResourceProbe, ToyTrial

from stablesam.stability.sweeps import SweepSpec, run_sweep

distributed = pytest.importorskip("distributed")

SPEC = SweepSpec.from_dict(
    {"base": {"epochs": 3}, "axes": {"optimizer": ["sam", "sgd"], "lr": [0.1, 0.5], "seed": [0, 1]}}
)


@pytest.fixture(scope="module")
def cluster():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
    with cluster:
        yield cluster


def test_dask_sweep_matches_the_local_executor(cluster, tmp_path):
    local = run_sweep(SPEC, tmp_path / "local", runner=ToyTrial(), workers=0)  # the twin test below uses the pool
    dask = run_sweep(SPEC, tmp_path / "dask", runner=ToyTrial(), engine="dask", scheduler=cluster.scheduler_address)
    assert dask.counts == local.counts == {"finished": 8, "failed": 0, "pending": 0}
    pd.testing.assert_frame_equal(pd.read_parquet(dask.metrics), pd.read_parquet(local.metrics))
    assert json.loads((tmp_path / "dask" / "sweep.json").read_text())["engine"] == "dask"


def test_failing_trial_on_dask_is_recorded_and_the_others_go_on(cluster, tmp_path):
    spec = SweepSpec.from_dict(
        {"base": {"fail": False}, "axes": {"lr": [0.1, 0.5]}, "include": [{"lr": 3.0, "fail": True}]}
    )
    result = run_sweep(spec, tmp_path, runner=ToyTrial(), engine="dask", scheduler=cluster.scheduler_address)
    assert result.counts == {"finished": 2, "failed": 1, "pending": 0}
    error = json.loads((tmp_path / "trials" / "lr=3.0__fail=true" / "error.json").read_text())
    assert error["error"] == "RuntimeError" and "diverged at lr=3.0" in error["traceback"]


def test_gpu_trials_need_workers_offering_a_gpu(cluster, tmp_path):
    spec = SweepSpec.from_dict({"base": {"device": "cuda"}, "axes": {"lr": [0.1]}})
    with pytest.raises(ValueError, match="no worker of the cluster .* offers the 'GPU' resource"):
        run_sweep(spec, tmp_path / "out", runner=ToyTrial(), engine="dask", scheduler=cluster.scheduler_address)
    assert not (tmp_path / "out").exists()


def test_gpu_trials_hold_one_gpu_each_on_their_own_local_cluster(tmp_path):
    # No scheduler: run_sweep starts a LocalCluster on loopback whose workers offer one GPU each.
    spec = SweepSpec.from_dict({"base": {"device": "cuda"}, "axes": {"lr": [0.1, 0.2]}})
    result = run_sweep(spec, tmp_path, runner=ResourceProbe(), engine="dask", workers=1)
    assert result.counts["finished"] == 2
    for trial in ("lr=0.1", "lr=0.2"):
        resources = json.loads((tmp_path / "trials" / trial / "resources.json").read_text())
        assert resources == {"available": {"GPU": 0}, "total": {"GPU": 1}}


def test_missing_dask_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'stablesam\[dask\]'"):
        run_sweep(SPEC, tmp_path / "out", runner=ToyTrial(), engine="dask")
    assert not (tmp_path / "out").exists()


def test_twin_sweep_on_dask_matches_the_local_executor(cluster, tmp_path):
    pytest.importorskip("stablesam.stability.twin")
    from stablesam.stability.sweeps import TwinTrial

    spec = SweepSpec.from_dict(
        {
            "base": {"dataset": "digits", "model": "linear", "epochs": 1, "batch_size": 32, "n_train": 96,
                     "n_test": 64, "rho": 0.1, "device": "cpu"},
            "axes": {"optimizer": ["sam", "stablesam-n"], "seeds": [0, 1]},
        }
    )
    local = run_sweep(spec, tmp_path / "local", workers=2)
    dask = run_sweep(spec, tmp_path / "dask", engine="dask", scheduler=cluster.scheduler_address)
    assert local.counts == dask.counts == {"finished": 4, "failed": 0, "pending": 0}
    local_table, dask_table = pd.read_parquet(local.metrics), pd.read_parquet(dask.metrics)
    assert {"distance", "gamma_mean", "gen_gap"} <= set(local_table["metric"])
    pd.testing.assert_frame_equal(dask_table, local_table)  # bit for bit: one torch thread per trial on either
    pd.testing.assert_frame_equal(pd.read_csv(dask.summary), pd.read_csv(local.summary))
    assert TwinTrial().resources({"device": "cuda"}) == {"GPU": 1} and TwinTrial().resources({"device": "auto"}) == {}
