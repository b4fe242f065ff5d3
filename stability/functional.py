r"""Functional core of the SAM family: global norms, ascent directions, the StableSAM factor.

Every function works on lists of tensors (one per parameter) with grouped ``torch._foreach_*``
operations and never synchronises with the host: norms and factors stay tensors on the parameters'
device. The :class:`stablesam.stability.SAM` optimizer is a thin front-end over these functions.

Notation (``docs/theory.md`` section 1): ``w`` the parameters, ``g = grad F_B(w)``, radius
``rho >= 0``, ascent point ``w~ = w + rho d`` with direction ``d``, surrogate gradient
``g~ = grad F_B(w~)``. ``||.||`` is the Euclidean norm over *all* tensors together.

=================  ==============================  ==========================
ascent             direction ``d``                 reported norm ``n``
=================  ==============================  ==========================
``normalized``     ``g / ||g||``                   ``||g||``
``unnormalized``   ``g``                           ``||g||``
``adaptive``       ``T^2 g / ||T g||``             ``||T g||``
=================  ==============================  ==========================

with ``T = diag(|w| + eta_a)`` (ASAM, Kwon et al. 2021, arXiv:2102.11600). SAM: Foret et al. 2021
(arXiv:2010.01412); USAM: Andriushchenko and Flammarion 2022 (arXiv:2206.06232). StableSAM (Tan et al.
2024, arXiv:2401.07250) multiplies ``g~`` by ``gamma = n(w, g) / n(w~, g~)`` before the base optimizer's
step, where ``n`` is the plain norm, or the ``T``-weighted one for the adaptive ascent.

Degenerate cases (never NaN): ``n = 0`` gives ``d = 0`` (no ascent); a zero surrogate norm gives
``gamma = 1`` (the step ``gamma g~ = 0`` is zero for every finite factor, and 1 keeps logged means
clean). Non-finite gradients (a diverged run) propagate as NaN/inf, so divergence stays visible.

Stacked mode (``stacked=True``): every tensor is a stack of independent models along dim 0 (as made by
``torch.func.stack_module_state``); norms, directions and factors are then computed per model and are
vectors of length ``n_models``.

Example:
    >>> import torch
    >>> from stablesam.stability.functional import ascent_direction, global_norm, renormalization_factor
    >>> w = [torch.tensor([3.0, 0.0]), torch.tensor([0.0])]
    >>> g = [torch.tensor([3.0, 4.0]), torch.tensor([0.0])]
    >>> d, n = ascent_direction(w, g, ascent="normalized")
    >>> n, d[0]
    (tensor(5.), tensor([0.6000, 0.8000]))
    >>> renormalization_factor(n, global_norm([torch.tensor([6.0, 8.0])]))
    tensor(0.5000)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from stablesam.core.validation import UsageError

__all__ = [
    "ASCENTS",
    "ascent_direction",
    "capped_gamma",
    "global_norm",
    "per_model",
    "renormalization_factor",
    "safe_divisor",
    "surrogate_norm",
    "weighted_global_norm",
]

ASCENTS: tuple[str, ...] = ("normalized", "unnormalized", "adaptive")

_REDUCED_PRECISION = (torch.float16, torch.bfloat16)


def _norms(tensors: Sequence[Tensor], stacked: bool) -> Tensor:
    """Per-tensor norms: shape ``(len(tensors),)``, or ``(len(tensors), n_models)`` when stacked."""
    if not tensors:
        raise UsageError("a global norm needs at least one tensor; got an empty list")
    # Half-precision norms are accumulated and returned in float32, so gamma keeps 7 digits.
    dtype = torch.float32 if tensors[0].dtype in _REDUCED_PRECISION else None
    if stacked:
        return torch.stack([torch.linalg.vector_norm(t.flatten(1), dim=1, dtype=dtype) for t in tensors])
    return torch.stack(torch._foreach_norm(tensors, 2, dtype=dtype))


def global_norm(tensors: Sequence[Tensor], *, stacked: bool = False) -> Tensor:
    r"""Euclidean norm over all tensors together, ``sqrt(sum_i ||x_i||^2)``.

    Returns a 0-d tensor, or a vector of per-model norms (over dims ``1:``) when ``stacked``.
    Computed as the norm of the per-tensor norms, which avoids overflow of the squared sum.
    """
    return torch.linalg.vector_norm(_norms(tensors, stacked), dim=0)


def weighted_global_norm(
    params: Sequence[Tensor], tensors: Sequence[Tensor], eta: float, *, stacked: bool = False
) -> Tensor:
    r"""ASAM's weighted norm ``||T_w x||`` with ``T_w = diag(|w| + eta)`` over all parameters."""
    weighted = torch._foreach_abs(params)
    torch._foreach_add_(weighted, eta)
    torch._foreach_mul_(weighted, tensors)
    return global_norm(weighted, stacked=stacked)


