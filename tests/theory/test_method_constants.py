"""stablesam.theory.method_constants: the one place of every per-step constant. C7's theory (gamma <= 1 on convex
losses, by co-coercivity) checked by proof-by-sampling and by its attained non-convex counterexample; the shared-
gamma constants holding on the whole feasible range; the full-batch restriction of the lipschitz-step
optimization term (issue 24)."""

import numpy as np
import pytest

from stablesam.core.validation import UsageError
from stablesam.theory.excess_risk import excess_risk, optimization_error
from stablesam.theory.method_constants import C7_THEORY, renormalization_theory
from stablesam.theory.uniform_stability import stability_bound, step_constants


def _convex_loss(rng, d=4, k=5):
    # 1/2 w^T A w (A PSD) + sum_k c_k softplus(a_k . w + b_k) + log-sum-exp of (M w): convex and smooth.
    M = rng.normal(size=(d, d))
    A, a, b, c, P = M @ M.T / d, rng.normal(size=(k, d)), rng.normal(size=k), rng.uniform(0.2, 2.0, size=k), rng.normal(size=(3, d))

    def grad(w):
        z = w @ P.T
        p = np.exp(z - z.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        return w @ A + (c / (1 + np.exp(-(w @ a.T + b)))) @ a + p @ P

    beta = np.linalg.norm(A, 2) + np.sum(c * np.sum(a**2, axis=1)) / 4 + np.linalg.norm(P, 2) ** 2
    return grad, beta


@pytest.mark.parametrize("method", ["stablesam-u", "stablesam-n", "usam", "sam"])
def test_c7_gamma_at_most_one_on_convex_losses(method):
    theory = renormalization_theory(method, rho=0.1, beta=1.0, g_min=1.0)
    assert theory.statement == C7_THEORY == "proved for convex losses (co-coercivity); not implied on networks"
    assert theory.convex_cap == 1.0 and "co-coercivity" in theory.proof
    rng = np.random.default_rng(5)
    for _ in range(3):
        grad, beta = _convex_loss(rng)
        w = rng.normal(scale=3.0, size=(20000, 4))
        g = grad(w)
        g_norm = np.linalg.norm(g, axis=1, keepdims=True)
        for rho in (0.01, 1.0 / beta, 10.0 / beta):  # any rho: convexity alone is used
            ascent = g / g_norm if method in ("stablesam-n", "sam") else g
            gamma = g_norm[:, 0] / np.linalg.norm(grad(w + rho * ascent), axis=1)
            assert gamma.max() <= 1.0 + 1e-12


def test_c7_is_not_implied_off_convexity_and_the_upper_end_is_attained():
    # 1-D quadratic with lambda = -beta: g = -beta w, g~ = -beta (1 - rho beta) w: gamma = 1/(1 - rho beta).
    theory = renormalization_theory("stablesam-u", rho=0.2, beta=1.0)
    w, beta, rho = 1.7, 1.0, 0.2
    g = -beta * w
    assert abs(g) / abs(-beta * (w + rho * g)) == pytest.approx(theory.nonconvex_highest, rel=1e-15) == pytest.approx(1 / 0.8)
    assert renormalization_theory("stablesam-a").convex_cap is None  # the adaptive ascent is not along g
    assert renormalization_theory("sgd").statement == "gamma = 1: no ascent"


def test_shared_gamma_strongly_convex_constants_hold_down_to_the_lowest_factor():
    # The contraction 1 - gamma_t eta mu is weakest at gamma_low = 1/(1 + rho beta): the constant uses it.
    # (Old code: 1 - gamma eta mu with the upper end gamma, which no trajectory at gamma_t < gamma satisfies.)
    eta, mu, beta, rho = 0.5, 0.4, 1.0, 0.1
    k = step_constants("stablesam-n", "strongly-convex", eta, T=10, L=1.0, beta=beta, mu=mu, rho=rho, gamma=1.0,
                       assumption="shared-gamma", g_min=1.0)
    low = 1.0 / (1.0 + rho)  # g_min / (g_min + rho beta)
    np.testing.assert_allclose(k.alpha, 1 - low * eta * mu, rtol=1e-15)
    np.testing.assert_allclose(k.tau, 2 * rho * (2 - low * eta * mu), rtol=1e-15)
    np.testing.assert_allclose(k.sigma, eta, rtol=1e-15)
    # The convex constants are largest at the upper end, as before (bit-identical to the old ones).
    convex = step_constants("stablesam-u", "convex", eta, T=10, L=1.0, beta=beta, rho=rho, gamma=1.0, assumption="shared-gamma")
    np.testing.assert_array_equal(convex.alpha, 1.0 + eta * rho * beta**2)
    strongly = stability_bound("stablesam-n", "strongly-convex", lr=eta, L=1.0, beta=beta, mu=mu, rho=rho, n=20, T=200,
                               gamma=1.0, assumption="shared-gamma", g_min=1.0)
    assert strongly.eps > stability_bound("sam", "strongly-convex", lr=eta, L=1.0, beta=beta, mu=mu, rho=rho, n=20, T=200).eps


def test_lipschitz_step_optimization_term_is_full_batch_only():
    common = dict(L=1.0, D=1.0, T=100, rho=0.05, beta=1.0, assumption="lipschitz-step")
    full = optimization_error("stablesam-u", 0.1, sampling="full-batch", **common)
    assert full == pytest.approx((1 / (2 * 0.1 * 100) + 0.1 / 2) * 1.05 + 0.05, rel=1e-14)  # gamma_min = 1/1.05
    with pytest.raises(UsageError, match="sampling='per-example' is not allowed with the lipschitz-step optimization term"):
        optimization_error("stablesam-u", 0.1, **common)  # old code: accepted (per-example sampling was implicit)
    with pytest.raises(UsageError, match="optimization term holds full-batch only"):
        excess_risk("stablesam-u", 0.1, L=1.0, beta=1.0, D=1.0, n=50, T=100, rho=0.05, assumption="lipschitz-step")
    # shared-gamma (gamma_t = gamma, independent of the index) and the non-renormalized methods are per-example.
    assert optimization_error("sam", 0.1, L=1.0, D=1.0, T=100, rho=0.05) == pytest.approx(0.05 + 0.05 + 0.05, rel=1e-14)
    with pytest.raises(UsageError, match="sampling must be one of"):
        optimization_error("sgd", 0.1, L=1.0, D=1.0, T=100, sampling="minibatch")
