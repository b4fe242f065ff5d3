"""The growth recursion (Hardt, Recht and Singer 2016, arXiv:1509.01240, Lemmas 2.5 and 3.11) and the schedules."""

import numpy as np
import pytest
import sympy as sp

from stablesam.theory.growth_recursion import expected_distance, nonconvex_stability, stability_from_start, step_coefficients
from stablesam.theory.schedules import as_schedule, constant, cosine, inverse_time, make_schedule, step_decay


def _loop(a, b):
    x, out = 0.0, [0.0]
    for at, bt in zip(a, b):
        x = at * x + bt
        out.append(x)
    return np.array(out)


def test_constant_convex_case_is_linear_in_t():
    # alpha = 1, sigma = eta L: E delta_t = 2 eta L t / n (the recursion behind HRS Thm 3.8).
    d = expected_distance(1.0, 0.3, n=7, T=50)
    assert np.allclose(d, 2 * 0.3 * np.arange(51) / 7, rtol=1e-14, atol=0)


def test_vectorised_path_matches_the_plain_loop_and_batches_over_leading_axes():
    rng = np.random.default_rng(0)
    alpha = rng.uniform(0.5, 1.05, size=(3, 200))
    sigma = rng.uniform(0.0, 0.1, size=(3, 200))
    tau = rng.uniform(0.0, 0.01, size=(3, 200))
    got = expected_distance(alpha, sigma, n=13, T=200, tau=tau)
    a, b = step_coefficients(alpha, sigma, n=13, T=200, tau=tau)
    for row in range(3):
        assert np.allclose(got[row], _loop(a[row], b[row]), rtol=1e-12, atol=1e-300)


def test_fallback_loop_handles_overflow_and_zero_expansiveness():
    huge = expected_distance(3.0, 1.0, n=2, T=2000)  # (1 + 2/2 * ...)^T overflows float64
    assert np.isinf(huge[-1]) and np.all(np.diff(huge[:50]) > 0)
    zero = expected_distance(np.r_[1.0, 0.0, 1.0], 1.0, n=4, T=3)  # a_2 = 0 wipes the distance
    a, b = step_coefficients(np.r_[1.0, 0.0, 1.0], 1.0, n=4, T=3)
    assert np.allclose(zero, _loop(a, b))


def test_callables_and_arrays_agree():
    c, n, T = 0.5, 10, 30
    by_callable = expected_distance(lambda t: 1 + 2.0 * c / t, lambda t: c / t, n=n, T=T)
    t = np.arange(1, T + 1)
    assert np.array_equal(by_callable, expected_distance(1 + 2.0 * c / t, c / t, n=n, T=T))


def test_recursion_matches_a_simulation_of_the_random_process():
    # Simulate the worst case of Lemma 2.5 step by step: at each step the differing example is hit with
    # probability 1/n. The recursion is linear, so its value is exactly the mean of this process.
    rng = np.random.default_rng(1)
    n, T, reps = 5, 40, 200_000
    alpha, sigma, tau = 1.03, 0.2, 0.01
    delta = np.zeros(reps)
    for _ in range(T):
        hit = rng.random(reps) < 1.0 / n
        delta = np.where(hit, min(alpha, 1.0) * delta + 2 * sigma, alpha * delta + tau)
    expected = expected_distance(alpha, sigma, n=n, T=T, tau=tau)[-1]
    standard_error = delta.std() / np.sqrt(reps)
    assert abs(delta.mean() - expected) < 5 * standard_error


def test_constant_coefficients_match_the_sympy_solution_of_the_recurrence():
    t = sp.symbols("t", integer=True, nonnegative=True)
    a, b = sp.symbols("a b", positive=True)
    x = sp.Function("x")
    solution = sp.rsolve(x(t + 1) - a * x(t) - b, x(t), {x(0): 0})
    assert sp.simplify(solution - b * (a**t - 1) / (a - 1)) == 0
    alpha, sigma, n, T = 1.01, 0.05, 20, 60
    a_val = (1 - 1 / n) * alpha + 1 / n
    b_val = 2 * sigma / n
    closed = float(solution.subs({a: a_val, b: b_val, t: T}))
    assert expected_distance(alpha, sigma, n=n, T=T)[-1] == pytest.approx(closed, rel=1e-12)


