"""SAM/StableSAM with torch.optim's habits (issue 26): every ``torch.optim.lr_scheduler`` class on the wrapper, the
two-call form without scheduler warnings, a Lightning-style manual-optimization loop, and ``torch.compile``.

With ``rho = 0`` the wrapper's step is the base optimizer's bit for bit, so a scheduler on the wrapper must give
exactly the parameters (and learning rates, and momenta) of the same scheduler on a plain ``torch.optim.SGD``.
"""

from __future__ import annotations

import copy
import inspect
import warnings

import pytest
import torch
from torch.optim import lr_scheduler as schedulers

from stablesam.stability import SAM, StableSAM

# Sensible arguments for every scheduler class of torch.optim.lr_scheduler: (constructor, steps with a metric).
SCHEDULERS = {
    "LambdaLR": lambda opt: schedulers.LambdaLR(opt, lr_lambda=lambda epoch: 0.9**epoch),
    "MultiplicativeLR": lambda opt: schedulers.MultiplicativeLR(opt, lr_lambda=lambda epoch: 0.95),
    "StepLR": lambda opt: schedulers.StepLR(opt, step_size=2, gamma=0.5),
    "MultiStepLR": lambda opt: schedulers.MultiStepLR(opt, milestones=[2, 4], gamma=0.5),
    "ConstantLR": lambda opt: schedulers.ConstantLR(opt, factor=0.5, total_iters=3),
    "LinearLR": lambda opt: schedulers.LinearLR(opt, start_factor=0.5, total_iters=3),
    "ExponentialLR": lambda opt: schedulers.ExponentialLR(opt, gamma=0.9),
    "SequentialLR": lambda opt: schedulers.SequentialLR(
        opt, schedulers=[schedulers.ConstantLR(opt, factor=0.5, total_iters=2), schedulers.ExponentialLR(opt, 0.9)],
        milestones=[2]),
    "PolynomialLR": lambda opt: schedulers.PolynomialLR(opt, total_iters=6, power=2.0),
    "CosineAnnealingLR": lambda opt: schedulers.CosineAnnealingLR(opt, T_max=6),
    "ChainedScheduler": lambda opt: schedulers.ChainedScheduler(
        [schedulers.ConstantLR(opt, factor=0.5, total_iters=2), schedulers.ExponentialLR(opt, gamma=0.9)]),
    "ReduceLROnPlateau": lambda opt: schedulers.ReduceLROnPlateau(opt, patience=0, factor=0.5),
    "CyclicLR": lambda opt: schedulers.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=2, cycle_momentum=True),
    "CosineAnnealingWarmRestarts": lambda opt: schedulers.CosineAnnealingWarmRestarts(opt, T_0=3),
    "OneCycleLR": lambda opt: schedulers.OneCycleLR(opt, max_lr=0.5, total_steps=10, cycle_momentum=True),
}


def _scheduler_classes() -> set[str]:
    return {name for name, value in vars(schedulers).items()
            if inspect.isclass(value) and not name.startswith("_") and value.__module__ == schedulers.__name__
            and issubclass(value, (schedulers.LRScheduler, schedulers.ReduceLROnPlateau))
            and value is not schedulers.LRScheduler}


def test_the_table_covers_every_scheduler_of_torch():
    assert set(SCHEDULERS) == _scheduler_classes()


def _problem(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=gen, dtype=torch.float64).requires_grad_() for s in [(4, 3), (4,), (1, 4)]]
    x, y = torch.randn(16, 3, generator=gen, dtype=torch.float64), torch.randn(16, 1, generator=gen, dtype=torch.float64)
    return params, lambda ps: ((torch.tanh(x @ ps[0].T + ps[1]) @ ps[2].T - y) ** 2).mean()


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@pytest.mark.parametrize("form", ("closure", "two_calls"))
def test_every_scheduler_drives_the_wrapper_like_the_plain_optimizer(name, form):
    params, loss_fn = _problem()
    plain = [p.detach().clone().requires_grad_() for p in params]
    sam = StableSAM(torch.optim.SGD(params, lr=0.1, momentum=0.9), rho=0.0)
    sgd = torch.optim.SGD(plain, lr=0.1, momentum=0.9)
    assert "momentum" in sam.defaults and sam.defaults["rho"] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "lr_scheduler.step() before optimizer.step()" would fail the test
        on_sam, on_sgd = SCHEDULERS[name](sam), SCHEDULERS[name](sgd)
        for _ in range(8):
            loss = None
            for opt, ps, scheduler in ((sam, params, on_sam), (sgd, plain, on_sgd)):
                opt.zero_grad()
                loss = loss_fn(ps)
                loss.backward()
                if opt is sgd:
                    opt.step()
                elif form == "closure":
                    opt.step(lambda: (opt.zero_grad(), loss_fn(ps).backward(), loss)[-1])
                else:
                    opt.first_step(zero_grad=True)
                    loss_fn(ps).backward()
                    opt.second_step()
                if name == "ReduceLROnPlateau":
                    scheduler.step(1.0)  # a flat metric: the rate is cut every step
                else:
                    scheduler.step()
            for key in ("lr", "momentum"):
                assert sam.param_groups[0][key] == sgd.param_groups[0][key]
    assert all(torch.equal(a, b) for a, b in zip(params, plain))


