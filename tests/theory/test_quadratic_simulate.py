"""Vectorised simulator and observed thresholds (stablesam.theory.simulate) against the maps and the exact thresholds."""

import math

import numpy as np
import pytest

from stablesam.theory.quadratic import METHODS, Quadratic, step
from stablesam.theory.simulate import observed_lr_max, simulate
from stablesam.theory.quadratic_divergence import convergence_rate, divergence_threshold

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("method", METHODS)
def test_vectorised_run_equals_per_configuration_loop(method):
    lam = RNG.uniform(0.1, 3.0, (6, 3))
    lr = RNG.uniform(0.05, 1.2, 6)
    rho = RNG.uniform(0.0, 0.5, 6)
    start = RNG.standard_normal((6, 3))
    run = simulate(method, lam, lr=lr, rho=rho, start=start, steps=40, blowup=1e6)
    for i in range(6):
        model, w = Quadratic.from_spectrum(lam[i]), start[i]
        level = 1e6 * max(1.0, np.linalg.norm(w))
        step_at = -1
        for t in range(1, 41):
            w = step(method, model, w, lr[i], rho[i])
            if not np.linalg.norm(w) <= level:
                step_at = t
                break
        assert run.divergence_step[i] == step_at
        assert run.diverged[i] == (step_at > 0)
        np.testing.assert_allclose(run.final[i], w, rtol=1e-12, atol=1e-300)


def test_full_matrix_simulation_matches_spectrum():
    lam = np.array([2.0, 0.7, 0.3])
    q, _ = np.linalg.qr(RNG.standard_normal((3, 3)))
    start = RNG.standard_normal(3)
    run_m = simulate("stablesam-n", hessian=q @ np.diag(lam) @ q.T, lr=0.6, rho=0.2, start=start, steps=200)
    run_s = simulate("stablesam-n", lam, lr=0.6, rho=0.2, start=q.T @ start, steps=200)
    np.testing.assert_allclose(q @ run_s.final, run_m.final, rtol=1e-8, atol=1e-14)
    assert run_m.rate == pytest.approx(run_s.rate, rel=1e-8)


def test_rates_match_exact_linear_rates():
    lam = np.array([[3.0, 1.0, 0.2], [1.5, 1.0, 0.5]])
    lr = np.array([[0.1], [0.4], [0.6]])
    for method, rho in (("gd", 0.0), ("usam", 0.3)):
        run = simulate(method, lam, lr=lr, rho=rho, steps=400)
        exact = convergence_rate(method, lr, lam, rho=rho)
        converging = exact < 1
        np.testing.assert_allclose(run.rate[converging], exact[converging], rtol=1e-9)
        np.testing.assert_array_equal(run.diverged, ~converging)


def test_divergence_is_detected_at_the_right_step():
    # GD on lambda = 1, eta = 3: |x_t| = 2^t; blow-up level 1e6 is first exceeded at t = 20 (2^20 > 1e6 > 2^19).
    run = simulate("gd", [1.0], lr=3.0, steps=100, blowup=1e6)
    assert bool(run.diverged) and int(run.divergence_step) == 20
    assert float(run.rate) == pytest.approx(2.0, rel=1e-12)  # mean growth factor up to divergence
    # Non-finite iterates count as diverged (overflow in one step).
    run = simulate("gd", [1e300], lr=1e10, start=[1e10], steps=5)
    assert bool(run.diverged) and int(run.divergence_step) == 1


def test_sam_linear_growth_at_the_threshold_is_not_caught_by_a_finite_horizon():
    # Exact: at eta lambda = 2, |x_t| = |x_0| + 2 rho t (docs/theory.md sec. 2): divergence, but not geometric.
    run = simulate("sam", [4.0], lr=0.5, rho=0.05, start=[0.3], steps=500)
    assert not bool(run.diverged)
    assert float(run.final_norm) == pytest.approx(0.3 + 2 * 0.05 * 500, rel=1e-12)


def test_zero_start_and_exact_zero_do_not_give_nan():
    run = simulate("sam", [[1.0, 2.0]], lr=0.5, rho=0.1, start=np.zeros(2), steps=10)
    assert not run.diverged.any() and np.all(run.final == 0) and np.all(run.rate == 0)
    run = simulate("gd", [1.0], lr=1.0, steps=10)  # lands exactly on the minimum after one step
    assert float(run.rate) == 0.0 and float(run.final_norm) == 0.0


@pytest.mark.parametrize("method", METHODS)
def test_observed_threshold_matches_exact_within_the_horizon_bias(method):
    # Overestimate of order ln(B)/T (docs/theory.md sec. 2): here at most ln(1e8)/4000 = 0.0046, relative.
    lam = np.array([[2.0, 1.0, 0.3], [5.0, 4.0, 0.5]])
    rho = np.array([[0.1], [0.5]])
    steps, blowup = 4000, 1e8
    observed = observed_lr_max(method, lam, rho=rho, steps=steps, blowup=blowup)
    exact = divergence_threshold(method, lam, rho=rho)
    assert np.all(observed >= exact * (1 - 1e-4))
    assert np.all(observed <= exact * (1 + math.log(blowup) / steps))


def test_bias_shrinks_with_the_horizon():
    gaps = [observed_lr_max("gd", [1.0], steps=t, blowup=1e8, rel_tol=1e-7) / 2.0 - 1.0 for t in (250, 2000)]
    assert gaps[0] > 4 * gaps[1] > 0
    assert gaps[0] < math.log(1e8) / 250


def test_validation():
    with pytest.raises(ValueError, match="lr must be finite and > 0"):
        simulate("gd", [1.0], lr=0.0)
    with pytest.raises(ValueError, match="rho must be finite and >= 0"):
        simulate("sam", [1.0], lr=0.1, rho=-1.0)
    with pytest.raises(ValueError, match="start"):
        simulate("gd", [1.0, 2.0], lr=0.1, start=[1.0])
    with pytest.raises(ValueError, match="exactly one of"):
        simulate("gd", lr=0.1)
    with pytest.raises(ValueError, match="blowup"):
        simulate("gd", [1.0], lr=0.1, blowup=1.0)
