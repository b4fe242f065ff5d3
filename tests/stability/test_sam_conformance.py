"""Conformance suite of the SAM-family optimizers (docs/theory.md section 1).

Parametrised over the rows of the method table with an ascent (stablesam.core.methods: ascent x stable) x base
optimizer {SGD, SGD with momentum and weight decay, Adam} x dtype {float32, float64}, where the property
holds for that combination.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from _optimizer_db import infos
from stablesam.core.methods import METHODS
from stablesam.stability import SAM, ascent_direction

WRAPPED = [m for m in METHODS.values() if m.uses_rho]  # the rows that are a SAM wrapper
ASCENTS = tuple(dict.fromkeys(m.ascent for m in WRAPPED))
BASES = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.1),
    "momentum_wd": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01),
    "adam": lambda params: torch.optim.Adam(params, lr=0.01),
}
DTYPES = (torch.float32, torch.float64)
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}

all_combinations = pytest.mark.parametrize(
    "ascent, stable, base, dtype",
    [(m.ascent, m.stable, b, d) for m in WRAPPED for b in BASES for d in DTYPES],
    ids=lambda v: str(v).replace("torch.", ""),
)


def mlp_problem(dtype: torch.dtype, seed: int = 0):
    """A 3-4-2 tanh network on a fixed regression batch: four parameter tensors and a closure factory."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (4,), (2, 4), (2,)]
    params = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in shapes]
    x = torch.randn(16, 3, generator=gen, dtype=dtype)
    y = torch.randn(16, 2, generator=gen, dtype=dtype)

    def make_closure(ps, optimizer):
        def closure():
            optimizer.zero_grad()
            hidden = torch.tanh(x @ ps[0].T + ps[1])
            loss = ((hidden @ ps[2].T + ps[3] - y) ** 2).mean()
            loss.backward()
            return loss

        return closure

    return params, make_closure


def clone_params(params):
    return [p.detach().clone().requires_grad_() for p in params]


def quadratic_closure(w, H, optimizer):
    def closure():
        optimizer.zero_grad()
        loss = 0.5 * w @ H @ w
        loss.backward()
        return loss

    return closure


# --- rho = 0 is the base optimizer, bit for bit --------------------------------------------------


@all_combinations
def test_rho_zero_equals_base_bit_for_bit(ascent, stable, base, dtype):
    params, make_closure = mlp_problem(dtype)
    plain = clone_params(params)
    plain_opt = BASES[base](plain)
    sam_params = clone_params(params)
    sam = SAM(BASES[base](sam_params), rho=0.0, ascent=ascent, stable=stable)
    plain_closure, sam_closure = make_closure(plain, plain_opt), make_closure(sam_params, sam)
    for _ in range(4):
        plain_closure()
        plain_opt.step()
        sam.step(sam_closure)
    for a, b in zip(plain, sam_params):
        assert torch.equal(a, b)


# --- StableSAM's step has the length of the SGD step ---------------------------------------------


@pytest.mark.parametrize("ascent", ASCENTS)
def test_stable_step_length_is_sgd_step_length(ascent):
    params, make_closure = mlp_problem(torch.float64, seed=1)
    lr, eta = 0.1, 0.01
    sam = SAM(torch.optim.SGD(params, lr=lr), rho=0.3, ascent=ascent, stable=True, adaptive_eta=eta)
    closure = make_closure(params, sam)
    for _ in range(3):
        before = [p.detach().clone() for p in params]
        closure()
        g = [p.grad.clone() for p in params]
        sam.first_step()
        ascent_point = [p.detach().clone() for p in params]
        closure()
        sam.second_step()
        step = [b - p.detach() for b, p in zip(before, params)]
        if ascent == "adaptive":  # the T-weighted lengths: ||T_w~ step|| = lr ||T_w g||
            weight = lambda ws, xs: torch.cat([((w.abs() + eta) * x).flatten() for w, x in zip(ws, xs)])
            length = torch.linalg.vector_norm(weight(ascent_point, step))
            expected = lr * torch.linalg.vector_norm(weight(before, g))
        else:
            length = torch.linalg.vector_norm(torch.cat([s.flatten() for s in step]))
            expected = lr * torch.linalg.vector_norm(torch.cat([x.flatten() for x in g]))
        assert float(length) == pytest.approx(float(expected), rel=1e-12)
        assert abs(float(sam.last_stats["gamma"]) - 1.0) > 1e-3  # a genuine rescaling


