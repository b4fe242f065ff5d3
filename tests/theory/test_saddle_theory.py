"""C8's theory (stablesam.theory.saddle, docs/theory.md section 7): each closed form checked by sympy, by
simulating the actual iteration (the exact maps and the project's torch optimizers), and by hand values."""

import numpy as np
import pytest
import sympy as sp

from stablesam.core.validation import UsageError
from stablesam.theory.quadratic import Quadratic, step
from stablesam.theory.saddle import (
    ESCAPE_CONDITIONS,
    SADDLE_METHODS,
    escape_steps,
    escapes_linearised,
    saddle_fixed_points,
    saddle_step,
    stablesam_n_local_step,
    trap_radius,
)

RNG = np.random.default_rng(8)
CURVATURES = (-0.5, -1.0, -4.0)  # three saddles


def iterate(method, x0, curvature, lr, rho, steps, **kw):
    x = np.asarray(x0, dtype=np.float64)
    out = [x]
    for _ in range(steps):
        x = np.clip(saddle_step(method, x, curvature, lr, rho, **kw), -1e6, 1e6)  # far out: escaped, stop growing
        out.append(x)
    return np.array(out)


# --- sympy ----------------------------------------------------------------------------------------

a, eta, rho, x, ea, t = sp.symbols("a eta rho x eta_a t", positive=True)


def test_sympy_fixed_points_and_shifted_recursions():
    g = -a * x
    # SAM: ascent x - rho (g < 0 for x > 0); g~ = 0 solves to x = rho; u = x - rho grows by 1 + eta a exactly.
    sam = x - eta * (-a) * (x - rho)
    assert sp.solve(sp.Eq(-a * (x - rho), 0), x) == [rho]
    assert sp.simplify((sam - rho) - (1 + eta * a) * (x - rho)) == 0
    # ASAM at the origin: ascent x - rho (x + eta_a); fixed point rho eta_a / (1 - rho); factor 1 + eta a (1 - rho).
    asam_ascent = x - rho * (x + ea)
    (star,) = sp.solve(sp.Eq(asam_ascent, 0), x)
    assert sp.simplify(star - rho * ea / (1 - rho)) == 0
    asam = x - eta * (-a) * asam_ascent
    assert sp.simplify((asam - star) - (1 + eta * a * (1 - rho)) * (x - star)) == 0
    # StableSAM-N for 0 < x < rho (write rho = x + t): multiplier 1 - eta a; for x > rho (x = rho + t): 1 + eta a.
    for sub, expected in (({rho: x + t}, 1 - eta * a), ({x: rho + t}, 1 + eta * a)):
        surrogate = (-a * (x - rho)).subs(sub)
        xs = x.subs(sub)
        update = xs - eta * (sp.Abs(g.subs(sub)) / sp.Abs(surrogate)) * surrogate
        assert sp.simplify(update / xs - expected) == 0
    # StableSAM-A for 0 < x < r*: multiplier 1 - eta a (x + eta_a) / (|x~| + eta_a), |x~| = rho eta_a - (1 - rho) x.
    xt = -(asam_ascent)  # positive inside the trap
    update = x - eta * ((x + ea) * a * x / ((xt + ea) * a * xt)) * (a * xt)
    assert sp.simplify(update / x - (1 - eta * a * (x + ea) / (xt + ea))) == 0


def test_sympy_stablesam_n_local_map_is_the_limit():
    # 2-D diagonal H = diag(l1, l2) with any signs: the exact StableSAM-N step tends to the H^2 step as rho -> oo.
    l1, l2 = sp.symbols("l1 l2", real=True, nonzero=True)
    w1, w2, r = sp.symbols("w1 w2 r", positive=True)
    g = sp.Matrix([l1 * w1, l2 * w2])
    gn = sp.sqrt(g.dot(g))
    st = sp.Matrix([l1 * (w1 + r * g[0] / gn), l2 * (w2 + r * g[1] / gn)])
    direction = st / sp.sqrt(st.dot(st))
    h2w = sp.Matrix([l1**2 * w1, l2**2 * w2])
    limit = [sp.limit(direction[i], r, sp.oo) for i in range(2)]
    expected = h2w / sp.sqrt(h2w.dot(h2w))
    assert all(sp.simplify(limit[i] - expected[i]) == 0 for i in range(2))


