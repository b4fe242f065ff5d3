"""Sharpness tracking in the twin harness: rows at the right epochs, values equal to an independent measurement."""

import numpy as np
import pandas as pd
import pytest
import torch

from stability.twin import TwinConfig, run_twin

CONFIG = TwinConfig(dataset="digits", model="linear", optimizer="sam", lr=0.1, epochs=2, batch_size=50, n_train=100,
                    n_test=40, seeds=(0,), replaced_indices=(3,), dtype="float64", keep_checkpoints=0)

def test_sharpness_rows_match_a_dense_hessian_and_leave_other_metrics_unchanged(tmp_path):
    from stability.models import build_model
    from stability.twin import load_checkpoint
    from stability.twin.pairs import build_twin_data
    from stability.twin.population import mean_loss
    from stability.twin.run import _load_dataset

    tracked = run_twin(CONFIG.replace(sharpness_every=2), tmp_path / "tracked", progress=False)
    plain = run_twin(CONFIG, tmp_path / "plain", progress=False)
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
    state = load_checkpoint(tracked / "checkpoints" / "epoch_0002.pt")
    config = CONFIG.replace(sharpness_every=2)
    data = build_twin_data(_load_dataset(config), config, device=torch.device("cpu"), dtype=torch.float64)
    model = build_model("linear", data.input_shape, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model.load_state_dict({k: v[1] for k, v in state["population"]["params"].items()})
    x, y = data.x[data.rows[1]], data.y[1]
    assert not torch.equal(x, data.x[data.rows[0]])  # S' really differs from S
    names = [n for n, _ in model.named_parameters()]
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])

    def loss(vector):
        params, start = {}, 0
        for name, p in model.named_parameters():
            params[name], start = vector[start:start + p.numel()].view(p.shape), start + p.numel()
        return mean_loss("classification")(torch.func.functional_call(model, params, (x,)), y)

    dense = torch.autograd.functional.hessian(loss, flat).numpy()
    expected = np.linalg.eigvalsh(dense)[-1]
    measured = sharp[(sharp["epoch"] == 2.0) & (sharp["twin"] == "S'")]["value"].item()
    assert len(names) == 2 and measured == pytest.approx(expected, rel=1e-6)

def test_sharpness_every_is_validated():
    with pytest.raises(ValueError, match="sharpness_every"):
        TwinConfig(sharpness_every=-1)
