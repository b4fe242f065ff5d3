r"""Functional core of the SAM family: the whole algorithm as two in-place functions on lists of tensors.

:func:`sam_ascent_` moves the parameters to the ascent point and :func:`sam_descent_` brings them back and
rescales the surrogate gradient, in the style of ``torch.optim``'s functional API (``torch.optim.sgd``): lists
of tensors in, in-place updates, a ``foreach`` argument that picks a per-tensor (``_single_tensor_*``) or a
grouped ``torch._foreach_*`` (``_multi_tensor_*``) implementation, chosen by device as ``torch.optim`` chooses
(foreach on CUDA and the other devices with foreach kernels, per tensor elsewhere). Neither path
synchronises with the host: norms and factors stay tensors on the parameters' device.
:class:`stablesam.stability.SAM` adds param groups, state dicts and the AMP/DDP glue.

Update rule (``docs/theory.md`` section 1; the ascent ``d`` and its norm ``n`` come from
:mod:`stablesam.stability.ascents`):

.. math::

    \tilde w = w + \rho\, d(w, g), \qquad
    \gamma = \frac{n(w, g)}{n(\tilde w, \tilde g)}, \qquad
    w \leftarrow \mathrm{base\_step}\bigl(w,\; c\,\gamma'\,\tilde g\bigr),

with ``g = grad F_B(w)``, ``g~ = grad F_B(w~)``, ``gamma' = min(gamma, gamma_cap)`` when ``stable`` (else 1),
and the clip factor ``c = min(1, max_grad_norm / ||gamma' g~||)`` (else 1). ``||.||`` is the Euclidean norm
over *all* tensors together. SAM: Foret et al. 2021 (arXiv:2010.01412); StableSAM: Tan et al. 2024
(arXiv:2401.07250).

Degenerate cases (never NaN): ``n = 0`` gives ``d = 0`` (no ascent); a zero surrogate norm gives
``gamma = 1`` (the step ``gamma g~ = 0`` is zero for every finite factor, and 1 keeps logged means
clean). Non-finite gradients (a diverged run) propagate as NaN/inf, so divergence stays visible.

Stacked mode (``stacked=True``): every tensor is a stack of independent models along dim 0 (as made by
``torch.func.stack_module_state``); norms, directions and factors are then per model, vectors of length
``n_models``.

Example (one SAM step on ``f(w) = ||w||^2 / 2`` by hand; ``g~ = w~`` there):

    >>> import torch
    >>> from stablesam.stability.ascents import ASCENTS
    >>> w, g = [torch.tensor([3.0, 4.0])], [torch.tensor([3.0, 4.0])]
    >>> origins = [torch.empty(2)]
    >>> sam_ascent_(w, g, origins, [0.5], ascent=ASCENTS["normalized"])  # returns ||g||
    tensor(5.)
    >>> w[0]                                      # w + 0.5 g / ||g||
    tensor([3.3000, 4.4000])
    >>> g_tilde = [w[0].clone()]
    >>> stats = sam_descent_(w, origins, w, g_tilde, torch.tensor(5.0), ascent=ASCENTS["normalized"], stable=True)
    >>> w[0], stats["gamma"], g_tilde[0]          # w restored, g~ rescaled by gamma = 5 / 5.5
    (tensor([3., 4.]), tensor(0.9091), tensor([3., 4.]))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from stablesam.core.validation import UsageError

if TYPE_CHECKING:
    from stablesam.stability.ascents import Ascent

__all__ = [
    "TensorLists",
    "capped_gamma",
    "default_foreach",
    "global_norm",
    "per_model",
    "renormalization_factor",
    "safe_divisor",
    "sam_ascent_",
    "sam_descent_",
    "weighted_global_norm",
]

_REDUCED_PRECISION = (torch.float16, torch.bfloat16)


def default_foreach(tensors: Sequence[Tensor]) -> bool:
    """``torch.optim``'s default: foreach kernels when every tensor is a plain tensor on a device that has them
    (CUDA and the like), one tensor at a time otherwise (CPU, where foreach ops loop over the tensors anyway)."""
    from torch.optim.optimizer import _default_to_fused_or_foreach

    return _default_to_fused_or_foreach(list(tensors), differentiable=False, use_fused=False)[1]


def _each(value: Tensor | float | list[Tensor], n: int) -> list:
    """``value`` as one entry per tensor (a shared scalar or 0-d tensor repeated)."""
    return value if isinstance(value, list) else [value] * n


class TensorLists:
    """Element-wise operations on lists of tensors, run per tensor or as ``torch._foreach_*`` kernels.

    Ascents (:mod:`stablesam.stability.ascents`) are written once against these operations and run on either
    path; both call the same kernels per tensor on CPU, so they agree bit for bit there. ``stacked``: each
    tensor stacks independent models along dim 0, and norms and factors are per model.
    """

    def __init__(self, *, foreach: bool, stacked: bool = False) -> None:
        self.foreach = foreach
        self.stacked = stacked

    def norms(self, tensors: Sequence[Tensor]) -> Tensor:
        """Per-tensor norms: shape ``(len(tensors),)``, or ``(len(tensors), n_models)`` when stacked."""
        if not tensors:
            raise UsageError("a global norm needs at least one tensor; got an empty list")
        # Half-precision norms are accumulated and returned in float32, so gamma keeps 7 digits.
        dtype = torch.float32 if tensors[0].dtype in _REDUCED_PRECISION else None
        if self.stacked:
            return torch.stack([torch.linalg.vector_norm(t.flatten(1), dim=1, dtype=dtype) for t in tensors])
        if self.foreach:
            return torch.stack(torch._foreach_norm(tensors, 2, dtype=dtype))
        return torch.stack([torch.linalg.vector_norm(t, 2, dtype=dtype) for t in tensors])

    def norm(self, tensors: Sequence[Tensor]) -> Tensor:
        """Euclidean norm over all tensors together (per model when stacked): the norm of the per-tensor norms,
        which avoids overflow of the squared sum."""
        return torch.linalg.vector_norm(self.norms(tensors), dim=0)

    def per_model(self, values: Tensor, like: Sequence[Tensor]) -> Tensor | list[Tensor]:
        """``values`` shaped to multiply ``like``: the 0-d tensor itself, or per-model views when stacked."""
        return per_model(values, like, stacked=self.stacked)

    def unary(self, name: str, xs: Sequence[Tensor]) -> list[Tensor]:
        """``torch.<name>`` of each tensor (``"abs"``, ``"sign"``, ``"sqrt"``: any op with a foreach twin)."""
        if self.foreach:
            return list(getattr(torch, f"_foreach_{name}")(xs))
        return [getattr(torch, name)(x) for x in xs]

    def abs(self, xs: Sequence[Tensor]) -> list[Tensor]:
        return self.unary("abs", xs)

    def add_(self, xs: Sequence[Tensor], other: float | list[Tensor], alpha: float = 1.0) -> None:
        if self.foreach:
            if isinstance(other, list):
                torch._foreach_add_(xs, other, alpha=alpha)
            else:
                torch._foreach_add_(xs, other)
            return
        for x, y in zip(xs, _each(other, len(xs))):
            if isinstance(other, list):
                x.add_(y, alpha=alpha)
            else:
                x.add_(y)

    def mul(self, xs: Sequence[Tensor], ys: Sequence[Tensor]) -> list[Tensor]:
        return list(torch._foreach_mul(xs, ys)) if self.foreach else [x * y for x, y in zip(xs, ys)]

    def mul_(self, xs: Sequence[Tensor], ys: Tensor | list[Tensor]) -> None:
        if self.foreach:
            torch._foreach_mul_(xs, ys)
            return
        for x, y in zip(xs, _each(ys, len(xs))):
            x.mul_(y)

    def div(self, xs: Sequence[Tensor], ys: Tensor | list[Tensor]) -> list[Tensor]:
        if self.foreach:
            return list(torch._foreach_div(xs, ys))
        return [x / y for x, y in zip(xs, _each(ys, len(xs)))]

    def div_(self, xs: Sequence[Tensor], ys: Tensor | list[Tensor]) -> None:
        if self.foreach:
            torch._foreach_div_(xs, ys)
            return
        for x, y in zip(xs, _each(ys, len(xs))):
            x.div_(y)

    def copy_(self, dst: Sequence[Tensor], src: Sequence[Tensor]) -> None:
        if self.foreach:
            torch._foreach_copy_(dst, src)
            return
        for d, s in zip(dst, src):
            d.copy_(s)


def global_norm(tensors: Sequence[Tensor], *, stacked: bool = False, foreach: bool | None = None) -> Tensor:
    r"""Euclidean norm over all tensors together, ``sqrt(sum_i ||x_i||^2)``.

    Returns a 0-d tensor, or a vector of per-model norms (over dims ``1:``) when ``stacked``.
    """
    foreach = default_foreach(tensors) if foreach is None else foreach
    return TensorLists(foreach=foreach, stacked=stacked).norm(tensors)


def weighted_global_norm(
    params: Sequence[Tensor], tensors: Sequence[Tensor], eta: float, *, stacked: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    r"""ASAM's weighted norm ``||T_w x||`` with ``T_w = diag(|w| + eta)`` over all parameters."""
    ops = TensorLists(foreach=default_foreach(params) if foreach is None else foreach, stacked=stacked)
    weighted = ops.abs(params)
    ops.add_(weighted, eta)
    ops.mul_(weighted, list(tensors))
    return ops.norm(weighted)


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


