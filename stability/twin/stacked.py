"""The twin population on stacked-parameter layers: all ``M`` models' arithmetic in a few batched kernels.

:class:`StackedParameterPopulation` has the interface of :mod:`stablesam.stability.twin.population` (``params``,
``train_step``, ``outputs``, ``state_dict``, ``module``, ``loss``) for the models that
:func:`stablesam.stability.stacked.network.network_of` translates (``linear``, ``mlp``, ``cnn``): one flat
parameter buffer ``(M, D)``, explicit batched forward and backward passes, and the method's ascent, norms,
``gamma`` and descent as whole-population tensor operations (:class:`stablesam.stability.stacked.PopulationOptimizer`).
There is no ``vmap``, ``functional_call``, autograd graph or per-parameter loop in a step, and no host
synchronisation. Each model follows its own update rule exactly as one model trained alone (to rounding:
the batched products sum in another order); identical twins stay identical bit for bit, since every row
of every kernel sees the same numbers.

:func:`stacked_population` is the one selection point: this population where the model translates, else
:class:`~stablesam.stability.twin.population.StackedPopulation` (``vmap``). Checkpoints use the
``vmap`` population's layout (``params``, ``buffers``, a ``torch.optim`` state dict), so either loads the other's.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from stablesam.stability.stacked.network import network_of
from stablesam.stability.stacked.optimizer import PopulationOptimizer
from stablesam.stability.twin.population import StackedPopulation, mean_loss

__all__ = ["StackedParameterPopulation", "stacked_population"]


def stacked_population(modules: list[nn.Module], task: str, config, input_shape: tuple[int, ...]):
    """The stacked-parameter population of ``modules`` where their model translates, else the ``vmap`` one."""
    network = network_of(modules[0], input_shape)
    if network is None:
        return StackedPopulation(modules, task, config)
    return StackedParameterPopulation(modules, task, config, network)


class StackedParameterPopulation:
    """``M`` models as rows of one parameter buffer, stepped together (see the module docstring)."""

    vectorized = True

    def __init__(self, modules: list[nn.Module], task: str, config, network) -> None:
        self.task = task
        self.loss = mean_loss(task)
        self.network = network
        self.base = copy.deepcopy(modules[0]).to("meta")
        self.names = list(network.shapes)
        self.weights = network.stack(modules)
        self.params = network.views(self.weights, cache=True)
        self.buffers: dict[str, torch.Tensor] = {}
        self.optimizer = PopulationOptimizer(
            self.weights, config.optimizer, rho=config.rho, base=config.base_optimizer, momentum=config.momentum,
            weight_decay=config.weight_decay, betas=config.betas, adam_eps=config.adam_eps,
            gamma_cap=config.gamma_cap, adaptive_eta=config.adaptive_eta)
        self._config = config

    # ------------------------------------------------------------------ training
    def train_step(self, x: torch.Tensor, y: torch.Tensor, alive: torch.Tensor, lr: float):
        """Per-model losses at ``w`` ``(M,)`` and the method's statistics; no host synchronisation."""
        def gradient_at(grads: torch.Tensor) -> torch.Tensor:
            return self.network.loss_and_grad(self.weights, grads, x, y, self.task, alive)

        with torch.no_grad():
            return self.optimizer.step(self.weights, gradient_at, lr)

    def probe(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """The training step's forward and backward into the optimizer's scratch gradient (the weights stay)."""
        alive = torch.ones(self.weights.shape[0], dtype=torch.bool, device=self.weights.device)
        with torch.no_grad():
            self.network.loss_and_grad(self.weights, self.optimizer.grad, x, y, self.task, alive)

    @torch.no_grad()
    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(M, B, out)`` of inputs ``(M, B, *input_shape)`` (the models have no train/eval difference)."""
        return self.network.forward(self.weights, x)

    def module(self, m: int) -> nn.Module:
        """A standalone ``nn.Module`` holding copies of model ``m``'s parameters."""
        module = copy.deepcopy(self.base).to_empty(device=self.weights.device)
        module.load_state_dict({k: v[m].detach().clone() for k, v in self.params.items()})
        return module

    # ------------------------------------------------------------------ checkpoints
    def _torch_groups(self) -> list[dict]:
        """The ``param_groups`` the ``vmap`` population's ``torch.optim`` optimizer would save."""
        from stablesam.stability.optimizers import make_optimizer

        c = self._config
        params = [torch.empty((self.weights.shape[0], 1), device="meta", requires_grad=True) for _ in self.names]
        optimizer = make_optimizer(c.optimizer, params, lr=c.lr, rho=c.rho, base=c.base_optimizer, momentum=c.momentum,
                                   weight_decay=c.weight_decay, betas=c.betas, adam_eps=c.adam_eps,
                                   gamma_cap=c.gamma_cap, adaptive_eta=c.adaptive_eta, stacked=True, foreach=True)
        optimizer = getattr(optimizer, "base_optimizer", optimizer)
        return optimizer.state_dict()["param_groups"]

    def state_dict(self) -> dict:
        optimizer = self.optimizer.state_dict()
        steps = optimizer.pop("steps")
        state = {}
        if steps and optimizer:
            per_key = {key: self.network.views(value) for key, value in optimizer.items() if value is not None}
            for index, name in enumerate(self.names):
                state[index] = {key: views[name].clone() for key, views in per_key.items()}
                if self.optimizer.base == "adam":
                    state[index]["step"] = torch.tensor(float(steps))
        return {"params": {k: v.clone() for k, v in self.params.items()}, "buffers": {},
                "optimizer": {"state": state, "param_groups": self._torch_groups(), "steps": steps}}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        for name, value in state["params"].items():
            self.params[name].copy_(value)
        saved = state["optimizer"]
        per_param = [saved["state"].get(index, saved["state"].get(str(index), {})) for index in range(len(self.names))]
        restored = {"steps": saved.get("steps")}
        for key in self.optimizer.state:
            parts = {name: entry.get(key) for name, entry in zip(self.names, per_param)}
            missing = any(part is None for part in parts.values())
            restored[key] = None if missing else self.network.flatten(parts).to(self.weights)
        if restored["steps"] is None:  # a torch.optim state dict: Adam counts per parameter, SGD not at all
            steps = [entry.get("step") for entry in per_param if entry.get("step") is not None]
            restored["steps"] = int(float(steps[0])) if steps else 0
        self.optimizer.load_state_dict(restored)
