"""StableSAM's lipschitz-step constants (issue 24): K = Lip(phi)/beta of the step direction phi = ||g|| g~/||g~||,
checked three ways -- sympy (the Jacobian split and the formula), adversarial search over pairs of points on loss
families with certified beta (four C^2 families, three merely beta-smooth ones), and hand values.

The step is Tan et al. 2024 (arXiv:2401.07250): w - eta ||g|| g~/||g~||, g~ the gradient at w + rho g (StableSAM-U)
or w + rho g/||g|| (StableSAM-N). The derivation is in stablesam.theory.method_constants and docs/theory.md 4.1.
"""

import math

import numpy as np
import pytest
import sympy as sp
from scipy.optimize import minimize
from scipy.special import expit

from stablesam.core.validation import UsageError
from stablesam.theory.method_constants import lipschitz_step_constant
from stablesam.theory.uniform_stability import stablesam_expansiveness

EPS = np.finfo(np.float64).eps
D = 3


def _old_constant(method, r, g_min=None):
    """The constants before issue 24 (a triangle inequality), kept here only to show the new ones are below them."""
    return 1 + 2 * (1 + r) / (1 - r) if method == "stablesam-u" else 1 + 2 * (g_min + 2 * r) / (g_min - r)


# ----------------------------------------------------------------------------------------------------
# Loss families with a certified smoothness constant beta >= sup ||Hessian|| (or gradient Lipschitz constant)
# ----------------------------------------------------------------------------------------------------


def _quadratic(rng):
    M = rng.normal(size=(D, D))
    A = (M + M.T) / 2  # indefinite: lambda = +-beta both occur
    return (lambda w: w @ A), float(np.linalg.norm(A, 2))


def _softplus_units(rng, k=4):
    # 1/2 w^T A w + sum_k c_k softplus(a_k . w + b_k); softplus'' <= 1/4.
    M = rng.normal(size=(D, D))
    A, a, b, c = (M + M.T) / 4, rng.normal(size=(k, D)), rng.normal(size=k), rng.uniform(0.5, 2.0, size=k)
    return (lambda w: w @ A + (c * expit(w @ a.T + b)) @ a), float(np.linalg.norm(A, 2) + np.sum(c * np.sum(a**2, axis=1)) / 4)


def _cosines(rng, k=4, tilt=0.0, scale=1.0):
    # t . w + sum_k c_k cos(omega_k . w + b_k): Hessian -sum c_k cos(.) omega_k omega_k^T, beta <= sum |c_k| ||omega_k||^2.
    # A large tilt t with high frequencies makes the Hessian at w~ unrelated to the one at w however small rho is.
    omega, b, c = scale * rng.normal(size=(k, D)), rng.uniform(0, 2 * np.pi, size=k), rng.normal(size=k) / scale**2
    t = tilt * rng.normal(size=D)
    return (lambda w: t - (c * np.sin(w @ omega.T + b)) @ omega), float(np.sum(np.abs(c) * np.sum(omega**2, axis=1)))


def _tilted_cosines(rng):
    return _cosines(rng, tilt=20.0, scale=6.0)


def _huber_units(rng, k=4):
    # Not C^2: sum_k c_k huber(a_k . w + b_k) - 1/2 w^T A w, huber' = clip(z, -1, 1) (1-Lipschitz).
    M = rng.normal(size=(D, D))
    A, a, b, c = (M + M.T) / 4, rng.normal(size=(k, D)), rng.normal(size=k), rng.uniform(0.5, 2.0, size=k)
    return (lambda w: -(w @ A) + (c * np.clip(w @ a.T + b, -1.0, 1.0)) @ a), float(np.linalg.norm(A, 2) + np.sum(c * np.sum(a**2, axis=1)))


def _relu_squared(rng, k=4):
    # Not C^2: sum_k s_k 1/2 relu(a_k . w + b_k)^2 with signs s_k; gradient sum s_k relu(.) a_k, beta <= sum ||a_k||^2.
    a, b, s = rng.normal(size=(k, D)), rng.normal(size=k), rng.choice([-1.0, 1.0], size=k)
    return (lambda w: (s * np.maximum(w @ a.T + b, 0.0)) @ a), float(np.sum(np.sum(a**2, axis=1)))


