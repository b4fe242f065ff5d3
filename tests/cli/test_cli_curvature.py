"""``stablesam sharpness`` and ``stablesam lr-scan``: JSON output, consistency, bad input exit 2."""

import json

import pytest

from stablesam.cli import main
from tests.analysis.experiments.test_lr_scan import one_thread  # noqa: F401 (autouse fixture: one intra-op thread)


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


def test_lr_scan_network_reports_the_grid_scan(capsys):
    argv = ["lr-scan", "--problem", "network", "--model", "mlp", "--hidden", "8", "--n-train", "60", "--methods",
            "gd,usam", "--steps", "20", "--grid-points", "4", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [row["method"] for row in out["thresholds"]] == ["gd", "usam"]
    for row in out["thresholds"]:
        assert isinstance(row["monotone"], bool) and isinstance(row["divergence_monotone"], bool)
        assert float(row["smallest_failing_lr"]) <= float(row["smallest_diverged_lr"]) and row["max_stable_lr"] > 0  # JSON: inf as "inf"


@pytest.mark.parametrize(
    "argv, word",
    [
        (["sharpness", "--model", "transformer"], "transformer"),
        (["sharpness", "--dataset", "imagenet"], "imagenet"),
        (["sharpness", "--k", "0"], "--k"),
        (["sharpness", "--rho", "-1"], "--rho"),
        (["lr-scan", "--methods", "gd", "adam"], "adam"),
        (["lr-scan", "--steps", "0"], "--steps"),
        (["lr-scan", "--blowup", "1"], "--blowup"),
        (["lr-scan", "--problem", "network", "--grid-points", "1"], "--grid-points"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, word, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err


def test_sharpness_of_a_checkpoint_matches_the_direct_measurement(tmp_path, capsys):
    import numpy as np
    import torch
    import torch.nn.functional as F

    from stablesam.analysis.experiments.measured_thresholds import measure_curvature
    from stablesam.stability.data import load_dataset
    from stablesam.stability.models import build_model

    data = load_dataset("digits", generator=np.random.default_rng(0), n_train=60, dtype=torch.float64)
    model = build_model("mlp", data.input_shape, 10, generator=torch.Generator().manual_seed(5), dtype=torch.float64,
                        hidden=(8,))
    torch.save({"model": model.state_dict()}, tmp_path / "ckpt.pt")
    argv = ["sharpness", "--n-train", "60", "--hidden", "8", "--checkpoint", str(tmp_path / "ckpt.pt"), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    direct = measure_curvature(model, F.cross_entropy, (data.x_train, data.y_train), rho=0.05,
                               generator=np.random.default_rng(0))
    assert out["eigenvalues"][0] == pytest.approx(direct.sharpness, rel=1e-9)
    torch.save({"model": {"wrong": torch.zeros(1)}}, tmp_path / "bad.pt")
    assert main(["sharpness", "--n-train", "60", "--hidden", "8", "--checkpoint", str(tmp_path / "bad.pt")]) == 2
    assert "does not fit" in capsys.readouterr().err
    assert main(["sharpness", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
