"""``stablesam sharpness`` and ``stablesam lr-scan``: JSON output, consistency, bad input exit 2."""

import json

import pytest

from stablesam.cli import main
from test_lr_scan import one_thread  # noqa: F401 (autouse fixture: one intra-op thread)


def test_sharpness_json_is_consistent(capsys):
    assert main(["sharpness", "--n-train", "100", "--k", "2", "--trace-probes", "4", "--rho", "0.1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    lam = out["eigenvalues"]
    assert len(lam) == 2 and lam[0] >= lam[1] and out["converged"]
    assert max(out["residuals"]) < 1e-6 * lam[0]
    rates = {r["method"]: r["max_stable_lr"] for r in out["max_stable_lr"]}
    assert rates["gd"] == pytest.approx(2 / lam[0], rel=1e-12)
    assert rates["usam"] == pytest.approx(2 / (lam[0] * (1 + 0.1 * lam[0])), rel=1e-12)
    assert out["trace_standard_error"] > 0


def test_lr_scan_least_squares_json(capsys):
    argv = ["lr-scan", "--methods", "gd", "--steps", "200", "--blowup", "100", "--rel-tol", "0.01", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["thresholds"]
    assert row["method"] == "gd" and abs(row["relative_error"]) < 0.03
    assert row["observed_low"] < row["observed_high"]


@pytest.mark.parametrize(
    "argv, word",
    [
        (["sharpness", "--model", "transformer"], "transformer"),
        (["sharpness", "--dataset", "imagenet"], "imagenet"),
        (["sharpness", "--k", "0"], "--k"),
        (["sharpness", "--rho", "-1"], "--rho"),
        (["lr-scan", "--methods", "gd,adam"], "adam"),
        (["lr-scan", "--steps", "0"], "--steps"),
        (["lr-scan", "--blowup", "1"], "--blowup"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, word, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err