def _tilted_kinks(rng, k=4):
    # Not C^2, Hessian jumps on a fine scale: t . w + sum_k s_k huber-like kinks at frequency 6.
    a, b, s = 6.0 * rng.normal(size=(k, D)), rng.normal(size=k), rng.choice([-1.0, 1.0], size=k)
    t = 20.0 * rng.normal(size=D)
    return (lambda w: t + (s * np.clip(w @ a.T + b, -1.0, 1.0) / 36.0) @ a), float(np.sum(np.sum(a**2, axis=1)) / 36.0)


C2_FAMILIES = {"quadratic": _quadratic, "softplus units": _softplus_units, "sum of cosines": _cosines, "tilted cosines": _tilted_cosines}
SMOOTH_FAMILIES = {"huber units": _huber_units, "relu squared": _relu_squared, "tilted kinks": _tilted_kinks}


def _phi(grad, w, rho, normalized):
    """phi(w) = ||g|| g~/||g~|| (rows of w), 0 where g = 0."""
    g = grad(w)
    g_norm = np.linalg.norm(g, axis=-1, keepdims=True)
    ascent = np.divide(g, g_norm, out=np.zeros_like(g), where=g_norm > 0) if normalized else g
    g_tilde = grad(w + rho * ascent)
    t_norm = np.linalg.norm(g_tilde, axis=-1, keepdims=True)
    return g_norm * np.divide(g_tilde, t_norm, out=np.zeros_like(g_tilde), where=t_norm > 0)


def _pair_ratio(grad, v, w, rho, normalized):
    """||phi(v) - phi(w)|| / ||v - w|| per row, and a bound on its rounding error (relative to the ratio)."""
    pv, pw = _phi(grad, v, rho, normalized), _phi(grad, w, rho, normalized)
    gap = np.linalg.norm(v - w, axis=-1)
    ratio = np.linalg.norm(pv - pw, axis=-1) / gap
    # ~100 roundings on numbers of the size of phi and of the points, divided by the gap.
    scale = np.linalg.norm(pv, axis=-1) + np.linalg.norm(pw, axis=-1) + np.linalg.norm(w, axis=-1) * ratio
    return ratio, 100 * EPS * scale / gap


def adversarial_search(family, method, *, seed, rho_beta, points=3000, refine=4):
    """Largest ||phi(v) - phi(w)|| / (beta ||v - w||) found, with the constant K and the rounding bound.

    ``rho_beta`` is the constant's parameter: ``r = rho beta`` for StableSAM-U, ``s = rho beta / g_min`` for
    StableSAM-N, where ``g_min`` is the 30% quantile of ``||g||`` at the sampled points and pairs are kept only if
    their segment stays at ``||g|| >= g_min`` (checked at 9 points of the segment).
    Random points, each paired with a near neighbour along a random direction; the best pairs are refined by
    Nelder-Mead over both points.
    """
    rng = np.random.default_rng(seed)
    grad, beta = family(rng)
    normalized = method == "stablesam-n"
    w = rng.normal(scale=2.0, size=(points, D))
    g_min = float(np.quantile(np.linalg.norm(grad(w), axis=-1), 0.3)) if normalized else None
    rho = rho_beta * (g_min if normalized else 1.0) / beta
    K = lipschitz_step_constant(method, beta=beta, rho=rho, g_min=g_min)

    def admissible(v, w):
        if not normalized:
            return np.ones(v.shape[:-1], dtype=bool)
        s = np.linspace(0.0, 1.0, 9)[:, None, None]
        return np.all(np.linalg.norm(grad(w + s * (v - w)), axis=-1) >= g_min, axis=0)

    step = rng.normal(size=(points, D)) * 10.0 ** rng.uniform(-5, 0, size=(points, 1))
    v = w + step
    ratio, rounding = _pair_ratio(grad, v, w, rho, normalized)
    ratio = np.where(admissible(v, w), ratio, 0.0)
    best = float(ratio.max()) / beta
    worst_rounding = float(rounding[np.argmax(ratio)])
    for i in np.argsort(ratio)[-refine:]:
        def negative(x):
            a, b = x[:D][None], x[D:][None]
            if np.linalg.norm(a - b) < 1e-7 or not admissible(a, b)[0]:
                return 0.0
            return -float(_pair_ratio(grad, a, b, rho, normalized)[0][0])

        result = minimize(negative, np.concatenate([v[i], w[i]]), method="Nelder-Mead",
                          options={"maxiter": 400, "xatol": 1e-9, "fatol": 1e-12})
        if -result.fun / beta > best:
            a, b = result.x[:D][None], result.x[D:][None]
            best, worst_rounding = -result.fun / beta, float(_pair_ratio(grad, a, b, rho, normalized)[1][0])
    return best, K, worst_rounding / beta


