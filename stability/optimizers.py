"""The one optimizer factory: a row of :data:`stablesam.core.methods.METHODS` becomes a torch optimizer.

A method is a base optimizer step (``torch.optim.SGD``, with momentum, or ``Adam``), optionally wrapped by
:class:`stablesam.stability.SAM` with the row's ``ascent`` and ``stable`` fields (``docs/theory.md`` section 1). Rows
without an ascent (``gd``, ``sgd``) are the base optimizer alone: ``rho`` does not enter their update,
which :func:`effective_rho` records once for tables ("SGD is SAM at ``rho = 0``").

>>> import torch
>>> w = torch.zeros(3, requires_grad=True)
>>> type(make_optimizer("stablesam-u", [w], lr=0.1, rho=0.05)).__name__
'SAM'
>>> type(make_optimizer("sgd", [w], lr=0.1)).__name__, effective_rho("sgd", 0.05)
('SGD', 0.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from stablesam.core.methods import DEFAULT_RHO, method

if TYPE_CHECKING:
    import torch

__all__ = ["BASE_OPTIMIZERS", "DEFAULT_RHO", "effective_rho", "make_optimizer"]

BASE_OPTIMIZERS = ("sgd", "momentum", "adam")


def effective_rho(method_key: str, rho: float) -> float:
    """The radius that enters ``method_key``'s update: ``rho``, or 0 for methods without an ascent."""
    return rho if method(method_key).uses_rho else 0.0


def make_optimizer(
    method_key: str,
    params: Iterable[torch.Tensor] | Iterable[dict],
    *,
    lr: float,
    rho: float = DEFAULT_RHO,
    base: str = "sgd",
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    adam_eps: float = 1e-8,
    gamma_cap: float | None = None,
    adaptive_eta: float = 0.01,
    stacked: bool = False,
    foreach: bool | None = None,
) -> torch.optim.Optimizer:
    """The optimizer of ``method_key``: the base optimizer, wrapped by :class:`stablesam.stability.SAM` if the row has an
    ascent. Step a wrapper with ``step(closure)`` or ``first_step()``/``second_step()``; its base optimizer is
    ``.base_optimizer``. ``momentum`` applies to ``base="momentum"``, ``betas``/``adam_eps`` to ``"adam"``.

    ``foreach`` is the base optimizer's; the wrapper chooses its own kernels by device (``SAM(foreach=None)``, as
    ``torch.optim`` does), which keeps its CPU trajectories bit-identical whatever the base uses.

    Arguments are validated by the optimizers themselves (``torch.optim`` and :class:`stablesam.stability.SAM`); callers
    validate their own input once, at their boundary. Importing this module does not import torch.
    """
    import torch

    row = method(method_key)
    if base == "adam":
        optimizer = torch.optim.Adam(params, lr=lr, betas=betas, eps=adam_eps, weight_decay=weight_decay, foreach=foreach)
    else:
        momentum = momentum if base == "momentum" else 0.0
        optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=foreach)
    if not row.uses_rho:
        return optimizer
    from stablesam.stability.sam import SAM

    return SAM(optimizer, rho=rho, ascent=row.ascent, stable=row.stable, gamma_cap=gamma_cap,
               adaptive_eta=adaptive_eta, stacked=stacked)