# --- along an eigenvector StableSAM is GD (docs/theory.md section 2) ----------------------------------


@pytest.mark.parametrize("ascent", ("normalized", "unnormalized"))
@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_stable_is_gd_on_1d_quadratic(ascent, base, dtype):
    H = torch.tensor([[2.5]], dtype=dtype)
    w_gd = torch.tensor([1.3], dtype=dtype, requires_grad=True)
    w_st = w_gd.detach().clone().requires_grad_()
    gd = BASES[base]([w_gd])
    stable = SAM(BASES[base]([w_st]), rho=0.2, ascent=ascent, stable=True)
    gd_closure, st_closure = quadratic_closure(w_gd, H, gd), quadratic_closure(w_st, H, stable)
    for _ in range(6):
        gd_closure()
        gd.step()
        stable.step(st_closure)
        torch.testing.assert_close(w_st, w_gd, rtol=RTOL[dtype], atol=0)


@pytest.mark.parametrize("ascent", ("normalized", "unnormalized"))
@pytest.mark.parametrize("base", ("sgd", "momentum_wd"))
def test_stable_is_gd_on_eigenvector_of_nd_quadratic(ascent, base):
    gen = torch.Generator().manual_seed(3)
    Q, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen, dtype=torch.float64))
    eigenvalues = torch.tensor([0.3, 0.7, 1.1, 2.0, 4.0], dtype=torch.float64)
    H = Q @ torch.diag(eigenvalues) @ Q.T
    w_gd = (0.8 * Q[:, 2]).requires_grad_()  # on the eigenvector of lambda = 1.1, not axis-aligned
    w_st = w_gd.detach().clone().requires_grad_()
    gd = BASES[base]([w_gd])
    stable = SAM(BASES[base]([w_st]), rho=0.5, ascent=ascent, stable=True)
    gd_closure, st_closure = quadratic_closure(w_gd, H, gd), quadratic_closure(w_st, H, stable)
    for _ in range(8):
        gd_closure()
        gd.step()
        stable.step(st_closure)
        assert float(stable.last_stats["gamma"]) < 1.0  # the surrogate was longer: gamma really acted
        torch.testing.assert_close(w_st, w_gd, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("ascent", ("normalized", "unnormalized"))
def test_stable_is_adam_on_eigenvector_first_step(ascent):
    # Adam acts coordinate-wise, so only its first step stays on a non-axis eigenvector.
    H = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    w_ref = torch.tensor([0.6, 0.6], dtype=torch.float64, requires_grad=True)
    w_st = w_ref.detach().clone().requires_grad_()
    adam = BASES["adam"]([w_ref])
    stable = SAM(BASES["adam"]([w_st]), rho=0.5, ascent=ascent, stable=True)
    quadratic_closure(w_ref, H, adam)()
    adam.step()
    stable.step(quadratic_closure(w_st, H, stable))
    torch.testing.assert_close(w_st, w_ref, rtol=1e-12, atol=0)


# --- one step on 1/2 w^T H w equals the hand-computed update -------------------------------------


@pytest.mark.parametrize(
    "ascent, rho, eta, expected",
    [
        # H = diag(3, 4), w = (1, 1), lr = 0.1: g = (3, 4), ||g|| = 5.
        # SAM, rho = 0.5: w~ = (1.3, 1.4), g~ = (3.9, 5.6), w' = (0.61, 0.44).
        ("normalized", 0.5, 0.01, (0.61, 0.44)),
        # USAM, rho = 0.5: w~ = w + 0.5 g = (2.5, 3), g~ = (7.5, 12), w' = (0.25, -0.2).
        ("unnormalized", 0.5, 0.01, (0.25, -0.2)),
        # ASAM, rho = 0.5, eta = 0.01: T = 1.01 I, w~ = w + 0.5 * 1.01 * g / 5 = (1.303, 1.404),
        # g~ = (3.909, 5.616), w' = (0.6091, 0.4384).
        ("adaptive", 0.5, 0.01, (0.6091, 0.4384)),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_one_step_matches_hand_computation(ascent, rho, eta, expected, dtype):
    H = torch.diag(torch.tensor([3.0, 4.0], dtype=dtype))
    w = torch.ones(2, dtype=dtype, requires_grad=True)
    sam = SAM(torch.optim.SGD([w], lr=0.1), rho=rho, ascent=ascent, adaptive_eta=eta)
    sam.step(quadratic_closure(w, H, sam))
    torch.testing.assert_close(w.detach(), torch.tensor(expected, dtype=dtype), rtol=RTOL[dtype] * 10, atol=1e-15)


@pytest.mark.parametrize("info", infos(lambda i: i.supports_foreach), ids=lambda i: i.key)
@pytest.mark.parametrize("dtype", DTYPES)
def test_steps_match_numpy_formula_on_general_quadratic(info, dtype):
    # The numpy update of docs/theory.md section 1 is the database's (tests/_optimizer_db.py).
    rng = np.random.default_rng(7)
    A = rng.standard_normal((4, 4))
    H = A @ A.T + 0.1 * np.eye(4)
    w_np = rng.standard_normal(4)
    lr, rho, eta = 0.05, 0.3, 0.02
    w = torch.tensor(w_np, dtype=dtype, requires_grad=True)
    sam = SAM(torch.optim.SGD([w], lr=lr), rho=rho, ascent=info.row.ascent, stable=info.row.stable, adaptive_eta=eta)
    closure = quadratic_closure(w, torch.tensor(H, dtype=dtype), sam)
    for _ in range(3):
        sam.step(closure)
        w_np, gamma = info.reference(H, w_np, lr, rho, eta)
        np.testing.assert_allclose(w.detach().double().numpy(), w_np, rtol=RTOL[dtype] * 100)
        np.testing.assert_allclose(float(sam.last_stats["applied_gamma"]), np.squeeze(gamma), rtol=RTOL[dtype] * 100)


# --- state_dict round trip: a resumed run continues identically ----------------------------------


@all_combinations
def test_state_dict_round_trip_resumes_identically(ascent, stable, base, dtype):
    params, make_closure = mlp_problem(dtype, seed=2)
    sam = SAM(BASES[base](params), rho=0.1, ascent=ascent, stable=stable, gamma_cap=1.5)
    closure = make_closure(params, sam)
    for _ in range(3):
        sam.step(closure)
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in params], "optimizer": sam.state_dict()}, buffer)
    for _ in range(3):
        sam.step(closure)

    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed_params = [p.clone().requires_grad_() for p in checkpoint["params"]]
    resumed = SAM(BASES[base](resumed_params), rho=0.1, ascent=ascent, stable=stable, gamma_cap=1.5)
    resumed.load_state_dict(checkpoint["optimizer"])
    resumed_closure = make_closure(resumed_params, resumed)
    for _ in range(3):
        resumed.step(resumed_closure)
    for a, b in zip(params, resumed_params):
        assert torch.equal(a, b)


