"""The five quadratic maps (stablesam.theory.quadratic): hand values, invariances, degenerate inputs."""

import numpy as np
import pytest

from stablesam.theory.quadratic import METHODS, Quadratic, step

RNG = np.random.default_rng(7)


def _random_rotation(d: int) -> np.ndarray:
    q, r = np.linalg.qr(RNG.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def test_hand_computed_steps():
    # H = diag(2, 1), w = (1, 1), eta = 0.25, rho = 0.5. g = (2, 1), ||g|| = sqrt(5), Hg = (4, 1).
    model = Quadratic.from_spectrum([2.0, 1.0])
    w = np.array([1.0, 1.0])
    s5 = np.sqrt(5.0)
    # GD: w - eta g = (0.5, 0.75).
    np.testing.assert_allclose(step("gd", model, w, 0.25), [0.5, 0.75], rtol=1e-15)
    # USAM (unnormalized ascent, Andriushchenko & Flammarion 2022): g~ = g + rho Hg = (4, 1.5).
    np.testing.assert_allclose(step("usam", model, w, 0.25, 0.5), [0.0, 0.625], rtol=1e-15)
    # SAM (Foret et al. 2021): g~ = g + rho Hg/||g|| = (2 + 2/sqrt5, 1 + 0.5/sqrt5).
    np.testing.assert_allclose(step("sam", model, w, 0.25, 0.5), [1 - 0.25 * (2 + 2 / s5), 1 - 0.25 * (1 + 0.5 / s5)],
                               rtol=1e-15)
    # StableSAM-U (Tan et al. 2024): gamma = sqrt5 / ||(4, 1.5)||, step eta gamma g~.
    gamma_u = s5 / np.hypot(4.0, 1.5)
    np.testing.assert_allclose(step("stablesam-u", model, w, 0.25, 0.5), w - 0.25 * gamma_u * np.array([4.0, 1.5]),
                               rtol=1e-15)
    surrogate_n = np.array([2 + 2 / s5, 1 + 0.5 / s5])
    np.testing.assert_allclose(step("stablesam-n", model, w, 0.25, 0.5),
                               w - 0.25 * s5 / np.linalg.norm(surrogate_n) * surrogate_n, rtol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_eigenbasis_and_full_matrix_give_the_same_iteration(method):
    d = 5
    lam = RNG.uniform(0.1, 3.0, d)
    rotation = _random_rotation(d)
    spectrum = Quadratic.from_spectrum(lam)
    matrix = Quadratic.from_matrix(rotation @ np.diag(lam) @ rotation.T)
    w = RNG.standard_normal(d)
    u = rotation.T @ w  # eigen-coordinates
    for _ in range(20):
        w = step(method, matrix, w, 0.3, 0.2)
        u = step(method, spectrum, u, 0.3, 0.2)
    np.testing.assert_allclose(rotation @ u, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["usam", "sam", "stablesam-u", "stablesam-n"])
def test_rho_zero_is_gd_bit_for_bit(method):
    model = Quadratic.from_spectrum(RNG.uniform(0.0, 3.0, (8, 4)))
    w = RNG.standard_normal((8, 4))
    np.testing.assert_array_equal(step(method, model, w, 0.37, 0.0), step("gd", model, w, 0.37))


@pytest.mark.parametrize("method", ["stablesam-u", "stablesam-n"])
def test_stablesam_step_has_gd_length_and_gamma_at_most_one(method):
    model = Quadratic.from_spectrum(RNG.uniform(0.05, 4.0, (50, 6)))
    w = RNG.standard_normal((50, 6))
    rho = RNG.uniform(0.0, 2.0, 50)
    lr = RNG.uniform(0.01, 1.0, 50)
    delta = w - step(method, model, w, lr, rho)
    np.testing.assert_allclose(np.linalg.norm(delta, axis=-1), lr * np.linalg.norm(model.grad(w), axis=-1), rtol=1e-13)
    base = "usam" if method == "stablesam-u" else "sam"
    surrogate_step = np.linalg.norm(w - step(base, model, w, lr, rho), axis=-1)
    assert np.all(np.linalg.norm(delta, axis=-1) <= surrogate_step * (1 + 1e-14))


@pytest.mark.parametrize("method", ["stablesam-u", "stablesam-n"])
def test_stablesam_is_gd_in_one_dimension_and_along_eigenvectors(method):
    model = Quadratic.from_spectrum([3.0, 1.0, 0.5])
    for k in range(3):
        w = np.zeros(3)
        w[k] = -1.7
        np.testing.assert_allclose(step(method, model, w, 0.45, 0.8), step("gd", model, w, 0.45), rtol=1e-15)
    one_d = Quadratic.from_spectrum([2.5])
    np.testing.assert_allclose(step(method, one_d, [0.3], 0.7, 1.3), step("gd", one_d, [0.3], 0.7), rtol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_zero_gradient_and_zero_surrogate_give_finite_zero_steps(method):
    # ||g|| = 0 (at the minimum, or along a flat direction): no ascent, no step, never NaN.
    model = Quadratic.from_spectrum([2.0, 0.0])
    for w in (np.zeros(2), np.array([0.0, 5.0])):
        with np.errstate(all="raise"):
            np.testing.assert_array_equal(step(method, model, w, 0.5, 0.3), w)
    # ||g~|| = 0 with ||g|| > 0: USAM's surrogate vanishes at a saddle with rho |lambda| = 1.
    saddle = Quadratic.from_spectrum([-2.0])
    out = step(method, saddle, [1.0], 0.1, 0.5)
    assert np.all(np.isfinite(out))
    if method == "stablesam-u":
        np.testing.assert_array_equal(out, [1.0])


def test_batch_broadcasting_over_lr_rho_and_spectra():
    model = Quadratic.from_spectrum(RNG.uniform(0.1, 2.0, (3, 1, 4)))
    w = RNG.standard_normal((3, 5, 4))
    lr = RNG.uniform(0.1, 0.5, (3, 5))
    out = step("stablesam-n", model, w, lr, 0.1)
    assert out.shape == (3, 5, 4)
    np.testing.assert_allclose(
        out[2, 3], step("stablesam-n", Quadratic.from_spectrum(model.curvature[2, 0]), w[2, 3], lr[2, 3], 0.1), rtol=1e-15)


def test_model_validation():
    with pytest.raises(ValueError, match="symmetric"):
        Quadratic.from_matrix([[1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="shape"):
        Quadratic.from_matrix([1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        Quadratic.from_spectrum([1.0, np.nan])
    with pytest.raises(ValueError, match="method must be one of"):
        step("adam", Quadratic.from_spectrum([1.0]), [1.0], 0.1)
    np.testing.assert_allclose(Quadratic.from_matrix([[2.0, 1.0], [1.0, 2.0]]).eigenvalues, [1.0, 3.0], rtol=1e-15)
