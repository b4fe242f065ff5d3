"""Model-level maximal stable learning rates: hand formulas (docs/theory.md §3) and measured curvature."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.analysis.experiments.test_lr_scan import one_thread  # noqa: F401 (autouse fixture: one intra-op thread)
from stablesam.analysis.experiments.least_squares_digits import least_squares_problem
from stablesam.analysis.experiments.measured_thresholds import max_stable_learning_rates, measure_curvature
from tests.analysis.curvature.test_hessian import _mlp, _data, dense_hessian


def test_reference_values_by_hand():
    # lambda = 10, rho = 0.05, ||g|| = 0.5: GD 2/10; USAM 2/(10 (1 + 0.5)) (Agarwala & Dauphin 2023);
    # SAM 2/(10 (1 + 0.05*10/0.5)) = 0.1 (Long & Bartlett 2023); StableSAM-U/-N as GD (docs/theory.md §3).
    rates = max_stable_learning_rates(10.0, rho=0.05, grad_norm=0.5)
    expected = {"gd": 0.2, "usam": 2 / 15, "sam": 0.1, "stablesam-u": 0.2, "stablesam-n": 0.2}
    for method, eta in expected.items():
        assert rates[method] == pytest.approx(eta, rel=1e-15)


def test_non_positive_curvature_has_no_curvature_limit():
    assert all(math.isinf(v) for v in max_stable_learning_rates(-1.0, rho=0.05, grad_norm=1.0).values())


def test_measured_thresholds_on_least_squares_use_the_exact_hessian():
    problem = least_squares_problem(generator=np.random.default_rng(0))
    report = measure_curvature(problem.model, problem.loss_fn, (problem.x, problem.y), rho=0.05, k=2,
                               trace_probes=30, generator=np.random.default_rng(1))
    lam = problem.eigenvalues[::-1][:2]
    assert np.max(np.abs(report.eigenvalues - lam) / lam[0]) < 1e-6 and report.converged
    design = np.hstack([problem.x.numpy(), np.ones((len(problem.x), 1))])
    w = np.concatenate([problem.model.weight.detach().numpy().ravel(), problem.model.bias.detach().numpy()])
    grad = design.T @ (design @ w - problem.y.numpy()) / len(design)
    assert report.grad_norm == pytest.approx(np.linalg.norm(grad), rel=1e-12)
    assert report.max_stable_lr["usam"] == pytest.approx(2 / (lam[0] * (1 + 0.05 * lam[0])), rel=1e-6)
    assert report.max_stable_lr["sam"] == pytest.approx(2 / (lam[0] * (1 + 0.05 * lam[0] / np.linalg.norm(grad))), rel=1e-6)
    assert abs(report.trace - np.trace(problem.hessian)) < 4 * report.trace_standard_error
    rows = report.rows(run="ls")
    assert {r["metric"] for r in rows} >= {"eigenvalue_1", "residual_1", "grad_norm", "trace", "max_stable_lr"}


def test_measured_sharpness_of_a_network_matches_its_dense_hessian():
    model, (x, y) = _mlp(), _data()
    report = measure_curvature(model, F.cross_entropy, (x, y), rho=0.1, generator=np.random.default_rng(0))
    lam = np.linalg.eigvalsh(dense_hessian(model, x, y))[-1]
    assert report.sharpness == pytest.approx(lam, rel=1e-6)
    assert report.max_stable_lr["gd"] == pytest.approx(2 / lam, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"rho": -0.1, "grad_norm": 1.0}, ValueError),
        ({"rho": 0.1}, ValueError),  # SAM needs ||g||
        ({"rho": 0.1, "grad_norm": 1.0, "methods": ["adam"]}, ValueError),
        ({"rho": "0.1", "grad_norm": 1.0}, TypeError),
    ],
)
def test_bad_inputs(kwargs, error):
    with pytest.raises(error):
        max_stable_learning_rates(2.0, **kwargs)
    with pytest.raises(ValueError):
        max_stable_learning_rates(float("nan"), rho=0.1, grad_norm=1.0)
