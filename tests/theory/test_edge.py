"""Edge-of-stability formulas (stablesam.theory.stability_edge): published values, sympy, simulation, validation."""

import math

import numpy as np
import pytest

from stablesam.theory.stability_edge import max_stable_lr, max_stable_sharpness
from stablesam.theory.sam_cycle import sam_cycle_grad_norm
from stablesam.theory.simulate import observed_lr_max, simulate
from stablesam.theory.symbolic import derive

RNG = np.random.default_rng(20240114)


# --- reference values ----------------------------------------------------------------------------


def test_usam_edge_reference_values():
    # Agarwala & Dauphin (2023), "SAM operates far from home", edge lambda* = (sqrt(1 + 8 rho/eta) - 1)/(2 rho).
    # By hand: eta = 0.1, rho = 0.05: sqrt(1 + 4) = sqrt(5); (sqrt(5) - 1)/0.1 = 12.360679...
    assert max_stable_sharpness("usam", 0.1, rho=0.05) == pytest.approx(10 * (math.sqrt(5) - 1), rel=1e-14)
    # eta = 0.2, rho = 0.1: sqrt(1 + 4) again, (sqrt(5) - 1)/0.2 = 6.18034...
    assert max_stable_sharpness("usam", 0.2, rho=0.1) == pytest.approx(5 * (math.sqrt(5) - 1), rel=1e-14)
    # Inverse: 2/(lambda (1 + rho lambda)); lambda = 10, rho = 0.05 -> 2/(10 * 1.5) = 2/15.
    assert max_stable_lr("usam", 10.0, rho=0.05) == pytest.approx(2 / 15, rel=1e-15)


def test_sam_edge_reference_values():
    # Long & Bartlett (2023), "Sharpness-Aware Minimization and the Edge of Stability":
    # lambda* = (||g||/(2 rho)) (sqrt(1 + 8 rho/(eta ||g||)) - 1). By hand: eta = 0.1, rho = 0.05, ||g|| = 0.5:
    # 8 rho/(eta g) = 8, sqrt(9) = 3, lambda* = 5 * 2 = 10.
    assert max_stable_sharpness("sam", 0.1, rho=0.05, grad_norm=0.5) == pytest.approx(10.0, rel=1e-14)
    # Inverse at lambda = 10: 2/(10 (1 + 0.05 * 10/0.5)) = 0.1.
    assert max_stable_lr("sam", 10.0, rho=0.05, grad_norm=0.5) == pytest.approx(0.1, rel=1e-14)
    # Equals USAM's with rho -> rho/||g||.
    assert max_stable_sharpness("sam", 0.1, rho=0.05, grad_norm=0.5) == pytest.approx(
        max_stable_sharpness("usam", 0.1, rho=0.1), rel=1e-14)


def test_gd_and_stablesam_edges_are_two_over_eta():
    # Classical GD edge 2/eta; StableSAM (docs/theory.md sec. 3) shares it, independent of rho.
    for method in ("gd", "sgd", "stablesam-u", "stablesam-n"):
        assert max_stable_sharpness(method, 0.04, rho=0.3) == pytest.approx(50.0, rel=1e-15)
        assert max_stable_lr(method, 50.0, rho=0.3) == pytest.approx(0.04, rel=1e-15)


# --- properties ----------------------------------------------------------------------------------


def test_edges_are_inverse_and_below_gd_and_tend_to_gd():
    eta = RNG.uniform(1e-3, 1.0, 200)
    rho = RNG.uniform(1e-4, 1.0, 200)
    g = RNG.uniform(1e-3, 10.0, 200)
    for method, kw in (("usam", {}), ("sam", {"grad_norm": g})):
        lam = max_stable_sharpness(method, eta, rho=rho, **kw)
        np.testing.assert_allclose(max_stable_lr(method, lam, rho=rho, **kw), eta, rtol=1e-12)
        assert np.all(lam < 2.0 / eta)
        # rho -> 0 limit is exact GD, without cancellation at tiny rho.
        np.testing.assert_allclose(max_stable_sharpness(method, eta, rho=0.0, **kw), 2.0 / eta, rtol=1e-15)
        np.testing.assert_allclose(max_stable_sharpness(method, eta, rho=1e-14, **kw), 2.0 / eta, rtol=1e-9)


def test_broadcasting_shapes():
    out = max_stable_lr("usam", np.array([[1.0], [2.0]]), rho=np.array([0.0, 0.1, 0.2]))
    assert out.shape == (2, 3) and out.dtype == np.float64
    assert max_stable_lr("gd", np.array([1.0, 2.0]), rho=np.array([[0.0], [0.1]])).shape == (2, 2)
    assert isinstance(max_stable_sharpness("gd", 0.5), float)


# --- sympy -------------------------------------------------------------------------------------------


def test_edges_match_sympy_derivations():
    eta = RNG.uniform(1e-3, 2.0, 50)
    rho = RNG.uniform(1e-3, 2.0, 50)
    g = RNG.uniform(1e-2, 5.0, 50)
    lam = RNG.uniform(0.1, 50.0, 50)
    np.testing.assert_allclose(max_stable_sharpness("usam", eta, rho=rho), derive("usam_edge").lambdify()(eta, rho), rtol=1e-12)
    np.testing.assert_allclose(max_stable_sharpness("sam", eta, rho=rho, grad_norm=g),
                               derive("sam_edge").lambdify()(eta, rho, g), rtol=1e-12)
    np.testing.assert_allclose(max_stable_lr("usam", lam, rho=rho), derive("usam_threshold").lambdify()(lam, rho), rtol=1e-13)
    np.testing.assert_allclose(max_stable_lr("sam", lam, rho=rho, grad_norm=g), derive("sam_lr_max").lambdify()(lam, rho, g),
                               rtol=1e-13)
    np.testing.assert_allclose(max_stable_lr("gd", lam), derive("gd_threshold").lambdify()(lam), rtol=1e-15)


