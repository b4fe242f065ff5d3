"""SAM/StableSAM with the training machinery around it: gradient accumulation, BatchNorm running
statistics, clipping and weight decay, and mixed precision (bf16 autocast, fp16-style GradScaler).

References are computed by hand from the update rule (docs/theory.md section 1): g at w, the ascent point
w~, g~ at w~, gamma = ||g|| / ||g~||, then the base optimizer's step on the (rescaled, clipped) g~."""

from __future__ import annotations

import copy
import functools
import math

import pytest
import torch

from stablesam.stability import SAM, StableSAM, freeze_running_stats


def regression(seed: int = 0, n: int = 16, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in [(5, 3), (5,), (2, 5), (2,)]]
    x = torch.randn(n, 3, generator=gen, dtype=dtype)
    y = torch.randn(n, 2, generator=gen, dtype=dtype)
    return params, x, y


def loss_of(ps, x, y):
    return ((torch.tanh(x @ ps[0].T + ps[1]) @ ps[2].T + ps[3] - y) ** 2).mean()


def clone(params):
    return [p.detach().clone().requires_grad_() for p in params]


def reference_gradients(params, x, y, rho, ascent="normalized"):
    """g at w, and g~ at w~ = w + rho g/||g|| (SAM) or w + rho g (USAM), by autograd on copies."""
    w = clone(params)
    g = torch.autograd.grad(loss_of(w, x, y), w)
    norm = torch.linalg.vector_norm(torch.cat([t.flatten() for t in g]))
    scale = rho / norm if ascent == "normalized" else rho
    w_tilde = [(p + scale * t).detach().requires_grad_() for p, t in zip(w, g)]
    g_tilde = torch.autograd.grad(loss_of(w_tilde, x, y), w_tilde)
    return g, g_tilde


def flat_norm(tensors):
    return torch.linalg.vector_norm(torch.cat([t.flatten() for t in tensors]))


# --- gradient accumulation -------------------------------------------------------------------------


@pytest.mark.parametrize("ascent", ("normalized", "unnormalized", "adaptive"))
@pytest.mark.parametrize("form", ("closure", "two_calls"))
def test_accumulated_micro_batches_equal_one_large_batch(ascent, form):
    params, x, y = regression(1, n=24)
    big, small = clone(params), clone(params)
    opt_big = StableSAM(torch.optim.SGD(big, lr=0.1, momentum=0.9), rho=0.1, ascent=ascent)
    opt_small = StableSAM(torch.optim.SGD(small, lr=0.1, momentum=0.9), rho=0.1, ascent=ascent)
    chunks = list(zip(x.split(6), y.split(6)))  # four equal micro-batches: mean loss = mean of their means

    def accumulate():
        for xb, yb in chunks:
            (loss_of(small, xb, yb) / len(chunks)).backward()

    def big_closure():
        opt_big.zero_grad()
        loss = loss_of(big, x, y)
        loss.backward()
        return loss

    def small_closure():
        opt_small.zero_grad()
        accumulate()
        return torch.zeros(())

    for _ in range(3):
        opt_big.step(big_closure)
        if form == "closure":
            opt_small.step(small_closure)
        else:
            opt_small.zero_grad()
            accumulate()
            opt_small.first_step(zero_grad=True)  # the ascent uses the accumulated g
            accumulate()
            opt_small.second_step(zero_grad=True)
    for a, b in zip(big, small):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=0)
    for key in opt_big.last_stats:
        torch.testing.assert_close(opt_small.last_stats[key], opt_big.last_stats[key], rtol=1e-10, atol=0)


# --- BatchNorm running statistics ------------------------------------------------------------------


def bn_model(seed: int = 2):
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    x = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(12, 1, generator=gen, dtype=torch.float64)
    return model, x, y


@pytest.mark.parametrize("policy", ("first", "both"))
def test_batchnorm_running_statistics_follow_the_policy(policy):
    model, x, y = bn_model()
    rho = 0.5
    # Reference by hand: one forward at w, and for "both" a second one at w~ = w + rho g/||g||.
    reference = copy.deepcopy(model)
    loss = torch.nn.functional.mse_loss(reference(x), y)
    g = torch.autograd.grad(loss, list(reference.parameters()))
    if policy == "both":
        with torch.no_grad():
            norm = flat_norm(g)
            for p, t in zip(reference.parameters(), g):
                p.add_(t, alpha=rho / norm)
            reference(x)

    opt = SAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=rho)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    second_pass = functools.partial(freeze_running_stats, model) if policy == "first" else None
    opt.step(closure, second_pass=second_pass)
    bn, ref_bn = model[1], reference[1]
    assert int(bn.num_batches_tracked) == (1 if policy == "first" else 2)
    torch.testing.assert_close(bn.running_mean, ref_bn.running_mean, rtol=1e-14, atol=0)
    torch.testing.assert_close(bn.running_var, ref_bn.running_var, rtol=1e-14, atol=0)
    assert bn.track_running_stats  # restored


