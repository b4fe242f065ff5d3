"""Closed forms of docs/theory.md section 2, each checked by sympy, by simulating the map, and by hand values.

Thresholds, SAM's 2-cycle and transverse multipliers, StableSAM's gamma ranges, coordinate multipliers and
2-D regimes, the USAM-vs-GD crossover, and the saddle multipliers.
"""

import numpy as np
import pytest

from stablesam.theory.quadratic import Quadratic, step
from stablesam.theory.renormalization import (
    flat_dominated_multiplier,
    gamma,
    gamma_range,
    stablesam_2d_boundaries,
    stablesam_2d_rate,
    stablesam_2d_regime,
    stablesam_coordinate_multipliers,
)
from stablesam.theory.saddle import saddle_multiplier
from stablesam.theory.sam_cycle import sam_cycle_amplitude, sam_cycle_grad_norm, sam_transverse_multipliers
from stablesam.theory.simulate import simulate
from stablesam.theory.symbolic import derive
from stablesam.theory.quadratic_divergence import convergence_rate, divergence_threshold, quadratic_map_diverges, usam_gd_crossover

RNG = np.random.default_rng(2023)


# --- thresholds -----------------------------------------------------------------------------------


def test_thresholds_hand_values():
    # GD: classical 2/lambda. USAM: eta lambda (1 + rho lambda) = 2 (Agarwala & Dauphin 2023):
    # lambda = 4, rho = 0.25 -> 2/(4 * 2) = 0.25. SAM (Foret et al. 2021's update) diverges at eta lambda >= 2.
    assert divergence_threshold("gd", [4.0, 1.0]) == 0.5
    assert divergence_threshold("usam", [4.0, 1.0], rho=0.25) == 0.25
    assert divergence_threshold("sam", [4.0, 1.0], rho=0.3) == 0.5
    assert divergence_threshold("stablesam-u", [4.0, 1.0], rho=0.3) == 0.5
    assert bool(quadratic_map_diverges("sam", 0.5, [4.0], rho=0.1)) and not bool(quadratic_map_diverges("gd", 0.5, [4.0]))
    assert not bool(quadratic_map_diverges("stablesam-n", 0.5, [4.0], rho=0.1)) and bool(quadratic_map_diverges("stablesam-n", 0.5000001, [4.0], rho=0.1))
    # GD rate max |1 - eta lambda_i|: eta = 0.3 on (4, 1): max(0.2, 0.7) = 0.7.
    assert convergence_rate("gd", 0.3, [4.0, 1.0]) == pytest.approx(0.7, rel=1e-15)


@pytest.mark.parametrize("method", ["gd", "usam", "sam", "stablesam-u", "stablesam-n"])
def test_diverges_predicate_matches_simulation_away_from_the_threshold(method):
    lam = RNG.uniform(0.2, 3.0, (40, 4))
    rho = RNG.uniform(0.0, 0.5, 40)
    exact = divergence_threshold(method, lam, rho=rho)
    lr = exact * RNG.choice([0.9, 1.1], 40)  # 10 % away: far beyond the horizon bias at T = 2000
    run = simulate(method, lam, lr=lr, rho=rho, steps=2000, start=RNG.standard_normal((40, 4)))
    np.testing.assert_array_equal(run.diverged, quadratic_map_diverges(method, lr, lam, rho=rho))


def test_stablesam_converges_below_threshold_in_simulation_up_to_d10():
    # Proved in 1-D/2-D; docs/theory.md: observed in simulation for d <= 10. Check that observation on random spectra.
    for method in ("stablesam-u", "stablesam-n"):
        lam = RNG.uniform(0.05, 2.0, (60, 10))
        lr = 0.95 * 2.0 / lam.max(axis=-1)
        run = simulate(method, lam, lr=lr, rho=RNG.uniform(0.01, 1.0, 60), steps=3000,
                       start=RNG.standard_normal((60, 10)))
        assert not run.diverged.any()
        assert np.all(run.rate < 1.0)


# --- SAM's 2-cycle --------------------------------------------------------------------------------