# --- simulation ----------------------------------------------------------------------------------


def test_usam_edge_matches_simulated_threshold():
    # At sharpness lambda*(eta) the observed divergence lr of USAM is eta (up to the ln(B)/(2T) horizon bias).
    eta, rho = np.array([0.1, 0.05]), np.array([0.05, 0.2])
    lam = max_stable_sharpness("usam", eta, rho=rho)
    steps, blowup = 4000, 1e8
    observed = observed_lr_max("usam", lam[:, None], rho=rho, steps=steps, blowup=blowup, rel_tol=1e-6)
    assert np.all(observed >= eta * (1 - 1e-6))
    np.testing.assert_allclose(observed, eta, rtol=math.log(blowup) / steps)


def test_sam_iterate_settles_on_the_sam_edge():
    # The gradient norm SAM reaches on its 2-cycle makes the SAM-edge equal to the top eigenvalue.
    lam = np.array([3.0, 1.2, 0.4])
    eta, rho = np.array([0.2, 0.4, 0.6]), 0.05
    run = simulate("sam", lam, lr=eta, rho=rho, steps=3000)
    grad_norm = np.linalg.norm(run.final * lam, axis=-1)
    np.testing.assert_allclose(grad_norm, sam_cycle_grad_norm(eta, 3.0, rho), rtol=1e-9)
    np.testing.assert_allclose(max_stable_sharpness("sam", eta, rho=rho, grad_norm=grad_norm), 3.0, rtol=1e-9)


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: max_stable_lr("sam", 1.0, rho=0.1), "needs grad_norm"),
        (lambda: max_stable_sharpness("sam", 1.0, rho=0.1), "needs grad_norm"),
        (lambda: max_stable_lr("gd", 0.0), "sharpness must be finite and > 0"),
        (lambda: max_stable_lr("gd", -1.0), "sharpness must be finite and > 0"),
        (lambda: max_stable_sharpness("gd", 0.0), "lr must be finite and > 0"),
        (lambda: max_stable_lr("usam", 1.0, rho=-0.1), "rho must be finite and >= 0"),
        (lambda: max_stable_lr("sam", 1.0, rho=0.1, grad_norm=0.0), "grad_norm must be finite and > 0"),
        (lambda: max_stable_lr("adam", 1.0), "method must be one of"),
        (lambda: max_stable_sharpness("gd", 1.0, grad_norm=-1.0), "grad_norm must be finite and > 0"),
        (lambda: max_stable_lr("gd", float("nan")), "finite"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- extreme inputs: no overflow to a wrong 0 or inf -----------------------------------------------


@pytest.mark.parametrize("method, lr, rho, grad_norm", [
    ("usam", 1e-300, 1e10, None),      # 8 rho / eta = 8e310 overflows; lambda* ~ sqrt(2 / (rho eta)) = 1.4e145
    ("sam", 0.1, 1e308, 1e-300),       # rho / ||g|| = 1e608 overflows; lambda* ~ 4.5e-304
    ("sam", 1e-300, 1e300, 1e-300),
    ("usam", 0.1, 0.05, None),         # ordinary inputs take the direct formula, unchanged
])
def test_edges_at_extreme_inputs_match_50_digit_arithmetic(method, lr, rho, grad_norm):
    import mpmath

    mpmath.mp.dps = 50
    r = mpmath.mpf(rho) / (mpmath.mpf(grad_norm) if grad_norm else 1)
    eta = mpmath.mpf(lr)
    exact_sharpness = (mpmath.sqrt(1 + 8 * r / eta) - 1) / (2 * r)  # the published form, in 50 digits
    sharpness = max_stable_sharpness(method, lr, rho=rho, grad_norm=grad_norm)
    # exp of a log-space value: relative error <= |log value| * eps ~ 700 * 2.2e-16 = 1.6e-13.
    assert float(sharpness) == pytest.approx(float(exact_sharpness), rel=1e-12)
    lam = float(exact_sharpness)
    exact_lr = 2 / (mpmath.mpf(lam) * (1 + r * mpmath.mpf(lam)))
    assert float(max_stable_lr(method, lam, rho=rho, grad_norm=grad_norm)) == pytest.approx(float(exact_lr), rel=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: max_stable_lr("usam", 1e308, rho=1e308), r"lr_max = 10\^-923.7 lies outside the range"),
    (lambda: max_stable_lr("gd", 1e308), r"lr_max = 10\^-307.7"),                 # subnormal: digits lost
    (lambda: max_stable_sharpness("gd", 1e-320), "smallest normal float64"),      # subnormal input
    (lambda: max_stable_lr("sam", 1.0, rho=0.1, grad_norm=5e-324), "smallest normal float64"),
])
def test_unrepresentable_edges_are_refused_not_rounded_to_0_or_inf(call, match):
    from stablesam.core.validation import UsageError

    with pytest.raises(UsageError, match=match):
        call()
