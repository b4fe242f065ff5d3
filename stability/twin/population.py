"""A population of ``M`` independent models trained in lock-step: stacked (``vmap``) or one by one.

Both implementations expose the same interface to the trainer:

- ``params``: ``{name: tensor of shape (M, *shape)}`` (for distances; read-only),
- ``train_step(x, y, alive, lr)`` -> per-model losses ``(M,)`` at the current weights and the
  optimizer statistics (vectors of length ``M``), without a host synchronisation,
- ``outputs(x)``: eval-mode outputs ``(M, B, out)`` of inputs ``(M, B, *input_shape)``,
- ``state_dict()`` / ``load_state_dict()`` (plain tensors and dicts, ``weights_only``-loadable),
- ``module(m)``: a standalone copy of model ``m`` (for curvature measurements; not trained further).
- ``loss``: the mean loss of one model, ``loss(outputs, y)`` (for curvature measurements of ``module(m)``).

:class:`StackedPopulation` holds every parameter as one tensor with a leading model axis
(``torch.func.stack_module_state``) and evaluates all models in one call of
``vmap(functional_call)``; the per-model losses are *summed* so that one backward pass fills every
model's gradient (the models share no parameter, so model ``m``'s gradient is that of its own mean
mini-batch loss). The SAM wrapper runs with ``stacked=True`` (norms, ascent and gamma per model)
and the base optimizer is elementwise, so each model follows exactly its own update rule.
:class:`SequentialPopulation` is the fallback for models ``vmap`` cannot handle.

A diverged model's loss is replaced by 0 in the sum (``alive`` mask): its gradient becomes 0 (or
stays non-finite, but only in its own slice) and no shared computation sees its values.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SequentialPopulation", "StackedPopulation", "mean_loss", "example_losses"]


def example_losses(task: str, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example loss ``l(w; z)``: cross-entropy, or ``(f(x) - y)^2 / 2`` for regression.

    ``outputs`` ``(..., C)`` and ``y`` ``(...)``; the halved square makes the Hessian of the
    empirical risk of a linear model ``X^T X / n``, the convention of docs/theory.md section 2.
    """
    if task == "classification":
        return F.cross_entropy(outputs.flatten(0, -2), y.flatten(), reduction="none").view(y.shape)
    return 0.5 * (outputs.reshape(y.shape) - y).square()


def mean_loss(task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Mean mini-batch loss of one model (see :func:`example_losses`)."""
    if task == "classification":
        return lambda out, y: F.cross_entropy(out, y)
    return lambda out, y: 0.5 * (out.reshape(y.shape) - y).square().mean()


def _optimizers_from_config(params: list[torch.Tensor], config, *, stacked: bool):
    """Base optimizer (``torch.optim``, foreach) and the SAM wrapper of ``config.optimizer`` (or None), built by
    :func:`stablesam.stability.optimizers.make_optimizer` from the config's fields."""
    from stablesam.stability.optimizers import make_optimizer as build
    from stablesam.stability.sam import SAM

    optimizer = build(config.optimizer, params, lr=config.lr, rho=config.rho, base=config.base_optimizer,
                      momentum=config.momentum, weight_decay=config.weight_decay, betas=config.betas,
                      adam_eps=config.adam_eps, gamma_cap=config.gamma_cap, adaptive_eta=config.adaptive_eta,
                      stacked=stacked, foreach=True)
    if isinstance(optimizer, SAM):
        return optimizer.base_optimizer, optimizer
    return optimizer, None


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class StackedPopulation:
    """``M`` models as stacked tensors, evaluated with ``vmap(functional_call)`` (see the module docstring)."""

    vectorized = True

    def __init__(self, modules: list[nn.Module], task: str, config) -> None:
        from torch.func import stack_module_state

        self.task = task
        self.loss = mean_loss(task)
        self.base = copy.deepcopy(modules[0]).to("meta")
        self.params, self.buffers = stack_module_state(modules)
        self.names = list(self.params)
        self.optimizer, self.sam = _optimizers_from_config(list(self.params.values()), config, stacked=True)

    def _stacked_outputs(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(M, B, out)`` of every model on its own inputs, one ``vmap(functional_call)``."""
        from torch.func import functional_call, vmap

        return vmap(lambda p, b, xm: functional_call(self.base, (p, b), (xm,)))(params, buffers, x)

    def _losses(self, x: torch.Tensor, y: torch.Tensor, params: dict | None = None,
                buffers: dict | None = None) -> torch.Tensor:
        """Per-model mean mini-batch losses ``(M,)`` (at ``self.params`` unless ``params`` is given)."""
        outputs = self._stacked_outputs(self.params if params is None else params,
                                        self.buffers if buffers is None else buffers, x)
        # The loss on the stacked outputs, outside vmap: vmap runs cross-entropy through a slow decomposition.
        return example_losses(self.task, outputs, y).mean(dim=1)

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        self.base.eval()
        try:
            with torch.no_grad():
                return self._stacked_outputs(self.params, self.buffers, x)
        finally:
            self.base.train()

    def probe(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """The training step's forward and backward on detached copies; raises if ``vmap`` cannot run the model."""
        params = {k: v.detach().requires_grad_() for k, v in self.params.items()}
        buffers = {k: v.clone() for k, v in self.buffers.items()}
        self._losses(x, y, params, buffers).sum().backward()

    def _grad_norms(self) -> torch.Tensor:
        grads = [p.grad for p in self.params.values()]
        return torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads]).square().sum(0).sqrt()

    def train_step(self, x, y, alive, lr: float):
        _set_lr(self.optimizer, lr)
        self.optimizer.zero_grad(set_to_none=True)
        losses = self._losses(x, y)
        torch.where(alive, losses, 0.0).sum().backward()
        if self.sam is None:
            stats = {"grad_norm": self._grad_norms()}
            self.optimizer.step()
        else:
            self.sam.first_step()
            self.optimizer.zero_grad(set_to_none=True)
            torch.where(alive, self._losses(x, y), 0.0).sum().backward()
            self.sam.second_step()
            stats = dict(self.sam.last_stats)
        return losses.detach(), stats

    def module(self, m: int) -> nn.Module:
        """A standalone ``nn.Module`` holding copies of model ``m``'s parameters and buffers."""
        device = next(iter(self.params.values())).device
        module = copy.deepcopy(self.base).to_empty(device=device)
        module.load_state_dict({**{k: v[m].detach() for k, v in self.params.items()},
                                **{k: v[m] for k, v in self.buffers.items()}})
        return module

    def state_dict(self) -> dict:
        return {"params": {k: v.detach().clone() for k, v in self.params.items()},
                "buffers": {k: v.clone() for k, v in self.buffers.items()},
                "optimizer": self.optimizer.state_dict()}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        for key, value in state["params"].items():
            self.params[key].copy_(value)
        for key, value in state["buffers"].items():
            self.buffers[key].copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])