def renormalization_factor(
    grad_norm: Tensor, surrogate_grad_norm: Tensor, gamma_cap: float | None = None
) -> Tensor:
    r"""StableSAM's factor ``gamma = ||g|| / ||g~||``, optionally clipped to ``min(gamma, gamma_cap)``.

    ``gamma = 1`` where ``||g~|| = 0`` (the renormalized step ``gamma g~`` is then zero). Tan et al. 2024
    (arXiv:2401.07250); the cap ``min(1, gamma)`` is the authors' optional "further stabilisation".

    >>> three = torch.tensor(3.0)
    >>> renormalization_factor(three, torch.tensor(4.0)), renormalization_factor(three, torch.tensor(0.0))
    (tensor(0.7500), tensor(1.))
    """
    gamma = torch.where(
        surrogate_grad_norm == 0, torch.ones_like(grad_norm), grad_norm / safe_divisor(surrogate_grad_norm)
    )
    return capped_gamma(gamma, gamma_cap)


def capped_gamma(gamma: Tensor, gamma_cap: float | None) -> Tensor:
    """The factor StableSAM applies: ``min(gamma, gamma_cap)``, or ``gamma`` without a cap."""
    return gamma if gamma_cap is None else gamma.clamp(max=gamma_cap)


# --- the ascent: w -> w~ ------------------------------------------------------------------------------


