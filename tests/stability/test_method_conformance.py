"""Conformance of every method of the table (stablesam.core.methods), driven by the optimizer database
(tests/_optimizer_db.py, like torch's ``OptimizerInfo``): one record per row, generic tests over all of them.

Each row is built by the one factory (stablesam.stability.optimizers.make_optimizer) and checked against what the row
says it is; each row with a quadratic map is checked against :mod:`stablesam.theory.quadratic`, step by step in
float64, so that the torch optimizers and the theory cannot drift apart; the foreach and per-tensor paths agree
within the propagated rounding; the expected errors are raised with their messages; a failing closure leaves ``w``
restored; ``check_finite`` stops a non-finite step. The deeper properties of the SAM wrapper (state dicts, stacking,
rho = 0, ...) are in test_sam_conformance.py, over the same rows.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _optimizer_db import OPTIMIZER_DB, infos
from _rounding import propagated_rounding_bound
from stablesam.core.methods import METHODS, method_keys
from stablesam.stability import SAM
from stablesam.stability.optimizers import effective_rho, make_optimizer
from stablesam.theory.quadratic import Quadratic, step

ROWS = pytest.mark.parametrize("row", METHODS.values(), ids=lambda row: row.key)
EVERY = pytest.mark.parametrize("info", OPTIMIZER_DB, ids=lambda info: info.key)
WRAPPED = pytest.mark.parametrize("info", infos(lambda i: i.supports_foreach), ids=lambda info: info.key)


def test_the_database_has_one_record_per_row():
    assert [info.key for info in OPTIMIZER_DB] == list(METHODS)
    assert all(len(info.sample_kwargs) == 3 for info in OPTIMIZER_DB)  # the ids of the sample parametrisations


@ROWS
def test_the_factory_builds_what_the_row_says(row):
    w = torch.zeros(3, requires_grad=True)
    optimizer = make_optimizer(row.key, [w], lr=0.1, rho=0.2, base="momentum", momentum=0.5, weight_decay=0.01)
    base = optimizer.base_optimizer if isinstance(optimizer, SAM) else optimizer
    assert isinstance(optimizer, SAM) == row.uses_rho
    assert type(base) is torch.optim.SGD
    assert base.defaults["momentum"] == 0.5 and base.defaults["weight_decay"] == 0.01 and base.defaults["lr"] == 0.1
    if row.uses_rho:
        assert (optimizer.ascent, optimizer.stable, optimizer.defaults["rho"]) == (row.ascent, row.stable, 0.2)
    assert effective_rho(row.key, 0.2) == (0.2 if row.uses_rho else 0.0)
    adam = make_optimizer(row.key, [w], lr=0.1, base="adam", betas=(0.8, 0.9))
    assert type(adam.base_optimizer if row.uses_rho else adam) is torch.optim.Adam


def test_the_factory_refuses_an_unknown_method_in_one_line():
    with pytest.raises(ValueError, match="method must be one of 'gd', 'sgd'") as error:
        make_optimizer("adam", [torch.zeros(1, requires_grad=True)], lr=0.1)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("key", method_keys(quadratic=True), ids=str)
def test_each_optimizer_follows_its_quadratic_map(key):
    """``T`` steps of the torch optimizer on ``f(w) = w^T H w / 2`` (float64, full batch) against the map of
    :mod:`stablesam.theory.quadratic`. Tolerance: the rounding of each step (a d x d product and a handful of vector
    operations, ops = 2 d + 8 per coordinate) propagated through the measured sensitivity of the map."""
    rng = np.random.default_rng(11)
    d, lr, rho, T = 5, 0.15, 0.3, 12
    a = rng.standard_normal((d, d))
    H = a @ a.T / d + 0.1 * np.eye(d)
    w0 = rng.standard_normal(d)
    model = Quadratic.from_matrix(H)

    w = torch.tensor(w0, requires_grad=True)
    optimizer = make_optimizer(key, [w], lr=lr, rho=rho)
    h = torch.tensor(H)

    def closure():
        optimizer.zero_grad()
        loss = 0.5 * w @ h @ w
        loss.backward()
        return loss

    def advance(start, k):
        out = np.asarray(start, dtype=np.float64)
        for _ in range(k):
            out = step(key, model, out, lr, rho)
        return out

    expected = w0
    for _ in range(T):
        optimizer.step(closure)
        expected = advance(expected, 1)
    bound = propagated_rounding_bound(advance, w0[None], T, ops=2 * d + 8, rng=rng)[0]
    assert np.abs(w.detach().numpy() - expected).max() <= bound, (key, bound)
    assert np.abs(expected - w0).max() > 1e3 * bound  # the run moved: the comparison is not vacuous


def _split_quadratic(seed: int, d: int = 6):
    """``f(w) = w^T H w / 2`` with ``w`` held as two tensors (4 + 2 coordinates), so the list paths really iterate."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    H = a @ a.T / d + 0.1 * np.eye(d)
    return rng, H, rng.standard_normal(d)


