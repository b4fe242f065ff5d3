"""``stablesam twin``: flags, --config with flag overrides, --json, bad input (exit 2, nothing written)."""

import json

import pytest

from stablesam.cli import main

FAST = ["--n-train", "100", "--epochs", "2", "--batch-size", "50"]


def test_twin_runs_every_optimizer_lr_combination_and_prints_json(tmp_path, capsys):
    out = tmp_path / "runs"
    code = main(["twin", *FAST, "--methods", "sgd", "stablesam-u", "--lrs", "0.05", "0.5", "--seeds", "0", "1",
                 "--replaced-index", "3", "--out", str(out), "--json", "--figure", str(tmp_path / "fig.png")])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["runs"]) == 4 and len(result["rows"]) == 8
    assert {(r["optimizer"], r["lr"]) for r in result["rows"]} == {
        ("sgd", 0.05), ("sgd", 0.5), ("stablesam-u", 0.05), ("stablesam-u", 0.5)}
    assert all(r["distance"] > 0 and r["diverged"] is False and r["divergence"] is None for r in result["rows"])
    assert (tmp_path / "fig.png").stat().st_size > 0 and (tmp_path / "fig.pdf").stat().st_size > 0
    summary = json.loads((out / "stablesam-u_lr0.5_rho0.05" / "summary.json").read_text())
    assert summary["config"]["seeds"] == [0, 1] and summary["config"]["replaced_indices"] == [3]


def test_flags_override_the_config_file(tmp_path, capsys):
    config = tmp_path / "twin.toml"
    config.write_text('optimizer = "sam"\nlr = 0.3\nrho = 0.1\nepochs = 5\nn_train = 100\nbatch_size = 50\n')
    assert main(["twin", "--config", str(config), "--epochs", "1", "--control", "--out", str(tmp_path / "r"),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (saved["optimizer"], saved["lr"], saved["rho"], saved["epochs"], saved["control"]) == ("sam", 0.3, 0.1, 1, True)
    assert rows[0]["distance"] == 0.0


@pytest.mark.parametrize("argv,message", [
    (["--dataset", "imagenet"], "imagenet"),
    (["--model", "transformer"], "transformer"),
    (["--replaced-index", "100"], "replaced index 100 is out of range"),
    (["--label-noise", "-0.2"], "label_noise must be a real number in [0, 1]"),
    (["--lrs", "-1"], "lr must be a real number in (0, inf)"),
    (["--data-dir", "/no/such/dir"], "not an existing directory"),
    (["--config", "CONFIG"], "is not valid TOML"),
    (["--config", "/no/such.toml"], "does not exist"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, argv, message):
    (tmp_path / "bad.toml").write_text("optimizer = [\n")
    argv = [str(tmp_path / "bad.toml") if a == "CONFIG" else a for a in argv]
    out = tmp_path / "out"
    assert main(["twin", *FAST, *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith("stablesam twin: error:")
    assert not out.exists()


def test_unknown_method_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["twin", "--methods", "lion", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--methods entries must be one of" in err[0] and "'lion'" in err[0]
    assert not (tmp_path / "out").exists()
