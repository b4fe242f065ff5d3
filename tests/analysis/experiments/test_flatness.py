"""C10 (stablesam.analysis.experiments.flatness): the equal-loss comparison on planted curves, the proposed decision
rule on planted tables, and the measured sharpness against a dense Hessian on a tiny run."""

import math

import numpy as np
import pandas as pd
import pytest

from stablesam.analysis.experiments.flatness import (
    C10_THEORY,
    FlatnessConfig,
    equal_loss_comparison,
    first_step_reaching,
    flatness_table,
)
from stablesam.core.validation import UsageError


def _planted_curves():
    steps = np.arange(100)
    curves, sharp = [], []
    for seed in (0, 1):
        # GD's loss falls fastest and reaches 0.1 at step 30 (+ seed); SAM at step 50 (+ seed); StableSAM-N never.
        for key, reach in (("gd", 30 + seed), ("sam", 50 + seed), ("stablesam-n", None)):
            loss = np.where(steps < (reach or 1000), 1.0 - 0.009 * steps, 0.1 - 1e-4 * (steps - (reach or 0)))
            if reach is not None:
                loss[reach] = 0.1
                loss[:reach] = np.maximum(loss[:reach], 0.1 + 1e-3)
            curves += [(key, seed, t, v) for t, v in zip(steps, loss)]
            # Sharpness falls along training: 20 - 0.1 t for everyone (so the *final* values are all equal).
            sharp += [(key, seed, t, 20 - 0.1 * t) for t in steps]
    return (pd.DataFrame(curves, columns=["method", "seed", "step", "loss"]),
            pd.DataFrame(sharp, columns=["method", "seed", "step", "lambda_max"]))


def test_equal_loss_comparison_on_planted_curves():
    curves, sharp = _planted_curves()
    out = equal_loss_comparison(curves, sharp, 0.1).set_index(["method", "seed"])
    assert out.loc[("sam", 0), "step"] == 50 and out.loc[("sam", 0), "reference_step"] == 30
    assert out.loc[("sam", 1), "value"] == pytest.approx(20 - 5.1) and out.loc[("sam", 1), "reference_value"] == pytest.approx(20 - 3.1)
    assert out.loc[("sam", 0), "ratio"] == pytest.approx(15.0 / 17.0)
    assert not out.loc[("stablesam-n", 0), "reached"] and math.isnan(out.loc[("stablesam-n", 0), "ratio"])
    assert first_step_reaching([1.0, 0.5], 0.1) == -1
    with pytest.raises(UsageError, match="was not measured at step"):
        equal_loss_comparison(curves, sharp[sharp["step"] != 50], 0.1)


def _planted_table(ratios, reached=None, sam=0.5):
    rows = []
    for seed, ratio in enumerate(ratios):
        ok = True if reached is None else reached[seed]
        common = {"seed": seed, "point": "loss<=0.1", "target": 0.1, "lanczos_residual": 1e-7}
        rows.append({"method": "gd", "reached": True, "lambda_max": 10.0 + seed, "trace": 100.0, **common})
        rows.append({"method": "stablesam-n", "reached": ok, "lambda_max": (10.0 + seed) * ratio if ok else math.nan,
                     "trace": 100.0 * ratio, **common})
        rows.append({"method": "sam", "reached": True, "lambda_max": (10.0 + seed) * sam, "trace": 60.0, **common})
    return pd.DataFrame(rows)


def _decide(table):
    """C10's verdict (stablesam.analysis.verify.claims.c10_flatness) on a planted table at the standard scale."""
    from stablesam.analysis.verify.claims import c10_flatness
    from stablesam.analysis.verify.experiments import make_scale

    scale = make_scale("standard")
    results = {c10_flatness.flatness_experiment(scale): {"table": table.to_dict(orient="records")}}
    return c10_flatness.evaluate(scale, results, np.random.default_rng(0))


