"""StableSAM's stability constants: the feasible range of gamma_t (shared-gamma) and the derived expansiveness
of its step (lipschitz-step), checked symbolically, by adversarial search on random smooth losses, and by hand.

Issue 14, defects 2 and 3. The StableSAM step is Tan et al. 2024 (arXiv:2401.07250): w - eta gamma g~ with
gamma = ||g|| / ||g~||, g~ the gradient at w + rho g (StableSAM-U) or w + rho g/||g|| (StableSAM-N).
"""

import math

import numpy as np
import pytest
import sympy as sp
from scipy.optimize import minimize
from scipy.special import expit

from stablesam.core.validation import UsageError
from stablesam.theory.uniform_stability import stability_bound, stablesam_expansiveness, stablesam_gamma_range, step_constants


# ----------------------------------------------------------------------------------------------------
# Random smooth losses: 1/2 w^T A w + sum_k c_k softplus(a_k . w + b_k), with a known smoothness bound
# ----------------------------------------------------------------------------------------------------


def _random_loss(rng, d=3, k=4, convex=False, softplus=True):
    """Gradient and a smoothness bound beta >= sup ||Hessian|| (softplus'' <= 1/4)."""
    M = rng.normal(size=(d, d))
    A = M @ M.T / d if convex else (M + M.T) / 2
    a, b = rng.normal(size=(k, d)), rng.normal(size=k)
    c = rng.uniform(0.5, 2.0, size=k) * softplus
    beta = np.linalg.norm(A, 2) + np.sum(c * np.sum(a**2, axis=1)) / 4

    def grad(w):
        z = w @ a.T + b
        return w @ A + (c * expit(z)) @ a

    return grad, beta


def _stablesam_step(grad, w, eta, rho, normalised):
    g = grad(w)
    g_norm = np.linalg.norm(g, axis=-1, keepdims=True)
    ascent = g / g_norm if normalised else g
    g_tilde = grad(w + rho * ascent)
    return w - eta * g_norm * g_tilde / np.linalg.norm(g_tilde, axis=-1, keepdims=True)


def _worst_ratio(grad, d, eta, rho, normalised, g_min, rng, starts):
    """max ||G(v) - G(w)|| / ||v - w|| found by Nelder-Mead from many starts (pairs with ||g|| >= g_min)."""

    def negative_ratio(x):
        v, w = x[:d], x[d:]
        gaps = np.linalg.norm(v - w)
        if gaps < 1e-9 or min(np.linalg.norm(grad(v)), np.linalg.norm(grad(w))) < max(g_min, 1e-12):
            return 0.0
        return -np.linalg.norm(_stablesam_step(grad, v, eta, rho, normalised) - _stablesam_step(grad, w, eta, rho, normalised)) / gaps

    best = 0.0
    for _ in range(starts):
        w = rng.normal(scale=2.0, size=d)
        x0 = np.concatenate([w + rng.normal(scale=10.0 ** rng.uniform(-3, 0), size=d), w])
        result = minimize(negative_ratio, x0, method="Nelder-Mead", options={"maxiter": 600, "xatol": 1e-10, "fatol": 1e-12})
        best = max(best, -result.fun, -negative_ratio(x0))
    return best


def adversarial_tightness(method, convex, *, seed, losses=3, starts=6, rho_beta=0.5, eta_beta=0.3):
    """Largest ratio found over ``losses`` random losses and (found - 1) / (constant - 1), the worst tightness."""
    rng = np.random.default_rng(seed)
    normalised = method == "stablesam-n"
    worst = []
    for trial in range(losses):
        grad, beta = _random_loss(rng, convex=convex, softplus=trial > 0)
        rho, eta = rho_beta / beta, eta_beta / beta
        g_min = 2.0 * rho * beta if normalised else None
        constant = float(stablesam_expansiveness(method, eta, beta=beta, rho=rho, g_min=g_min))
        found = _worst_ratio(grad, 3, eta, rho, normalised, g_min or 0.0, rng, starts=starts)
        worst.append((found, constant, (found - 1) / (constant - 1)))
    return worst


@pytest.mark.parametrize("method", ["stablesam-u", "stablesam-n"])
@pytest.mark.parametrize("convex", [True, False])
def test_adversarial_search_never_exceeds_the_derived_constant(method, convex):
    # The search maximises ||G(v) - G(w)|| / ||v - w|| over pairs; it must stay below 1 + eta beta K.
    # (found - 1) / (constant - 1) measures tightness (reported, not asserted: the constant is an upper bound).
    for found, constant, _ in adversarial_tightness(method, convex, seed=7 if convex else 8):
        assert 0.0 < found <= constant * (1 + 1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["stablesam-u", "stablesam-n"])
