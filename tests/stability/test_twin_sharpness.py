"""Sharpness of twin runs: tracking rows (``sharpness_every``) and ``stablesam sharpness --run``, both checked
against the dense Hessian of a model rebuilt by hand from a checkpoint."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from stablesam.analysis.curvature.sharpness import top_hessian_eigenvalue
from stablesam.stability.twin import TwinConfig, load_checkpoint, run_twin
from stablesam.cli import main

CONFIG = TwinConfig(dataset="digits", model="linear", optimizer="sam", lr=0.1, epochs=2, batch_size=50, n_train=100,
                    n_test=40, seeds=(0,), replaced_indices=(3,), dtype="float64", keep_checkpoints=0)


def dense_top_eigenvalue(config, state, m):
    """lambda_max of model ``m`` of a checkpoint, rebuilt by hand: dense Hessian of its mean loss on its own set."""
    from stablesam.stability.models import build_model
    from stablesam.stability.twin.pairs import build_twin_data
    from stablesam.stability.twin.population import mean_loss
    from stablesam.stability.twin.run import load_twin_dataset

    data = build_twin_data(load_twin_dataset(config), config, device=torch.device("cpu"), dtype=torch.float64)
    model = build_model(config.model, data.input_shape, 10, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    population = state["population"]
    weights = {k: v[m] for k, v in population["params"].items()} if state["vectorized"] else population["modules"][m]
    model.load_state_dict(weights)
    x, y = data.x[data.rows[m]], data.y[m]
    if m % 2:
        assert not torch.equal(x, data.x[data.rows[m - 1]])  # S' really differs from S
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])

    def loss(vector):
        params, start = {}, 0
        for name, p in model.named_parameters():
            params[name], start = vector[start:start + p.numel()].view(p.shape), start + p.numel()
        return mean_loss("classification")(torch.func.functional_call(model, params, (x,)), y)

    return np.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat).numpy())[-1]


def test_sharpness_rows_match_a_dense_hessian_and_leave_other_metrics_unchanged(tmp_path):
    tracked = run_twin(CONFIG.replace(sharpness_every=2), tmp_path / "tracked", progress=False,
                       sharpness=top_hessian_eigenvalue).run_dir
    plain = run_twin(CONFIG, tmp_path / "plain", progress=False).run_dir
    a = pd.read_csv(tracked / "metrics.csv", keep_default_na=False)
    b = pd.read_csv(plain / "metrics.csv", keep_default_na=False)
    assert not b["metric"].isin(["sharpness", "lr_max_gd"]).any()
    pd.testing.assert_frame_equal(a[~a["metric"].isin(["sharpness", "lr_max_gd"])].reset_index(drop=True), b)

    sharp = a[a["metric"] == "sharpness"]
    assert sorted(sharp["epoch"].unique()) == [0.0, 2.0]  # epoch 0 and every 2 epochs
    assert sorted(sharp["twin"]) == ["S", "S", "S'", "S'"] and set(sharp["seed"]) == {0}
    lr_max = a[a["metric"] == "lr_max_gd"].set_index(["epoch", "twin"])["value"]
    assert np.allclose(lr_max.sort_index(), 2 / sharp.set_index(["epoch", "twin"])["value"].sort_index(), rtol=1e-12)

    # Independent check: model S' (index 1) rebuilt from the last checkpoint, dense Hessian on its own training set.
    expected = dense_top_eigenvalue(CONFIG, load_checkpoint(tracked / "checkpoints" / "epoch_0002.pt"), 1)
    measured = sharp[(sharp["epoch"] == 2.0) & (sharp["twin"] == "S'")]["value"].item()
    assert measured == pytest.approx(expected, rel=1e-6)


def test_sharpness_every_is_validated():
    with pytest.raises(ValueError, match="sharpness_every"):
        TwinConfig(sharpness_every=-1)


def test_tracking_without_a_measurer_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="sharpness_every > 0 needs a sharpness measurer"):
        run_twin(CONFIG.replace(sharpness_every=1), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("vectorize", [True, False])
def test_sharpness_cli_on_a_run_directory_matches_the_dense_hessian(tmp_path, capsys, vectorize):
    config = CONFIG.replace(epochs=1, vectorize=vectorize, replaced_indices=(3, 5))
    run = run_twin(config, tmp_path / "run", progress=False).run_dir
    assert main(["sharpness", "--run", str(run), "--model-index", "3", "--k", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = dense_top_eigenvalue(config, load_checkpoint(run / "checkpoints" / "epoch_0001.pt"), 3)
    assert out["eigenvalues"][0] == pytest.approx(expected, rel=1e-6)
    assert max(out["residuals"]) < 1e-6 * expected
    assert (out["pair"], out["twin"], out["replaced_index"], out["epoch"], out["rho"]) == (1, "S'", 5, 1, config.rho)
    gd = {r["method"]: r["max_stable_lr"] for r in out["max_stable_lr"]}["gd"]
    assert gd == pytest.approx(2 / out["eigenvalues"][0], rel=1e-12)


def test_sharpness_cli_on_bad_run_directories_exits_2(tmp_path, capsys):
    run = run_twin(CONFIG.replace(epochs=1), tmp_path / "run", progress=False).run_dir
    cases = [(["--run", str(tmp_path / "missing")], "no config.json"),
             (["--run", str(run), "--model-index", "2"], "out of range"),
             (["--run", str(run), "--checkpoint", str(run / "config.json")], "exclusive")]
    for extra, word in cases:
        assert main(["sharpness", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and word in err
    for checkpoint in (run / "checkpoints").iterdir():
        checkpoint.unlink()
    assert main(["sharpness", "--run", str(run)]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_resume_with_tracking_is_bit_identical(tmp_path, monkeypatch):
    from stablesam.stability.twin import TwinTrainer

    config = CONFIG.replace(sharpness_every=1)
    whole = run_twin(config, tmp_path / "whole", progress=False, sharpness=top_hessian_eigenvalue).run_dir
    original = TwinTrainer.train_epoch

    def killed_after_one_epoch(self, *args, **kwargs):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TwinTrainer, "train_epoch", killed_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_twin(config, tmp_path / "resumed", progress=False, sharpness=top_hessian_eigenvalue)
    monkeypatch.setattr(TwinTrainer, "train_epoch", original)
    resumed = run_twin(config, tmp_path / "resumed", progress=False, sharpness=top_hessian_eigenvalue).run_dir
    assert (whole / "metrics.csv").read_bytes() == (resumed / "metrics.csv").read_bytes()
    assert (pd.read_csv(whole / "metrics.csv")["metric"] == "sharpness").sum() == 6  # 2 models x epochs 0, 1, 2
