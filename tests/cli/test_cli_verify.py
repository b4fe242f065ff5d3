"""``stablesam verify``: bad input is one line and exit status 2 with nothing written; the stability
estimates from a real twin run; ``--quick`` end to end (slow)."""

import json

import numpy as np
import pytest

from stablesam.analysis.verify.claims import CLAIMS
from stablesam.cli import main


@pytest.mark.parametrize("args, message", [
    (["--claims", "C1", "C11"], "claim must be one of"),
    (["--claims", ","], "--claims needs at least one value"),
    (["--data-dir", "."], "--data-dir is read by --full only"),
    (["--full", "--data-dir", "/nonexistent/cifar"], "is not an existing directory"),
    (["--workers", "-1"], "--workers must be an integer >= 0"),
    (["--engine", "dask", "--workers", "0"], "--workers must be an integer >= 1"),
    (["--seeds", "5"], "seeds must be None or an integer in [6, inf); got 5"),  # the sign test cannot decide on 5 seeds
    (["--epochs", "0"], "epochs must be None or an integer in [1, inf); got 0"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    out = tmp_path / "verify"
    assert main(["verify", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stablesam verify: error:") and message in err[0]
    assert not out.exists()


def test_out_must_be_a_verify_directory(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["verify", "--claims", "C6", "--out", str(tmp_path)]) == 2
    assert "holds other files (notes.txt)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    a_file = tmp_path / "notes.txt"
    assert main(["verify", "--out", str(a_file)]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_cuda_requested_without_cuda(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["verify", "--device", "cuda", "--out", str(tmp_path / "v")]) == 2
    assert "torch sees no CUDA device" in capsys.readouterr().err


def test_stability_estimates_of_a_twin_run(tmp_path):
    """sup_z |E_A D| <= E_A sup_z |D| (Jensen), and the latter is the harness's per-pair loss_diff_max averaged."""
    from stablesam.analysis.experiments.twin_stability import loss_diff_max, stability_estimate, test_losses
    from stablesam.stability.twin import TwinConfig, run_twin

    config = TwinConfig(dataset="digits", model="linear", optimizer="sam", lr=0.3, epochs=1, seeds=(0, 1, 2),
                        replaced_indices=(0, 5), n_pool=1, device="cpu")
    result = run_twin(config, tmp_path / "run", progress=False)
    losses = test_losses(result.run_dir)
    assert losses.diff.shape == (3, 2, 360) and list(losses.finite_seeds) == [0, 1, 2]
    summary = result.summary
    harness = {(p["seed"], p["replaced_index"]): p["loss_diff_max"] for p in summary["pairs"]}
    for k, index in enumerate((0, 5)):
        # float32 losses of the harness vs float64 differences of the same float32 outputs: rounding of the
        # loss values only, a few float32 ulps of losses of order 1.
        per_seed = np.abs(losses.diff[:, k]).max(axis=1)
        assert per_seed == pytest.approx([harness[(s, index)] for s in (0, 1, 2)], rel=1e-5, abs=1e-6)
    assert loss_diff_max(losses) == pytest.approx(np.abs(losses.diff).max(axis=2).mean(axis=0).max())
    assert stability_estimate(losses) <= loss_diff_max(losses)
    assert stability_estimate(losses, np.array([1])) == pytest.approx(np.abs(losses.diff[1]).max())


@pytest.mark.slow
def test_quick_end_to_end_and_rerun_reuses(tmp_path, capsys):
    import time

    out = tmp_path / "verify"
    start = time.perf_counter()
    assert main(["verify", "--quick", "--device", "cpu", "--out", str(out)]) == 0
    first = time.perf_counter() - start
    printed = capsys.readouterr().out
    assert "report:" in printed and "C7" in printed
    document = json.loads((out / "verdicts.json").read_text())
    from stablesam.analysis.verify.report import schema_errors

    assert schema_errors(document) == [] and [c["id"] for c in document["claims"]] == list(CLAIMS)
    cached = sorted(p.name for p in (out / "cache").rglob("*") if p.parent.name in ("twin", "trajectory", "timing"))
    start = time.perf_counter()
    assert main(["verify", "--quick", "--device", "cpu", "--out", str(out), "--json"]) == 0
    second = time.perf_counter() - start
    rerun = json.loads(capsys.readouterr().out)
    assert [r["verdict"] for r in rerun["rows"]] == [c["verdict"] for c in document["claims"]]
    assert sorted(p.name for p in (out / "cache").rglob("*") if p.parent.name in ("twin", "trajectory", "timing")) == cached
    assert second < first / 2  # nothing retrained