def _run_split(info, H, w0, steps, lr, rho, **options):
    parts = [torch.tensor(w0[:4], requires_grad=True), torch.tensor(w0[4:], requires_grad=True)]
    optimizer = info.make(parts, lr=lr, rho=rho, **options)
    h = torch.tensor(H)

    def closure():
        optimizer.zero_grad()
        w = torch.cat(parts)
        loss = 0.5 * w @ h @ w
        loss.backward()
        return loss

    for _ in range(steps):
        info.step(optimizer, closure)
    return torch.cat([p.detach() for p in parts]).numpy()


@WRAPPED
def test_foreach_and_per_tensor_paths_agree_with_each_other_and_the_formula(info):
    """Both paths of the functional core against each other and against the numpy update of docs/theory.md section 1
    (every wrapped row, ASAM included). Tolerance: the rounding of each step (a d x d product and about 16 vector
    operations per coordinate) propagated through the measured sensitivity of the map."""
    rng, H, w0 = _split_quadratic(5)
    lr, rho, steps = 0.15, 0.3, 10

    def advance(start, k):
        out = np.asarray(start, dtype=np.float64)
        for _ in range(k):
            out = info.reference_step(H, out, lr, rho)
        return out

    bound = propagated_rounding_bound(advance, w0[None], steps, ops=2 * len(w0) + 16, rng=rng)[0]
    per_tensor = _run_split(info, H, w0, steps, lr, rho, foreach=False)
    grouped = _run_split(info, H, w0, steps, lr, rho, foreach=True)
    expected = advance(w0, steps)
    assert np.abs(grouped - per_tensor).max() <= bound
    assert np.abs(per_tensor - expected).max() <= bound
    assert np.abs(expected - w0).max() > 1e3 * bound  # the run moved: the comparison is not vacuous


@pytest.mark.parametrize("info, case", [(i, c) for i in OPTIMIZER_DB for c in i.error_inputs],
                         ids=lambda v: getattr(v, "key", None) or ",".join(getattr(v, "kwargs", {})))
def test_expected_errors_are_raised_with_their_message(info, case):
    with pytest.raises(case.error) as error:
        info.make([torch.zeros(2, 3, requires_grad=True)], **case.kwargs)
    assert str(error.value) == case.message


@WRAPPED
def test_every_constrained_parameter_refuses_an_invalid_value_in_one_line(info):
    from stablesam.core.validation import UsageError

    for name, constraints in SAM._parameter_constraints.items():
        for example in (c.invalid_example() for c in constraints):
            if any(c.accepts(example) for c in constraints):
                continue  # another form of the parameter allows it
            with pytest.raises(UsageError) as error:
                info.make([torch.zeros(2, requires_grad=True)], **{name: example})
            message = str(error.value)
            assert "\n" not in message and f"{name} must be" in message and repr(example) in message


def _problem(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=gen, dtype=torch.float64).requires_grad_() for s in [(4, 3), (4,), (2, 4), (2,)]]
    x, y = torch.randn(16, 3, generator=gen, dtype=torch.float64), torch.randn(16, 2, generator=gen, dtype=torch.float64)
    return params, lambda ps: ((torch.tanh(x @ ps[0].T + ps[1]) @ ps[2].T + ps[3] - y) ** 2).mean()


class _Boom(Exception):
    pass


