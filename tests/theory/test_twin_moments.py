"""Exact twin moments on least squares (theory/twin_moments.py), checked three ways: by enumerating every index
path (reference values, the definition of the expectation in Hardt, Recht and Singer 2016, arXiv:1509.01240,
section 2), symbolically (StableSAM = SGD with one example per step; USAM = SGD at rate eta (1 + rho ||x||^2)),
and against Monte Carlo of the twin harness (linear model, squared loss, batch size 1, draws with replacement)."""

import itertools

import numpy as np
import pytest
import sympy as sp

from stablesam.core.validation import UsageError
from stablesam.theory.least_squares import step
from stablesam.theory.twin_moments import expected_twin_distance


def _problem(n=3, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(n, d)), rng.normal(size=n)
    X2, y2 = X.copy(), y.copy()
    X2[1], y2[1] = rng.normal(size=d), 2.5
    return X, y, X2, y2


def _enumerate(X, y, X2, y2, lr, rho, T, method, w0):
    """E||w_T - w'_T||^2 and E[w_T - w'_T] by summing over all n^T index paths, each of probability n^-T."""
    n = len(X)
    sq, mean = 0.0, 0.0
    for path in itertools.product(range(n), repeat=T):
        w, v = w0.copy(), w0.copy()
        for i in path:
            for z, (Xs, ys) in ((0, (X, y)), (1, (X2, y2))):
                x, target = Xs[i], ys[i]
                rate = lr * (1 + rho * x @ x) if method == "usam" else lr
                current = w if z == 0 else v
                updated = current - rate * (x @ current - target) * x
                w, v = (updated, v) if z == 0 else (w, updated)
        sq += np.sum((w - v) ** 2) / n**T
        mean = mean + (w - v) / n**T
    return sq, mean


@pytest.mark.parametrize("method", ["sgd", "usam"])
def test_exact_moments_equal_the_enumeration_of_every_path(method):
    X, y, X2, y2 = _problem()
    w0 = np.array([0.3, -0.2])
    lrs = np.array([0.05, 0.3])
    exact = expected_twin_distance(X, y, X2, y2, lrs, method=method, rho=0.4, steps=4, w0=w0)
    for j, lr in enumerate(lrs):
        sq, mean = _enumerate(X, y, X2, y2, lr, 0.4, 4, method, w0)
        # Error estimate: both sides sum O(n^T) float64 terms of size ||w||^2 ~ 1: agreement to ~1e-13.
        assert exact.mean_sq[j, -1] == pytest.approx(sq, rel=1e-11, abs=1e-14)
        assert exact.mean_difference_norm[j, -1] == pytest.approx(np.linalg.norm(mean), rel=1e-11, abs=1e-14)
    assert np.all(exact.mean_difference_norm <= exact.rms * (1 + 1e-12))  # Jensen: ||E d|| <= sqrt(E||d||^2)


def test_one_step_reference_value_by_hand():
    # Start 0: after one step the runs differ only when index k = 0 is drawn (probability 1/3), by
    # eta (y_0 - y'_0) x_0 = 0.1 * 2 * (1, 0): E||delta_1||^2 = 0.04 / 3.
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.array([1.0, -1.0, 0.5])
    X2, y2 = X.copy(), y.copy()
    y2[0] = -1.0
    d = expected_twin_distance(X, y, X2, y2, 0.1, steps=1)
    assert d.mean_sq[-1] == pytest.approx(0.04 / 3, rel=1e-14)
    assert d.mean_difference_norm[-1] == pytest.approx(0.2 / 3, rel=1e-14)


def test_stablesam_equals_sgd_with_one_example_per_step_symbolically():
    # g = r x, r = x.w - y. StableSAM's surrogate g~ = r~ x is parallel to x; gamma g~ = |r|/|r~| r~ x = g when
    # sign(r~) = sign(r). U: r~ = r (1 + rho ||x||^2); N: r~ = r + rho sign(r) ||x||. USAM: g~ = (1 + rho ||x||^2) g.
    x1, x2, w1, w2, yy = sp.symbols("x1 x2 w1 w2 y", real=True)
    rho = sp.symbols("rho", positive=True)
    x, w = sp.Matrix([x1, x2]), sp.Matrix([w1, w2])
    grad = lambda v: x * (x.dot(v) - yy)  # noqa: E731
    g = grad(w)
    usam = grad(w + rho * g)
    assert sp.simplify(usam - (1 + rho * x.dot(x)) * g) == sp.zeros(2, 1)
    for sign in (1, -1):  # residual r = sign * s, s > 0
        s = sp.symbols("s", positive=True)
        r = sign * s
        g_r = x * r
        g_norm = sp.sqrt(x.dot(x)) * s
        for ascent in (rho * g_r, rho * g_r / g_norm):
            surrogate = x * (r + x.dot(ascent))  # grad at w + ascent, written with the residual r
            factor = g_norm / sp.sqrt(surrogate.dot(surrogate))
            assert sp.simplify(factor * surrogate - g_r) == sp.zeros(2, 1)