def test_decision_rule_on_planted_tables():
    flatter = [0.8, 0.82, 0.79, 0.85, 0.81, 0.8, 0.83, 0.78]
    result = _decide(_planted_table(flatter))
    assert result.verdict == "supported" and {c["verdict"] for c in result.cases} == {"supported"}
    sharper = [1.3, 1.25, 1.4, 1.2, 1.31, 1.28, 1.33, 1.22]
    result = _decide(_planted_table(sharper))
    verdicts = {c["setting"]["method"]: c["verdict"] for c in result.cases}
    assert verdicts == {"stablesam-n": "not supported", "sam": "supported"} and result.verdict == "not supported"
    result = _decide(_planted_table([0.8, 1.2, 0.9, 1.1, 1.0, 0.95, 1.05, 0.9]))
    assert result.verdict == "inconclusive"
    # Runs that never reach the loss are outcomes: with 3 paired seeds left the sign test (6 seeds) cannot decide.
    result = _decide(_planted_table(flatter, reached=[True] * 3 + [False] * 5))
    case = next(c for c in result.cases if c["setting"]["method"] == "stablesam-n")
    assert case["verdict"] == "inconclusive" and case["never_reached"] == 5 and result.verdict == "inconclusive"
    # Against SAM (reported): StableSAM-N at 0.8 of GD is sharper than SAM at 0.5 of GD.
    assert any("stablesam-n / sam" in n.lower() and "1.6" in n for n in _decide(_planted_table(flatter)).notes)
    # Not run at the quick scale: inconclusive, and said so
    from stablesam.analysis.verify.claims import c10_flatness
    from stablesam.analysis.verify.experiments import make_scale

    quick = c10_flatness.evaluate(make_scale("quick"), {}, np.random.default_rng(0))
    assert quick.verdict == "inconclusive" and "not run at the quick scale" in quick.reading
    assert C10_THEORY["status"].startswith("no theory")


def test_tiny_run_measures_the_dense_hessian():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from stablesam.stability.data import load_dataset
    from stablesam.stability.models import build_model

    config = FlatnessConfig(methods=("gd", "sam"), steps=5, seeds=(0,), target_losses=(10.0,), n_train=30, hidden=(3,),
                            probes=200)
    table, curves = flatness_table(config)
    assert len(curves) == 2 * 6 and table["reached"].all()
    # Recompute the final GD model and its dense Hessian: Lanczos' value within its residual, the trace within 4 SE.
    data = load_dataset("digits", generator=np.random.default_rng(0), n_train=30, dtype=torch.float64)
    model = build_model("mlp", data.input_shape, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64,
                        hidden=(3,), activation="tanh")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = lambda out, y: 0.5 * (out - F.one_hot(y, 10).to(out.dtype)).square().sum(dim=1).mean()  # noqa: E731
    for _ in range(5):
        opt.zero_grad()
        loss_fn(model(data.x_train), data.y_train).backward()
        opt.step()
    params = [p for p in model.parameters()]
    shapes = [p.shape for p in params]
    flat0 = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_of(flat):
        pieces, i = [], 0
        for shape in shapes:
            n = int(np.prod(shape))
            pieces.append(flat[i : i + n].reshape(shape))
            i += n
        out = torch.func.functional_call(model, dict(zip([n for n, _ in model.named_parameters()], pieces)), (data.x_train,))
        return loss_fn(out, data.y_train)

    hessian = torch.autograd.functional.hessian(loss_of, flat0)
    top = float(torch.linalg.eigvalsh(hessian)[-1])
    final = table[(table["method"] == "gd") & (table["point"] == "final")].iloc[0]
    assert abs(final["lambda_max"] - top) <= max(final["lanczos_residual"], 1e-9 * top)
    assert abs(final["trace"] - float(torch.trace(hessian))) <= 4 * final["trace_se"]


def test_bad_config_is_one_clear_error():
    with pytest.raises(UsageError, match="FlatnessConfig: target_losses must be"):
        FlatnessConfig(target_losses=(0.0,))


def test_verify_kinds_run_the_experiments_as_json():
    """The ``flatness`` and ``saddle_network`` kinds of ``stablesam verify`` run the experiments from JSON settings
    (lists for tuples) and return JSON documents the claims read."""
    import json

    from stablesam.analysis.verify.claims.c10_flatness import RULE, log_ratios
    from stablesam.analysis.verify.experiments import KINDS

    flat = KINDS["flatness"].run(methods=["gd", "sam"], n_train=100, steps=30, seeds=[0], target_losses=[0.3],
                                 hidden=[8], probes=4)
    table = pd.DataFrame.from_records(json.loads(json.dumps(flat))["table"])
    assert set(table["point"]) == {"loss<=0.3", "final"} and set(table["method"]) == {"gd", "sam"}
    values, missing = log_ratios(table, "sam", 0.3)
    assert len(values) + missing == 1 and RULE.min_units > 1
    net = KINDS["saddle_network"].run(methods=["gd", "sam", "stablesam-n"], rhos=[0.05], n_train=100, steps=20,
                                      seeds=[0, 1], window=5)
    rows = pd.DataFrame.from_records(json.loads(json.dumps(net))["table"])
    assert set(rows["method"]) == {"gd", "sam", "stablesam-n"} and set(rows["seed"]) == {0, 1}