def test_start_from_t0_matches_zeroing_the_first_steps():
    rng = np.random.default_rng(2)
    T, n, L = 25, 6, 1.7
    alpha, sigma = rng.uniform(0.9, 1.2, T), rng.uniform(0.0, 0.3, T)
    a, b = step_coefficients(alpha, sigma, n=n, T=T)
    values = stability_from_start(alpha, sigma, n=n, T=T, L=L, loss_bound=1.0)
    for t0 in range(T + 1):
        b0 = np.where(np.arange(1, T + 1) <= t0, 0.0, b)
        assert values[t0] == pytest.approx(t0 / n + L * _loop(a, b0)[-1], rel=1e-12)
    best = nonconvex_stability(alpha, sigma, n=n, T=T, L=L)
    assert best.eps == pytest.approx(values.min()) and values[best.t0] == best.eps


def test_T_zero_gives_zero():
    assert expected_distance(1.0, 1.0, n=3, T=0).tolist() == [0.0]
    assert stability_from_start(1.0, 1.0, n=3, T=0, L=1.0).tolist() == [0.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": -1.0, "sigma": 1.0}, "alpha must be >= 0"),
        ({"alpha": np.ones(4), "sigma": 1.0}, "last axis T = 5"),
        ({"alpha": 1.0, "sigma": np.nan}, "sigma must be >= 0"),
    ],
)
def test_bad_input_names_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        expected_distance(**kwargs, n=3, T=5)


def test_schedules():
    assert np.allclose(inverse_time(2.0, 4), [2.0, 1.0, 2 / 3, 0.5])
    assert np.array_equal(constant(0.1, 3), [0.1] * 3)
    assert np.allclose(step_decay(1.0, 6, factor=0.5, every=2), [1, 1, 0.5, 0.5, 0.25, 0.25])
    cos = cosine(1.0, 4)
    assert np.allclose(cos, [1.0, (1 + np.cos(np.pi / 4)) / 2, 0.5, (1 + np.cos(3 * np.pi / 4)) / 2])
    assert np.array_equal(as_schedule(lambda t: 1 / t, 3), inverse_time(1.0, 3))
    assert np.array_equal(make_schedule("inverse-time", 2.0, 4), inverse_time(2.0, 4))
    with pytest.raises(ValueError, match="shape"):
        as_schedule(np.ones(3), 4)
    with pytest.raises(ValueError, match="> 0"):
        as_schedule(np.r_[1.0, 0.0], 2)
    with pytest.raises(ValueError, match="schedule must be one of"):
        make_schedule("linear", 1.0, 3)


def test_differing_example_step_keeps_tau_when_the_step_contracts():
    # Regression (issue 14, defect 1): HRS Lemma 2.5 with an additive tau gives, on the differing example,
    # delta' <= min(alpha delta + tau, delta) + 2 sigma; for alpha < 1 the affine piece alpha delta + tau is
    # used. Simulate that worst-case process (linear, so the recursion is exactly its mean).
    rng = np.random.default_rng(3)
    n, T, reps = 4, 60, 200_000
    alpha, sigma, tau = 0.9, 0.05, 0.02
    delta = np.zeros(reps)
    for _ in range(T):
        hit = rng.random(reps) < 1.0 / n
        delta = np.where(hit, alpha * delta + tau + 2 * sigma, alpha * delta + tau)
    expected = expected_distance(alpha, sigma, n=n, T=T, tau=tau)[-1]
    assert abs(delta.mean() - expected) < 5 * delta.std() / np.sqrt(reps)
    # Closed form of the stationary value: (tau + 2 sigma / n) / (1 - alpha).
    long = expected_distance(alpha, sigma, n=n, T=2000, tau=tau)[-1]
    assert long == pytest.approx((tau + 2 * sigma / n) / (1 - alpha), rel=1e-12)


def test_strongly_convex_sam_repro_of_issue_14():
    # `stablesam bounds --setting strongly-convex --method sam --L 1 --beta 1 --mu 0.1 --n 100 --T 500
    # --lr 0.5 --rho 0.05`: alpha = 0.95, tau = 2 rho (2 - eta mu) = 0.195, sigma = 0.5. The recursion's fixed
    # point is (tau + 2 sigma / n) / (1 - alpha) = (0.195 + 0.01) / 0.05 = 4.1 (by hand); main printed 4.061.
    from stablesam.theory.uniform_stability import stability_bound

    eps = stability_bound("sam", "strongly-convex", L=1, beta=1, mu=0.1, n=100, T=500, lr=0.5, rho=0.05).eps
    assert eps == pytest.approx(4.1 * (1 - 0.95**500), rel=1e-12)