def test_sam_cycle_hand_values_and_sympy():
    # c = eta rho lambda/(2 - eta lambda): eta = 0.5, rho = 0.1, lambda = 3 -> 0.15/0.5 = 0.3; ||g|| = 3 c = 0.9.
    assert sam_cycle_amplitude(0.5, 3.0, 0.1) == pytest.approx(0.3, rel=1e-15)
    assert sam_cycle_grad_norm(0.5, 3.0, 0.1) == pytest.approx(0.9, rel=1e-15)
    eta, lam, rho = RNG.uniform(0.01, 1.0, 30), RNG.uniform(0.1, 1.9, 30), RNG.uniform(0.0, 1.0, 30)
    eta = eta / lam  # eta lambda in (0.01, 1) ... keep eta lambda < 2
    np.testing.assert_allclose(sam_cycle_amplitude(eta, lam, rho), derive("sam_cycle_amplitude").lambdify()(eta, lam, rho),
                               rtol=1e-13)
    np.testing.assert_allclose(sam_cycle_grad_norm(eta, lam, rho), derive("sam_cycle_grad_norm").lambdify()(eta, lam, rho),
                               rtol=1e-13)


def test_sam_cycle_amplitude_matches_simulation():
    lam = np.array([2.5, 1.0, 0.4, 0.1])
    eta = np.array([0.1, 0.3, 0.6, 0.75])  # eta lambda_1 from 0.25 to 1.875
    run = simulate("sam", lam, lr=eta, rho=0.07, steps=6000, start=RNG.standard_normal(4))
    c = sam_cycle_amplitude(eta, 2.5, 0.07)
    np.testing.assert_allclose(np.abs(run.final[:, 0]), c, rtol=1e-8)
    np.testing.assert_allclose(run.final[:, 1:], 0.0, atol=1e-8)
    np.testing.assert_allclose(run.rate, 1.0, rtol=1e-9)  # never converges


def test_sam_transverse_multipliers_sympy_jacobian_and_simulation():
    eta, l1, lj = RNG.uniform(0.01, 1.9, 20), np.full(20, 2.0), RNG.uniform(0.05, 1.95, 20)
    eta = eta / l1
    numeric = sam_transverse_multipliers(eta, np.stack([l1, lj], axis=-1))[:, 1]
    np.testing.assert_allclose(numeric, derive("sam_transverse_multiplier").lambdify()(eta, l1, lj), rtol=1e-12)
    # Hand value: eta = 0.5, lambda_1 = 2, lambda_j = 1: 1 - 0.5 - (1/4)(2 - 1) = 0.25.
    assert sam_transverse_multipliers(0.5, [2.0, 1.0])[1] == pytest.approx(0.25, rel=1e-15)
    # Finite-difference Jacobian of the actual map at the cycle point c v_1.
    lam = np.array([2.0, 1.3, 0.4])
    model, rho, lr = Quadratic.from_spectrum(lam), 0.1, 0.7
    c = sam_cycle_amplitude(lr, 2.0, rho)
    expected = sam_transverse_multipliers(lr, lam)
    for j in (1, 2):
        h = 1e-7
        e = np.zeros(3)
        e[j] = h
        base = np.array([c, 0.0, 0.0])
        derivative = (step("sam", model, base + e, lr, rho) - step("sam", model, base - e, lr, rho))[j] / (2 * h)
        assert derivative == pytest.approx(expected[j], rel=1e-6)
        # Simulation: a small transverse perturbation decays by m_j^2 every two steps.
        w = base + 1e-9 * np.eye(3)[j]
        w2 = step("sam", model, step("sam", model, w, lr, rho), lr, rho)
        assert w2[j] / w[j] == pytest.approx(expected[j] ** 2, rel=1e-5)


# --- StableSAM: gamma, multipliers, 2-D regimes ----------------------------------------------------