@pytest.mark.parametrize("convex", [True, False])
def test_adversarial_search_with_many_starts(method, convex):
    for rho_beta, eta_beta in ((0.5, 0.3), (0.9, 0.05), (0.1, 1.0)):
        for found, constant, _ in adversarial_tightness(method, convex, seed=17, losses=5, starts=30, rho_beta=rho_beta, eta_beta=eta_beta):
            assert found <= constant * (1 + 1e-12)


def test_pure_quadratic_constant_at_rho_zero_is_exact():
    # rho = 0: StableSAM is GD, w - eta A w, whose exact Lipschitz constant is max_i |1 - eta lambda_i|; with
    # A = diag(-beta, ...) it is 1 + eta beta, which the derived constant (K = 1 at rho = 0) meets exactly.
    # (Before issue 24 the constant was 1 + 3 eta beta here.) The sympy and hand checks: tests/theory/test_lipschitz_step.py.
    beta, eta = 2.0, 0.05
    assert float(stablesam_expansiveness("stablesam-u", eta, beta=beta, rho=0.0)) == pytest.approx(1 + eta * beta, rel=1e-15)
    grad = lambda w: w @ np.diag([-beta, 0.5, 1.0])  # noqa: E731
    w, v = np.zeros(3) + [1.0, 0.2, 0.1], np.zeros(3) + [2.0, 0.2, 0.1]
    ratio = np.linalg.norm(_stablesam_step(grad, v, eta, 0.0, False) - _stablesam_step(grad, w, eta, 0.0, False))
    assert ratio == pytest.approx(1 + eta * beta, rel=1e-12)


def test_lipschitz_step_bound_uses_the_constant_and_needs_its_conditions():
    common = dict(L=1.0, beta=2.0, n=50, T=200, rho=0.1)
    bound = stability_bound("stablesam-u", "convex", lr=0.1, assumption="lipschitz-step", **common)
    assert bound.derived and bound.assumption == "lipschitz-step" and "no assumption on gamma_t" in bound.assumption_detail
    k = step_constants("stablesam-u", "convex", 0.1, T=200, L=1.0, beta=2.0, rho=0.1, assumption="lipschitz-step")
    K = math.sqrt(1 + (1.2 / 0.8) ** 2)  # rho beta = 0.2: K_U = sqrt(1 + ((1 + r)/(1 - r))^2)
    assert np.allclose(k.alpha, 1 + 0.1 * 2.0 * K, rtol=1e-15) and np.allclose(k.sigma, 0.1) and not k.tau.any()
    # By hand: a = (1 - 1/n) alpha + 1/n, b = 2 eta L / n; eps = L b (a^T - 1)/(a - 1).
    a, b = (1 - 1 / 50) * (1 + 0.2 * K) + 1 / 50, 2 * 0.1 / 50
    assert bound.eps == pytest.approx(b * (a**200 - 1) / (a - 1), rel=1e-10)
    nonconvex = stability_bound("stablesam-n", "nonconvex", c=0.1, assumption="lipschitz-step", g_min=1.0, **common)
    assert nonconvex.t0 is not None and math.isfinite(nonconvex.eps)
    with pytest.raises(UsageError, match="needs g_min"):
        stability_bound("stablesam-n", "convex", lr=0.1, assumption="lipschitz-step", **common)
    with pytest.raises(UsageError, match=r"g_min=0.1 violates g_min > rho\*beta = 0.2"):
        stability_bound("stablesam-n", "convex", lr=0.1, assumption="lipschitz-step", g_min=0.1, **common)
    with pytest.raises(UsageError, match=r"rho\*beta < 1"):
        stability_bound("stablesam-u", "convex", lr=0.1, assumption="lipschitz-step", **{**common, "rho": 0.5})


# ----------------------------------------------------------------------------------------------------
# Shared gamma: the feasible range of gamma_t
# ----------------------------------------------------------------------------------------------------


