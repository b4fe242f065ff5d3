"""``stablesam sweep``: bad sweep files give one line, exit status 2 and write nothing; --dry-run."""

from __future__ import annotations

import json
import textwrap

import pytest

from stablesam.cli import main

GOOD_BASE = 'dataset = "digits"\nmodel = "linear"\nepochs = 1\n'


def _sweep(tmp_path, text):
    path = tmp_path / "sweep.toml"
    path.write_text(textwrap.dedent(text))
    return path


def _bad(tmp_path, capsys, text, expected):
    out = tmp_path / "out"
    code = main(["sweep", str(_sweep(tmp_path, text)), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("stablesam sweep: error: ")
    assert expected in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[base]\nepochs = 1\n[axis]\nlr = [0.1]\n", "unknown sweep table 'axis'"),
        ("[axes]\nlr = []\n", "axes.lr is empty"),
        ("[axes]\nlr = 0.1\n", "axes.lr must be a list"),
        ("[axes]\nlr = [0.1, 0.1]\n", "axes.lr lists 0.1 twice"),
        ("[axes\nlr = [0.1]\n", "is not valid TOML"),
    ],
)
def test_malformed_sweep_files_exit_2_and_write_nothing(tmp_path, capsys, text, expected):
    _bad(tmp_path, capsys, text, expected)


def test_missing_sweep_file(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_bad_workers_and_scheduler_without_dask(tmp_path, capsys):
    path = _sweep(tmp_path, f"[base]\n{GOOD_BASE}[axes]\nlr = [0.1]\n")
    pytest.importorskip("stablesam.stability.twin")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--workers", "-1"]) == 2
    assert "workers must be an integer >= 0" in capsys.readouterr().err
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "needs engine 'dask'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("axes", "expected"),
    [
        ('lrr = [0.1]', "'lrr'"),  # unknown key
        ('optimizer = ["sam", "adamw"]', "'adamw'"),  # unknown method key
        ("lr = [0.1, -0.5]", "-0.5"),  # invalid value
        ("replaced_indices = [0, 100000]", "100000"),  # out of the training set
        ('lr = [0.1]\n[[include]]\nmodel = "transformer"', "transformer"),  # unknown model, data of a good trial
        ("n_train = [0]", "n_train"),
    ],
)
def test_invalid_trial_configs_exit_2_naming_the_trial_and_value(tmp_path, capsys, axes, expected):
    pytest.importorskip("stablesam.stability.twin")
    _bad(tmp_path, capsys, f"[base]\n{GOOD_BASE}[axes]\n{axes}\n", expected)


def test_dry_run_lists_trials_and_writes_nothing(tmp_path, capsys):
    pytest.importorskip("stablesam.stability.twin")
    path = _sweep(tmp_path, f'[base]\n{GOOD_BASE}[axes]\noptimizer = ["sam", "sgd"]\nlr = [0.1, 0.5]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trials"] == 4 and report["pending"] == 4
    assert [row["trial"] for row in report["rows"]][:2] == ["optimizer=sam__lr=0.1", "optimizer=sam__lr=0.5"]
    assert not out.exists()


def test_sweep_runs_reports_json_and_resumes(tmp_path, capsys):
    pytest.importorskip("stablesam.stability.twin")
    path = _sweep(
        tmp_path,
        f'[base]\n{GOOD_BASE}n_train = 64\nn_test = 32\nbatch_size = 32\noptimizer = "stablesam-n"\n'
        "[axes]\nlr = [0.1]\n",
    )
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["trials"], report["ran"], report["finished"], report["failed_trials"]) == (1, 1, 1, [])
    summary = json.loads((out / "trials" / "lr=0.1" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["config"]["optimizer"] == "stablesam-n"
    assert main(["sweep", str(path), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ran"] == 0