def _tightness(families, method, rho_beta, seeds, points=3000):
    out = []
    for name, family in families.items():
        for seed in seeds:
            found, K, rounding = adversarial_search(family, method, seed=seed, rho_beta=rho_beta, points=points)
            assert found <= K + rounding, (name, seed, found, K)  # no pair exceeds the proved constant
            assert found > 0.0, (name, seed)  # the search found admissible pairs
            out.append(found / K)
    return max(out)


@pytest.mark.parametrize("method", ["stablesam-u", "stablesam-n"])
@pytest.mark.parametrize(("families", "setting"), [(C2_FAMILIES, "C2"), (SMOOTH_FAMILIES, "beta-smooth")])
def test_no_adversarial_pair_exceeds_the_new_constant_and_it_is_below_the_old(method, families, setting):
    # Fails on the old code (the constants there were 1 + 2 (1 + r)/(1 - r) and 1 + 2 (g_min + 2r)/(g_min - r)).
    for rho_beta in (0.05, 0.5):  # r = rho beta (U) or s = rho beta / g_min (N)
        K = lipschitz_step_constant(method, beta=1.0, rho=rho_beta, g_min=1.0 if method == "stablesam-n" else None)
        assert K < _old_constant(method, rho_beta, 1.0) / 2
        tightness = _tightness(families, method, rho_beta, seeds=(1,), points=1000)  # the full search: the slow test
        assert 0.0 < tightness <= 1.0 + 1e-9  # admissible pairs were found; the measured tightness is in the docs


DOCUMENTED_TIGHTNESS = {  # docs/theory.md 4.1: max K_emp / K over seeds 1..6, at r (U) or s (N) = 0.01 .. 0.9
    ("stablesam-u", "C2"): (0.712, 0.732, 0.785, 0.764, 0.314),
    ("stablesam-u", "beta-smooth"): (0.653, 0.608, 0.503, 0.323, 0.065),
    ("stablesam-n", "C2"): (0.711, 0.731, 0.784, 0.757, 0.306),
    ("stablesam-n", "beta-smooth"): (0.653, 0.626, 0.503, 0.306, 0.064),
}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["stablesam-u", "stablesam-n"])
def test_tightness_table_of_the_docs(method):
    # r = rho beta for U, s = rho beta / g_min for N. The search is deterministic (seeded points, Nelder-Mead), so
    # the documented table is reproduced to its 3 decimals up to platform rounding (0.005 allowed).
    for families, setting in ((C2_FAMILIES, "C2"), (SMOOTH_FAMILIES, "beta-smooth")):
        for rho_beta, documented in zip((0.01, 0.05, 0.2, 0.5, 0.9), DOCUMENTED_TIGHTNESS[method, setting]):
            tightness = _tightness(families, method, rho_beta, seeds=range(1, 7))
            assert tightness <= 1.0 + 1e-9 and tightness == pytest.approx(documented, abs=0.005)


