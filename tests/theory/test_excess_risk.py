"""Excess-risk bounds, their optimal learning rate, regimes and maximal learning rates (docs/theory.md section 5).

Published pieces: the stability term is Hardt, Recht and Singer 2016 (arXiv:1509.01240), Thm 3.8; the
averaged-iterate optimization term D^2/(2 eta T) + eta L^2/2 is the standard SGD bound (Nemirovski, Juditsky,
Lan and Shapiro 2009, section 2.2). The SAM-family optimization terms are derived (module docstring).
"""

import math

import numpy as np
import pytest
import sympy as sp
from scipy.optimize import minimize

from stablesam.theory.excess_risk import (
    bound_function,
    compare_bounds,
    convex_sgd_excess_risk,
    convex_sgd_optimal_lr,
    excess_risk,
    excess_risk_function,
    lr_limit,
    max_lr_for_target,
    optimal_lr,
    optimization_error,
    regimes,
)

CONSTANTS = dict(L=1.0, D=1.0, n=100, T=100)


def test_reference_values_by_hand():
    # L = D = 1, n = T = 100: 1 + 4T/n = 5, eta* = 1/sqrt(500), value sqrt(5/100) (docs/theory.md section 5).
    eta, value = convex_sgd_optimal_lr(**CONSTANTS)
    assert eta == pytest.approx(1 / math.sqrt(500), rel=1e-15)
    assert value == pytest.approx(math.sqrt(0.05), rel=1e-15)
    # At eta = 0.1: 1/(2*0.1*100) + 0.1/2 = 0.1 (optimization) and 2*0.1*100/100 = 0.2 (generalization).
    risk = convex_sgd_excess_risk(0.1, **CONSTANTS)
    assert (risk.optimization, risk.generalization, risk.total) == pytest.approx((0.1, 0.2, 0.3), rel=1e-14)


def test_optimal_lr_and_value_sympy():
    eta, D, L, T, n = sp.symbols("eta D L T n", positive=True)
    excess = D**2 / (2 * eta * T) + eta * L**2 / 2 + 2 * eta * T * L**2 / n
    (critical,) = sp.solve(sp.diff(excess, eta), eta)
    assert sp.simplify(critical - D / (L * sp.sqrt(T * (1 + 4 * T / n)))) == 0
    assert sp.simplify(sp.diff(excess, eta, 2).subs(eta, critical)).is_positive
    assert sp.simplify(excess.subs(eta, critical) - D * L * sp.sqrt((1 + 4 * T / n) / T)) == 0
    values = {D: 2.0, L: 0.5, T: 1000, n: 300}
    got = convex_sgd_optimal_lr(L=0.5, D=2.0, n=300, T=1000)
    assert got == pytest.approx((float(critical.subs(values)), float(excess.subs(eta, critical).subs(values))), rel=1e-13)


def test_numerical_optimisation_finds_the_closed_form_optimum():
    objective = excess_risk_function("sgd", beta=1.0, **CONSTANTS)
    eta, value = optimal_lr(objective, 1e-5, lr_limit("sgd", "convex", beta=1.0))
    closed_eta, closed_value = convex_sgd_optimal_lr(**CONSTANTS)
    assert eta == pytest.approx(closed_eta, rel=1e-5) and value == pytest.approx(closed_value, rel=1e-12)


def test_numerical_optimum_of_a_bound_without_closed_form_is_a_local_minimum():
    objective = excess_risk_function("usam", beta=1.0, rho=0.05, **CONSTANTS)
    eta, value = optimal_lr(objective, 1e-5, 2.0)
    assert value <= objective(eta * (1 + 1e-4)) and value <= objective(eta * (1 - 1e-4))
    grid = np.geomspace(1e-5, 2.0, 2000)
    assert value <= min(objective(x) for x in grid) * (1 + 1e-12)


def test_rho_to_zero_recovers_sgd_excess_risk():
    sgd = excess_risk("sgd", 0.05, beta=1.0, **CONSTANTS).total
    for method in ("usam", "sam", "stablesam-u", "stablesam-n"):
        risk = excess_risk(method, 0.05, beta=1.0, rho=1e-14, gamma=1.0, assumption="shared-gamma", **CONSTANTS)
        assert risk.total == pytest.approx(sgd, rel=1e-9)