def test_stablesam_equals_sgd_by_running_the_maps():
    # The full-batch maps of stablesam.theory.least_squares on a one-example data set are the one-example steps.
    rng = np.random.default_rng(3)
    for _ in range(50):
        x, target, w = rng.normal(size=3), rng.normal(), rng.normal(size=(1, 3))
        H, b = np.outer(x, x), target * x
        sgd = step("gd", w, H, b, 0.2, 0.0)
        for method in ("stablesam-u", "stablesam-n"):
            np.testing.assert_allclose(step(method, w, H, b, 0.2, 0.7), sgd, rtol=1e-13, atol=1e-14)
    X, y, X2, y2 = _problem()
    sgd = expected_twin_distance(X, y, X2, y2, 0.2, method="sgd", steps=5)
    for method in ("stablesam-u", "stablesam-n"):
        assert np.array_equal(expected_twin_distance(X, y, X2, y2, 0.2, method=method, rho=0.5, steps=5).mean_sq, sgd.mean_sq)


def test_full_batch_is_the_deterministic_distance():
    X, y, X2, y2 = _problem(n=5, d=3)
    from stablesam.theory.least_squares import final_iterates

    for method in ("gd", "usam", "stablesam-u", "stablesam-n", "sam"):
        d = expected_twin_distance(X, y, X2, y2, 0.1, method=method, rho=0.2, steps=30, sampling="full-batch")
        gap = final_iterates(method, X, y, 0.1, rho=0.2, T=30) - final_iterates(method, X2, y2, 0.1, rho=0.2, T=30)
        assert d.mean_sq[-1] == pytest.approx(float(np.sum(gap**2)), rel=1e-12)


def test_bad_input_is_refused():
    X, y, X2, y2 = _problem()
    X2[0] += 1.0  # now rows 0 and 1 differ
    with pytest.raises(UsageError, match="differ in at most one example"):
        expected_twin_distance(X, y, X2, y2, 0.1, steps=1)
    X, y, X2, y2 = _problem()
    with pytest.raises(UsageError, match="no affine one-example step"):
        expected_twin_distance(X, y, X2, y2, 0.1, method="sam", steps=1)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sgd", "usam", "stablesam-u"])
def test_exact_value_lies_in_the_99_percent_ci_of_the_twin_harness(method):
    # The twin harness: linear model (weight and bias), squared loss l = (f(x) - y)^2 / 2, batch size 1, indices
    # drawn with replacement, float64, 200 pairs (seeds) sharing S and S'; each pair has its own initialisation,
    # so the exact value is the mean over pairs of the exact value from each pair's start.
    import torch

    from stablesam.stability.data import load_dataset
    from stablesam.stability.twin import TwinConfig
    from stablesam.stability.twin.trainer import TwinTrainer

    n, dim, pairs, lr, rho = 20, 3, 200, 0.05, 0.3
    dataset = load_dataset("linear-regression", generator=np.random.default_rng(0), n_train=n, dtype=torch.float64, dim=dim)
    config = TwinConfig(dataset="linear-regression", model="linear", optimizer=method, lr=lr, rho=rho, epochs=1,
                        batch_size=1, sampling="with-replacement", seeds=tuple(range(pairs)), replaced_indices=(0,),
                        dtype="float64", device="cpu", n_train=n)
    trainer = TwinTrainer(config, dataset)

    def flat(m):
        module = trainer.population.module(m)
        return np.concatenate([module.readout.weight.detach().numpy().ravel(), module.readout.bias.detach().numpy()])

    starts = np.stack([flat(2 * p) for p in range(pairs)])
    trainer.train_epoch()
    observed = np.array([np.sum((flat(2 * p) - flat(2 * p + 1)) ** 2) for p in range(pairs)])
    (xs, ys), (xs2, ys2) = trainer.training_set(0), trainer.training_set(1)
    X = np.hstack([xs.numpy().reshape(n, -1), np.ones((n, 1))])
    X2 = np.hstack([xs2.numpy().reshape(n, -1), np.ones((n, 1))])
    exact = expected_twin_distance(X, ys.numpy(), X2, ys2.numpy(), np.full(pairs, lr), method=method, rho=rho,
                                   steps=trainer.steps_per_epoch, w0=starts).mean_sq[:, -1]
    # 99% CI of the mean over pairs (normal approximation; the squared distances are heavy-tailed, USAM's most:
    # a few pairs that draw the replaced example early dominate, so the interval is wide, not wrong).
    half_width = 2.576 * observed.std(ddof=1) / np.sqrt(pairs)
    assert exact.mean() > 1e-3 and np.mean(observed > 0) > 0.5  # most pairs draw the replaced example
    assert abs(observed.mean() - exact.mean()) <= half_width
