"""Uniform-stability bounds: HRS closed forms vs the growth recursion, derived SAM-family constants by simulation.

Source of the published statements: M. Hardt, B. Recht, Y. Singer, "Train faster, generalize better:
stability of stochastic gradient descent", ICML 2016, arXiv:1509.01240 (HRS): Theorem 3.8 (convex),
Theorem 3.9 (strongly convex), Theorem 3.12 and Lemma 3.11 (non-convex), Lemma 3.7 (expansiveness).
"""

import math

import numpy as np
import pytest
import sympy as sp
from scipy.optimize import minimize_scalar

from stablesam.theory.growth_recursion import expected_distance, nonconvex_stability
from stablesam.theory.schedules import cosine, inverse_time, step_decay
from stablesam.theory.uniform_stability import (
    max_nonexpansive_lr,
    sam_convex,
    sgd_convex,
    sgd_nonconvex,
    sgd_strongly_convex,
    stability_bound,
    step_constants,
    usam_convex,
    usam_nonconvex,
)

# ----------------------------------------------------------------------------------------------------
# Reference values computed by hand from the theorem statements (HRS, arXiv:1509.01240)
# ----------------------------------------------------------------------------------------------------


def test_reference_values_by_hand():
    # Thm 3.8: 2 L^2 / n * sum eta_t = 2 * 1 * (0.1 * 1000) / 100 = 2.
    assert sgd_convex(0.1, L=1.0, beta=1.0, n=100, T=1000) == pytest.approx(2.0, rel=1e-14)
    # Thm 3.9: 2 L^2 / (mu n) = 2 * 4 / (0.5 * 40) = 0.4.
    assert sgd_strongly_convex(0.1, L=2.0, beta=1.0, mu=0.5, n=40) == pytest.approx(0.4, rel=1e-14)
    # Thm 3.12 with beta c = 1, L = 1, n = 101, T = 100: (1 + 1)/100 * 2^(1/2) * 100^(1/2) = 0.2 sqrt(2).
    assert sgd_nonconvex(1.0, L=1.0, beta=1.0, n=101, T=100) == pytest.approx(0.2 * math.sqrt(2), rel=1e-14)
    # Thm 3.12, beta c = 3 (beta = 3, c = 1), L = 1, n = 11, T = 16: (4/3)/10 * 2^(1/4) * 16^(3/4) = (4/3)(8)(2^0.25)/10.
    assert sgd_nonconvex(1.0, L=1.0, beta=3.0, n=11, T=16) == pytest.approx(4 / 3 * 8 * 2**0.25 / 10, rel=1e-14)
    # Derived USAM convex: 2 L^2/(n rho beta^2) ((1 + eta rho beta^2)^T - 1), eta rho beta^2 = 0.1, T = 2:
    # 2/(10 * 0.5) * (1.21 - 1) = 0.084.
    assert usam_convex(0.2, L=1.0, beta=1.0, rho=0.5, n=10, T=2) == pytest.approx(0.084, rel=1e-13)


# ----------------------------------------------------------------------------------------------------
# Closed forms vs the recursion they summarise
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["constant", "cosine", "step"])
def test_thm_3_8_equals_its_recursion(schedule):
    L, beta, n, T = 1.3, 2.0, 50, 400
    eta = {"constant": np.full(T, 0.7), "cosine": cosine(0.9, T), "step": step_decay(1.0, T, factor=0.3, every=100)}[schedule]
    k = step_constants("sgd", "convex", eta, L=L, beta=beta)
    assert np.array_equal(k.alpha, np.ones(T))  # HRS Lemma 3.7.2: 1-expansive for eta <= 2/beta
    recursion = L * expected_distance(k.alpha, k.sigma, n=n, T=T)[-1]
    assert sgd_convex(eta, L=L, beta=beta, n=n) == pytest.approx(recursion, rel=1e-12)


def test_thm_3_9_bounds_its_recursion_and_is_reached_as_T_grows():
    L, beta, mu, n, eta = 1.0, 2.0, 0.2, 30, 0.4  # eta <= 1/beta
    closed = sgd_strongly_convex(eta, L=L, beta=beta, mu=mu, n=n)
    k = step_constants("sgd", "strongly-convex", eta, L=L, beta=beta, mu=mu, T=2000)
    curve = L * expected_distance(k.alpha, k.sigma, n=n, T=2000)
    # Recursion in closed form: 2 L^2/(mu n) (1 - (1 - eta mu)^t).
    t = np.arange(2001)
    assert np.allclose(curve, closed * (1 - (1 - eta * mu) ** t), rtol=1e-12, atol=1e-15)
    assert np.all(curve <= closed * (1 + 1e-12)) and curve[-1] == pytest.approx(closed, rel=1e-12)
    assert curve[0] == 0.0  # T -> 0