# --- degenerate cases: no NaN --------------------------------------------------------------------


@all_combinations
def test_zero_gradient_gives_finite_parameters(ascent, stable, base, dtype):
    w = torch.zeros(3, dtype=dtype, requires_grad=True)  # minimum of 1/2 ||w||^2: g = 0
    sam = SAM(BASES[base]([w]), rho=0.1, ascent=ascent, stable=stable, adaptive_eta=0.0)
    closure = quadratic_closure(w, torch.eye(3, dtype=dtype), sam)
    for _ in range(2):
        sam.step(closure)
    assert torch.equal(w.detach(), torch.zeros(3, dtype=dtype))  # no ascent, no step
    assert all(torch.isfinite(v).all() for v in sam.last_stats.values())
    assert float(sam.last_stats["gamma"]) == 1.0


@all_combinations
def test_zero_surrogate_gradient_gives_finite_parameters(ascent, stable, base, dtype):
    # f(w) = -1/2 (w - 1)^2 at w = 0.5: g = 0.5, and rho = 0.5 / d(w, g) lands the ascent exactly on the maximum
    # w~ = 1, where g~ = 0 (SAM: rho = 0.5; USAM: w + rho g with rho = 1; ASAM with eta = 0: w + rho |w| with rho = 1).
    w = torch.tensor([0.5], dtype=dtype, requires_grad=True)
    (d,), _ = ascent_direction([w.detach()], [torch.tensor([0.5], dtype=dtype)], ascent=ascent, adaptive_eta=0.0)
    sam = SAM(BASES[base]([w]), rho=float(0.5 / d), ascent=ascent, stable=stable, adaptive_eta=0.0)

    def closure():
        sam.zero_grad()
        loss = -0.5 * ((w - 1.0) ** 2).sum()
        loss.backward()
        return loss

    sam.step(closure)
    stats = sam.last_stats
    assert float(stats["surrogate_grad_norm"]) == 0.0
    assert float(stats["grad_norm"]) == (0.25 if ascent == "adaptive" else 0.5)  # ASAM: ||T_w g|| = |w| g
    assert float(stats["gamma"]) == 1.0
    assert torch.isfinite(w).all()
    if base == "sgd":  # the step is gamma g~ = 0
        assert float(w.detach()) == 0.5


