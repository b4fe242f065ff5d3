r"""Every method of the table for a whole population at once: a handful of tensor operations per step.

The ``P`` models' parameters are the rows of one buffer ``w`` ``(P, D)`` (:mod:`stablesam.stability.stacked.network`),
and so are their gradients. One step of a method of :data:`stablesam.core.methods.METHODS` (``docs/theory.md``
section 1; the same rule as :class:`stablesam.stability.SAM` around ``torch.optim``, per model)::

    g      = grad F_B(w)                            one pass, all models
    n      = ||g||_row            (ASAM: ||T_w g||_row, T_w = |w| + eta_a)
    w~     = w + rho d            d: g / n (SAM), g (USAM), T_w^2 g / n (ASAM)
    g~     = grad F_B(w~)                           second pass
    gamma  = n / n~,  n~ = ||g~||_row (ASAM: ||T_w~ g~||_row);  1 where n~ = 0
    w      <- base_step(w, min(gamma, cap) g~)      StableSAM; SAM, USAM, ASAM step with g~

``||.||_row`` is the norm of each model's row over all its parameters, one ``vector_norm(dim=1)``; per-model
factors multiply rows through a ``(P, 1)`` view. ``sgd`` is the base step with ``g``. The base step is
``torch.optim``'s SGD (momentum, coupled weight decay) or Adam (coupled weight decay) written on the buffer:

* SGD: ``u = g + lambda w``; with momentum ``b <- mu b + u`` (``b = u`` at the first step) and ``u = b``;
  ``w <- w - eta u``;
* Adam: ``u = g + lambda w``, ``m <- beta1 m + (1 - beta1) u``, ``v <- beta2 v + (1 - beta2) u^2``,
  ``w <- w - eta / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``.

Statistics (per model, device tensors, never synchronised): ``grad_norm`` ``n`` for every method, and for the
ascent methods ``surrogate_grad_norm`` ``n~``, ``gamma`` and ``applied_gamma`` (as the wrapper's ``last_stats``).
The step count of Adam is a Python integer, so no step reads the device. Sources: SAM, Foret et al. 2021
(arXiv:2010.01412); USAM, Andriushchenko and Flammarion 2022 (arXiv:2206.06232); ASAM, Kwon et al. 2021
(arXiv:2102.11600); StableSAM, Tan et al. 2024 (arXiv:2401.07250).

Example (StableSAM-N on two quadratics ``f_p(w) = |w|^2 / 2``: ``g~ = w + rho g / |g|`` and the step has the
length ``eta |g|`` of an SGD step):

    >>> import torch
    >>> w = torch.tensor([[3.0, 4.0], [0.0, 1.0]], dtype=torch.float64)
    >>> opt = PopulationOptimizer(w, "stablesam-n", rho=0.5)
    >>> losses, stats = opt.step(w, lambda grads: (grads.copy_(w), 0.5 * w.square().sum(1))[1], lr=0.1)
    >>> stats["grad_norm"], stats["gamma"]
    (tensor([5., 1.], dtype=torch.float64), tensor([0.9091, 0.6667], dtype=torch.float64))
    >>> w.norm(dim=1)  # ||w|| (1 - eta)
    tensor([4.5000, 0.9000], dtype=torch.float64)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from stablesam.core.methods import method
from stablesam.core.validation import check_choice
from stablesam.stability.functional import renormalization_factor, safe_divisor
from stablesam.stability.optimizers import BASE_OPTIMIZERS, DEFAULT_RHO

__all__ = ["PopulationOptimizer"]

# ``gradient_at(grads) -> losses``: the per-model losses at the current weights; their gradients written into ``grads``.
GradientAt = Callable[[Tensor], Tensor]
_STATE = {"sgd": (), "momentum": ("momentum_buffer",), "adam": ("exp_avg", "exp_avg_sq")}


class PopulationOptimizer:
    """Method ``method_key`` on base optimizer ``base`` for the population whose parameters are ``weights`` ``(P, D)``.

    The arguments are those of :func:`stablesam.stability.optimizers.make_optimizer` (validated by the caller's
    config); the optimizer keeps its scratch buffers (gradients at ``w`` and ``w~``, the saved ``w``) and its
    state (momentum, Adam's moments) as ``(P, D)`` tensors beside ``weights``.
    """

    def __init__(self, weights: Tensor, method_key: str, *, rho: float = DEFAULT_RHO, base: str = "sgd",
                 momentum: float = 0.0, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
                 adam_eps: float = 1e-8, gamma_cap: float | None = None, adaptive_eta: float = 0.01) -> None:
        row = method(method_key)
        self.base = check_choice("base_optimizer", base, BASE_OPTIMIZERS)
        self.ascent = row.ascent
        self.stable = row.stable
        self.rho, self.gamma_cap, self.adaptive_eta = float(rho), gamma_cap, float(adaptive_eta)
        self.momentum = float(momentum) if base == "momentum" else 0.0
        self.weight_decay, self.betas, self.adam_eps = float(weight_decay), tuple(map(float, betas)), float(adam_eps)
        # zeros: the alignment padding of the rows is never written, and must not enter the norms
        self.grad = torch.zeros_like(weights)
        if self.ascent != "none":
            self.surrogate_grad = torch.zeros_like(weights)
            self.origin = torch.empty_like(weights)
        if self.ascent == "adaptive":
            self.scale = torch.empty_like(weights)
        self.steps = 0
        keys = _STATE[self.base] if self.base != "momentum" or self.momentum else ()
        self.state: dict[str, Tensor | None] = dict.fromkeys(keys)

    # ------------------------------------------------------------------ the step
    def step(self, weights: Tensor, gradient_at: GradientAt, lr: float) -> tuple[Tensor, dict[str, Tensor]]:
        """One step of every model; returns the losses at ``w`` ``(P,)`` and the statistics (module docstring)."""
        losses = gradient_at(self.grad)
        g = self.grad
        if self.ascent == "none":
            grad_norm = torch.linalg.vector_norm(g, dim=1)
            self._base_step(weights, g, lr)
            return losses, {"grad_norm": grad_norm}
        if self.ascent == "adaptive":
            scale = torch.abs(weights, out=self.scale).add_(self.adaptive_eta)
            weighted = scale.mul(g)  # T_w g
            grad_norm = torch.linalg.vector_norm(weighted, dim=1)
            direction, divisor = scale.mul_(weighted), safe_divisor(grad_norm)  # T_w^2 g, divided by n below
        else:
            grad_norm = torch.linalg.vector_norm(g, dim=1)
            direction, divisor = g, safe_divisor(grad_norm) if self.ascent == "normalized" else None
        self.origin.copy_(weights)
        if self.rho != 0:  # rho = 0: w stays untouched (w + 0 d could flip the sign of -0.0)
            if divisor is None:
                weights.add_(direction, alpha=self.rho)
            else:
                weights.addcdiv_(direction, divisor.unsqueeze(1), value=self.rho)
        surrogate = self.surrogate_grad
        gradient_at(surrogate)
        if self.ascent == "adaptive":  # T_w~, with w still at w~
            surrogate_norm = torch.linalg.vector_norm(
                torch.abs(weights, out=self.scale).add_(self.adaptive_eta).mul_(surrogate), dim=1)
        else:
            surrogate_norm = torch.linalg.vector_norm(surrogate, dim=1)
        weights.copy_(self.origin)
        gamma = renormalization_factor(grad_norm, surrogate_norm)
        if self.stable:
            applied = gamma if self.gamma_cap is None else gamma.clamp(max=self.gamma_cap)
            surrogate.mul_(applied.unsqueeze(1))
        else:
            applied = torch.ones_like(gamma)
        self._base_step(weights, surrogate, lr)
        return losses, {"grad_norm": grad_norm, "surrogate_grad_norm": surrogate_norm, "gamma": gamma,
                        "applied_gamma": applied}

    def _base_step(self, weights: Tensor, update: Tensor, lr: float) -> None:
        """``torch.optim``'s SGD / momentum / Adam step on the whole buffer; ``update`` is scratch (modified)."""
        self.steps += 1
        if self.weight_decay:
            update.add_(weights, alpha=self.weight_decay)
        if self.base == "adam":
            beta1, beta2 = self.betas
            if self.state["exp_avg"] is None:
                self.state["exp_avg"], self.state["exp_avg_sq"] = torch.zeros_like(weights), torch.zeros_like(weights)
            exp_avg, exp_avg_sq = self.state["exp_avg"], self.state["exp_avg_sq"]
            exp_avg.lerp_(update, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(update, update, value=1 - beta2)
            step_size = lr / (1 - beta1 ** self.steps)
            denominator = exp_avg_sq.sqrt().div_(math.sqrt(1 - beta2 ** self.steps)).add_(self.adam_eps)
            weights.addcdiv_(exp_avg, denominator, value=-step_size)
            return
        if self.momentum:
            buffer = self.state["momentum_buffer"]
            if buffer is None:
                buffer = self.state["momentum_buffer"] = update.clone()
            else:
                buffer.mul_(self.momentum).add_(update)
            update = buffer
        weights.add_(update, alpha=-lr)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Adam's step count and the state buffers (``None`` before the first step), cloned."""
        return {"steps": self.steps, **{k: None if v is None else v.clone() for k, v in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
        for key in self.state:
            self.state[key] = None if state[key] is None else state[key].clone()