@pytest.mark.parametrize(
    ("beta", "c", "L", "n", "T"),
    [(1.0, 1.0, 1.0, 101, 100), (2.0, 0.5, 0.5, 50, 1000), (10.0, 1.0, 0.3, 1000, 5000), (0.1, 3.0, 2.0, 200, 20000), (1.0, 0.1, 1.0, 100, 100000)],
)
def test_thm_3_12_is_an_upper_bound_on_the_recursion_and_not_loose(beta, c, L, n, T):
    eta = inverse_time(c, T)
    k = step_constants("sgd", "nonconvex", eta, L=L, beta=beta)
    recursion = nonconvex_stability(k.alpha, k.sigma, n=n, T=T, L=L)  # Lemma 3.11, best integer t0
    closed = sgd_nonconvex(c, L=L, beta=beta, n=n, T=T)
    assert recursion.eps <= closed
    assert closed <= 2.0 * recursion.eps  # the relaxations of the proof cost less than a factor 2 here


def test_thm_3_12_is_the_minimum_over_t0_of_its_relaxed_bound_sympy():
    # Proof of HRS Thm 3.12: eps <= t0/(n-1) + 2 L^2/(beta (n-1)) (T/t0)^(beta c), minimised over t0.
    t0, T, n, L, beta, c = sp.symbols("t0 T n L beta c", positive=True)
    relaxed = t0 / (n - 1) + 2 * L**2 / (beta * (n - 1)) * (T / t0) ** (beta * c)
    t_star = (2 * c * L**2) ** (1 / (beta * c + 1)) * T ** (beta * c / (beta * c + 1))
    values = {T: 1000, n: 50, L: sp.Rational(7, 10), beta: 2, c: sp.Rational(3, 4)}
    assert abs(sp.N(sp.diff(relaxed, t0).subs(t0, t_star).subs(values), 30)) < 1e-25  # stationary point
    closed = (1 + 1 / (beta * c)) / (n - 1) * (2 * c * L**2) ** (1 / (beta * c + 1)) * T ** (beta * c / (beta * c + 1))
    assert abs(sp.N((relaxed.subs(t0, t_star) - closed).subs(values), 30)) < 1e-25
    f = sp.lambdify(t0, relaxed.subs(values))
    numeric = minimize_scalar(lambda s: f(math.exp(s)), bounds=(0, math.log(1000)), method="bounded", options={"xatol": 1e-12})
    assert sgd_nonconvex(0.75, L=0.7, beta=2.0, n=50, T=1000) == pytest.approx(numeric.fun, rel=1e-9)


def test_usam_convex_closed_form_sympy_and_recursion():
    x, T, eta, L, n = sp.symbols("x T eta L n", positive=True)
    k = sp.symbols("k", integer=True, nonnegative=True)
    # Recursion with every step (1 + x)-expansive and 2 eta L / n added per step, x = eta rho beta^2:
    summed = sp.summation(2 * eta * L / n * (1 + x) ** k, (k, 0, T - 1)) * L
    closed = 2 * L**2 * eta / (n * x) * ((1 + x) ** T - 1)
    assert sp.simplify(summed - closed) == 0
    assert sp.limit(closed, x, 0) == 2 * L**2 * eta * T / n  # rho -> 0 gives HRS Thm 3.8
    # Numerically: the closed form bounds the recursion (whose differing step uses min(alpha, 1) = 1) and
    # meets it as n grows.
    L_, beta, rho, eta_, T_ = 1.0, 2.0, 0.05, 0.1, 200  # eta rho beta^2 = 0.02
    for n_, slack in [(20, 1.5), (10**6, 1 + 1e-4)]:
        c = step_constants("usam", "convex", eta_, L=L_, beta=beta, rho=rho, T=T_)
        recursion = L_ * expected_distance(c.alpha, c.sigma, n=n_, T=T_)[-1]
        closed_ = usam_convex(eta_, L=L_, beta=beta, rho=rho, n=n_, T=T_)
        assert recursion <= closed_ <= slack * recursion


