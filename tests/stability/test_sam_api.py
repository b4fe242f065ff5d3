"""The SAM/StableSAM front-end: shared param_groups, schedulers, the two ways to step, per-group rho,
gamma_cap, state_dict checks, misuse, bad arguments, and no host synchronisation in ``step``."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from stablesam.stability import SAM, StableSAM, global_norm, renormalization_factor


def problem(seed: int = 0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in [(4, 3), (4,), (2, 4), (2,)]]
    x = torch.randn(16, 3, generator=gen, dtype=dtype)
    y = torch.randn(16, 2, generator=gen, dtype=dtype)

    def loss_fn(ps):
        return ((torch.tanh(x @ ps[0].T + ps[1]) @ ps[2].T + ps[3] - y) ** 2).mean()

    return params, loss_fn


def closure_for(params, loss_fn, optimizer):
    def closure():
        optimizer.zero_grad()
        loss = loss_fn(params)
        loss.backward()
        return loss

    return closure


def test_param_groups_are_shared_with_the_base_optimizer():
    params, _ = problem()
    base = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    sam = SAM(base, rho=0.07)
    assert sam.param_groups is base.param_groups
    assert base.param_groups[0]["rho"] == 0.07
    sam.load_state_dict(sam.state_dict())  # the base replaces its list on load: still shared
    assert sam.param_groups is base.param_groups
    sam.param_groups[0]["lr"] = 0.5
    assert base.param_groups[0]["lr"] == 0.5


@pytest.mark.parametrize("attach_to", ("wrapper", "base"))
def test_scheduler_changes_the_learning_rate_the_wrapper_uses(attach_to):
    (w,) = [torch.ones(2, dtype=torch.float64, requires_grad=True)]
    base = torch.optim.SGD([w], lr=0.1)
    sam = SAM(base, rho=0.0)  # rho = 0: each step is w <- w - lr w on 1/2 ||w||^2
    scheduler = torch.optim.lr_scheduler.StepLR(sam if attach_to == "wrapper" else base, step_size=1, gamma=0.5)
    closure = closure_for([w], lambda ps: 0.5 * (ps[0] ** 2).sum(), sam)
    expected = torch.ones(2, dtype=torch.float64)
    for lr in (0.1, 0.05, 0.025):
        assert sam.param_groups[0]["lr"] == lr
        sam.step(closure)
        scheduler.step()
        expected = expected * (1 - lr)
        torch.testing.assert_close(w.detach(), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("ascent", ("normalized", "unnormalized", "adaptive"))
def test_two_call_form_equals_step_with_closure(ascent):
    params_a, loss_fn = problem(1)
    params_b = [p.detach().clone().requires_grad_() for p in params_a]
    opt_a = StableSAM(torch.optim.SGD(params_a, lr=0.1, momentum=0.9), rho=0.1, ascent=ascent)
    opt_b = StableSAM(torch.optim.SGD(params_b, lr=0.1, momentum=0.9), rho=0.1, ascent=ascent)
    closure = closure_for(params_a, loss_fn, opt_a)
    for _ in range(3):
        opt_a.step(closure)
        loss_fn(params_b).backward()
        opt_b.first_step(zero_grad=True)
        loss_fn(params_b).backward()
        opt_b.second_step(zero_grad=True)
    for a, b in zip(params_a, params_b):
        assert torch.equal(a, b)
    for key in opt_a.last_stats:
        assert torch.equal(opt_a.last_stats[key], opt_b.last_stats[key])


def test_step_returns_loss_at_w_and_restores_w_by_copy():
    params, loss_fn = problem(2)
    sam = SAM(torch.optim.SGD(params, lr=0.0), rho=0.3)  # lr = 0: w must come back bit for bit
    before = [p.detach().clone() for p in params]
    loss = sam.step(closure_for(params, loss_fn, sam))
    assert torch.equal(loss, loss_fn(before))
    for p, b in zip(params, before):
        assert torch.equal(p, b)


def test_per_group_rho_uses_one_global_norm():
    w1 = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    w2 = torch.tensor([4.0], dtype=torch.float64, requires_grad=True)
    sam = SAM(torch.optim.SGD([{"params": [w1], "rho": 0.5}, {"params": [w2]}], lr=1.0), rho=0.0)
    assert [g["rho"] for g in sam.param_groups] == [0.5, 0.0]
    (0.5 * (w1**2 + w2**2)).sum().backward()  # g = (3, 4), ||g|| = 5
    sam.first_step()
    # group 1 ascends by 0.5 * 3/5 (global norm, not |g1| = 3); group 2 has rho = 0 and stays
    assert w1.item() == pytest.approx(3.3, rel=1e-15)
    assert w2.item() == 4.0
    sam.zero_grad()
    (0.5 * (w1**2 + w2**2)).sum().backward()
    sam.second_step()


def test_gamma_is_global_and_logged_for_sam_too():
    params, loss_fn = problem(3)
    sam = SAM(torch.optim.SGD(params, lr=0.1), rho=0.2)
    closure = closure_for(params, loss_fn, sam)
    loss = closure()
    g = [p.grad.clone() for p in params]
    sam.first_step()
    closure()
    g_tilde = [p.grad.clone() for p in params]
    sam.second_step()
    stats = sam.last_stats
    torch.testing.assert_close(stats["grad_norm"], global_norm(g), rtol=1e-15, atol=0)
    torch.testing.assert_close(stats["surrogate_grad_norm"], global_norm(g_tilde), rtol=1e-15, atol=0)
    torch.testing.assert_close(stats["gamma"], global_norm(g) / global_norm(g_tilde), rtol=1e-15, atol=0)
    assert float(stats["applied_gamma"]) == 1.0  # not stable: the factor is not applied
    assert loss.ndim == 0


@pytest.mark.parametrize("ascent", ("normalized", "unnormalized", "adaptive"))
@pytest.mark.parametrize("stable", (False, True))
@pytest.mark.parametrize("stacked", (False, True))
def test_track_stats_off_changes_the_logged_stats_only(ascent, stable, stacked):
    # The skipped norm of g~ is never used by the step of SAM/USAM/ASAM: the parameters must be bit for
    # bit those of the tracked run (the same kernels run in the same order on the same values).
    runs = []
    for track in (True, False):
        if stacked:
            gen = torch.Generator().manual_seed(7)
            params = [torch.randn(s, generator=gen, dtype=torch.float64).requires_grad_() for s in [(2, 3, 3), (2, 3)]]
            x, y = torch.randn(8, 3, generator=gen, dtype=torch.float64), torch.randn(8, 3, generator=gen, dtype=torch.float64)
            loss_fn = lambda ps: ((torch.tanh(torch.einsum("ni,kji->knj", x, ps[0]) + ps[1][:, None]) - y) ** 2).sum()
        else:
            params, loss_fn = problem(7)
        sam = SAM(torch.optim.SGD(params, lr=0.1, momentum=0.9), rho=0.1, ascent=ascent, stable=stable,
                  stacked=stacked, track_stats=track)
        closure = closure_for(params, loss_fn, sam)
        for _ in range(3):
            sam.step(closure)
        runs.append((params, sam.last_stats))
    (tracked, full), (untracked, stats) = runs
    assert all(torch.equal(a, b) for a, b in zip(tracked, untracked))
    expected = set(full) if stable else {"grad_norm", "applied_gamma"}
    assert set(stats) == expected
    for key in expected:
        assert torch.equal(stats[key], full[key])


def test_gamma_cap_clips_the_applied_factor_only():
    w = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    # A concave direction makes ||g~|| < ||g||, so gamma > 1 and the cap acts.
    loss_fn = lambda ps: -0.5 * (ps[0] ** 2).sum()
    sam = StableSAM(torch.optim.SGD([w], lr=0.1), rho=0.5, gamma_cap=1.0)
    sam.step(closure_for([w], loss_fn, sam))
    # g = -(1, 0), w~ = (0.5, 0), g~ = -(0.5, 0): gamma = 1 / 0.5 = 2, capped to 1.
    assert float(sam.last_stats["gamma"]) == pytest.approx(2.0, rel=1e-15)
    assert float(sam.last_stats["applied_gamma"]) == 1.0
    torch.testing.assert_close(w.detach(), torch.tensor([1.05, 0.0], dtype=torch.float64), rtol=1e-15, atol=0)


def test_renormalization_factor_degenerate_cases():
    zero, one = torch.tensor(0.0), torch.tensor(1.0)
    assert float(renormalization_factor(zero, zero)) == 1.0
    assert float(renormalization_factor(one, zero)) == 1.0
    assert float(renormalization_factor(one, torch.tensor(4.0))) == 0.25
    assert float(renormalization_factor(torch.tensor(3.0), one, gamma_cap=2.0)) == 2.0


def test_last_stats_are_fresh_tensors_each_step():
    params, loss_fn = problem(4)
    sam = StableSAM(torch.optim.SGD(params, lr=0.1), rho=0.1)
    closure = closure_for(params, loss_fn, sam)
    sam.step(closure)
    first = sam.last_stats
    kept = {k: v.clone() for k, v in first.items()}
    sam.step(closure)
    assert sam.last_stats is not first
    for key in kept:
        assert torch.equal(first[key], kept[key])


def test_misuse_raises_runtime_error():
    params, loss_fn = problem(5)
    sam = SAM(torch.optim.SGD(params, lr=0.1))
    with pytest.raises(RuntimeError, match="no gradient"):
        sam.first_step()
    with pytest.raises(RuntimeError, match="first_step"):
        sam.second_step()
    loss_fn(params).backward()
    sam.first_step()
    with pytest.raises(RuntimeError, match="twice"):
        sam.first_step()
    with pytest.raises(RuntimeError, match="w~"):
        sam.state_dict()


def test_load_state_dict_checks_options():
    params, _ = problem()
    saved = SAM(torch.optim.SGD(params, lr=0.1), ascent="normalized").state_dict()
    other = StableSAM(torch.optim.SGD(params, lr=0.1), ascent="normalized")
    with pytest.raises(ValueError, match="stable=False"):
        other.load_state_dict(saved)
    with pytest.raises(ValueError, match="lack the wrapper's options") as error:
        other.load_state_dict(torch.optim.SGD(params, lr=0.1).state_dict())  # a plain optimizer's state dict
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="keys 'state', 'param_groups'"):
        other.load_state_dict({"base": {}})


def test_state_dict_has_torch_optims_layout_and_the_old_layout_loads():
    params, loss_fn = problem(9)
    sam = StableSAM(torch.optim.SGD(params, lr=0.1, momentum=0.9), rho=0.1, gamma_cap=2.0)
    closure = closure_for(params, loss_fn, sam)
    sam.step(closure)
    saved = sam.state_dict()
    assert sorted(saved) == ["param_groups", "state"]
    base_saved = sam.base_optimizer.state_dict()
    assert saved["state"].keys() == base_saved["state"].keys()
    group = saved["param_groups"][0]
    assert group["params"] == base_saved["param_groups"][0]["params"] and group["lr"] == 0.1 and group["rho"] == 0.1
    assert (group["ascent"], group["stable"], group["gamma_cap"]) == ("normalized", True, 2.0)
    old_layout = {"base_optimizer": base_saved,
                  "sam": {k: getattr(sam, k) for k in ("ascent", "stable", "gamma_cap", "adaptive_eta", "stacked",
                                                      "max_grad_norm")}}
    resumed = []
    for state in (saved, old_layout):
        copies = [p.detach().clone().requires_grad_() for p in params]
        opt = StableSAM(torch.optim.SGD(copies, lr=0.1, momentum=0.9), rho=0.1, gamma_cap=2.0)
        opt.load_state_dict(copy.deepcopy(state))  # as from a file: torch.optim would alias the momentum buffers
        assert "ascent" not in opt.param_groups[0]  # the options are checked, not copied into the live groups
        opt.step(closure_for(copies, loss_fn, opt))
        resumed.append(copies)
    sam.step(closure)
    for copies in resumed:
        assert all(torch.equal(a, b) for a, b in zip(params, copies))


def test_both_constructor_forms_build_the_same_optimizer():
    params_a, loss_fn = problem(10)
    params_b = [p.detach().clone().requires_grad_() for p in params_a]
    a = StableSAM(torch.optim.SGD(params_a, lr=0.1, momentum=0.9), rho=0.1)
    b = StableSAM(params_b, torch.optim.SGD, lr=0.1, momentum=0.9, rho=0.1)  # davda54 / pytorch_optimizer form
    assert type(b.base_optimizer) is torch.optim.SGD and b.defaults == a.defaults
    for opt, ps in ((a, params_a), (b, params_b)):
        for _ in range(2):
            opt.step(closure_for(ps, loss_fn, opt))
    assert all(torch.equal(x, y) for x, y in zip(params_a, params_b))


@pytest.mark.parametrize("args, kwargs, message", [
    (lambda ps: (ps,), {}, "SAM needs a torch.optim.Optimizer instance, or parameters and an optimizer class: "
     "SAM(torch.optim.SGD(params, lr=0.1), rho=0.05) or SAM(params, torch.optim.SGD, lr=0.1, rho=0.05); got list"),
    (lambda ps: (ps, "sgd"), {}, "SAM needs a torch.optim.Optimizer instance, or parameters and an optimizer class: "
     "SAM(torch.optim.SGD(params, lr=0.1), rho=0.05) or SAM(params, torch.optim.SGD, lr=0.1, rho=0.05); got 'sgd'"),
    (lambda ps: (torch.optim.SGD(ps, lr=0.1),), {"lr": 0.2}, "SAM got an optimizer instance and lr: pass one of "
     "SAM(torch.optim.SGD(params, lr=0.1), rho=0.05) or SAM(params, torch.optim.SGD, lr=0.1, rho=0.05)"),
    (lambda ps: (SAM(torch.optim.SGD(ps, lr=0.1)),), {}, "the base optimizer must be a plain optimizer, not another SAM "
     "wrapper"),
    (lambda ps: (ps, StableSAM), {}, "the base optimizer must be a plain optimizer, not another SAM wrapper"),
])
def test_bad_constructor_forms_get_one_line_showing_the_supported_forms(args, kwargs, message):
    params, _ = problem()
    with pytest.raises(TypeError) as error:
        SAM(*args(params), **kwargs)
    assert str(error.value) == message


def test_stable_sam_forwards_sams_signature_with_stable_on():
    import inspect

    sam, stable = inspect.signature(SAM), inspect.signature(StableSAM)
    assert list(stable.parameters) == list(sam.parameters)
    assert stable.parameters["stable"].default is True and sam.parameters["stable"].default is False
    params, _ = problem()
    assert StableSAM(torch.optim.SGD(params, lr=0.1)).stable
    assert not StableSAM(torch.optim.SGD(params, lr=0.1), stable=False).stable
    with pytest.raises(ValueError, match="^StableSAM: rho must be"):
        StableSAM(torch.optim.SGD(params, lr=0.1), rho=-1.0)


def test_bad_base_group_and_closure_raise():
    params, _ = problem()
    with pytest.raises(ValueError, match=r"^SAM param_groups\[1\]: rho must be a real number in \[0, inf\); got -1.0$"):
        SAM(torch.optim.SGD([{"params": params[:2]}, {"params": params[2:], "rho": -1.0}], lr=0.1))
    sam = SAM(torch.optim.SGD(params, lr=0.1))
    with pytest.raises(TypeError, match="closure must return the loss, got None"):
        sam.step(lambda: None)
    with pytest.raises(TypeError, match="needs a closure"):
        sam.step()
    with pytest.raises(ValueError, match=r"^SAM param_groups\[1\]: rho must be"):
        sam.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "rho": math.nan})


def test_stacked_checks_the_model_dimension():
    with pytest.raises(ValueError, match="same number of models along dim 0; got 2 and 3"):
        SAM(torch.optim.SGD([torch.zeros(3, 4), torch.zeros(2)], lr=0.1), stacked=True)
    with pytest.raises(ValueError, match="0-d parameter"):
        SAM(torch.optim.SGD([torch.zeros(())], lr=0.1), stacked=True)


def _forbid_host_sync(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("host synchronisation inside the optimizer step")

    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)


@pytest.mark.parametrize("ascent", ("normalized", "unnormalized", "adaptive"))
@pytest.mark.parametrize("stable", (False, True))
@pytest.mark.parametrize("stacked", (False, True))
@pytest.mark.parametrize("foreach", (False, True), ids=("per_tensor", "foreach"))
def test_step_makes_no_host_sync(monkeypatch, ascent, stable, stacked, foreach):
    # SGD with momentum and weight decay: torch's Adam reads its CPU step counter with .item().
    if stacked:  # two models stacked along dim 0
        gen = torch.Generator().manual_seed(6)
        params = [torch.randn(s, generator=gen).requires_grad_() for s in [(2, 3, 3), (2, 3)]]
        x, y = torch.randn(8, 3, generator=gen), torch.randn(8, 3, generator=gen)
        loss_fn = lambda ps: ((torch.tanh(torch.einsum("ni,kji->knj", x, ps[0]) + ps[1][:, None]) - y) ** 2).sum()
    else:
        params, loss_fn = problem(6)
    sam = SAM(
        torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3),
        rho=0.1, ascent=ascent, stable=stable, gamma_cap=1.0, stacked=stacked, foreach=foreach,
    )
    closure = closure_for(params, loss_fn, sam)
    sam.step(closure)  # allocates the restore buffers
    with monkeypatch.context() as patch:
        _forbid_host_sync(patch)
        for _ in range(2):
            sam.step(closure)
            closure()
            sam.first_step()
            closure()
            sam.second_step()
    assert all(torch.isfinite(v).all() for v in sam.last_stats.values())


def test_non_finite_gradients_stay_visible_in_the_stats():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    sam = StableSAM(torch.optim.SGD([w], lr=0.1), rho=0.1)
    (w * torch.tensor([math.nan, 1.0], dtype=torch.float64)).sum().backward()
    sam.first_step()
    sam.zero_grad()
    (w * torch.tensor([math.nan, 1.0], dtype=torch.float64)).sum().backward()
    sam.second_step()
    assert torch.isnan(sam.last_stats["gamma"])  # divergence is data: never masked as gamma = 1


@pytest.mark.parametrize("ascent", ("normalized", "unnormalized", "adaptive"))
def test_ascent_point_equals_functional_direction(ascent):
    # The per-tensor path fuses the normalized ascent (addcdiv); the materialised direction must agree.
    from stablesam.stability import ascent_direction

    params, loss_fn = problem(8)
    sam = SAM(torch.optim.SGD(params, lr=0.1), rho=0.3, ascent=ascent, adaptive_eta=0.05)
    loss_fn(params).backward()
    direction, norm = ascent_direction(
        [p.detach() for p in params], [p.grad for p in params], ascent=ascent, adaptive_eta=0.05
    )
    expected = [p.detach() + 0.3 * d for p, d in zip(params, direction)]
    returned = sam.first_step()
    assert torch.equal(returned, norm)
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-15, atol=1e-16)