def test_jacobian_split_symbolically_and_the_bound_is_attained_by_the_matrices():
    # Dphi = u (H e)^T + gamma P Dg~ with P = I - u u^T: the two terms are orthogonal for every x, so
    # ||Dphi x||^2 = (e^T H x)^2 + gamma^2 ||P Dg~ x||^2. Checked with symbols in 2-D for a generic unit u.
    th, x1, x2, a, b, c1, c2, c3, c4 = sp.symbols("theta x1 x2 a b c1 c2 c3 c4", real=True)
    u = sp.Matrix([sp.cos(th), sp.sin(th)])
    P = sp.eye(2) - u * u.T
    row = sp.Matrix([[a, b]])  # (H e)^T
    M = sp.Matrix([[c1, c2], [c3, c4]])  # gamma Dg~
    x = sp.Matrix([x1, x2])
    Dphi = u * row + P * M
    lhs = (Dphi * x).dot(Dphi * x)
    rhs = (row * x)[0] ** 2 + (P * M * x).dot(P * M * x)
    assert sp.simplify(sp.expand(lhs - rhs)) == 0
    # Attained: e = u = (1, 0), H e = beta e, mean Hessian on [w, w~] = -beta e e^T (so gamma = 1/(1 - r)),
    # H~ = beta (e f^T + f e^T): ||Dphi e|| = beta K_U exactly.
    r, beta = sp.symbols("r beta", positive=True)
    e, f = sp.Matrix([1, 0]), sp.Matrix([0, 1])
    H, H_tilde = beta * sp.eye(2), beta * (e * f.T + f * e.T)
    gamma = 1 / (1 - r)
    Dphi = e * (H * e).T + gamma * (sp.eye(2) - e * e.T) * H_tilde * (sp.eye(2) + (r / beta) * H)
    K_U = sp.sqrt(1 + ((1 + r) / (1 - r)) ** 2)
    assert sp.simplify(sp.sqrt((Dphi * e).dot(Dphi * e)) - beta * K_U) == 0
    # N: gamma (1 + rho beta/||g||) = (||g|| + rho beta)/(||g|| - rho beta), decreasing in ||g||: its value at g_min.
    g, q = sp.symbols("g q", positive=True)  # q = rho beta
    factor = g / (g - q) * (1 + q / g)
    assert sp.simplify(factor - (g + q) / (g - q)) == 0 and sp.simplify(sp.diff(factor, g) + 2 * q / (g - q) ** 2) == 0
    # Numerically the formula equals the library's constant.
    f_u = sp.lambdify(r, K_U)
    assert lipschitz_step_constant("stablesam-u", beta=2.0, rho=0.1) == pytest.approx(float(f_u(0.2)), rel=1e-15)


def test_constants_by_hand():
    # r = 0.05: (1.05/0.95)^2 = 1.2216066..., K_U = sqrt(2.2216066...) = 1.4905055 (the old: 3.2105263).
    assert lipschitz_step_constant("stablesam-u", beta=1.0, rho=0.05) == pytest.approx(1.4905055008953998, rel=1e-15)
    assert _old_constant("stablesam-u", 0.05) == pytest.approx(3.2105263157894735, rel=1e-15)
    # r = 0.5: q = 3, K = sqrt(10); rho beta = 0.25 with g_min = 0.75: s = 1/3, q = 2, K_N = sqrt(5).
    assert lipschitz_step_constant("stablesam-u", beta=2.0, rho=0.25) == pytest.approx(math.sqrt(10), rel=1e-15)
    assert lipschitz_step_constant("stablesam-n", beta=1.0, rho=0.25, g_min=0.75) == pytest.approx(math.sqrt(5), rel=1e-15)
    # alpha = 1 + eta beta K: eta = 0.1, beta = 2, r = 0.5: 1 + 0.2 sqrt(10).
    assert float(stablesam_expansiveness("stablesam-u", 0.1, beta=2.0, rho=0.25)) == pytest.approx(1 + 0.2 * math.sqrt(10), rel=1e-15)
    # rho = 0: StableSAM is SGD (phi = g), K = 1; the limit rho -> 0+ is sqrt 2 (H~ need not be near H).
    assert lipschitz_step_constant("stablesam-u", beta=1.0, rho=0.0) == 1.0
    assert lipschitz_step_constant("stablesam-u", beta=1.0, rho=1e-12) == pytest.approx(math.sqrt(2), rel=1e-11)
    # 1-D: phi = g exactly (g~ has the sign of g when r < 1), K_emp = 1 on a 1-D quadratic at lambda = -beta.
    grad = lambda w: -2.0 * w  # noqa: E731
    ratio, _ = _pair_ratio(grad, np.array([[1.0]]), np.array([[2.0]]), 0.2, False)
    assert ratio[0] == pytest.approx(2.0, rel=1e-15)


def test_refusals_name_the_condition():
    with pytest.raises(UsageError, match=r"rho\*beta=1 violates rho\*beta < 1"):
        lipschitz_step_constant("stablesam-u", beta=2.0, rho=0.5)
    with pytest.raises(UsageError, match="needs g_min"):
        lipschitz_step_constant("stablesam-n", beta=1.0, rho=0.1)
    with pytest.raises(UsageError, match=r"g_min=0.1 violates g_min > rho\*beta = 0.2"):
        lipschitz_step_constant("stablesam-n", beta=2.0, rho=0.1, g_min=0.1)
    with pytest.raises(UsageError, match="no lipschitz-step constant"):
        lipschitz_step_constant("sam", beta=1.0, rho=0.1)