def test_gamma_range_by_hand_and_refusal_of_impossible_gamma():
    # The bound figures of main used gamma = 0.5 with rho beta = 0.05: gamma_t >= 1/1.05 = 0.952381 (issue 14).
    low, high = stablesam_gamma_range("stablesam-u", "convex", rho=0.05, beta=1.0)
    assert (low, high) == (pytest.approx(1 / 1.05, rel=1e-15), 1.0)
    assert stablesam_gamma_range("stablesam-u", "nonconvex", rho=0.05, beta=1.0).highest == pytest.approx(1 / 0.95, rel=1e-15)
    # StableSAM-N with ||g|| >= g_min = 0.5, rho beta = 0.25: [0.5/0.75, 0.5/0.25] = [2/3, 2].
    assert stablesam_gamma_range("stablesam-n", "nonconvex", rho=0.25, beta=1.0, g_min=0.5) == pytest.approx((2 / 3, 2.0), rel=1e-15)
    assert stablesam_gamma_range("stablesam-n", "convex", rho=0.25, beta=1.0) == (0.0, 1.0)  # no floor: gamma_t -> 0
    common = dict(L=1.0, beta=1.0, n=100, T=100, lr=0.1, rho=0.05)
    with pytest.raises(UsageError, match=r"gamma=0.5 is below what any trajectory meets: .*\[0.952381, 1\].*allowed: gamma >= 0.952381"):
        stability_bound("stablesam-u", "convex", gamma=0.5, assumption="shared-gamma", **common)
    with pytest.raises(UsageError, match=r"allowed: gamma >= 0.666667"):
        stability_bound("stablesam-n", "convex", gamma=0.6, assumption="shared-gamma", g_min=0.2, **{**common, "rho": 0.1})
    holds = stability_bound("stablesam-u", "convex", gamma=1.0, assumption="shared-gamma", **common)
    assumed = stability_bound("stablesam-u", "convex", gamma=0.96, assumption="shared-gamma", **common)
    assert "gamma_t <= gamma holds on every trajectory" in holds.assumption_detail
    assert "shared-factor assumption" in holds.assumption_detail  # sharing one factor is assumed even at gamma = 1
    assert "an assumption about the trajectory" in assumed.assumption_detail
    # gamma = 1 (the only cap without a further assumption): StableSAM-U's bound is USAM's, never below SGD's.
    usam = stability_bound("usam", "convex", **common).eps
    assert holds.eps == pytest.approx(usam, rel=1e-14) and usam >= stability_bound("sgd", "convex", **common).eps


def test_gamma_range_contains_sampled_factors_and_is_attained():
    # Simulation: gamma_t = ||g|| / ||g~|| at random points of random smooth losses lies in the range.
    rng = np.random.default_rng(11)
    for convex in (True, False):
        grad, beta = _random_loss(rng, convex=convex)
        rho = 0.3 / beta
        w = rng.normal(scale=3.0, size=(20000, 3))
        g = grad(w)
        g_norm = np.linalg.norm(g, axis=1)
        gamma_u = g_norm / np.linalg.norm(grad(w + rho * g), axis=1)
        low, high = stablesam_gamma_range("stablesam-u", "convex" if convex else "nonconvex", rho=rho, beta=beta)
        assert np.all((gamma_u >= low * (1 - 1e-12)) & (gamma_u <= high * (1 + 1e-12)))
        gamma_n = g_norm / np.linalg.norm(grad(w + rho * g / g_norm[:, None]), axis=1)
        for g_min in (0.1, 1.0):
            keep = g_norm >= g_min
            low, high = stablesam_gamma_range("stablesam-n", "convex" if convex else "nonconvex", rho=rho, beta=beta, g_min=g_min)
            assert np.all((gamma_n[keep] >= low * (1 - 1e-12)) & (gamma_n[keep] <= high * (1 + 1e-12)))
    # Attained: a quadratic with Hessian beta I, g = beta w, g~ = beta (w + rho beta w): gamma = 1/(1 + rho beta).
    beta, rho, w = 2.0, 0.1, np.array([0.3, -1.0])
    g = beta * w
    assert np.linalg.norm(g) / np.linalg.norm(beta * (w + rho * g)) == pytest.approx(1 / (1 + rho * beta), rel=1e-15)


def test_gamma_range_symbolic():
    # ||g~|| in [||g|| - rho beta s, ||g|| + rho beta s] with s = ||w~ - w|| / rho (s = ||g|| for U, 1 for N).
    g, r = sp.symbols("g r", positive=True)
    assert sp.simplify(g / (g + r * g) - 1 / (1 + r)) == 0 and sp.simplify(g / (g - r * g) - 1 / (1 - r)) == 0
    low_n = sp.lambdify((g, r), g / (g + r))
    assert stablesam_gamma_range("stablesam-n", "nonconvex", rho=0.3, beta=1.0, g_min=0.7).lowest == pytest.approx(low_n(0.7, 0.3), rel=1e-15)