def test_regime_boundary_matches_the_sympy_root():
    # StableSAM-N under shared-gamma vs SGD: SSN - SGD = (D^2/(2 eta T))(1/gamma - 1) - K eta (1 - gamma) + C,
    # K = L^2 (1/2 + 2T/n), C = rho L + 4 rho L T (1 - 1/n) (derived terms, module docstring).
    eta = sp.symbols("eta", positive=True)
    D, L, T, n, rho, gamma, beta = 1, 1, 100, 100, sp.Rational(1, 10000), sp.Rational(1, 2), 1
    sgd = D**2 / (2 * eta * T) + eta * L**2 / 2 + 2 * eta * T * L**2 / n
    ssn = D**2 / (2 * gamma * eta * T) + gamma * eta * L**2 / 2 + rho * L + 4 * rho * L * T * (1 - sp.Rational(1, n)) + 2 * gamma * eta * T * L**2 / n
    roots = [float(r) for r in sp.solve(sp.Eq(ssn, sgd), eta) if r.is_positive]
    assert len(roots) == 1
    # gamma = 1/2 is feasible for StableSAM-N when ||g|| >= g_min = rho beta (gamma_t >= g_min/(g_min + rho beta)).
    a = excess_risk_function("stablesam-n", beta=1.0, rho=1e-4, gamma=0.5, assumption="shared-gamma", g_min=1e-4, **CONSTANTS)
    b = excess_risk_function("sgd", beta=1.0, **CONSTANTS)
    (interval,) = regimes(a, b, 1e-4, 10.0, rtol=0.0)  # the exact root (rtol = 1e-9 moves it by ~1e-9 relative)
    assert interval[0] == pytest.approx(roots[0], rel=1e-10)
    # Beyond SGD's 2/beta its bound says nothing: that is not "better" (issue 14, defect 4), it is reported as
    # b_silent up to StableSAM's own limit 2/(gamma beta) = 4, and a_silent beyond.
    assert interval[1] == pytest.approx(2 / beta, rel=1e-10)
    parts = compare_bounds(a, b, 1e-4, 10.0, rtol=0.0)
    assert parts.b_silent == [(pytest.approx(2.0, rel=1e-10), pytest.approx(4.0, rel=1e-10))]
    assert parts.a_silent == [(pytest.approx(4.0, rel=1e-10), 10.0)]
    assert parts.not_better[0][0] == 1e-4 and parts.not_better[0][1] == pytest.approx(roots[0], rel=1e-10)


def test_regimes_count_neither_silence_nor_rounding_as_better():
    # Regression (issue 14, defect 4): main counted inf < inf as False but finite < inf as "beats", and a
    # difference of one ulp as "beats".
    finite_until_one = lambda lr: lr if lr <= 1.0 else math.inf  # noqa: E731
    assert regimes(lambda lr: 0.5 * lr, finite_until_one, 0.1, 2.0) == [(0.1, pytest.approx(1.0, rel=1e-12))]
    ulp = lambda lr: lr * (1 - 1e-15)  # noqa: E731
    assert regimes(ulp, lambda lr: lr, 0.1, 2.0) == []
    assert regimes(ulp, lambda lr: lr, 0.1, 2.0, rtol=0.0) == [(0.1, 2.0)]
    parts = compare_bounds(lambda lr: math.inf, lambda lr: lr, 0.1, 2.0)
    assert parts.a_silent == [(0.1, 2.0)] and parts.better == []