def test_usam_nonconvex_is_thm_3_12_with_beta_prime_and_bounds_its_recursion():
    L, beta, rho, c, n, T = 1.0, 2.0, 0.25, 0.5, 100, 3000
    assert usam_nonconvex(c, L=L, beta=beta, rho=rho, n=n, T=T) == sgd_nonconvex(c, L=L, beta=beta * (1 + rho * beta), n=n, T=T)
    k = step_constants("usam", "nonconvex", inverse_time(c, T), L=L, beta=beta, rho=rho)
    assert np.allclose(k.alpha, 1 + inverse_time(c, T) * beta * (1 + rho * beta))
    assert nonconvex_stability(k.alpha, k.sigma, n=n, T=T, L=L).eps <= usam_nonconvex(c, L=L, beta=beta, rho=rho, n=n, T=T)


def test_sam_convex_closed_form_equals_its_affine_recursion():
    L, beta, rho, eta, n, T = 1.0, 1.0, 0.05, 0.5, 40, 300
    k = step_constants("sam", "convex", eta, L=L, beta=beta, rho=rho, T=T)
    recursion = L * expected_distance(k.alpha, k.sigma, n=n, T=T, tau=k.tau)[-1]
    assert sam_convex(eta, L=L, beta=beta, rho=rho, n=n, T=T) == pytest.approx(recursion, rel=1e-12)


# ----------------------------------------------------------------------------------------------------
# Limits
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["convex", "strongly-convex", "nonconvex"])
@pytest.mark.parametrize("method", ["usam", "sam", "stablesam-u", "stablesam-n"])
def test_rho_to_zero_recovers_sgd(method, setting):
    common = dict(L=1.0, beta=2.0, n=50, T=500, mu=0.3, gamma=1.0, assumption="shared-gamma")
    rate = {"c": 0.4} if setting == "nonconvex" else {"lr": 0.3}
    if setting == "nonconvex" and method in ("sam", "stablesam-n"):
        # SAM's non-convex bound is the recursion from the best t0: compare with SGD's recursion (Lemma 3.11).
        k = step_constants("sgd", setting, inverse_time(0.4, 500), L=1.0, beta=2.0)
        sgd = nonconvex_stability(k.alpha, k.sigma, n=50, T=500, L=1.0).eps
    else:
        sgd = stability_bound("sgd", setting, **rate, **common).eps
    # StableSAM-N's gamma_t has no floor without g_min (||g|| << rho beta), and the strongly convex constants
    # must hold down to the floor (the contraction 1 - gamma_t eta mu is weakest there): give g_min.
    common.update({"g_min": 1.0} if method == "stablesam-n" else {})
    previous = math.inf
    for rho in (1e-2, 1e-4, 1e-6, 1e-8):
        eps = stability_bound(method, setting, rho=rho, **rate, **common).eps
        assert sgd * (1 - 1e-9) <= eps < previous  # above SGD, decreasing towards it
        previous = eps
    assert eps == pytest.approx(sgd, rel=1e-5)
    assert stability_bound(method, setting, rho=0.0, **rate, **common).eps == pytest.approx(sgd, rel=1e-12)


def test_T_to_zero_gives_zero_except_the_T_free_strongly_convex_bound():
    for method in ("sgd", "usam", "sam", "stablesam-u", "stablesam-n"):
        for setting, rate in (("convex", {"lr": 0.3}), ("nonconvex", {"c": 0.4})):
            eps = stability_bound(method, setting, L=1.0, beta=2.0, n=50, T=0, rho=0.1, gamma=0.9, assumption="shared-gamma", **rate).eps
            assert eps == 0.0
        eps = stability_bound(method, "strongly-convex", L=1.0, beta=2.0, mu=0.5, n=50, T=0, lr=0.3, rho=0.1, gamma=0.9, assumption="shared-gamma").eps
        assert eps == (2.0 / (0.5 * 50) if method == "sgd" else 0.0)  # HRS 3.9 does not depend on T


# ----------------------------------------------------------------------------------------------------
# Derived constants, checked by simulating the actual maps on a convex, non-quadratic loss
# ----------------------------------------------------------------------------------------------------


