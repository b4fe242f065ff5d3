"""Edge of stability on networks: the measurement, the edges, the GD plateau, resume, bad input.

References for the hand-written edge formulas: GD ``2/eta`` (classical); USAM
``(sqrt(1 + 8 rho/eta) - 1)/(2 rho)`` (Agarwala and Dauphin 2023, "SAM operates far from home");
SAM ``(||g||/(2 rho))(sqrt(1 + 8 rho/(eta ||g||)) - 1)`` (Long and Bartlett 2023, "Sharpness-aware
minimization and the edge of stability"); StableSAM-U/-N ``2/eta`` (docs/theory.md section 3).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from stablesam.analysis.experiments.edge_of_stability import (
    COLUMNS,
    EosConfig,
    _loss_function,
    _Run,
    plateau_ratios,
    plateau_summary,
    run_edge_of_stability,
)
from stablesam.analysis.curvature.eigen import lanczos_top_eigenpairs
from stablesam.analysis.curvature.hessian import HessianOperator
from stablesam.core.validation import UsageError
from stablesam.stability.data import load_dataset
from stablesam.cli import main

# A tiny model (310 parameters): the dense Hessian is cheap.
TINY = dict(n_train=40, hidden=(4,), steps=30, measure_every=10)


def wide(table: pd.DataFrame, run: str) -> pd.DataFrame:
    return table[table["run"] == run].pivot_table(index="step", columns="metric", values="value")


def test_recorded_sharpness_is_the_dense_hessians_top_eigenvalue(tmp_path):
    config = EosConfig(methods=("gd",), lrs=(0.2,), **TINY)  # the measurement is the same code for every method
    result = run_edge_of_stability(config, tmp_path, progress=False)
    data = load_dataset("digits", generator=np.random.default_rng(0), n_train=40, dtype=torch.float64)
    loss_fn = _loss_function("mse", 10)
    for spec in config.runs():
        run = _Run(config, spec, data, loss_fn, torch.device("cpu"), torch.float64)
        fresh = HessianOperator(run.model, loss_fn, (run.x, run.y)).dense()
        run.load(torch.load(tmp_path / "runs" / f"{spec.name}.pt", weights_only=True))
        trained = HessianOperator(run.model, loss_fn, (run.x, run.y)).dense()
        rows = wide(result.table, spec.name)
        for step, dense in ((0, fresh), (config.steps, trained)):
            top = np.linalg.eigvalsh((dense + dense.T) / 2)[-1]
            # Symmetric H: some eigenvalue lies within the residual ||H v - theta v|| of the Ritz value theta;
            # 1e-12 relative covers the dense matrix's own rounding (d = 310 products in float64).
            bound = rows.loc[step, "lanczos_residual"] + 1e-12 * abs(top)
            assert abs(rows.loc[step, "sharpness"] - top) <= bound, (spec.name, step)


def test_edge_columns_are_the_published_formulas():
    config = EosConfig(methods=("gd", "sam", "usam", "stablesam-u", "stablesam-n"), lrs=(0.3,), rhos=(0.05, 0.2),
                       n_train=40, hidden=(4,), steps=10, measure_every=5)
    table = run_edge_of_stability(config, progress=False).table
    checked = set()
    for (run, optimizer, lr, rho), group in table.groupby(["run", "optimizer", "lr", "rho"]):
        rows = group.pivot_table(index="step", columns="metric", values="value").dropna(subset=["edge"])
        assert len(rows) >= 2  # a diverged run (USAM at rho = 0.2) still has its first measurements
        if optimizer in ("gd", "stablesam-u", "stablesam-n"):
            expected = np.full(len(rows), 2 / lr)
        elif optimizer == "usam":
            expected = np.full(len(rows), (math.sqrt(1 + 8 * rho / lr) - 1) / (2 * rho))
        else:
            g = rows["grad_norm"].to_numpy()
            expected = g / (2 * rho) * (np.sqrt(1 + 8 * rho / (lr * g)) - 1)
        # Two float64 evaluations of one formula (textbook form here, cancellation-free in stablesam.theory.stability_edge):
        # the textbook form loses about eps / (1 - 1/sqrt(1 + 8 r/eta)) < 1e-14 relative here.
        np.testing.assert_allclose(rows["edge"].to_numpy(), expected, rtol=1e-12)
        np.testing.assert_allclose(rows["sharpness_ratio"], rows["sharpness"] / rows["edge"], rtol=1e-15)
        checked.add(optimizer)
    assert checked == set(config.methods)
    assert set(table.loc[table["optimizer"] == "gd", "rho"]) == {0.0}  # GD runs once per lr, without rho


# GD on a small tanh MLP (digits, 300 examples, 32-32, square loss, full batch) at eta = 0.15: the sharpness at
# initialisation is 1.9-2.9 x 2/eta over seeds 0-5, so GD cannot stay where it starts (eta lambda > 2) and, after the
# catapult, progressive sharpening brings it back to 2/eta. Measured before choosing (seeds 0-5, 500 steps):
# final sharpness/(2/eta) 0.95-1.03, plateau ratios 0.91-1.00; at eta = 0.1 (initial ratio 1.3-1.9) the final
# ratio was 0.83-1.01 (too close to 0.8 to test); at eta = 0.2 with 32 hidden units GD diverged.
# The test measures every 100 steps (the plateau is then the median of steps 300, 400, 500; 0.89-0.97 in the
# measurement above).
GD_EOS = dict(methods=("gd",), lrs=(0.15,), n_train=300, hidden=(32, 32), steps=500, measure_every=100)


def check_gd_at_the_edge(seeds):
    result = run_edge_of_stability(EosConfig(seeds=seeds, **GD_EOS), progress=False)
    for run, _ in result.table.groupby("run"):
        rows = wide(result.table, run)
        assert rows["sharpness_ratio"].iloc[0] > 1.5  # the design: it starts well above the edge
        assert 0.8 <= rows["sharpness_ratio"].iloc[-1] <= 1.2, run
    assert result.ratios["plateau_ratio"].between(0.8, 1.2).all()


def test_gd_ends_at_its_edge_on_a_small_tanh_mlp():
    check_gd_at_the_edge((0,))


@pytest.mark.slow
def test_gd_ends_at_its_edge_on_a_small_tanh_mlp_over_seeds():
    check_gd_at_the_edge((1, 2, 3))


def test_resume_after_an_interruption_reproduces_the_run(tmp_path, monkeypatch):
    config = EosConfig(methods=("gd", "stablesam-n"), lrs=(0.2,), n_train=60, hidden=(8,), steps=40, measure_every=10,
                       checkpoint_every=10, batch_size=16)
    reference = run_edge_of_stability(config, tmp_path / "a", progress=False)
    original = _Run.train_step

    def interrupted(self):
        if self.spec.optimizer == "stablesam-n" and self.step == 25:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(_Run, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_edge_of_stability(config, tmp_path / "b", progress=False)
    monkeypatch.setattr(_Run, "train_step", original)
    resumed = run_edge_of_stability(config, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(resumed.table, reference.table, check_exact=True)
    assert pd.read_csv(tmp_path / "b" / "metrics.csv").shape == reference.table.shape


def test_divergence_is_recorded_as_data():
    result = run_edge_of_stability(EosConfig(methods=("gd",), lrs=(50.0,), n_train=40, hidden=(4,), steps=20,
                                             measure_every=5), progress=False)
    assert (result.table["metric"] == "diverged").sum() == 1
    assert result.ratios["diverged"].all() and result.ratios["plateau_ratio"].isna().all()
    assert result.summary["diverged"].tolist() == [1]


def test_plateau_ratio_is_the_median_over_the_last_half():
    ratios = [2.0, 1.5, 0.9, 1.1, 1.0, 5.0]  # steps 0, 10, ..., 50: the last half is steps >= 25
    rows = []
    for seed, shift in ((0, 0.0), (1, 0.2)):
        for step, r in zip(range(0, 60, 10), ratios):
            for metric, value in (("sharpness", 10 * (r + shift)), ("edge", 10.0), ("sharpness_ratio", r + shift)):
                rows.append((f"gd_seed{seed}", seed, "gd", 0.0, 0.2, step, metric, value, "m", "digits"))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    per_run = plateau_ratios(table)
    assert per_run["plateau_ratio"].tolist() == pytest.approx([np.median([1.1, 1.0, 5.0]), np.median([1.3, 1.2, 5.2])])
    summary = plateau_summary(per_run)
    assert summary.loc[0, "plateau_ratio_min"] == pytest.approx(1.1)
    assert summary.loc[0, "plateau_ratio_max"] == pytest.approx(1.3)
    assert summary.loc[0, "seeds"] == 2


def test_warm_start_needs_fewer_products():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((200, 200)))
    h = (q * np.linspace(0.0, 10.0, 200)) @ q.T
    cold = lanczos_top_eigenpairs(h, generator=np.random.default_rng(1), tol=1e-8, ncv=6)
    near = q[:, -1] + 1e-3 * rng.standard_normal(200)
    warm = lanczos_top_eigenpairs(h, generator=np.random.default_rng(1), tol=1e-8, ncv=6, v0=near)
    assert warm.eigenvalues[0] == pytest.approx(10.0, rel=1e-10) and cold.eigenvalues[0] == pytest.approx(10.0, rel=1e-10)
    assert warm.num_hvps < cold.num_hvps
    with pytest.raises(ValueError, match="v0"):
        lanczos_top_eigenpairs(h, generator=np.random.default_rng(1), v0=np.zeros(200))


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"methods": ("asam",)}, "methods must be"),
        ({"lrs": (0.0,)}, "lrs must be"),
        ({"rhos": (-0.1,)}, "rhos must be"),
        ({"model": "resnet20"}, "model"),
        ({"activation": "gelu"}, "activation"),
        ({"loss": "hinge"}, "loss"),
        ({"steps": 0}, "steps"),
        ({"seeds": (0, 0)}, "distinct seeds"),
        ({"steps": 10**30}, "steps"),
        ({"divergence_factor": 1.0}, "divergence_factor"),
    ],
)
def test_bad_config_is_a_usage_error(changes, match):
    with pytest.raises(UsageError, match=match):
        EosConfig(**changes)


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--methods", "gd", "foo"], "methods must be"),
        (["--lrs", "-1"], "lrs must be"),
        (["--batch-size", "100000"], "batch_size"),
        (["--figure", "out.txt"], "--figure"),
        (["--dataset", "linear-regression"], "regression"),
        (["--dataset", "nope"], "dataset"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2_with_nothing_written(argv, match, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["eos", "--n-train", "40", "--hidden", "4", "--steps", "2", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err and err.startswith("stablesam eos: error:")
    assert not out.exists()


def test_cli_refuses_a_directory_of_another_experiment(tmp_path, capsys):
    args = ["eos", "--methods", "gd", "--n-train", "40", "--hidden", "4", "--steps", "4", "--measure-every", "2",
            "--out", str(tmp_path)]
    assert main(args + ["--json"]) == 0
    capsys.readouterr()
    assert main(args[:-1] + [str(tmp_path), "--steps", "6"]) == 2
    assert "different config" in capsys.readouterr().err
    assert main(args + ["--steps", "6", "--overwrite", "--json"]) == 0
    assert pd.read_csv(tmp_path / "metrics.csv")["step"].max() == 6


def test_cli_json_and_figure(tmp_path, capsys):
    import json

    figure = tmp_path / "eos.png"
    assert main(["eos", "--methods", "gd", "sam", "--n-train", "40", "--hidden", "4", "--steps", "6",
                 "--measure-every", "3", "--figure", str(figure), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [row["optimizer"] for row in result["plateau_ratios"]] == ["gd", "sam"]
    assert figure.is_file() and figure.with_suffix(".pdf").is_file()


def test_off_a_terminal_each_finished_run_is_one_line(capsys):
    """``progress=None`` with stderr not a terminal (as under pytest): no bar, one line per run."""
    config = EosConfig(methods=("gd", "sam"), lrs=(0.2,), **TINY)
    run_edge_of_stability(config)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("eos: ")]
    assert [line.split(" (")[0] for line in lines] == ["eos: run 1/2", "eos: run 2/2"]