def sam_ascent_(
    params: list[Tensor],
    grads: list[Tensor],
    origins: list[Tensor],
    rhos: Sequence[float],
    *,
    ascent: Ascent,
    adaptive_eta: float = 0.01,
    stacked: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    r"""Save ``w`` into ``origins`` and move ``params`` in place to ``w~ = w + rho_i d(w, g)``; return ``n(w, g)``.

    ``rhos``: one radius per tensor (a param group's ``rho``); a tensor with ``rho = 0`` is left untouched
    (``w + 0`` could flip the sign of ``-0.0``). ``d`` and ``n`` are global over all the tensors. ``ascent``: a
    value of :data:`stablesam.stability.ascents.ASCENTS`. ``foreach=None`` picks the path by device.
    """
    if foreach is None:
        foreach = default_foreach(params)
    impl = _multi_tensor_sam_ascent if foreach else _single_tensor_sam_ascent
    return impl(params, grads, origins, rhos, ascent=ascent, adaptive_eta=adaptive_eta, stacked=stacked)


def _single_tensor_sam_ascent(params, grads, origins, rhos, *, ascent, adaptive_eta, stacked) -> Tensor:
    ops = TensorLists(foreach=False, stacked=stacked)
    for origin, p in zip(origins, params):
        origin.copy_(p)
    norm, numerators, divisor = ascent.direction(ops, params, grads, adaptive_eta)
    divisors = _each(ops.per_model(divisor, numerators), len(params)) if divisor is not None else None
    for i, (p, u, rho) in enumerate(zip(params, numerators, rhos)):
        if rho == 0:
            continue
        if divisors is None:
            p.add_(u, alpha=rho)
        else:  # one fused kernel per tensor: w + (rho u) / c
            p.addcdiv_(u, divisors[i], value=rho)
    return norm


def _multi_tensor_sam_ascent(params, grads, origins, rhos, *, ascent, adaptive_eta, stacked) -> Tensor:
    ops = TensorLists(foreach=True, stacked=stacked)
    torch._foreach_copy_(origins, params)
    norm, numerators, divisor = ascent.direction(ops, params, grads, adaptive_eta)
    if divisor is not None:  # two grouped kernels, w + rho (u / c): a broadcast addcdiv would go tensor by tensor
        numerators = list(torch._foreach_div(numerators, ops.per_model(divisor, numerators)))
    for rho, start, stop in _runs(rhos):
        if rho != 0:
            torch._foreach_add_(params[start:stop], numerators[start:stop], alpha=rho)
    return norm


def _runs(values: Sequence[float]) -> list[tuple[float, int, int]]:
    """Maximal runs of equal consecutive values, as ``(value, start, stop)`` (the param groups' radii)."""
    runs: list[tuple[float, int, int]] = []
    for i, value in enumerate(values):
        if runs and runs[-1][0] == value:
            runs[-1] = (value, runs[-1][1], i + 1)
        else:
            runs.append((value, i, i + 1))
    return runs


# --- the descent: back to w, g~ -> c gamma' g~ ----------------------------------------------------------


def sam_descent_(
    params: list[Tensor],
    origins: list[Tensor],
    surrogate_params: list[Tensor],
    surrogate_grads: list[Tensor],
    grad_norm: Tensor,
    *,
    ascent: Ascent,
    adaptive_eta: float = 0.01,
    stable: bool = False,
    gamma_cap: float | None = None,
    max_grad_norm: float | None = None,
    track_stats: bool = True,
    stacked: bool = False,
    foreach: bool | None = None,
    found_inf: Tensor | None = None,
    mean_over_replicas: Callable[[Tensor], Tensor] | None = None,
    restored_grad_norm: Callable[[], Tensor] | None = None,
) -> dict[str, Tensor]:
    r"""Restore ``params`` from ``origins`` and rescale ``surrogate_grads`` in place to ``c gamma' g~``.

    ``params``/``origins``: what :func:`sam_ascent_` moved and saved; ``surrogate_params``/``surrogate_grads``:
    the parameters with a gradient at ``w~`` and those gradients ``g~`` (the base optimizer steps with them
    afterwards). ``grad_norm``: ``n(w, g)`` from the ascent. Returns the step's statistics (module docstring of
    :mod:`stablesam.stability.sam`): ``grad_norm``, and unless nothing needs it (``stable``, ``track_stats`` and
    ``max_grad_norm`` all off) ``surrogate_grad_norm`` and ``gamma``; ``clip_factor`` with ``max_grad_norm``;
    ``applied_gamma`` last.

    Glue for the wrapper: ``found_inf`` (> 0: a GradScaler pass overflowed, ``gamma`` is logged as 1);
    ``mean_over_replicas`` averages a norm that depends on ``w~`` over DDP replicas; ``restored_grad_norm``,
    called once ``w`` is back, replaces ``grad_norm`` (the replicas' mean-gradient norm).
    """
    if foreach is None:
        foreach = default_foreach(params)
    impl = _multi_tensor_sam_descent if foreach else _single_tensor_sam_descent
    ops = TensorLists(foreach=foreach, stacked=stacked)
    need_norm = stable or track_stats or max_grad_norm is not None
    surrogate_norm = None
    if need_norm:
        if surrogate_grads:  # a weighted norm (ASAM's T_w~) needs the parameters still at w~
            surrogate_norm = ascent.surrogate_norm(ops, surrogate_params, surrogate_grads, adaptive_eta)
            if mean_over_replicas is not None and ascent.weighted:  # T_w~ differs between replicas
                surrogate_norm = mean_over_replicas(surrogate_norm)
        else:
            surrogate_norm = torch.zeros_like(grad_norm)
    return impl(
        params, origins, surrogate_grads, grad_norm, surrogate_norm, ops=ops, ascent=ascent, stable=stable,
        gamma_cap=gamma_cap, max_grad_norm=max_grad_norm, found_inf=found_inf, restored_grad_norm=restored_grad_norm,
    )


def _single_tensor_sam_descent(params, origins, surrogate_grads, grad_norm, surrogate_norm, **options):
    for p, origin in zip(params, origins):
        p.copy_(origin)
    stats, factor = _descent_factor(grad_norm, surrogate_norm, surrogate_grads, **options)
    if factor is not None:
        for g, f in zip(surrogate_grads, _each(per_model(factor, surrogate_grads, stacked=options["ops"].stacked),
                                               len(surrogate_grads))):
            g.mul_(f)
    return stats


def _multi_tensor_sam_descent(params, origins, surrogate_grads, grad_norm, surrogate_norm, **options):
    torch._foreach_copy_(params, origins)
    stats, factor = _descent_factor(grad_norm, surrogate_norm, surrogate_grads, **options)
    if factor is not None:
        torch._foreach_mul_(surrogate_grads, per_model(factor, surrogate_grads, stacked=options["ops"].stacked))
    return stats


def _descent_factor(
    grad_norm: Tensor, surrogate_norm: Tensor | None, surrogate_grads: list[Tensor], *, ops: TensorLists,
    ascent: Any, stable: bool, gamma_cap: float | None, max_grad_norm: float | None, found_inf: Tensor | None,
    restored_grad_norm: Callable[[], Tensor] | None,
) -> tuple[dict[str, Tensor], Tensor | None]:
    """The statistics and the factor ``c gamma'`` to apply to ``g~`` (None: leave it), once ``w`` is restored."""
    if restored_grad_norm is not None:
        grad_norm = restored_grad_norm()
    stats = {"grad_norm": grad_norm}
    if surrogate_norm is None:
        stats["applied_gamma"] = torch.ones_like(grad_norm)
        return stats, None
    gamma = renormalization_factor(grad_norm, surrogate_norm)
    if found_inf is not None:  # a skipped step logs gamma = 1, not a ratio of overflowed norms
        gamma = torch.where(found_inf > 0, torch.ones_like(gamma), gamma)
    stats.update(surrogate_grad_norm=surrogate_norm, gamma=gamma)
    applied = capped_gamma(gamma, gamma_cap) if stable else torch.ones_like(gamma)
    factor = applied if stable else None
    if max_grad_norm is not None and surrogate_grads:
        plain_norm = ops.norm(surrogate_grads) if ascent.weighted else surrogate_norm
        clip = (max_grad_norm / safe_divisor(applied * plain_norm)).clamp(max=1.0)
        factor = clip if factor is None else factor * clip
        stats["clip_factor"] = clip
    stats["applied_gamma"] = applied
    return stats, factor if surrogate_grads else None
