"""Lanczos, power iteration and Hutchinson against dense linear algebra (numpy.linalg.eigh), float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.analysis.experiments.test_lr_scan import one_thread  # noqa: F401 (autouse fixture: one intra-op thread)
from stablesam.analysis.curvature.eigen import hutchinson_trace, lanczos_top_eigenpairs, power_iteration
from stablesam.analysis.curvature.hessian import HessianOperator
from tests.analysis.curvature.test_hessian import _bn_net, _data, _mlp, dense_hessian, reinitialise


def _cnn():
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(3 * 2 * 2, 3)
    ).double()
    return reinitialise(net, 4)


def _image_data(n=20):
    g = torch.Generator().manual_seed(5)
    return torch.randn(n, 1, 6, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("backend", ["double-backward", "func"])
def test_lanczos_matches_the_dense_spectrum_of_an_mlp(backend):
    model, (x, y) = _mlp(), _data()
    op = HessianOperator(model, F.cross_entropy, (x, y), backend=backend)
    exact = np.linalg.eigh(dense_hessian(model, x, y))
    result = lanczos_top_eigenpairs(op, k=3, generator=np.random.default_rng(0))
    top = exact.eigenvalues[::-1][:3]
    assert result.converged
    assert np.max(np.abs(result.eigenvalues - top) / np.abs(top)) < 1e-6
    assert np.all(result.residuals < 1e-8 * top[0])
    for i in range(3):  # eigenvectors up to sign
        assert abs(abs(result.eigenvectors[:, i] @ exact.eigenvectors[:, -1 - i]) - 1) < 1e-6
    assert result.num_hvps_residuals == 3
    assert op.num_hvps == result.num_hvps + result.num_hvps_residuals


def test_lanczos_on_a_batchnorm_cnn_and_largest_magnitude():
    model, (x, y) = _cnn(), _image_data()
    reference = np.linalg.eigvalsh(HessianOperator(model, F.cross_entropy, (x, y)).dense())
    op = HessianOperator(model, F.cross_entropy, (x, y), bn_mode="eval", chunk_size=8)
    la = lanczos_top_eigenpairs(op, k=2, generator=np.random.default_rng(1))
    assert np.max(np.abs(la.eigenvalues - reference[::-1][:2]) / reference[-1]) < 1e-6
    by_magnitude = reference[np.argsort(np.abs(reference))[::-1][:2]]
    lm = lanczos_top_eigenpairs(op, k=2, which="LM", generator=np.random.default_rng(1))
    assert np.max(np.abs(lm.eigenvalues - by_magnitude) / np.abs(by_magnitude[0])) < 1e-6


def test_lanczos_is_reproducible_from_its_generator():
    model, (x, y) = _bn_net(), _data()
    op = HessianOperator(model, F.cross_entropy, (x, y), bn_mode="train")
    a = lanczos_top_eigenpairs(op, k=2, generator=np.random.default_rng(7))
    b = lanczos_top_eigenpairs(op, k=2, generator=np.random.default_rng(7))
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)
    assert a.num_hvps == b.num_hvps


def test_lanczos_on_float32_products_meets_its_default_tolerance():
    model, (x, y) = _mlp(), _data()
    exact = np.linalg.eigvalsh(dense_hessian(model, x, y))[-1]
    result = lanczos_top_eigenpairs(
        HessianOperator(model, F.cross_entropy, (x, y), dtype=torch.float32), generator=np.random.default_rng(0)
    )
    assert result.tol == 1e-4 and result.converged
    assert abs(result.eigenvalues[0] - exact) < 1e-4 * exact


def test_lanczos_reports_non_convergence():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((300, 300))
    result = lanczos_top_eigenpairs(a @ a.T, k=4, ncv=5, max_restarts=1, tol=0.0, generator=rng)
    assert not result.converged and len(result.eigenvalues) < 4


def test_power_iteration_follows_the_pyhessian_stopping_rule():
    # Closed form for H = diag(lam), start v0 = z/||z||: v_t ∝ H^t v0, Rayleigh quotient
    # lambda_t = sum lam^(2t+1) z^2 / sum lam^(2t) z^2; stop at the first t >= 1 with
    # |lambda_t - lambda_(t-1)| / (|lambda_(t-1)| + 1e-6) < tol (PyHessian, Yao et al. 2020, hessian.eigenvalues).
    lam = np.array([2.0, 1.8, 1.0, 0.3, 0.1])
    z = np.random.default_rng(11).standard_normal(5)
    quotients = [np.sum(lam ** (2 * t + 1) * z**2) / np.sum(lam ** (2 * t) * z**2) for t in range(200)]
    for tol in (1e-2, 1e-3, 1e-6):
        stop = next(t for t in range(1, 200) if abs(quotients[t] - quotients[t - 1]) / (abs(quotients[t - 1]) + 1e-6) < tol)
        result = power_iteration(np.diag(lam), generator=np.random.default_rng(11), tol=tol, max_iter=500)
        assert result.num_hvps == stop + 1 and result.converged
        assert result.eigenvalues[0] == pytest.approx(quotients[stop], rel=1e-12)
    capped = power_iteration(np.diag(lam), generator=np.random.default_rng(11), tol=1e-12, max_iter=10)
    assert capped.num_hvps == 10 and not capped.converged


def test_power_iteration_with_deflation_finds_the_top_two():
    model, (x, y) = _mlp(), _data()
    exact = np.linalg.eigvalsh(dense_hessian(model, x, y))
    top2 = exact[np.argsort(np.abs(exact))[::-1][:2]]
    op = HessianOperator(model, F.cross_entropy, (x, y))
    result = power_iteration(op, k=2, tol=1e-12, max_iter=5000, generator=np.random.default_rng(0))
    np.testing.assert_allclose(result.eigenvalues, top2, rtol=1e-5)
    assert np.all(result.residuals < 1e-3 * abs(top2[0]))


def test_hutchinson_trace_is_within_four_standard_errors_on_a_network():
    model, (x, y) = _cnn(), _image_data()
    op = HessianOperator(model, F.cross_entropy, (x, y))
    trace = np.trace(op.dense())
    result = hutchinson_trace(op, num_probes=60, generator=np.random.default_rng(2))
    assert result.num_hvps == 60 and result.standard_error > 0
    assert abs(result.trace - trace) < 4 * result.standard_error


def test_hutchinson_standard_error_has_its_nominal_coverage():
    # 400 independent estimates (one generator): |estimate - trace| < 1.96 SE should hold ~95% of the time;
    # the binomial standard deviation of the rate is 0.011, so [0.90, 0.99] fails only for a miscalibrated SE.
    rng = np.random.default_rng(8)
    a = rng.standard_normal((40, 40))
    h = a @ a.T / 40 + np.diag(rng.uniform(0, 3, 40))
    trace = np.trace(h)
    hits = [abs((r := hutchinson_trace(h, 40, generator=rng)).trace - trace) < 1.96 * r.standard_error for _ in range(400)]
    assert 0.90 <= np.mean(hits) <= 0.99


def test_hutchinson_variance_matches_the_rademacher_formula():
    # Var(z^T H z) = 2 (||H||_F^2 - sum_i H_ii^2) for Rademacher z (Hutchinson 1989).
    rng = np.random.default_rng(9)
    a = rng.standard_normal((10, 10))
    h = a + a.T
    samples = hutchinson_trace(h, 20000, generator=rng).samples
    variance = 2 * (np.sum(h**2) - np.sum(np.diag(h) ** 2))
    assert samples.var(ddof=1) == pytest.approx(variance, rel=0.05)  # 20000 samples: sd of the ratio ~ 0.015


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: lanczos_top_eigenpairs(np.eye(3), k=4, generator=np.random.default_rng()), ValueError),
        (lambda: lanczos_top_eigenpairs(np.eye(3), k=0, generator=np.random.default_rng()), ValueError),
        (lambda: lanczos_top_eigenpairs(np.eye(3), generator=0), TypeError),
        (lambda: lanczos_top_eigenpairs(np.ones((3, 2)), generator=np.random.default_rng()), ValueError),
        (lambda: lanczos_top_eigenpairs(np.eye(3), which="SM", generator=np.random.default_rng()), ValueError),
        (lambda: power_iteration(np.eye(3), tol=-1.0, generator=np.random.default_rng()), ValueError),
        (lambda: power_iteration("H", generator=np.random.default_rng()), TypeError),
        (lambda: hutchinson_trace(np.eye(3), 0, generator=np.random.default_rng()), ValueError),
    ],
)
def test_bad_inputs_raise(call, error):
    with pytest.raises(error):
        call()


def test_lanczos_start_vector_v0_is_the_generators_draw_and_warm_starts_help():
    model, (x, y) = _mlp(), _data()
    op = HessianOperator(model, F.cross_entropy, (x, y))
    drawn = lanczos_top_eigenpairs(op, k=1, tol=1e-8, generator=np.random.default_rng(7))
    given = lanczos_top_eigenpairs(op, k=1, tol=1e-8, v0=np.random.default_rng(7).standard_normal(op.dim))
    np.testing.assert_array_equal(drawn.eigenvalues, given.eigenvalues)
    assert drawn.num_hvps == given.num_hvps
    # Started from (a slightly perturbed) top eigenvector, Lanczos needs fewer products for the same answer.
    warm = drawn.eigenvectors[:, 0] + 1e-3 * np.random.default_rng(8).standard_normal(op.dim) / np.sqrt(op.dim)
    warmed = lanczos_top_eigenpairs(op, k=1, tol=1e-8, v0=warm)
    assert warmed.num_hvps < drawn.num_hvps
    assert abs(warmed.eigenvalues[0] - drawn.eigenvalues[0]) < 1e-12 * drawn.eigenvalues[0]


@pytest.mark.parametrize("v0, error", [(np.zeros(3), ValueError), (np.ones(2), ValueError),
                                       (np.array([1.0, np.nan, 0.0]), ValueError), (None, TypeError)])
def test_lanczos_rejects_a_bad_start(v0, error):
    with pytest.raises(error):
        lanczos_top_eigenpairs(np.eye(3), k=1, v0=v0)


@pytest.mark.parametrize("k", [1, 5])
def test_default_basis_uses_fewer_products_than_arpacks_default_at_equal_accuracy(k):
    # A spectrum with the relative gap of a network Hessian (lambda_2/lambda_1 ~ 0.77, bulk near 0).
    rng = np.random.default_rng(11)
    q, _ = np.linalg.qr(rng.standard_normal((400, 400)))
    spectrum = np.concatenate([[1.0, 0.77, 0.74, 0.66, 0.58, 0.55], 0.5 * rng.random(394) ** 4])
    h = (q * spectrum) @ q.T
    for tol in (1e-2, 1e-4, 1e-6):
        ours = lanczos_top_eigenpairs(h, k=k, tol=tol, generator=np.random.default_rng(0))
        arpack = lanczos_top_eigenpairs(h, k=k, tol=tol, ncv=max(2 * k + 1, 20), generator=np.random.default_rng(0))
        assert ours.converged and ours.num_hvps < arpack.num_hvps
        # A Ritz value with residual r lies within r^2 / gap of its eigenvalue (Saad 2011, Thm 3.8 (Kato-
        # Temple)); ARPACK's test gives r <= tol |theta| <= tol lambda_1.
        gap = np.min(-np.diff(spectrum[: k + 1]))
        assert np.max(np.abs(ours.eigenvalues - spectrum[:k])) <= (tol * spectrum[0]) ** 2 / gap