def test_one_cycle_with_momentum_on_the_wrapper_of_issue_26():
    model = torch.nn.Linear(3, 1)
    opt = StableSAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), rho=0.05)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=10)
    assert opt.defaults["momentum"] == 0.9 and opt.param_groups[0]["momentum"] == 0.95  # the cycle's max_momentum
    x, y = torch.ones(8, 3), torch.zeros(8, 1)
    opt.step(lambda: (opt.zero_grad(), torch.nn.functional.mse_loss(model(x), y).backward(), torch.zeros(()))[-1])
    lr = opt.param_groups[0]["lr"]
    scheduler.step()
    assert opt.base_optimizer.param_groups[0]["lr"] > lr  # the warm-up phase of the cycle


class _LightningStyleOptimizer:
    """What Lightning's ``LightningOptimizer.step`` does in manual optimization: the precision plugin wraps the
    user's closure and calls ``optimizer.step(closure=wrapped)`` (no Lightning import: the call shape is the point)."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.calls = 0

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def step(self, closure, **kwargs):
        def wrapped():
            self.calls += 1
            return closure()

        return self.optimizer.step(closure=wrapped, **kwargs)


def test_a_lightning_style_manual_optimization_loop_steps_like_the_plain_loop():
    runs = []
    for style in ("plain", "lightning"):
        params, loss_fn = _problem(1)
        sam = SAM(torch.optim.SGD(params, lr=0.1, momentum=0.9), rho=0.05, ascent="unnormalized")
        opt = _LightningStyleOptimizer(sam) if style == "lightning" else sam

        def training_step():  # LightningModule.training_step with self.automatic_optimization = False
            def closure():
                loss = loss_fn(params)
                opt.zero_grad()
                loss.backward()  # self.manual_backward(loss)
                return loss

            return opt.step(closure=closure)

        losses = [training_step() for _ in range(3)]
        runs.append((params, losses, sam.state_dict()))
        if style == "lightning":
            assert opt.calls == 6  # two passes per step
    (a, losses_a, state_a), (b, losses_b, state_b) = runs
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and all(torch.equal(x, y) for x, y in zip(losses_a, losses_b))
    assert sorted(state_b) == ["param_groups", "state"]  # what Lightning's checkpointing saves


@pytest.mark.slow  # inductor compiles the forward and backward: about 60 s on the shared 2-core machine
def test_the_wrapper_trains_a_compiled_model_like_the_eager_one():
    runs = []
    for compiled in (False, True):
        gen = torch.Generator().manual_seed(2)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
        x = torch.randn(16, 4, generator=gen, dtype=torch.float64)
        y = torch.randn(16, 1, generator=gen, dtype=torch.float64)
        forward = torch.compile(model) if compiled else model
        opt = StableSAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), rho=0.05)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(forward(x), y)
            loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
        runs.append([p.detach().clone() for p in model.parameters()])
    # Inductor's fused kernels sum in another order: float64 roundings (~1e-16 relative) through 3 steps of a
    # map with Lipschitz constant of order 1 stay far below 1e-12.
    for eager, compiled in zip(*runs):
        torch.testing.assert_close(compiled, eager, rtol=1e-12, atol=1e-12)


def test_torch_distributed_checkpoint_reads_the_wrappers_state_dict():
    # get_optimizer_state_dict reads state_dict() (torch.optim's layout, keyed by parameter names here); its
    # set_optimizer_state_dict first runs a closure-less step() to create state, which SAM refuses, so the state is
    # set on the base optimizer (the saved groups' wrapper options are ignored there).
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

    models, optimizers = [], []
    for seed in (0, 1):
        torch.manual_seed(seed)  # only the modules' default initialisation; the second is overwritten below
        models.append(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double())
        optimizers.append(StableSAM(torch.optim.SGD(models[-1].parameters(), lr=0.1, momentum=0.9), rho=0.05))
    x, y = torch.ones(8, 3, dtype=torch.float64), torch.zeros(8, 1, dtype=torch.float64)

    def closure_of(model, opt):
        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss
        return closure

    optimizers[0].step(closure_of(models[0], optimizers[0]))
    saved = get_optimizer_state_dict(models[0], optimizers[0])
    assert sorted(saved) == ["param_groups", "state"] and "0.weight" in saved["state"]
    assert saved["param_groups"][0]["rho"] == 0.05 and saved["param_groups"][0]["stable"] is True
    models[1].load_state_dict(models[0].state_dict())
    set_optimizer_state_dict(models[1], optimizers[1].base_optimizer, copy.deepcopy(saved))  # as from storage
    for model, opt in zip(models, optimizers):
        opt.step(closure_of(model, opt))
    assert all(torch.equal(a, b) for a, b in zip(models[0].parameters(), models[1].parameters()))