@EVERY
@pytest.mark.parametrize("form", ("closure", "two_calls"))
@pytest.mark.parametrize("sample", range(3), ids=("sgd", "momentum_wd", "adam"))
def test_a_closure_failing_at_the_ascent_point_leaves_w_restored(info, form, sample):
    if form not in info.closure_forms:
        pytest.skip(f"{info.key} steps with a closure only")
    params, loss_fn = _problem(1)
    reference = [p.detach().clone().requires_grad_() for p in params]
    optimizer = info.make(params, **info.sample_kwargs[sample])
    fresh = info.make(reference, **info.sample_kwargs[sample])
    calls = {"n": 0}

    def failing_closure():
        calls["n"] += 1
        if calls["n"] == 2:  # the pass at w~ (for a plain optimizer: its only pass, at w)
            raise _Boom
        optimizer.zero_grad()
        loss = loss_fn(params)
        loss.backward()
        return loss

    before = [p.detach().clone() for p in params]
    with pytest.raises(_Boom):
        if not isinstance(optimizer, SAM):
            failing_closure()
            optimizer.step(failing_closure)  # a plain optimizer's closure fails before its update
        elif form == "closure":
            optimizer.step(failing_closure)  # the first call runs at w, the second raises at w~
        else:
            failing_closure()
            optimizer.first_step()
            try:
                failing_closure()
            except _Boom:
                optimizer.cancel_step()  # the two-call form's way back to w
                raise
    assert all(torch.equal(p, b) for p, b in zip(params, before))
    # Nothing is pending and no state moved: the next step is a fresh optimizer's first step.
    for opt, ps in ((optimizer, params), (fresh, reference)):
        def closure(opt=opt, ps=ps):
            opt.zero_grad()
            loss = loss_fn(ps)
            loss.backward()
            return loss

        info.step(opt, closure, form=form)
    assert all(torch.equal(a, b) for a, b in zip(params, reference))


@WRAPPED
@pytest.mark.parametrize("poison", ("grad_at_w", "grad_at_w_tilde", "lr"))
@pytest.mark.parametrize("track_stats", (True, False))
def test_check_finite_stops_a_non_finite_step_with_w_unchanged(info, poison, track_stats):
    params, loss_fn = _problem(2)
    optimizer = info.make(params, base="momentum", momentum=0.9, check_finite=True, track_stats=track_stats)
    if poison == "lr":
        optimizer.param_groups[0]["lr"] = float("nan")
    calls = {"n": 0}

    def closure():
        calls["n"] += 1
        optimizer.zero_grad()
        loss = loss_fn(params)
        if (poison, calls["n"]) in (("grad_at_w", 1), ("grad_at_w_tilde", 2)):
            loss = loss * float("nan")
        loss.backward()
        return loss

    before = [p.detach().clone() for p in params]
    with pytest.raises(FloatingPointError, match="the step was not taken, w is unchanged") as error:
        optimizer.step(closure)
    assert "\n" not in str(error.value)
    assert all(torch.equal(p, b) for p, b in zip(params, before))
    assert not optimizer.base_optimizer.state  # no momentum was written


@WRAPPED
def test_without_check_finite_a_nan_gradient_propagates_visibly(info):
    # The documented default: no host sync, no check; the NaN reaches w and the logged norms.
    params, loss_fn = _problem(3)
    optimizer = info.make(params)

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(params) * float("nan")
        loss.backward()
        return loss

    optimizer.step(closure)
    assert torch.isnan(optimizer.last_stats["grad_norm"])
    assert any(torch.isnan(p).any() for p in params)


@WRAPPED
@pytest.mark.parametrize("sample", range(3), ids=("sgd", "momentum_wd", "adam"))
def test_both_closure_forms_step_bit_for_bit_alike(info, sample):
    runs = []
    for form in info.closure_forms:
        params, loss_fn = _problem(4)
        optimizer = info.make(params, **info.sample_kwargs[sample])

        def closure():
            optimizer.zero_grad()
            loss = loss_fn(params)
            loss.backward()
            return loss

        for _ in range(3):
            info.step(optimizer, closure, form=form)
        runs.append((params, optimizer.last_stats))
    (a, stats_a), (b, stats_b) = runs
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(torch.equal(stats_a[k], stats_b[k]) for k in stats_a)


@EVERY
@pytest.mark.parametrize("sample", range(3), ids=("sgd", "momentum_wd", "adam"))
def test_a_power_of_two_grad_scaler_is_bit_identical(info, sample):
    if not info.supports_amp:
        pytest.skip(f"{info.key} has no AMP support")
    runs = []
    for scaler in (None, torch.amp.GradScaler("cpu", init_scale=2.0**10)):
        params, loss_fn = _problem(5)
        optimizer = info.make(params, **info.sample_kwargs[sample])

        def closure():
            optimizer.zero_grad()
            loss = loss_fn(params)
            (loss if scaler is None else scaler.scale(loss)).backward()
            return loss

        for _ in range(3):
            info.step(optimizer, closure, grad_scaler=scaler)
            if scaler is not None:
                scaler.update()
        runs.append(params)
    assert all(torch.equal(a, b) for a, b in zip(*runs))
