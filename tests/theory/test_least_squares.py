"""Exact least squares: population risk (Monte Carlo), trajectories (closed-form matrix powers), thresholds.

Reference facts are docs/theory.md section 2 (GD/USAM divergence thresholds, SAM's 2-cycle amplitude
c = eta rho lambda / (2 - eta lambda), StableSAM = GD in 1-D).
"""

import numpy as np
import pytest

from _rounding import propagated_rounding_bound
from stablesam.theory.least_squares import (
    certified_excess_risk,
    LS_METHODS,
    LinearModel,
    excess_risk_curves,
    final_iterates,
    lr_ranges_beating,
    step,
    training_error,
    trajectory,
)


@pytest.fixture(scope="module")
def problem():
    model = LinearModel(np.array([[1.0, 0.3, 0.0], [0.3, 0.4, 0.1], [0.0, 0.1, 0.05]]), np.array([1.0, -1.0, 0.5]), noise_std=0.5)
    X, y = model.sample(30, np.random.default_rng(0))
    H, b = X.T @ X / 30, X.T @ y / 30
    return model, X, y, H, b, np.linalg.solve(H, b)


def test_population_risk_matches_monte_carlo(problem):
    model = problem[0]
    rng = np.random.default_rng(10)
    X, y = model.sample(400_000, rng)
    for w in (np.zeros(3), np.array([0.5, 0.2, -1.0]), model.w_star):
        losses = 0.5 * (X @ w - y) ** 2
        estimate, standard_error = losses.mean(), losses.std() / np.sqrt(losses.size)
        assert abs(estimate - model.population_risk(w)) < 5 * standard_error
    assert model.population_risk(model.w_star) == pytest.approx(0.5 * 0.5**2)  # R(w*) = s^2 / 2
    assert np.cov(X.T) == pytest.approx(model.covariance, abs=0.01)


def test_training_error_is_the_empirical_quadratic(problem):
    _, X, y, H, b, _ = problem
    w = np.array([[0.3, -0.2, 1.0], [0.0, 0.0, 0.0]])
    terms = (0.5 * np.einsum("ki,ij,kj->k", w, H, w), -(w @ b), np.full(len(w), y @ y / (2 * len(y))))
    quadratic = sum(terms)
    # Two different sums of n products each: rounding of at most ~n eps times the magnitudes summed (factor 4).
    tolerance = 4 * len(y) * np.finfo(np.float64).eps * sum(np.abs(t) for t in terms)
    assert np.all(np.abs(training_error(X, y, w) - quadratic) <= tolerance)


def test_gd_and_usam_trajectories_match_matrix_powers(problem):
    _, X, y, H, _, w_hat = problem
    eta, rho, T = 0.7, 0.4, 60
    gd = final_iterates("gd", X, y, eta, rho=rho, T=T)
    assert np.allclose(gd - w_hat, np.linalg.matrix_power(np.eye(3) - eta * H, T) @ -w_hat, atol=1e-12)
    usam = final_iterates("usam", X, y, eta, rho=rho, T=T)
    M = np.eye(3) - eta * H - eta * rho * H @ H
    assert np.allclose(usam - w_hat, np.linalg.matrix_power(M, T) @ -w_hat, atol=1e-12)


def test_trajectory_ends_at_the_final_iterate_and_gd_training_error_decreases(problem):
    _, X, y, H, *_ = problem
    lam = np.linalg.eigvalsh(H)[-1]
    for method in LS_METHODS:
        path = trajectory(method, X, y, np.array([0.3, 1.1]), rho=0.2, T=30)
        assert path.shape == (31, 2, 3)
        assert np.array_equal(path[-1], final_iterates(method, X, y, np.array([0.3, 1.1]), rho=0.2, T=30))
    errors = training_error(X, y, trajectory("gd", X, y, 1.0 / lam, rho=0.0, T=50))
    assert np.all(np.diff(errors) < 0)  # eta <= 1/lambda_max: monotone descent on the quadratic