def test_freezing_running_stats_leaves_the_step_unchanged_and_restores_on_error():
    stepped = {}
    for policy in ("first", "both"):
        model, x, y = bn_model(3)
        opt = StableSAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=0.3)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss

        opt.step(closure, second_pass=functools.partial(freeze_running_stats, model) if policy == "first" else None)
        stepped[policy] = [p.detach().clone() for p in model.parameters()]
    for a, b in zip(stepped["first"], stepped["both"]):
        assert torch.equal(a, b)  # training-mode BatchNorm normalises with batch statistics either way

    with pytest.raises(ZeroDivisionError):
        with freeze_running_stats(model):
            1 / 0
    assert model[1].track_running_stats
    with pytest.raises(TypeError, match="needs a torch.nn.Module, got list"):
        with freeze_running_stats([model]):
            pass
    with pytest.raises(TypeError, match="second_pass must be a function returning a context manager"):
        opt.step(closure, second_pass=freeze_running_stats(model))


# --- clipping and weight decay ---------------------------------------------------------------------


@pytest.mark.parametrize("ascent", ("normalized", "unnormalized"))
def test_clipping_applies_to_the_renormalized_descent_gradient(ascent):
    params, x, y = regression(4)
    g, g_tilde = reference_gradients(params, x, y, rho=0.2, ascent=ascent)
    gamma = flat_norm(g) / flat_norm(g_tilde)
    max_norm = 0.25 * float(flat_norm(g))  # ||gamma g~|| = ||g||: clipping acts
    clip = max_norm / (gamma * flat_norm(g_tilde))
    w = clone(params)
    opt = StableSAM(torch.optim.SGD(w, lr=0.1), rho=0.2, ascent=ascent, max_grad_norm=max_norm)
    loss_of(w, x, y).backward()
    opt.first_step(zero_grad=True)
    unclipped = StableSAM(torch.optim.SGD(clone(params), lr=0.1), rho=0.2, ascent=ascent)
    loss_of(unclipped.param_groups[0]["params"], x, y).backward()
    unclipped.first_step()
    for a, b in zip(w, unclipped.param_groups[0]["params"]):
        assert torch.equal(a, b)  # the ascent uses the raw g: clipping does not touch w~
    loss_of(w, x, y).backward()
    opt.second_step()
    torch.testing.assert_close(opt.last_stats["clip_factor"], clip, rtol=1e-12, atol=0)
    torch.testing.assert_close(flat_norm([p.grad for p in w]), torch.tensor(max_norm, dtype=torch.float64),
                               rtol=1e-12, atol=0)
    for p, p0, t in zip(w, params, g_tilde):
        torch.testing.assert_close(p.detach(), p0.detach() - 0.1 * clip * gamma * t, rtol=1e-12, atol=1e-15)


def test_loose_clipping_is_bit_identical_to_no_clipping():
    params, x, y = regression(5)
    runs = []
    for max_norm in (None, 1e6):
        w = clone(params)
        opt = StableSAM(torch.optim.SGD(w, lr=0.1, momentum=0.9), rho=0.2, max_grad_norm=max_norm)
        for _ in range(3):
            loss_of(w, x, y).backward()
            opt.first_step(zero_grad=True)
            loss_of(w, x, y).backward()
            opt.second_step(zero_grad=True)
        runs.append(w)
    assert float(opt.last_stats["clip_factor"]) == 1.0
    for a, b in zip(*runs):
        assert torch.equal(a, b)


