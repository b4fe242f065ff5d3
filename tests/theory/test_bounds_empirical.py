"""Empirical check of the stability bounds: twin SGD / USAM runs on neighbouring datasets stay below them.

Problem: L2-regularised logistic regression, ``l(w; (x, y)) = log(1 + exp(-y x.w)) + lam/2 ||w||^2`` with
``||x|| <= R``, projected onto the ball ``||w|| <= W`` (projection is non-expansive and keeps the steps
``eta L``-bounded, so HRS's bounds hold for projected SGD). From the data: ``R = max ||x_i||`` over both
datasets, ``beta = R^2/4 + lam`` (softplus'' <= 1/4), ``mu = lam``, and ``L`` bounds every gradient the method
evaluates: ``R + lam W`` on the ball, ``R + lam (W + rho (R + lam W))`` at USAM's ascent points.

Both runs of a pair share the initialisation (0) and the sampled indices; ``S'`` replaces example 0 by a
fresh draw. The measured uniform-stability estimate is ``max_z mean_runs |l(w_T; z) - l(w'_T; z)|`` over
test points ``z`` (fresh draws and both differing examples). Sources: Hardt, Recht and Singer 2016
(arXiv:1509.01240), Theorems 3.8 and 3.9; the USAM bound is derived (stablesam.theory.uniform_stability).
"""

import numpy as np
import pytest

from stablesam.theory.uniform_stability import sgd_convex, sgd_strongly_convex, usam_convex

N, DIM, LAM, RADIUS, ETA, REPS = 40, 4, 0.05, 3.0, 1.0, 3000


def _draw(rng, m):
    x = rng.normal(size=(m, DIM))
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1.0)  # ||x|| <= 1
    y = np.where(x @ np.r_[1.0, -1.0, 0.5, 0.0] + 0.3 * rng.normal(size=m) > 0, 1.0, -1.0)
    return x, y


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20)
    X, y = _draw(rng, N)
    x_new, y_new = _draw(rng, 1)
    X2, y2 = np.stack([X, X]), np.stack([y, y])
    X2[1, 0], y2[1, 0] = x_new[0], y_new[0]  # S' differs from S in example 0 only
    x_test, y_test = _draw(rng, 200)
    x_test, y_test = np.vstack([x_test, X2[:, 0]]), np.concatenate([y_test, y2[:, 0]])
    R = float(np.linalg.norm(X2, axis=-1).max())
    return X2, y2, x_test, y_test, R


def _loss(w, x, y):
    return np.logaddexp(0.0, -(w @ x.T) * y) + 0.5 * LAM * np.sum(w**2, axis=-1, keepdims=True)


def _twin_runs(X2, y2, *, rho, T, rng):
    """Final iterates (2, REPS, d) of twin projected SGD (rho = 0) or USAM runs, vectorised over repetitions."""
    w = np.zeros((2, REPS, DIM))
    for _ in range(T):
        idx = rng.integers(N, size=REPS)  # shared by both runs of each pair
        x, label = X2[:, idx], y2[:, idx]  # (2, REPS, d), (2, REPS)

        def grad(v):
            margin = np.sum(v * x, axis=-1) * label
            return -(label / (1.0 + np.exp(margin)))[..., None] * x + LAM * v

        g = grad(w)
        w = w - ETA * (grad(w + rho * g) if rho > 0 else g)
        norm = np.linalg.norm(w, axis=-1, keepdims=True)
        w = w * np.minimum(1.0, RADIUS / norm)
    return w


def _measured(w, x_test, y_test):
    return float(np.max(np.mean(np.abs(_loss(w[0], x_test, y_test) - _loss(w[1], x_test, y_test)), axis=0)))


@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_twin_runs_stay_below_the_bounds(data, rho):
    X2, y2, x_test, y_test, R = data
    beta = R**2 / 4 + LAM
    L = R + LAM * (RADIUS + rho * (R + LAM * RADIUS))
    assert ETA <= 1 / beta  # the conditions of Thms 3.8 (eta <= 2/beta) and 3.9 (eta <= 1/beta)
    rng = np.random.default_rng(21)
    measured = {}
    for T in (N // 2, 2 * N):
        measured[T] = _measured(_twin_runs(X2, y2, rho=rho, T=T, rng=rng), x_test, y_test)
        convex = sgd_convex(ETA, L=L, beta=beta, n=N, T=T) if rho == 0 else usam_convex(ETA, L=L, beta=beta, rho=rho, n=N, T=T)
        assert 0 < measured[T] < convex
        if rho == 0:
            assert measured[T] < sgd_strongly_convex(ETA, L=L, beta=beta, mu=LAM, n=N)
    assert measured[2 * N] > measured[N // 2]  # the runs drift apart with T, as the bounds say


def test_identical_datasets_give_identical_runs(data):
    X2, y2, *_ = data
    same_X, same_y = np.stack([X2[0], X2[0]]), np.stack([y2[0], y2[0]])
    w = _twin_runs(same_X, same_y, rho=0.5, T=20, rng=np.random.default_rng(0))
    assert np.array_equal(w[0], w[1])


def test_usam_bound_tends_to_sgds_as_rho_goes_to_zero(data):
    R = data[-1]
    beta = R**2 / 4 + LAM
    sgd = sgd_convex(ETA, L=R + LAM * RADIUS, beta=beta, n=N, T=2 * N)
    gaps = []
    for rho in (1e-2, 1e-4, 1e-6):
        L = R + LAM * (RADIUS + rho * (R + LAM * RADIUS))
        gaps.append(usam_convex(ETA, L=L, beta=beta, rho=rho, n=N, T=2 * N) - sgd)
    assert gaps[0] > gaps[1] > gaps[2] > 0 and gaps[2] < 1e-5 * sgd
