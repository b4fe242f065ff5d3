"""One full-batch run of a method from a given point, stopped when the loss blows up.

Finite-horizon bias (docs/theory.md section 2): with growth factor ``1 + eps`` per step, a blow-up by ``B`` is seen
within ``T`` steps only if ``eps >~ ln(B) / T``, so a threshold observed this way overestimates the true one by
about ``ln(B) / T`` relative (halved for GD-like growth ``|1 - eta lambda|`` at ``eta lambda ~ 2``, and halved
again because the loss is quadratic in the growing component). Use long horizons and compare with exact formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from stablesam.core.methods import method_keys
from stablesam.stability.optimizers import make_optimizer
from stablesam.stability.training.loop import DivergenceRule, Hook, closure_for, run_steps

__all__ = ["SCAN_METHODS", "run_until_blowup"]

# Full-batch methods whose divergence threshold has a prediction (an edge formula).
SCAN_METHODS = method_keys(edge=True, full_batch=True)


def run_until_blowup(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    data: Sequence[torch.Tensor],
    method: str,
    lr: float,
    *,
    rho: float,
    steps: int,
    blowup: float,
    check_every: int = 50,
) -> tuple[bool, int]:
    """Train ``model`` in place with ``method`` at ``lr`` for ``steps`` full-batch steps; ``(blew_up, step)``.

    Blow-up: the loss becomes non-finite or exceeds ``blowup`` times its initial value, checked every
    ``check_every`` steps on the running maximum (so no step escapes the check and the hot loop has no host
    sync). ``step`` is the check at which it was seen (``steps`` if it was not). The optimizer is the
    method's row of :data:`stablesam.core.methods.METHODS` on a plain ``torch.optim.SGD`` base: full-batch GD.
    """
    x, y = data
    optimizer = make_optimizer(method, model.parameters(), lr=lr, rho=rho)
    closure = closure_for(model, loss_fn, x, y, optimizer)
    with torch.no_grad():
        limit = blowup * loss_fn(model(x), y)
    if not torch.isfinite(limit):
        raise ValueError("the initial loss is not finite: there is nothing to scan from")
    worst = torch.zeros_like(limit)

    def step(t: int) -> None:
        nonlocal worst
        # maximum propagates NaN, so a non-finite loss at any step is caught at the next check.
        worst = torch.maximum(worst, optimizer.step(closure).detach())

    rule = DivergenceRule(threshold=float(limit))  # the loss non-finite or above blowup x its initial value
    blew_up = lambda t: bool(rule.reasons(worst) > 0)  # noqa: E731  (one sync per check)
    stopped = run_steps(step, start=0, stop=steps, hooks=[Hook(check_every, blew_up)])
    if stopped < steps or blew_up(steps):  # stopped by a check (the one after the last step included)
        return True, stopped
    with torch.no_grad():  # the loss after the last step
        final = loss_fn(model(x), y)
    return (not bool(torch.isfinite(final)) or bool(final > limit)), steps