class SequentialPopulation:
    """``M`` separate modules, each with its own optimizer, stepped one after another."""

    vectorized = False

    def __init__(self, modules: list[nn.Module], task: str, config) -> None:
        self.task = task
        self.loss = mean_loss(task)
        self.modules = modules
        self.names = [name for name, _ in modules[0].named_parameters()]
        self.optimizers = [_optimizers_from_config(list(m.parameters()), config, stacked=False) for m in modules]

    @property
    def params(self) -> dict[str, torch.Tensor]:
        per_model = [dict(m.named_parameters()) for m in self.modules]
        return {name: torch.stack([p[name].detach() for p in per_model]) for name in self.names}

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        with torch.no_grad():
            for module, xm in zip(self.modules, x):
                module.eval()
                try:
                    outs.append(module(xm))
                finally:
                    module.train()
        return torch.stack(outs)

    def train_step(self, x, y, alive, lr: float):
        losses, stats = [], []
        for m, (module, (base, sam)) in enumerate(zip(self.modules, self.optimizers)):
            _set_lr(base, lr)
            base.zero_grad(set_to_none=True)
            loss = self.loss(module(x[m]), y[m])
            torch.where(alive[m], loss, 0.0).backward()
            if sam is None:
                norms = torch.stack([torch.linalg.vector_norm(p.grad) for p in module.parameters()])
                stats.append({"grad_norm": torch.linalg.vector_norm(norms)})
                base.step()
            else:
                sam.first_step()
                base.zero_grad(set_to_none=True)
                torch.where(alive[m], self.loss(module(x[m]), y[m]), 0.0).backward()
                sam.second_step()
                stats.append(dict(sam.last_stats))
            losses.append(loss.detach())
        return torch.stack(losses), {k: torch.stack([s[k] for s in stats]) for k in stats[0]}

    def module(self, m: int) -> nn.Module:
        """A standalone copy of model ``m``."""
        return copy.deepcopy(self.modules[m])

    def state_dict(self) -> dict:
        return {"modules": [{k: v.clone() for k, v in m.state_dict().items()} for m in self.modules],
                "optimizers": [base.state_dict() for base, _ in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        for module, (base, _), module_state, optimizer_state in zip(
                self.modules, self.optimizers, state["modules"], state["optimizers"]):
            module.load_state_dict(module_state)
            base.load_state_dict(optimizer_state)
