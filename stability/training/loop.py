r"""The one step loop: a closure per step, a divergence rule, measurement hooks.

Every training run of the toolkit reads as the same loop (as in locuslab's edge-of-stability code: one
top-to-bottom loop, the measurements hung on it):

.. code-block:: text

    for t = start .. stop - 1:
        step(t)                                   # one optimizer update, no host synchronisation
        for hook in hooks:                        # measurements, divergence checks, checkpoints
            if hook is due after t + 1 updates and hook(t + 1) is True: stop here

:func:`run_steps` is that loop; :class:`Hook` says when a measurement runs. :func:`closure_for` is the closure
every SAM-family optimizer re-evaluates (``zero_grad``, forward, loss, backward). :class:`DivergenceRule` is the
rule every run applies: a loss that is non-finite or above a threshold, or a gradient that is non-finite, marks
a run diverged at that step. :class:`Divergence` applies it to ``M`` runs at once on the device (the twin
population) without a host synchronisation; the hooks read it at the logging interval, where
:func:`finite_rows` also checks the weights themselves (a NaN learning rate or a NaN gradient that the loss
did not show yet).

>>> import torch
>>> seen = []
>>> run_steps(lambda t: seen.append(t), start=0, stop=5, hooks=[Hook(2, lambda t: seen.append(f"measure@{t}"))])
5
>>> seen
[0, 1, 'measure@2', 2, 3, 'measure@4', 4, 'measure@5']
>>> rule = DivergenceRule(threshold=10.0)
>>> rule.reasons(torch.tensor([1.0, float("nan"), 11.0, 1.0]), torch.tensor([1.0, 1.0, 1.0, float("inf")])).tolist()
[0, 1, 2, 3]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch

__all__ = ["DIVERGENCE_REASONS", "OUTCOMES", "Divergence", "DivergenceRule", "Hook", "all_finite", "closure_for",
           "finite_rows", "run_steps"]

# How a training run ends (codes 0, 1, 2 in tidy tables): it trained, collapsed to chance, or diverged.
OUTCOMES = ("trained", "collapsed", "diverged")

# Reason codes of a divergence (0: none). The twin harness's checkpoints store the codes.
DIVERGENCE_REASONS = {1: "non-finite loss", 2: "loss above divergence_threshold", 3: "non-finite gradient",
                      4: "non-finite parameters"}


@dataclass(frozen=True)
class Hook:
    """``call(t)`` after update ``t`` whenever ``t`` is a multiple of ``every`` (0: never), except after the last
    update of the loop, where it runs exactly when ``at_stop`` (a caller that measures the end itself says
    ``at_stop=False``). ``call`` returning ``True`` stops
    the loop; the hooks after it are not run for that update."""

    every: int
    call: Callable[[int], bool | None]
    at_stop: bool = True

    def due(self, t: int, stop: int) -> bool:
        if t == stop:
            return self.at_stop
        return self.every > 0 and t % self.every == 0


def run_steps(step: Callable[[int], object], *, start: int, stop: int, hooks: Sequence[Hook] = ()) -> int:
    """Run ``step(t)`` for ``t = start, ..., stop - 1`` with the ``hooks`` after each; returns the number of
    updates done when the loop ended (``stop``, or the update after which a hook stopped it)."""
    t = start
    while t < stop:
        step(t)
        t += 1
        for hook in hooks:
            if hook.due(t, stop) and hook.call(t) is True:
                return t
    return t


def closure_for(model: Callable, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
                optimizer: torch.optim.Optimizer) -> Callable[[], torch.Tensor]:
    """The closure of one update: clear the gradients, evaluate ``loss_fn(model(x), y)``, backpropagate,
    return the loss (a SAM-family optimizer calls it at ``w`` and again at the ascent point ``w~``)."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    return closure


def finite_rows(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """Per leading index ``m``: whether every entry of every tensor's row ``m`` is finite (a bool vector on the
    tensors' device; one reduction per tensor, no host synchronisation)."""
    flags = [torch.isfinite(t.detach().reshape(t.shape[0], -1)).all(dim=1) for t in tensors]  # (M,) tensors too
    return torch.stack(flags).all(dim=0)


def all_finite(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """Whether every entry of every tensor is finite (a bool scalar on the device; read it where the loop syncs)."""
    return torch.stack([torch.isfinite(t.detach()).all() for t in tensors]).all()


@dataclass(frozen=True)
class DivergenceRule:
    """A run diverges when its loss is non-finite (code 1) or above ``threshold`` (code 2), or its gradient norm
    is non-finite (code 3); :data:`DIVERGENCE_REASONS` names the codes."""

    threshold: float = math.inf

    def reasons(self, losses: torch.Tensor, grad_norms: torch.Tensor | None = None) -> torch.Tensor:
        """The code of every run (0: none), on the device of ``losses``."""
        codes = torch.where(torch.isfinite(losses), torch.where(losses > self.threshold, 2, 0), 1)
        if grad_norms is not None:
            codes = torch.where((codes == 0) & ~torch.isfinite(grad_norms), 3, codes)
        return codes

    def reason(self, loss: float, grad_norm: float | None = None) -> int:
        """The code of one run from host numbers (a measurement that has synchronised anyway)."""
        if not math.isfinite(loss):
            return 1
        if loss > self.threshold:
            return 2
        return 3 if grad_norm is not None and not math.isfinite(grad_norm) else 0


class Divergence:
    """The divergence state of ``n`` runs trained together: ``alive``, ``step`` (the number of updates done
    before the step at which it was seen; -1: alive) and ``reason`` (a code of :data:`DIVERGENCE_REASONS`),
    all device tensors that :meth:`update` changes without a host synchronisation."""

    def __init__(self, rule: DivergenceRule, n: int, device: torch.device | str = "cpu") -> None:
        self.rule = rule
        self.alive = torch.ones(n, dtype=torch.bool, device=device)
        self.step = torch.full((n,), -1, dtype=torch.long, device=device)
        self.reason = torch.zeros(n, dtype=torch.long, device=device)

    def _mark(self, step: int, codes: torch.Tensor) -> None:
        newly = (codes > 0) & self.alive
        self.step = torch.where(newly, step, self.step)
        self.reason = torch.where(newly, codes, self.reason)
        self.alive = self.alive & ~(codes > 0)

    def update(self, step: int, losses: torch.Tensor, grad_norms: torch.Tensor | None = None) -> None:
        """Apply the rule to the losses (and gradient norms) of update ``step``."""
        self._mark(step, self.rule.reasons(losses, grad_norms))

    def check_parameters(self, step: int, finite: torch.Tensor) -> None:
        """Mark the live runs whose weights are no longer finite (``finite``: :func:`finite_rows`) as diverged."""
        self._mark(step, torch.where(finite, 0, 4))

    def records(self) -> list[tuple[int, int, str]]:
        """``(run, step, reason)`` of every diverged run (synchronises)."""
        steps, reasons = self.step.cpu().tolist(), self.reason.cpu().tolist()
        return [(m, s, DIVERGENCE_REASONS[r]) for m, (s, r) in enumerate(zip(steps, reasons)) if s >= 0]