def test_vectorised_over_learning_rates_equals_one_run_per_rate(problem):
    # The two paths run different BLAS kernels (matrix-matrix vs vector-matrix products), whose summation
    # order differs between CPUs: they agree up to the propagated rounding (tests/_rounding.py), not bit for bit.
    # Each step rounds d-term dot products and a handful of vector operations: ops = d + 8.
    _, X, y, *_ = problem
    lrs, T, rng = np.array([0.1, 0.5, 1.3]), 40, np.random.default_rng(3)
    for method in LS_METHODS:
        batched = final_iterates(method, X, y, lrs, rho=0.2, T=T)
        single = np.stack([final_iterates(method, X, y, lr, rho=0.2, T=T) for lr in lrs])
        bound = propagated_rounding_bound(
            lambda w, k: final_iterates(method, X, y, lrs, rho=0.2, T=k, w0=w), np.zeros((3, X.shape[1])), T,
            ops=X.shape[1] + 8, rng=rng,
        )
        assert np.all(np.abs(batched - single).max(axis=-1) <= bound), (method, bound)


def test_rho_zero_reproduces_gd_bit_for_bit(problem):
    _, X, y, *_ = problem
    gd = final_iterates("gd", X, y, np.array([0.2, 0.9]), rho=0.0, T=50)
    for method in LS_METHODS:
        assert np.array_equal(final_iterates(method, X, y, np.array([0.2, 0.9]), rho=0.0, T=50), gd)


def test_one_dimensional_stablesam_is_gd_and_sam_settles_on_its_two_cycle():
    lam, eta, rho = 2.0, 0.6, 0.1
    H, b = np.array([[lam]]), np.array([lam * 1.5])  # minimiser w_hat = 1.5
    w = {m: np.array([[4.0]]) for m in LS_METHODS}
    for _ in range(400):
        w = {m: step(m, w[m], H, b, eta, rho) for m in LS_METHODS}
    gd = w["gd"]
    assert np.allclose(w["stablesam-u"], gd, rtol=1e-14) and np.allclose(w["stablesam-n"], gd, rtol=1e-14)
    amplitude = eta * rho * lam / (2 - eta * lam)  # docs/theory.md section 2
    assert abs(w["sam"][0, 0] - 1.5) == pytest.approx(amplitude, rel=1e-10)
    after = step("sam", w["sam"], H, b, eta, rho)
    assert after[0, 0] - 1.5 == pytest.approx(-(w["sam"][0, 0] - 1.5), rel=1e-10)


def test_divergence_thresholds(problem):
    model, X, y, H, *_ = problem
    lam = np.linalg.eigvalsh(H)[-1]
    rho, T = 0.3, 3000
    thresholds = {"gd": 2 / lam, "usam": 2 / (lam * (1 + rho * lam)), "stablesam-u": 2 / lam, "stablesam-n": 2 / lam}
    for method, limit in thresholds.items():
        risks = excess_risk_curves(model, X, y, [method], np.array([0.99 * limit, 1.01 * limit]), rho=rho, T=T)[method]
        assert risks[0] < 10 and risks[1] > 1e8, method


def test_usam_beats_gd_only_for_small_learning_rates_and_stablesam_reaches_larger_ones(problem):
    model, X, y, H, *_ = problem
    lam = np.linalg.eigvalsh(H)[-1]
    rho, T, lr_min, lr_max = 0.3, 100, 1e-3, 2.2 / lam
    usam = lr_ranges_beating(model, X, y, "usam", rho=rho, T=T, lr_min=lr_min, lr_max=lr_max, num=120)
    stable = lr_ranges_beating(model, X, y, "stablesam-u", rho=rho, T=T, lr_min=lr_min, lr_max=lr_max, num=120)
    assert usam and usam[0][0] == lr_min  # USAM wins at the smallest learning rates ...
    assert usam[-1][1] < 2 / (lam * (1 + rho * lam))  # ... and loses before its divergence threshold
    assert stable and stable[-1][1] > usam[-1][1]  # StableSAM-U's range reaches larger learning rates
    assert stable[-1][1] <= 2 / lam * (1 + 1e-9)  # but not past GD's threshold, where both diverge
    # Boundaries are where USAM's risk crosses GD's times (1 - rtol), rtol = 1e-6 (the tie tolerance).
    edge = usam[0][1]
    mine, gd = excess_risk_curves(model, X, y, ["usam", "gd"], np.array([edge * (1 - 1e-9), edge * (1 + 1e-9)]), rho=rho, T=T).values()
    assert mine[0] < gd[0] * (1 - 1e-6) and mine[1] >= gd[1] * (1 - 1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="symmetric"):
        LinearModel(np.array([[1.0, 2.0], [0.0, 1.0]]), np.zeros(2))
    with pytest.raises(ValueError, match="positive semi-definite"):
        LinearModel(np.diag([1.0, -1.0]), np.zeros(2))
    with pytest.raises(ValueError, match="method must be one of"):
        final_iterates("adam", np.ones((3, 2)), np.ones(3), 0.1, rho=0.1, T=3)