def test_gamma_ranges_hand_values_sympy_and_sampling():
    # U: [1/(1 + rho lambda_max), 1/(1 + rho lambda_min)]: lambda = (4, 1), rho = 0.5 -> [1/3, 2/3].
    np.testing.assert_allclose(gamma_range("stablesam-u", [4.0, 1.0], 0.5), (1 / 3, 2 / 3), rtol=1e-15)
    # N at ||g|| = 1: [1/(1 + 2), 1/(1 + 0.5)].
    np.testing.assert_allclose(gamma_range("stablesam-n", [4.0, 1.0], 0.5, grad_norm=1.0), (1 / 3, 2 / 3), rtol=1e-15)
    lam1, rho, g = RNG.uniform(0.1, 5, 20), RNG.uniform(0, 2, 20), RNG.uniform(0.01, 3, 20)
    np.testing.assert_allclose(gamma_range("stablesam-u", lam1[:, None], rho)[0],
                               derive("stablesam-u_gamma_eigenvector").lambdify()(lam1, rho), rtol=1e-14)
    np.testing.assert_allclose(gamma_range("stablesam-n", lam1[:, None], rho, grad_norm=g)[0],
                               derive("stablesam-n_gamma_eigenvector").lambdify()(lam1, rho, g), rtol=1e-14)
    # gamma at random points lies in the range, which is attained along the eigenvectors.
    lam = np.array([3.0, 1.0, 0.2])
    w = RNG.standard_normal((500, 3))
    for method in ("stablesam-u", "stablesam-n"):
        values = gamma(method, lam, w, 0.4)
        g_norm = np.linalg.norm(lam * w, axis=-1)
        low, high = gamma_range(method, lam, 0.4, grad_norm=g_norm if method == "stablesam-n" else None)
        assert np.all((values >= low * (1 - 1e-14)) & (values <= high * (1 + 1e-14)) & (values <= 1))
        along = gamma(method, lam, np.eye(3), 0.4)
        ends = gamma_range(method, lam, 0.4, grad_norm=lam if method == "stablesam-n" else None)
        np.testing.assert_allclose(along[[0, 2]], [np.atleast_1d(ends[0])[0], np.atleast_1d(ends[1])[-1]], rtol=1e-14)


@pytest.mark.parametrize("method", ["stablesam-u", "stablesam-n"])
def test_coordinate_multipliers_sympy_and_map(method):
    lam = np.array([2.0, 0.5])
    w = RNG.uniform(0.1, 2.0, (30, 2))
    eta, rho = RNG.uniform(0.05, 1.0, 30), RNG.uniform(0.0, 1.0, 30)
    numeric = stablesam_coordinate_multipliers(method, eta, lam, w, rho)
    symbolic = derive(f"{method}_coordinate_multiplier").lambdify()(eta, lam[0], lam[1], rho, w[:, 0], w[:, 1])
    np.testing.assert_allclose(numeric[:, 0], symbolic, rtol=1e-12)
    np.testing.assert_allclose(numeric * w, step(method, Quadratic.from_spectrum(lam), w, eta, rho), rtol=1e-12)
    # g = 0: multiplier 1 (zero step), never NaN.
    np.testing.assert_array_equal(stablesam_coordinate_multipliers(method, 0.5, lam, [0.0, 0.0], 0.3), [1.0, 1.0])


def test_flat_dominated_multiplier_hand_sympy_and_map():
    # U: 1 - eta lambda_1 (1 + rho lambda_1)/(1 + rho lambda_k); eta = 0.9, lambda = (2, 0.01), rho = 1:
    # 1 - 1.8 * 3/1.01 = -4.346...: amplification although eta < 2/lambda_1 = 1.
    expected = 1 - 1.8 * 3 / 1.01
    assert flat_dominated_multiplier("stablesam-u", 0.9, 2.0, 0.01, 1.0) == pytest.approx(expected, rel=1e-14)
    model = Quadratic.from_spectrum([2.0, 0.01])
    w = np.array([1e-8, 1e3])  # the flat direction dominates g
    assert step("stablesam-u", model, w, 0.9, 1.0)[0] / w[0] == pytest.approx(expected, rel=1e-6)
    args = RNG.uniform(0.1, 1.0, (4, 20))
    np.testing.assert_allclose(flat_dominated_multiplier("stablesam-u", args[0], 1 + args[1], args[2], args[3]),
                               derive("stablesam-u_flat_dominated_multiplier").lambdify()(args[0], 1 + args[1], args[2], args[3]),
                               rtol=1e-13)
    np.testing.assert_allclose(
        flat_dominated_multiplier("stablesam-n", args[0], 1 + args[1], args[2], args[3], grad_norm=args[1]),
        derive("stablesam-n_flat_dominated_multiplier").lambdify()(args[0], 1 + args[1], args[2], args[3], args[1]),
        rtol=1e-13)


