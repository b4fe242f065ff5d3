r"""The ascents of the SAM family as values: each is its direction, its norm and its surrogate norm.

As optax passes SAM's adversarial step as a transformation, the optimizer here receives an ascent as a value
(:class:`Ascent`); the ``ascent`` field of a method row (:data:`stablesam.core.methods.METHODS`) only names an
entry of :data:`ASCENTS`. The ascent point is ``w~ = w + rho d(w, g)``; ``n(w, g)`` is the norm StableSAM
keeps, ``gamma = n(w, g) / n(w~, g~)`` (``docs/theory.md`` section 1):

================  ==========================  ==================  ===========================================
name              direction ``d``             norm ``n``          source
================  ==========================  ==================  ===========================================
``normalized``    ``g / ||g||``               ``||g||``           SAM, Foret et al. 2021 (arXiv:2010.01412)
``unnormalized``  ``g``                       ``||g||``           USAM, Andriushchenko & Flammarion 2022
                                                                  (arXiv:2206.06232)
``adaptive``      ``T_w^2 g / ||T_w g||``     ``||T_w g||``       ASAM, Kwon et al. 2021 (arXiv:2102.11600)
================  ==========================  ==================  ===========================================

with ``T_w = diag(|w| + eta_a)``. ``d = 0`` where ``n = 0``.

Each function receives a :class:`stablesam.stability.functional.TensorLists` (``ops``): written once against
it, an ascent runs on the per-tensor and on the foreach path alike. Adding an ascent is one entry here (and a
row naming it in :mod:`stablesam.core.methods`); ``CONTRIBUTING.md`` has the steps.

Example (the direction at ``g = (3, 4)``; the unnormalized ascent returns ``g`` itself):

    >>> import torch
    >>> w, g = [torch.tensor([3.0, 0.0])], [torch.tensor([3.0, 4.0])]
    >>> d, n = ascent_direction(w, g, ascent="normalized")
    >>> n, d[0]
    (tensor(5.), tensor([0.6000, 0.8000]))
    >>> ascent_direction(w, g, ascent="unnormalized")[0][0] is g[0]
    True
    >>> sorted(ASCENTS)
    ['adaptive', 'normalized', 'unnormalized']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

from stablesam.core.validation import UsageError
from stablesam.stability.functional import TensorLists, default_foreach, safe_divisor

__all__ = ["ASCENTS", "Ascent", "ascent_direction", "get_ascent", "surrogate_norm"]

Norm = Callable[[TensorLists, Sequence[Tensor], Sequence[Tensor], float], Tensor]
Direction = Callable[
    [TensorLists, Sequence[Tensor], Sequence[Tensor], float], tuple[Tensor, list[Tensor], Tensor | None]
]


@dataclass(frozen=True)
class Ascent:
    """One ascent: ``w~ = w + rho d(w, g)`` and the norm ``n`` that StableSAM's ``gamma`` compares.

    Every function takes ``(ops, params, grads, eta)``: a :class:`~stablesam.stability.functional.TensorLists`,
    the parameters, the gradients, and the ascent's constant (ASAM's ``eta_a``; ignored by the others).

    * ``direction`` returns ``(n(w, g), u, c)`` with ``d = u / c``: ``c`` is the norm-like divisor (made safe
      with :func:`~stablesam.stability.functional.safe_divisor`) or ``None`` when ``d = u``. Returning ``c``
      lets the per-tensor path fuse the division into the move (``addcdiv``); ``u`` may be ``grads`` itself.
    * ``norm``: ``n(w, g)``; ``surrogate_norm``: ``n(w~, g~)``, with the parameters at ``w~``.
    * ``weighted``: ``n`` depends on ``w`` (not on ``g`` alone): the surrogate norm then differs between DDP
      replicas (they are averaged), and clipping takes the plain Euclidean norm of ``g~`` separately.
    """

    name: str
    direction: Direction
    norm: Norm
    surrogate_norm: Norm
    weighted: bool = False


def _euclidean_norm(ops: TensorLists, params: Sequence[Tensor], grads: Sequence[Tensor], eta: float) -> Tensor:
    return ops.norm(grads)


def _normalized(ops, params, grads, eta):
    norm = ops.norm(grads)
    return norm, list(grads), safe_divisor(norm)


def _unnormalized(ops, params, grads, eta):
    return ops.norm(grads), list(grads), None


def _scaled(ops, params, grads, eta):
    """``(T_w, T_w g)`` with ``T_w = |w| + eta``."""
    scale = ops.abs(params)
    ops.add_(scale, eta)
    return scale, ops.mul(scale, list(grads))


def _weighted_norm(ops, params, grads, eta):
    return ops.norm(_scaled(ops, params, grads, eta)[1])


def _adaptive(ops, params, grads, eta):
    scale, weighted_grad = _scaled(ops, params, grads, eta)
    norm = ops.norm(weighted_grad)
    ops.mul_(scale, weighted_grad)  # T (T g)
    # Divided here, not by the move: keeps ASAM's rounding (and its trajectories) as before the registry.
    ops.div_(scale, ops.per_model(safe_divisor(norm), scale))
    return norm, scale, None


ASCENTS: dict[str, Ascent] = {
    a.name: a
    for a in (
        Ascent("normalized", _normalized, _euclidean_norm, _euclidean_norm),
        Ascent("unnormalized", _unnormalized, _euclidean_norm, _euclidean_norm),
        Ascent("adaptive", _adaptive, _weighted_norm, _weighted_norm, weighted=True),
    )
}


def get_ascent(ascent: str | Ascent) -> Ascent:
    """The :class:`Ascent` named ``ascent`` (an :class:`Ascent` is returned as is); one line naming them otherwise."""
    if isinstance(ascent, Ascent):
        return ascent
    if not isinstance(ascent, str) or ascent not in ASCENTS:
        raise UsageError(f"ascent must be one of {', '.join(map(repr, ASCENTS))} or an Ascent; got {ascent!r}")
    return ASCENTS[ascent]


def ascent_direction(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    *,
    ascent: str | Ascent = "normalized",
    adaptive_eta: float = 0.01,
    stacked: bool = False,
    foreach: bool | None = None,
) -> tuple[list[Tensor], Tensor]:
    r"""The direction ``d`` and the norm ``n`` of ``ascent`` at ``(w, g)``: ``w~ = w + rho d``.

    New tensors, except where ``d`` is ``grads`` itself (the unnormalized ascent); ``n`` is a tensor on the
    parameters' device (per model when ``stacked``).
    """
    ops = TensorLists(foreach=default_foreach(params) if foreach is None else foreach, stacked=stacked)
    norm, numerators, divisor = get_ascent(ascent).direction(ops, params, grads, adaptive_eta)
    return (numerators if divisor is None else ops.div(numerators, ops.per_model(divisor, numerators))), norm


def surrogate_norm(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    *,
    ascent: str | Ascent = "normalized",
    adaptive_eta: float = 0.01,
    stacked: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    r"""``n(w~, g~)``, the norm of the surrogate gradient that StableSAM compares with ``n(w, g)``.

    ``||g~||``, or for the adaptive ascent ``||T_{w~} g~||`` with ``params`` still at the ascent point ``w~``.
    """
    ops = TensorLists(foreach=default_foreach(params) if foreach is None else foreach, stacked=stacked)
    return get_ascent(ascent).surrogate_norm(ops, params, grads, adaptive_eta)
