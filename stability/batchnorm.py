r"""BatchNorm running statistics across SAM's two forward passes.

A SAM step runs the model forward twice on the same batch: at ``w`` and at the ascent point ``w~``.
In training mode every BatchNorm layer then updates its running mean and variance twice per step, the
second time with statistics of the perturbed network ``w~``, which is never deployed. The usual policy
(the SAM authors' code and the common PyTorch wrappers) updates them on the first pass only.

=========  ===================================================================================
policy     running statistics after a step
=========  ===================================================================================
``first``  one update with the batch statistics at ``w`` (as one plain SGD step would give)
``both``   two updates: at ``w``, then at ``w~`` (what PyTorch does without this helper)
=========  ===================================================================================

``freeze_running_stats(model)`` implements ``first`` for the pass at ``w~``: inside the context each
BatchNorm layer still *normalises* with the batch statistics (the forward and the gradient are unchanged),
but neither its running statistics nor ``num_batches_tracked`` change. It switches
``track_running_stats`` off for the duration and restores it, rather than setting ``momentum = 0``, which
would still count the batch (and would turn the running statistics into NaN on a non-finite batch).

Example (policy ``first`` with either way to step)::

    >>> import functools, torch
    >>> from stablesam.stability import SAM, freeze_running_stats
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    >>> opt = SAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=0.05)
    >>> x, y = torch.randn(8, 3), torch.randn(8, 1)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = torch.nn.functional.mse_loss(model(x), y)
    ...     loss.backward()
    ...     return loss
    >>> loss = opt.step(closure, second_pass=functools.partial(freeze_running_stats, model))
    >>> int(model[1].num_batches_tracked)
    1
    >>> with freeze_running_stats(model):          # the two-call form: wrap the pass at w~
    ...     _ = model(x)
    >>> int(model[1].num_batches_tracked)
    1
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from stablesam.core.validation import UsageError

__all__ = ["freeze_running_stats"]



@contextmanager
def freeze_running_stats(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Keep the running statistics of every BatchNorm layer in ``model`` unchanged inside the context.

    Covers ``BatchNorm1d/2d/3d``, their lazy forms and ``SyncBatchNorm`` (every ``_BatchNorm``). Layers
    in training mode normalise with the batch statistics as usual. The flags are restored on exit, also
    when the body raises.
    """
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"freeze_running_stats needs a torch.nn.Module, got {type(model).__name__}")
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    for layer in layers:
        layer.track_running_stats = False
    try:
        yield model
    finally:
        for layer in layers:
            layer.track_running_stats = True