# --- simulation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["gd", "usam", "sam", "stablesam-u", "stablesam-n"])
def test_saddle_step_is_the_quadratic_map(method):
    lam = -RNG.uniform(0.2, 4.0, 30)
    x0, lr, r = RNG.uniform(-2, 2, 30), RNG.uniform(0.01, 0.4, 30), RNG.uniform(0.01, 2.0, 30)
    mapped = step(method, Quadratic.from_spectrum(lam[:, None]), x0[:, None], lr, r)[:, 0]
    np.testing.assert_allclose(saddle_step(method, x0, lam, lr, r), mapped, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("curvature", CURVATURES)
@pytest.mark.parametrize("method", SADDLE_METHODS)
def test_trap_radius_against_simulation(method, curvature):
    lr = 0.1
    for r in (0.05, 0.3, 0.9):
        radius = trap_radius(method, curvature, lr, r)
        if np.isnan(radius):  # not known in closed form (StableSAM-A beyond its sufficient condition)
            continue
        starts = np.array([1e-3, 0.01, 0.04, 0.2, 0.6])
        path = np.abs(iterate(method, starts, curvature, lr, r, 600))
        escaped = path[-1] >= np.minimum(5.0, 10 * starts)  # grew tenfold (the slowest factor here is 1.005)
        inside = starts < radius
        # Inside the radius: never leaves max(|x_0|, r) (r = inf: never grows beyond |x_0| by more than rounding).
        bound = np.where(np.isinf(radius), starts, np.maximum(starts, radius)) * (1 + 1e-9)
        assert np.all(path.max(axis=0)[inside] <= bound[inside]), (method, curvature, r)
        assert np.all(escaped[~inside]), (method, curvature, r)


@pytest.mark.parametrize("curvature", CURVATURES)
@pytest.mark.parametrize("method", ["gd", "usam", "sam", "asam", "stablesam-u", "stablesam-n"])
def test_escape_steps_against_simulation(method, curvature):
    lr, radius = 0.1, 1.0
    starts = np.array([0.013, 0.07, 0.31])
    for r in (0.05, 0.2):
        predicted = escape_steps(method, curvature, lr, r, starts, radius)
        path = np.abs(iterate(method, starts, curvature, lr, r, 2000))
        for i, x0 in enumerate(starts):
            hit = np.flatnonzero(path[:, i] >= radius)
            if np.isinf(predicted[i]):
                assert hit.size == 0
            elif np.isfinite(predicted[i]):
                assert hit.size and hit[0] == predicted[i], (method, curvature, r, x0, predicted[i], hit[:1])


@pytest.mark.parametrize("spectrum", [[2.0, -1.0], [1.0, -0.3, -3.0], [5.0, -2.0, 0.5]])
@pytest.mark.parametrize("method", ["gd", "usam", "stablesam-u"])
def test_d_dim_escape_against_the_map(method, spectrum):
    model = Quadratic.from_spectrum(spectrum)
    w0 = np.full(len(spectrum), 1e-4)
    for r in (0.1, 0.6, 2.5):
        try:
            predicted = escapes_linearised(method, spectrum, 0.05, r)
        except UsageError:
            continue
        w = w0.copy()
        for _ in range(4000):
            w = step(method, model, w, 0.05, r)
            if np.linalg.norm(w) > 1.0 or np.linalg.norm(w) < 1e-12:
                break
        assert (np.linalg.norm(w) > 1.0) == predicted, (method, spectrum, r)


def test_stablesam_n_is_attracted_in_every_direction_in_2d():
    # Saddle diag(2, -1): from ||w|| << rho the exact StableSAM-N map converges onto the saddle; the local map agrees.
    model = Quadratic.from_spectrum([2.0, -1.0])
    w = np.array([3e-3, 4e-3])
    for _ in range(300):
        local = stablesam_n_local_step(np.diag([2.0, -1.0]), w, 0.1)
        w_next = step("stablesam-n", model, w, 0.1, 0.5)
        np.testing.assert_allclose(w_next, local, atol=np.linalg.norm(w) ** 2 / 0.5 * 4)
        w = w_next
    assert np.linalg.norm(w) < 1e-8


@pytest.mark.parametrize("key", SADDLE_METHODS)
def test_saddle_step_matches_the_torch_optimizer(key):
    torch = pytest.importorskip("torch")
    from stablesam.stability.optimizers import make_optimizer

    a_, lr, r = 1.5, 0.1, 0.3
    x0 = np.array([0.02, -0.2, 0.5])
    for start in x0:
        p = torch.tensor([start], dtype=torch.float64, requires_grad=True)
        opt = make_optimizer(key, [p], lr=lr, rho=r, adaptive_eta=0.01)

        def closure():
            opt.zero_grad()
            loss = (-0.5 * a_ * p.square()).sum()
            loss.backward()
            return loss

        x = start
        for _ in range(5):
            opt.step(closure)
            x = saddle_step(key, x, -a_, lr, r)
            assert p.item() == pytest.approx(float(x), rel=1e-12, abs=1e-15)


# --- hand values ----------------------------------------------------------------------------------


def test_hand_values():
    # a = 1, eta = 0.1: GD from 0.01 to 1 takes ceil(ln 100 / ln 1.1) = ceil(48.32) = 49 steps.
    assert escape_steps("gd", -1.0, 0.1, 0.0, 0.01, 1.0) == 49
    # SAM, rho = 0.05, x0 = 0.06: u = 0.01 -> 0.95: ceil(ln 95 / ln 1.1) = ceil(47.78) = 48.
    assert escape_steps("sam", -1.0, 0.1, 0.05, 0.06, 1.0) == 48
    # USAM rho = 0.5, a = 1: factor 1.05; from 0.01: ceil(ln 100 / ln 1.05) = ceil(94.39) = 95.
    assert escape_steps("usam", -1.0, 0.1, 0.5, 0.01, 1.0) == 95
    # rho a = 2 > 1: USAM and StableSAM-U trapped from anywhere; StableSAM-N inside |x| < rho.
    assert trap_radius("usam", -4.0, 0.1, 0.5) == np.inf and trap_radius("stablesam-u", -4.0, 0.1, 0.5) == np.inf
    assert trap_radius("stablesam-n", -1.0, 0.1, 0.05) == 0.05 and trap_radius("gd", -1.0, 0.1) == 0.0
    assert trap_radius("sam", -20.0, 0.1, 0.05) == 0.0  # eta a = 2 > 1: the interval is not invariant
    assert saddle_fixed_points("asam", -1.0, 0.5, adaptive_eta=0.01) == pytest.approx(0.01)
    assert np.isnan(saddle_fixed_points("gd", -1.0, 0.5))
    assert saddle_step("stablesam-u", 0.3, -2.0, 0.1, 0.5) == 0.3  # rho a = 1: g~ = 0, zero step
    assert set(ESCAPE_CONDITIONS) == set(SADDLE_METHODS)
    assert escapes_linearised("stablesam-u", [1.0, -4.0, -0.5], 0.1, 0.5)  # rho * 0.5 < 1: escapes there


def test_bad_input_is_one_clear_error():
    with pytest.raises(UsageError, match="curvature must be finite and < 0"):
        trap_radius("gd", 1.0, 0.1)
    with pytest.raises(UsageError, match="rho must be < 1"):
        saddle_step("asam", 0.1, -1.0, 0.1, 1.5)
    with pytest.raises(UsageError, match="x0 must satisfy"):
        escape_steps("gd", -1.0, 0.1, 0.0, 2.0, 1.0)
    with pytest.raises(UsageError, match="at least one < 0"):
        escapes_linearised("gd", [1.0, 2.0], 0.1)