# --- stacked mode: K stacked models step like K separate ones ------------------------------------


def _seeded_mlp(gen: torch.Generator) -> torch.nn.Module:
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 4, device="meta"), torch.nn.Tanh(), torch.nn.Linear(4, 2, device="meta")
    ).to_empty(device="cpu").double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return model


@pytest.mark.parametrize("info", infos(lambda i: i.supports_stacked), ids=lambda i: i.key)
@pytest.mark.parametrize("base", BASES)
def test_stacked_step_equals_separate_steps(info, base):
    ascent, stable = info.row.ascent, info.row.stable
    gen = torch.Generator().manual_seed(11)
    n_models = 3
    models = [_seeded_mlp(gen) for _ in range(n_models)]
    x = torch.randn(n_models, 8, 3, generator=gen, dtype=torch.float64)  # a different batch per model
    y = torch.randn(n_models, 8, 2, generator=gen, dtype=torch.float64)
    loss_of = lambda out, target: ((out - target) ** 2).mean()

    separate = []
    for k, model in enumerate(models):
        params = [p.detach().clone().requires_grad_() for p in model.parameters()]
        opt = SAM(BASES[base](params), rho=0.2, ascent=ascent, stable=stable)

        def closure(k=k, params=params, opt=opt):
            opt.zero_grad()
            out = torch.func.functional_call(models[0], dict(zip(dict(models[0].named_parameters()), params)), (x[k],))
            loss = loss_of(out, y[k])
            loss.backward()
            return loss

        separate.append((params, opt, closure))

    stacked_params, _ = torch.func.stack_module_state(models)
    names = list(stacked_params)
    stacked = [stacked_params[name].detach().clone().requires_grad_() for name in names]
    opt = SAM(BASES[base](stacked), rho=0.2, ascent=ascent, stable=stable, stacked=True)

    def per_model_loss(params, xk, yk):
        return loss_of(torch.func.functional_call(models[0], dict(zip(names, params)), (xk,)), yk)

    def stacked_closure():
        opt.zero_grad()
        loss = torch.vmap(per_model_loss)(tuple(stacked), x, y).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(stacked_closure)
        for params, single, closure in separate:
            single.step(closure)
        for key, stat in opt.last_stats.items():
            assert stat.shape == (n_models,)
            expected = torch.stack([single.last_stats[key] for _, single, _ in separate])
            torch.testing.assert_close(stat, expected, rtol=1e-12, atol=1e-14)
        for i in range(len(names)):
            expected = torch.stack([params[i].detach() for params, _, _ in separate])
            torch.testing.assert_close(stacked[i].detach(), expected, rtol=1e-12, atol=1e-14)