def test_2d_regimes_hand_values():
    # U, lambda = (2, 1), rho = 0.5: c = (2, 1.5), p = (4, 1.5); boundaries 2 c_2/5.5 = 6/11, 2 c_1/5.5 = 8/11;
    # bouncing factor (4 - 1.5)/5.5 = 5/11.
    np.testing.assert_allclose(stablesam_2d_boundaries("stablesam-u", 2.0, 1.0, 0.5), (6 / 11, 8 / 11), rtol=1e-15)
    assert stablesam_2d_rate("stablesam-u", 0.6, 2.0, 1.0, 0.5) == pytest.approx(5 / 11, rel=1e-15)
    assert stablesam_2d_rate("stablesam-u", 0.5, 2.0, 1.0, 0.5) == pytest.approx(0.5, rel=1e-15)  # 1 - eta lambda_2
    assert stablesam_2d_rate("stablesam-u", 0.9, 2.0, 1.0, 0.5) == pytest.approx(0.8, rel=1e-15)  # |1 - eta lambda_1|
    assert stablesam_2d_regime("stablesam-u", 0.6, 2.0, 1.0, 0.5) == "bouncing"
    # N near the minimum, lambda = (2, 1): boundaries (2/5, 4/5), factor 3/5.
    np.testing.assert_allclose(stablesam_2d_boundaries("stablesam-n", 2.0, 1.0, 0.1), (0.4, 0.8), rtol=1e-15)
    assert stablesam_2d_rate("stablesam-n", 0.5, 2.0, 1.0, 0.1) == pytest.approx(0.6, rel=1e-15)
    # rho = 0: StableSAM-U is GD and the bouncing interval collapses to 2/(lambda_1 + lambda_2).
    np.testing.assert_allclose(stablesam_2d_boundaries("stablesam-u", 2.0, 1.0, 0.0), (2 / 3, 2 / 3), rtol=1e-15)


@pytest.mark.parametrize("method", ["stablesam-u", "stablesam-n"])
def test_2d_regimes_sympy(method):
    l2 = RNG.uniform(0.1, 1.0, 20)
    l1, rho = l2 + RNG.uniform(0.1, 2.0, 20), RNG.uniform(0.05, 1.0, 20)
    factor, low, high = (np.ravel(v) for v in derive(f"{method}_2d_bouncing").lambdify()(l1, l2, rho))
    b_low, b_high = stablesam_2d_boundaries(method, l1, l2, rho)
    np.testing.assert_allclose(b_low, low, rtol=1e-13)
    np.testing.assert_allclose(b_high, high, rtol=1e-13)
    np.testing.assert_allclose(stablesam_2d_rate(method, 0.5 * (b_low + b_high), l1, l2, rho), factor, rtol=1e-13)


@pytest.mark.parametrize("method", ["stablesam-u", "stablesam-n"])
def test_2d_rates_match_simulation_in_all_three_regimes(method):
    l1, l2, rho = 2.0, 1.0, (0.5 if method == "stablesam-u" else 0.1)
    low, high = stablesam_2d_boundaries(method, l1, l2, rho)
    eta = np.array([0.5 * low, 0.9 * low, 1.05 * low, 0.5 * (low + high), 0.95 * high, 1.05 * high, 0.95])
    run = simulate(method, [l1, l2], lr=eta, rho=rho, start=[1.0, 1.0], steps=4000)
    assert not run.diverged.any()
    # N's formula is the ||g|| -> 0 limit: the simulated rate approaches it as the iterate converges.
    np.testing.assert_allclose(run.rate, stablesam_2d_rate(method, eta, l1, l2, rho), rtol=2e-3)


# --- USAM vs GD -----------------------------------------------------------------------------------


def test_usam_gd_crossover_hand_sympy_and_rates():
    # 2/(lambda_max (1 + rho lambda_max) + lambda_min): (4, 1), rho = 0.25 -> 2/(8 + 1) = 2/9.
    assert usam_gd_crossover([4.0, 1.0], 0.25) == pytest.approx(2 / 9, rel=1e-15)
    lmax, lmin, rho = RNG.uniform(1.0, 5.0, 20), RNG.uniform(0.05, 0.9, 20), RNG.uniform(0.01, 1.0, 20)
    lam = np.stack([lmax, lmin], axis=-1)
    crossing = usam_gd_crossover(lam, rho)
    np.testing.assert_allclose(crossing, derive("usam_gd_crossover").lambdify()(lmax, lmin, rho), rtol=1e-14)
    for factor, usam_faster in ((0.98, True), (1.02, False)):
        eta = factor * crossing
        faster = convergence_rate("usam", eta, lam, rho=rho) < convergence_rate("gd", eta, lam)
        assert np.all(faster == usam_faster)
    # Simulation of both maps confirms the measured rates on one spectrum (with a middle eigenvalue too).
    lam3 = np.array([4.0, 2.0, 1.0])
    eta = np.array([0.98, 1.02]) * usam_gd_crossover(lam3, 0.25)
    usam_rate = simulate("usam", lam3, lr=eta, rho=0.25, steps=1000).rate
    gd_rate = simulate("gd", lam3, lr=eta, steps=1000).rate
    assert usam_rate[0] < gd_rate[0] and usam_rate[1] > gd_rate[1]