@pytest.mark.parametrize("base", ("adamw", "sgd_wd"))
def test_weight_decay_is_the_base_optimizers_at_w_and_not_rescaled(base):
    make = {
        "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.5),
        "sgd_wd": lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=0.5),
    }[base]
    params, x, y = regression(6)
    g, g_tilde = reference_gradients(params, x, y, rho=0.3)
    gamma = flat_norm(g) / flat_norm(g_tilde)
    # Reference: the base optimizer alone at w, fed gamma g~ (decay then acts on w, unscaled by gamma).
    ref = clone(params)
    ref_opt = make(ref)
    for p, t in zip(ref, g_tilde):
        p.grad = gamma * t
    ref_opt.step()
    w = clone(params)
    opt = StableSAM(make(w), rho=0.3)
    opt.step(lambda: (opt.zero_grad(), loss_of(w, x, y).backward(), torch.zeros(()))[-1])
    for a, b in zip(w, ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


def test_max_grad_norm_is_validated_and_saved():
    params, _, _ = regression()
    with pytest.raises(ValueError, match=r"max_grad_norm must be a real number in \(0, inf\) or None; got 0.0"):
        SAM(torch.optim.SGD(params, lr=0.1), max_grad_norm=0.0)
    with pytest.raises(TypeError, match="distributed must be a boolean; got 1"):
        SAM(torch.optim.SGD(params, lr=0.1), distributed=1)
    saved = SAM(torch.optim.SGD(params, lr=0.1), max_grad_norm=1.0).state_dict()
    with pytest.raises(ValueError, match="max_grad_norm=1.0 but this optimizer has max_grad_norm=None"):
        SAM(torch.optim.SGD(params, lr=0.1)).load_state_dict(saved)


# --- mixed precision -------------------------------------------------------------------------------


def scaled_run(params, x, y, n_steps, scaler=None, poison=None):
    """``n_steps`` StableSAM steps (SGD with momentum); ``poison`` = (step, pass) makes that pass's loss inf."""
    opt = StableSAM(torch.optim.SGD(params, lr=0.1, momentum=0.9), rho=0.1, ascent="unnormalized")
    calls = {"n": 0}

    def closure():
        opt.zero_grad()
        loss = loss_of(params, x, y)
        if poison is not None and calls["n"] == 2 * poison[0] + poison[1]:
            loss = loss * math.inf
        calls["n"] += 1
        (scaler.scale(loss) if scaler is not None else loss).backward()
        return loss

    history = []
    for _ in range(n_steps):
        opt.step(closure, grad_scaler=scaler)
        if scaler is not None:
            scaler.update()
        history.append(dict(opt.last_stats))
    return opt, history


def test_grad_scaler_with_a_power_of_two_scale_is_bit_identical():
    params, x, y = regression(7)
    plain, scaled = clone(params), clone(params)
    _, plain_stats = scaled_run(plain, x, y, 3)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    _, scaled_stats = scaled_run(scaled, x, y, 3, scaler)
    for a, b in zip(plain, scaled):
        assert torch.equal(a, b)  # scaling and unscaling by 2^12 is exact: each pass unscaled once
    for key in plain_stats[-1]:
        assert torch.equal(plain_stats[-1][key], scaled_stats[-1][key])
    assert float(scaled_stats[-1]["found_inf"]) == 0.0


@pytest.mark.parametrize("bad_pass", (0, 1), ids=("inf_at_w", "inf_at_w_tilde"))
def test_grad_scaler_skips_the_whole_step_when_either_pass_overflows(bad_pass):
    params, x, y = regression(8)
    clean, poisoned = clone(params), clone(params)
    clean_opt, _ = scaled_run(clean, x, y, 1)  # the step taken after the skipped one
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12, growth_interval=1000)
    opt, stats = scaled_run(poisoned, x, y, 2, scaler, poison=(0, bad_pass))
    assert float(stats[0]["found_inf"]) == 1.0
    assert float(stats[0]["gamma"]) == 1.0 and float(stats[0]["applied_gamma"]) == 1.0  # finite
    assert float(stats[1]["found_inf"]) == 0.0
    assert scaler.get_scale() == 2.0**11  # the scaler saw the overflow once and backed off
    # The skipped step left w and the momentum untouched: the next step is the first clean one.
    for a, b in zip(clean, poisoned):
        assert torch.equal(a, b)
    for p_clean, p in zip(clean, poisoned):
        assert torch.equal(clean_opt.base_optimizer.state[p_clean]["momentum_buffer"],
                           opt.base_optimizer.state[p]["momentum_buffer"])


def test_grad_scaler_must_be_given_to_both_calls():
    params, x, y = regression(9)
    opt = SAM(torch.optim.SGD(params, lr=0.1))
    scaler = torch.amp.GradScaler("cpu")
    scaler.scale(loss_of(params, x, y)).backward()
    opt.first_step(zero_grad=True, grad_scaler=scaler)
    loss_of(params, x, y).backward()
    with pytest.raises(ValueError, match="same enabled grad_scaler"):
        opt.second_step()
    opt.second_step(grad_scaler=scaler)  # still pending: the correct call completes the step
    # A disabled scaler is the same as none.
    opt.zero_grad()
    loss_of(params, x, y).backward()
    opt.first_step(zero_grad=True, grad_scaler=torch.amp.GradScaler("cpu", enabled=False))
    loss_of(params, x, y).backward()
    opt.second_step()
    assert "found_inf" not in opt.last_stats