# ----------------------------------------------------------------------------------------------------
# Rounding (issue 14, defect 5): SAM's normalised ascent makes float64 noise where ||g|| passes near 0
# ----------------------------------------------------------------------------------------------------


def _figure_problem():
    model = LinearModel(np.diag(3.0 ** -np.arange(3)), (-1.0) ** np.arange(3), noise_std=0.5)
    X, y = model.sample(30, np.random.default_rng(0))
    return model, X, y


def _reference_sam_risk(model, X, y, lr, rho, T, dps):
    # Independent reference: mpmath matrices, SAM's step w - eta (g + rho H g / ||g||) written out here.
    import mpmath

    with mpmath.workdps(dps):
        Xm, ym = mpmath.matrix(X.tolist()), mpmath.matrix(y.tolist())
        H, b = Xm.T * Xm / len(y), Xm.T * ym / len(y)
        w = mpmath.matrix(X.shape[1], 1)
        for _ in range(T):
            g = H * w - b
            w = w - lr * (g + rho * H * g / mpmath.norm(g))
        e = w - mpmath.matrix(model.w_star.tolist())
        return float((e.T * mpmath.matrix(model.covariance.tolist()) * e)[0] / 2)


def test_sam_excess_risk_is_certified_where_float64_is_noise():
    model, X, y = _figure_problem()
    lr, rho, T = 0.2567, 0.3, 100
    reference = _reference_sam_risk(model, X, y, lr, rho, T, dps=100)
    assert reference == pytest.approx(4.79e-3, rel=1e-3)  # the 50-digit value
    value, digits = certified_excess_risk(model, X, y, "sam", lr, rho=rho, T=T)
    assert value == pytest.approx(reference, rel=1e-10) and digits >= 60
    # The curves use the certified value for SAM, not float64 (which is off by ~3e-4 relative here, and by
    # 8x with another BLAS summation order: the 5.7e-4).
    curve = excess_risk_curves(model, X, y, ["sam"], np.array([lr]), rho=rho, T=T)["sam"][0]
    assert curve == pytest.approx(reference, rel=1e-10)
    assert np.isnan(certified_excess_risk(model, X, y, "sam", lr, rho=rho, T=T, max_digits=30)[0])  # no agreement: nan


@pytest.mark.parametrize("method", ["gd", "usam", "stablesam-u"])
def test_float64_is_accurate_for_the_continuous_maps(method):
    # Error estimate: a backward-stable step with a bounded Lipschitz constant, T = 100 steps: ~1e-13 relative.
    model, X, y = _figure_problem()
    lrs = np.array([0.05, 0.2567, 1.0, 1.985])
    fast = excess_risk_curves(model, X, y, [method], lrs, rho=0.3, T=100)[method]
    for lr, value in zip(lrs, fast):
        exact, _ = certified_excess_risk(model, X, y, method, float(lr), rho=0.3, T=100)
        assert value == pytest.approx(exact, rel=1e-9)


def test_bands_treat_rounding_level_differences_as_ties():
    # At eta = 1.985 StableSAM-U and GD both converged; their risks differ by ~1e-14 relative. main's band
    # "StableSAM-U beats GD" reached 1.985; with the tie tolerance (1e-6 relative) it ends near 0.87.
    model, X, y = _figure_problem()
    gd, stable = excess_risk_curves(model, X, y, ["gd", "stablesam-u"], np.array([1.985]), rho=0.3, T=100).values()
    assert abs(gd[0] - stable[0]) < 1e-12 * gd[0]
    lam = np.linalg.eigvalsh(X.T @ X / 30)[-1]
    bands = lr_ranges_beating(model, X, y, "stablesam-u", rho=0.3, T=100, lr_min=1e-3 / lam, lr_max=2.2 / lam, num=120)
    assert bands and bands[-1][1] < 1.0