# --- saddles --------------------------------------------------------------------------------------


def test_saddle_multipliers_hand_values():
    # lambda = -2 (a = 2), eta = 0.1. GD 1.2; USAM rho = 1: 1 + 0.2 (1 - 2) = 0.8 (attracted since rho a > 1).
    assert saddle_multiplier("gd", -2.0, 0.1) == pytest.approx(1.2)
    assert saddle_multiplier("usam", -2.0, 0.1, rho=1.0) == pytest.approx(0.8)
    assert saddle_multiplier("stablesam-u", -2.0, 0.1, rho=0.25) == pytest.approx(1.2)  # rho a < 1: GD's
    assert saddle_multiplier("stablesam-u", -2.0, 0.1, rho=1.0) == pytest.approx(0.8)  # rho a > 1: attracted
    assert saddle_multiplier("stablesam-n", -2.0, 0.1, rho=0.5, x=0.2) == pytest.approx(0.8)  # |x| < rho
    assert saddle_multiplier("stablesam-n", -2.0, 0.1, rho=0.5, x=0.7) == pytest.approx(1.2)
    assert saddle_multiplier("sam", -2.0, 0.1, rho=0.5, x=0.25) == pytest.approx(0.8)  # 1 + 0.2 (1 - 2)


@pytest.mark.parametrize("method", ["gd", "usam", "sam", "stablesam-u", "stablesam-n"])
def test_saddle_multipliers_sympy_and_map(method):
    a = RNG.uniform(0.1, 3.0, 40)
    eta, rho, x = RNG.uniform(0.01, 0.5, 40), RNG.uniform(0.05, 2.0, 40), RNG.uniform(0.01, 2.0, 40)
    x = np.where(np.abs(x - rho) < 1e-3, x + 0.01, x)
    numeric = saddle_multiplier(method, -a, eta, rho=rho, x=x)
    mapped = step(method, Quadratic.from_spectrum(-a[:, None]), x[:, None], eta, rho)[:, 0] / x
    np.testing.assert_allclose(numeric, mapped, rtol=1e-12)
    f = derive(f"{method}_saddle_multiplier").lambdify()
    if method in ("gd",):
        np.testing.assert_allclose(numeric, f(eta, a), rtol=1e-13)
    elif method == "usam":
        np.testing.assert_allclose(numeric, f(eta, a, rho), rtol=1e-13)
    elif method == "sam":
        np.testing.assert_allclose(numeric, f(eta, a, rho, x), rtol=1e-13)
    else:
        repelled, attracted = (np.ravel(v) for v in f(eta, a))
        side = (rho * a < 1) if method == "stablesam-u" else (x > rho)
        np.testing.assert_allclose(numeric, np.where(side, repelled, attracted), rtol=1e-13)


def test_validation_of_exact_functions():
    with pytest.raises(ValueError, match="eigenvalues must be >= 0"):
        divergence_threshold("gd", [1.0, -1.0])
    with pytest.raises(ValueError, match="no 2-cycle"):
        sam_cycle_amplitude(1.0, 2.0, 0.1)
    with pytest.raises(ValueError, match="lambda1 > lambda2"):
        stablesam_2d_rate("stablesam-u", 0.1, 1.0, 2.0, 0.1)
    with pytest.raises(ValueError, match="needs grad_norm"):
        gamma_range("stablesam-n", [1.0], 0.1)
    with pytest.raises(ValueError, match="needs x"):
        saddle_multiplier("sam", -1.0, 0.1, rho=0.1)
    with pytest.raises(ValueError, match="curvature must be finite and < 0"):
        saddle_multiplier("gd", 1.0, 0.1)
    with pytest.raises(ValueError, match="rho must be finite and > 0"):
        usam_gd_crossover([2.0, 1.0], 0.0)