def test_usam_stability_bound_never_beats_sgds_and_stablesam_extends_the_range():
    sgd = bound_function("sgd", "convex", beta=1.0, L=1.0, n=100, T=100)
    usam = bound_function("usam", "convex", beta=1.0, L=1.0, n=100, T=100, rho=0.1)
    assert regimes(usam, sgd, 1e-4, 4.0) == []
    # The smallest gamma any trajectory can meet is 1/(1 + rho beta) = 1/1.1 (an assumption about the trajectory):
    # the "extended range" is then 2 (1 + rho beta)/beta = 2.2, not 2/gamma for an arbitrary gamma.
    stable = bound_function("stablesam-u", "convex", beta=1.0, L=1.0, n=100, T=100, rho=0.1, gamma=1 / 1.1, assumption="shared-gamma")
    parts = compare_bounds(stable, usam, 1e-4, 4.0)
    (interval,) = parts.better
    assert interval[0] == 1e-4 and interval[1] == pytest.approx(2.0)
    assert parts.b_silent == [(pytest.approx(2.0), pytest.approx(2.2))]
    # With gamma = 1, the only cap that holds on every trajectory, StableSAM-U's bound is USAM's: never better.
    certain = bound_function("stablesam-u", "convex", beta=1.0, L=1.0, n=100, T=100, rho=0.1, gamma=1.0, assumption="shared-gamma")
    assert regimes(certain, usam, 1e-4, 4.0) == [] and regimes(certain, sgd, 1e-4, 4.0) == []


def test_max_lr_for_target_matches_the_inverse_of_thm_3_8():
    # eps = 2 L^2 eta T / n  =>  eta = eps n / (2 L^2 T).
    bound = bound_function("sgd", "convex", beta=1.0, L=1.0, n=100, T=100)
    result = max_lr_for_target(bound, 0.5, 2.0)
    assert result.binding == "target" and result.lr == pytest.approx(0.25, rel=1e-12) and result.bound <= 0.5
    relaxed = max_lr_for_target(bound, 10.0, 2.0)
    assert relaxed.binding == "condition" and relaxed.lr == 2.0
    # Non-convex (eta_t = c/t): largest c with the Thm 3.12 bound below eps; no closed form, check both sides.
    nonconvex = bound_function("sgd", "nonconvex", beta=1.0, L=1.0, n=1000, T=10000)
    found = max_lr_for_target(nonconvex, 0.3, 100.0)
    assert nonconvex(found.lr) <= 0.3 < nonconvex(found.lr * (1 + 1e-9))


def test_optimization_terms_hold_in_simulation():
    # Stochastic SGD / USAM on a convex logistic loss (random labels: a finite minimiser exists).
    rng = np.random.default_rng(5)
    n, d, T, reps = 30, 3, 300, 400
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1).max()
    y = rng.choice([-1.0, 1.0], size=n)
    L = float(np.linalg.norm(X, axis=1).max())

    def risk(w):
        return np.mean(np.logaddexp(0.0, -(w @ X.T) * y), axis=-1)

    w_star = minimize(lambda w: risk(w), np.zeros(d), method="BFGS", options={"gtol": 1e-12}).x
    D = float(np.linalg.norm(w_star))  # w_0 = 0
    eta, rho = 0.5, 0.3

    def grad(w, idx):
        x, label = X[idx], y[idx]
        return -(label / (1 + np.exp(np.sum(w * x, axis=1) * label)))[:, None] * x

    for method in ("sgd", "usam"):
        w = np.zeros((reps, d))
        average = np.zeros_like(w)
        for _ in range(T):
            idx = rng.integers(n, size=reps)
            g = grad(w, idx)
            direction = g if method == "sgd" else grad(w + rho * g, idx)
            average += w / T
            w = w - eta * direction
        gap = float(np.mean(risk(average)) - risk(w_star))
        bound = optimization_error(method, eta, L=L, D=D, T=T, rho=rho)
        assert 0 < gap <= bound


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: convex_sgd_excess_risk(3.0, beta=1.0, **CONSTANTS), r"lr=3 violates eta <= 2/beta = 2 required by the convex theorem"),
        (lambda: convex_sgd_optimal_lr(L=1.0, D=0.0, n=10, T=10), r"D must be > 0"),
        (lambda: excess_risk("stablesam-u", 0.1, beta=1.0, **CONSTANTS), r"assumption"),
        (lambda: optimal_lr(lambda x: x, 1.0, 0.5), r"lr_min=1 must be < lr_max=0.5"),
        (lambda: optimal_lr(lambda x: math.inf, 0.1, 0.5), r"infinite on the whole range"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