def per_model(values: Tensor, tensors: Sequence[Tensor], *, stacked: bool) -> Tensor | list[Tensor]:
    """``values`` shaped to multiply ``tensors`` in a ``torch._foreach_*`` op.

    Not stacked: the 0-d tensor itself. Stacked: one view ``(n_models, 1, ..., 1)`` per tensor, so
    model ``k``'s slice is multiplied by ``values[k]``.
    """
    if not stacked:
        return values
    views: dict[int, Tensor] = {}
    out = []
    for t in tensors:
        if t.ndim not in views:
            views[t.ndim] = values.view((-1,) + (1,) * (t.ndim - 1))
        out.append(views[t.ndim])
    return out


def safe_divisor(norm: Tensor) -> Tensor:
    """``norm`` with its zeros replaced by 1, for dividing a tensor whose norm it is."""
    # 1 where the norm is 0: the numerator is then 0 too (it is bounded by the norm), so the
    # quotient is the defined value 0 instead of 0/0 = NaN. A NaN norm (a diverged run) stays NaN.
    return torch.where(norm == 0, torch.ones_like(norm), norm)


def ascent_direction(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    *,
    ascent: str = "normalized",
    adaptive_eta: float = 0.01,
    stacked: bool = False,
) -> tuple[list[Tensor], Tensor]:
    r"""Ascent direction ``d`` and norm ``n`` such that the ascent point is ``w~ = w + rho d``.

    * ``normalized`` (SAM): ``d = g / ||g||``, ``n = ||g||``;
    * ``unnormalized`` (USAM): ``d = g``, ``n = ||g||``; ``d`` *is* ``grads`` (no copy);
    * ``adaptive`` (ASAM): ``d = T^2 g / ||T g||``, ``n = ||T g||``, ``T = diag(|w| + adaptive_eta)``.

    ``d = 0`` when ``n = 0``. Returns new tensors (except for the unnormalized ascent) and ``n`` as a
    tensor on the parameters' device (per model when ``stacked``).
    """
    if ascent == "unnormalized":
        return list(grads), global_norm(grads, stacked=stacked)
    if ascent == "normalized":
        norm = global_norm(grads, stacked=stacked)
        return list(torch._foreach_div(grads, per_model(safe_divisor(norm), grads, stacked=stacked))), norm
    if ascent == "adaptive":
        scale = torch._foreach_abs(params)
        torch._foreach_add_(scale, adaptive_eta)
        weighted_grad = torch._foreach_mul(scale, grads)  # T g
        norm = global_norm(weighted_grad, stacked=stacked)
        torch._foreach_mul_(scale, weighted_grad)  # T^2 g
        torch._foreach_div_(scale, per_model(safe_divisor(norm), scale, stacked=stacked))
        return list(scale), norm
    raise UsageError(f"ascent must be one of {', '.join(map(repr, ASCENTS))}; got {ascent!r}")


def surrogate_norm(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    *,
    ascent: str = "normalized",
    adaptive_eta: float = 0.01,
    stacked: bool = False,
) -> Tensor:
    r"""Norm of the surrogate gradient that StableSAM compares with ``n``.

    ``||g~||``, or for the adaptive ascent ``||T_{w~} g~||`` with ``params`` still at the ascent point ``w~``.
    """
    if ascent == "adaptive":
        return weighted_global_norm(params, grads, adaptive_eta, stacked=stacked)
    return global_norm(grads, stacked=stacked)


def renormalization_factor(
    grad_norm: Tensor, surrogate_grad_norm: Tensor, gamma_cap: float | None = None
) -> Tensor:
    r"""StableSAM's factor ``gamma = ||g|| / ||g~||``, optionally clipped to ``min(gamma, gamma_cap)``.

    ``gamma = 1`` where ``||g~|| = 0`` (the renormalized step ``gamma g~`` is then zero). Tan et al. 2024
    (arXiv:2401.07250); the cap ``min(1, gamma)`` is the authors' optional "further stabilisation".
    """
    gamma = torch.where(
        surrogate_grad_norm == 0, torch.ones_like(grad_norm), grad_norm / safe_divisor(surrogate_grad_norm)
    )
    return capped_gamma(gamma, gamma_cap)


def capped_gamma(gamma: Tensor, gamma_cap: float | None) -> Tensor:
    """The factor StableSAM applies: ``min(gamma, gamma_cap)``, or ``gamma`` without a cap."""
    return gamma if gamma_cap is None else gamma.clamp(max=gamma_cap)