def _logistic(rng, m=6, d=3):
    """F(w) = mean_i softplus(-y_i x_i.w): convex, C^2, Hessians at different points do not commute."""
    X = rng.normal(size=(m, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True).max()
    y = rng.choice([-1.0, 1.0], size=m)
    beta = np.linalg.eigvalsh(X.T @ X / m)[-1] / 4  # softplus'' <= 1/4
    L = float(np.linalg.norm(X, axis=1).max())

    def grad(w):
        margin = (w @ X.T) * y
        return -(y / (1 + np.exp(margin))) @ X / m

    return grad, beta, L


def _usam(grad, w, eta, rho):
    return w - eta * grad(w + rho * grad(w))


def _sam(grad, w, eta, rho):
    g = grad(w)
    norm = np.linalg.norm(g, axis=-1, keepdims=True)
    return w - eta * grad(w + rho * np.divide(g, norm, out=np.zeros_like(g), where=norm > 0))


def test_derived_usam_and_sam_constants_hold_on_random_pairs():
    rng = np.random.default_rng(3)
    grad, beta, _ = _logistic(rng)
    v, w = rng.normal(scale=3, size=(2, 4000, 3))
    w = np.where(rng.random((4000, 1)) < 0.5, v + rng.normal(scale=1e-3, size=v.shape), w)  # near pairs too
    dist = np.linalg.norm(v - w, axis=1)
    for eta in (0.1 / beta, 1.0 / beta, 2.0 / beta):
        rho = 5.0
        usam = np.linalg.norm(_usam(grad, v, eta, rho) - _usam(grad, w, eta, rho), axis=1)
        assert np.all(usam <= (1 + eta * rho * beta**2) * dist * (1 + 1e-12))
        sam = np.linalg.norm(_sam(grad, v, eta, rho) - _sam(grad, w, eta, rho), axis=1)
        assert np.all(sam <= dist + 4 * rho + 1e-12)
        k = step_constants("usam", "convex", eta, L=1.0, beta=beta, rho=rho, T=1)
        assert k.alpha[0] == pytest.approx(1 + eta * rho * beta**2)


def test_strongly_convex_step_contracts_by_one_minus_eta_mu():
    # Constant used for HRS Thm 3.9 (and, plus eta rho beta^2, for USAM): checked on F + mu/2 ||w||^2.
    rng = np.random.default_rng(6)
    grad_f, beta_f, _ = _logistic(rng)
    mu, rho = 0.05, 2.0
    beta = beta_f + mu

    def grad(w):
        return grad_f(w) + mu * w

    v, w = rng.normal(scale=3, size=(2, 4000, 3))
    dist = np.linalg.norm(v - w, axis=1)
    for eta in (0.2 / beta, 1.0 / beta):
        k = step_constants("sgd", "strongly-convex", eta, L=1.0, beta=beta, mu=mu, T=1)
        sgd = np.linalg.norm((v - eta * grad(v)) - (w - eta * grad(w)), axis=1)
        assert np.all(sgd <= k.alpha[0] * dist * (1 + 1e-12)) and k.alpha[0] == pytest.approx(1 - eta * mu)
        ku = step_constants("usam", "strongly-convex", eta, L=1.0, beta=beta, mu=mu, rho=rho, T=1)
        usam = np.linalg.norm(_usam(grad, v, eta, rho) - _usam(grad, w, eta, rho), axis=1)
        assert np.all(usam <= ku.alpha[0] * dist * (1 + 1e-12))


def test_stablesam_factor_is_at_most_one_on_convex_losses():
    # The reason gamma = 1 is a valid choice under the shared-gamma assumption for convex losses.
    rng = np.random.default_rng(4)
    grad, _, _ = _logistic(rng)
    w = rng.normal(scale=3, size=(5000, 3))
    g = grad(w)
    for rho in (0.1, 10.0):
        assert np.all(np.linalg.norm(grad(w + rho * g), axis=1) >= np.linalg.norm(g, axis=1) * (1 - 1e-12))
        unit = g / np.linalg.norm(g, axis=1, keepdims=True)
        assert np.all(np.linalg.norm(grad(w + rho * unit), axis=1) >= np.linalg.norm(g, axis=1) * (1 - 1e-12))


def test_stablesam_needs_a_named_assumption_and_then_is_its_base_at_gamma_eta():
    common = dict(L=1.0, beta=2.0, n=50, T=300, rho=0.2)
    with pytest.raises(ValueError, match="assumption='shared-gamma'"):
        stability_bound("stablesam-u", "convex", lr=0.3, **common)
    with pytest.raises(ValueError, match="assumption must be one of"):
        stability_bound("stablesam-u", "convex", lr=0.3, assumption="lipschitz-gamma", gamma=0.5, **common)
    with pytest.raises(ValueError, match="needs gamma"):
        stability_bound("stablesam-u", "convex", lr=0.3, assumption="shared-gamma", **common)
    gamma = 0.75  # feasible: gamma_t >= 1/(1 + rho beta) = 1/1.4 ~ 0.714
    stable = stability_bound("stablesam-u", "convex", lr=0.5, gamma=gamma, assumption="shared-gamma", **common)
    assert stable.derived and stable.assumption == "shared-gamma"
    assert stable.eps == pytest.approx(stability_bound("usam", "convex", lr=gamma * 0.5, **common).eps, rel=1e-14)
    stable_n = stability_bound("stablesam-n", "nonconvex", c=0.5, gamma=gamma, assumption="shared-gamma", **common)
    assert stable_n.eps == pytest.approx(stability_bound("sam", "nonconvex", c=gamma * 0.5, **common).eps, rel=1e-12)
    # gamma eta may exceed SGD's 2/beta range as long as gamma eta <= 2/beta.
    assert stability_bound("stablesam-u", "convex", lr=1.2, gamma=0.75, assumption="shared-gamma", **common).eps > 0
    with pytest.raises(ValueError, match="violates eta <= 2/beta"):
        stability_bound("usam", "convex", lr=1.2, **common)


# ----------------------------------------------------------------------------------------------------
# Largest non-expansive learning rates
# ----------------------------------------------------------------------------------------------------


def test_max_nonexpansive_lr_matches_the_quadratic_maps():
    beta, rho = 4.0, 0.3
    assert max_nonexpansive_lr("sgd", beta=beta) == 0.5  # 2/beta, HRS Lemma 3.7.2
    limit = max_nonexpansive_lr("usam", beta=beta, rho=rho, curvature="quadratic")
    assert limit == pytest.approx(2 / (beta * (1 + rho * beta)))
    H = np.diag([beta, 1.0, 0.0])  # spectrum in [0, beta]
    for eta, expansive in ((limit, False), (limit * 1.001, True)):
        J = np.eye(3) - eta * H - eta * rho * H @ H  # the USAM step on a quadratic is linear
        assert (np.linalg.norm(J, 2) > 1 + 1e-12) == expansive
    assert max_nonexpansive_lr("usam", beta=beta, rho=rho) == 0.0  # general convex: nothing certified
    assert max_nonexpansive_lr("usam", beta=beta, rho=0.0) == 0.5
    # SAM jumps across a critical point: 1-D quadratic, w = +-e, the images differ by ~ 2 eta rho lambda.
    assert max_nonexpansive_lr("sam", beta=beta, rho=rho, curvature="quadratic") == 0.0
    eta, e = 0.1, 1e-9
    jump = abs(_sam(lambda w: beta * w, np.array([[e]]), eta, rho) - _sam(lambda w: beta * w, np.array([[-e]]), eta, rho))[0, 0]
    assert jump == pytest.approx(2 * eta * rho * beta, rel=1e-6) and jump > 2 * e
    assert max_nonexpansive_lr("stablesam-u", beta=beta, rho=rho, curvature="quadratic", gamma=0.5, assumption="shared-gamma") == pytest.approx(2 * limit)
    with pytest.raises(ValueError, match="assumption"):
        max_nonexpansive_lr("stablesam-u", beta=beta, rho=rho)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sgd_convex(0.5, L=1, beta=10, n=10, T=3), r"lr=0.5 violates eta <= 2/beta = 0.2 required by the convex theorem"),
        (lambda: sgd_convex(np.r_[0.1, 0.3], L=1, beta=10, n=10), r"eta_t=0.3 at step t=2 violates eta <= 2/beta"),
        (lambda: sgd_strongly_convex(0.5, L=1, beta=4, mu=1, n=10), r"violates eta <= 1/beta = 0.25"),
        (lambda: sgd_strongly_convex(0.1, L=1, beta=1, mu=2, n=10), r"mu <= beta"),
        (lambda: sgd_nonconvex(1.0, L=1, beta=1, n=1, T=10), r"n must be an integer >= 2"),
        (lambda: sgd_convex(0.1, L=-1, beta=1, n=10, T=3), r"L must be > 0"),
        (lambda: stability_bound("adam", "convex", L=1, beta=1, n=10, T=3, lr=0.1), r"method must be one of"),
        (lambda: stability_bound("sgd", "nonconvex", L=1, beta=1, n=10, T=3, lr=0.1), r"needs c"),
    ],
)
def test_bad_input_names_the_violated_condition(call, message):
    with pytest.raises(ValueError, match=message):
        call()