def _fp16_overflow_run(device):
    """fp16 autocast with a scale large enough to overflow fp16 activations' gradients at first."""
    gen = torch.Generator().manual_seed(10)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1)).to(device)
    x = torch.randn(64, 8, generator=gen).to(device)
    y = torch.randn(64, 1, generator=gen).to(device)
    opt = StableSAM(torch.optim.SGD(model.parameters(), lr=0.05), rho=0.05)
    scaler = torch.amp.GradScaler(device, init_scale=2.0**30)

    def closure():
        opt.zero_grad()
        with torch.autocast(device, dtype=torch.float16):
            loss = torch.nn.functional.mse_loss(model(x).float(), y)
        scaler.scale(loss).backward()
        return loss

    start = [p.detach().clone() for p in model.parameters()]
    found = []
    for _ in range(25):
        opt.step(closure, grad_scaler=scaler)
        scaler.update()
        found.append(float(opt.last_stats["found_inf"]))
        assert torch.isfinite(opt.last_stats["gamma"]) and torch.isfinite(opt.last_stats["applied_gamma"])
        if found[-1] == 0.0:
            break
    return model, start, found, scaler, opt


def _check_fp16_overflow_run(device):
    model, start, found, scaler, opt = _fp16_overflow_run(device)
    assert found[0] == 1.0 and found[-1] == 0.0, found  # overflowed at first, then stepped
    assert scaler.get_scale() < 2.0**30
    moved = [not torch.equal(p.detach(), s) for p, s in zip(model.parameters(), start)]
    assert any(moved) and all(torch.isfinite(p).all() for p in model.parameters())
    assert float(opt.last_stats["applied_gamma"]) <= 1.5


def test_fp16_autocast_with_grad_scaler_on_cpu():
    _check_fp16_overflow_run("cpu")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fp16_autocast_with_grad_scaler_on_cuda():
    _check_fp16_overflow_run("cuda")


def test_bf16_autocast_works_unchanged():
    runs = {}
    for dtype in (None, torch.bfloat16):
        gen = torch.Generator().manual_seed(11)
        model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
        x, y = torch.randn(64, 8, generator=gen), torch.randn(64, 1, generator=gen)
        start = [p.detach().clone() for p in model.parameters()]
        opt = StableSAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=0.05)

        def closure():
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
                loss = torch.nn.functional.mse_loss(model(x).float(), y)
            loss.backward()
            return loss

        opt.step(closure)
        assert all(p.dtype == torch.float32 for p in model.parameters())
        runs[dtype] = (torch.cat([(p.detach() - s).flatten() for p, s in zip(model.parameters(), start)]),
                       opt.last_stats["gamma"])
    update, update_bf16 = runs[None][0], runs[torch.bfloat16][0]
    # bf16 keeps 8 bits of mantissa: the update agrees to a few percent.
    assert float(flat_norm([update_bf16 - update]) / flat_norm([update])) < 0.05
    torch.testing.assert_close(runs[torch.bfloat16][1], runs[None][1], rtol=0.02, atol=0)


def test_grad_scaler_path_adds_no_host_sync(monkeypatch):
    params, x, y = regression(12, dtype=torch.float32)
    opt = StableSAM(torch.optim.SGD(params, lr=0.1, momentum=0.9), rho=0.1, max_grad_norm=1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    # GradScaler's own host sync (reading the flag in scaler.step) is left out: the wrapper must add none.
    monkeypatch.setattr(scaler, "step", lambda optimizer: optimizer.step())

    def closure():
        opt.zero_grad()
        loss = loss_of(params, x, y)
        scaler.scale(loss).backward()
        return loss

    opt.step(closure, grad_scaler=scaler)  # allocates the restore buffers
    scaler.update()
    with monkeypatch.context() as patch:
        for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"):
            patch.setattr(torch.Tensor, name, lambda *a, **k: pytest.fail("host synchronisation in the step"))
        opt.step(closure, grad_scaler=scaler)
    assert float(opt.last_stats["found_inf"]) == 0.0 and torch.isfinite(opt.last_stats["gamma"])
