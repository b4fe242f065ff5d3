"""``stablesam train``: output shape, reproducibility, tidy CSV, bad input (exit 2, nothing written)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from stablesam.cli import main

QUICK = ["train", "--epochs", "1", "--json"]


def run_json(capsys, *extra):
    assert main([*QUICK, *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_train_reports_every_optimizer_and_is_reproducible(capsys, tmp_path):
    out = tmp_path / "runs" / "digits.csv"
    keys = ["sgd", "sam", "usam", "asam", "stablesam-n", "stablesam-u", "stablesam-a"]
    result = run_json(capsys, "--methods", *keys, "--out", str(out))
    rows = {row["optimizer"]: row for row in result["rows"]}
    assert list(rows) == keys
    assert result["n_train"] + result["n_test"] == 1797
    for key, row in rows.items():
        assert 0.5 < row["train_acc"] <= 1.0 and 0.5 < row["test_acc"] <= 1.0  # one epoch already learns
        assert row["diverged_epoch"] is None
        if key == "sgd":
            assert row["mean_gamma"] is None and row["mean_norm_ratio"] is None
        else:
            assert 0.0 < row["mean_gamma"] and 0.0 < row["mean_norm_ratio"]
    # rho = 0.05 with SGD at lr = 0.1: the surrogate gradient is longer than the exact one on average.
    assert rows["sam"]["mean_norm_ratio"] > 1.0 and rows["sam"]["mean_gamma"] < 1.0

    tidy = pd.read_csv(out)
    assert list(tidy.columns) == ["run", "seed", "optimizer", "rho", "lr", "epoch", "step", "metric", "value"]
    assert set(tidy["optimizer"]) == set(rows)
    test_acc = tidy.query("optimizer == 'stablesam-u' and metric == 'test_acc'")["value"]
    assert test_acc.tolist() == [rows["stablesam-u"]["test_acc"]]

    again = run_json(capsys, "--methods", "sgd", "stablesam-u")
    for row in again["rows"]:
        for column in ("train_acc", "test_acc", "train_loss", "mean_gamma"):
            assert row[column] == rows[row["optimizer"]][column]


def test_train_table_output(capsys):
    assert main(["train", "--epochs", "1", "--methods", "sgd", "stablesam-n"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("optimizer"))
    assert "mean_gamma" in header and "test_acc" in header
    assert any(line.startswith("stablesam-n") for line in lines)


def test_divergence_is_reported(capsys):
    result = run_json(capsys, "--methods", "sgd", "--lr", "5000", "--epochs", "3")  # lr 50 collapses (dead ReLUs), finite
    assert result["rows"][0]["diverged_epoch"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "sgd", "adamw"], "--methods entries must be one of"),
        (["--lr", "0"], "--lr must be > 0"),
        (["--rho", "-0.1"], "--rho must be >= 0"),
        (["--epochs", "0"], "--epochs must be an integer >= 1"),
        (["--momentum", "1.0"], "--momentum must lie in [0.0, 1.0)"),
        (["--gamma-cap", "0"], "--gamma-cap must be > 0"),
        (["--test-fraction", "1"], "--test-fraction must lie in (0.0, 1.0)"),
        (["--batch-size", "5000"], "--batch-size must be at most"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(capsys, tmp_path, args, message):
    out = tmp_path / "digits.csv"
    assert main(["train", "--epochs", "1", "--out", str(out), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err
    assert not out.exists()


def test_off_a_terminal_progress_is_one_line_per_optimizer(capsys):
    assert main(["train", "--epochs", "1", "--methods", "sgd", "stablesam-u", "--json"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(" (")[0] for line in err] == ["stablesam train: sgd done", "stablesam train: stablesam-u done"]


def test_a_killed_train_run_resumes_from_its_run_directory_bit_identical(tmp_path, monkeypatch, capsys):
    """--run-dir keeps each finished optimizer's result (verified); killed while training the second optimizer,
    the same command reads the first back, trains the rest, and prints and writes what an uninterrupted run does."""
    import json

    import stablesam.stability.optimizers as optimizers
    from stablesam.cli import main

    def argv(name):
        return ["train", "--epochs", "2", "--methods", "sgd", "sam", "stablesam-u", "--json",
                "--out", str(tmp_path / f"{name}.csv"), "--run-dir", str(tmp_path / name)]

    def rows(out):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in json.loads(out)["rows"]]

    assert main(argv("whole")) == 0
    whole = rows(capsys.readouterr().out)
    real, calls = optimizers.make_optimizer, []

    def killed_at_the_second(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(optimizers, "make_optimizer", killed_at_the_second)
    assert main(argv("killed")) == 130
    monkeypatch.setattr(optimizers, "make_optimizer", real)
    capsys.readouterr()
    assert main(argv("killed")) == 0
    captured = capsys.readouterr()
    assert "sgd already done" in captured.err and rows(captured.out) == whole
    assert (tmp_path / "killed.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
