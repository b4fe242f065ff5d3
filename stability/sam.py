r"""SAM, USAM, ASAM and their StableSAM renormalization, wrapped around any ``torch.optim`` optimizer.

Update rule (one step on the mini-batch ``B``, ``docs/theory.md`` section 1):

.. math::

    g = \nabla F_B(w), \quad \tilde w = w + \rho\, d(w, g), \quad \tilde g = \nabla F_B(\tilde w), \quad
    \gamma = \frac{n(w, g)}{n(\tilde w, \tilde g)}, \quad
    w \leftarrow \mathrm{base\_step}(w,\ \gamma \tilde g),

with the ascent's direction ``d`` and norm ``n`` (:mod:`stablesam.stability.ascents`: ``g/||g||`` and
``||g||`` for SAM, ``g`` and ``||g||`` for USAM, ``T^2 g/||T g||`` and ``||T g||`` for ASAM,
``T = diag(|w| + eta_a)``). Without ``stable`` the base optimizer steps with ``g~``. ``gamma`` is one global
factor and multiplies the loss gradient only, before momentum and weight decay (as the authors' code does).
With plain SGD the StableSAM step ``eta gamma g~`` has exactly the length ``eta ||g||`` of an SGD step. The
algorithm itself is :func:`stablesam.stability.functional.sam_ascent_` /
:func:`~stablesam.stability.functional.sam_descent_`; this module adds param groups, state dicts and the
AMP/DDP/clipping glue.

Sources: SAM, Foret et al. 2021 (arXiv:2010.01412); USAM, Andriushchenko and Flammarion 2022
(arXiv:2206.06232); ASAM, Kwon et al. 2021 (arXiv:2102.11600); StableSAM, Tan et al. 2024 (arXiv:2401.07250).

Example (both ways to step, the two ways to build it, and a scheduler):

    >>> import torch
    >>> from stablesam.stability import SAM, StableSAM
    >>> model = torch.nn.Linear(3, 1)
    >>> x, y = torch.ones(8, 3), torch.zeros(8, 1)
    >>> opt = StableSAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), rho=0.05, ascent="unnormalized")
    >>> same = StableSAM(model.parameters(), torch.optim.SGD, lr=0.1, momentum=0.9, rho=0.05, ascent="unnormalized")
    >>> scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=10)  # reads opt.defaults
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = torch.nn.functional.mse_loss(model(x), y)
    ...     loss.backward()
    ...     return loss
    >>> loss = opt.step(closure)                 # evaluates the closure at w and at w~
    >>> scheduler.step()
    >>> sorted(opt.last_stats)
    ['applied_gamma', 'gamma', 'grad_norm', 'surrogate_grad_norm']
    >>> loss = closure(); grad_norm = opt.first_step(zero_grad=True)  # the two-call form
    >>> loss = closure(); applied_gamma = opt.second_step(zero_grad=True)
    >>> sorted(opt.state_dict())                 # torch.optim's layout
    ['param_groups', 'state']

Non-finite values: a NaN or infinite gradient, or a NaN learning rate, is not detected by default (that would
cost a host synchronisation per step): it propagates into the parameters and into ``last_stats`` (``grad_norm``,
``gamma`` become NaN/inf, never masked), where a training loop sees it at its logging interval. With
``check_finite=True`` the step checks ``n(w, g)``, ``n(w~, g~)`` and every group's ``lr`` before the base
step (one host sync) and raises :class:`FloatingPointError` with the parameters back at ``w``, untouched.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

import torch
from torch import Tensor

from stablesam.core.constraints import Boolean, Interval, NoneValue, Options, Satisfies, validate_parameters
from stablesam.core.methods import DEFAULT_RHO
from stablesam.core.validation import UsageError
from stablesam.stability.ascents import ASCENTS, Ascent, get_ascent
from stablesam.stability.functional import TensorLists, default_foreach, sam_ascent_, sam_descent_

__all__ = ["SAM", "StableSAM"]

# Options that change the trajectory: recorded in every saved param group and checked on load. Per-group
# ``rho`` travels with the base optimizer's param_groups (like ``lr``).
_CONFIG_KEYS = ("ascent", "stable", "gamma_cap", "adaptive_eta", "stacked", "max_grad_norm")
_SUPPORTED_FORMS = "SAM(torch.optim.SGD(params, lr=0.1), rho=0.05) or SAM(params, torch.optim.SGD, lr=0.1, rho=0.05)"


class _Pending(NamedTuple):
    """What first_step leaves for second_step."""

    params: list[Tensor]
    origins: list[Tensor]
    grad_norm: Tensor
    found_inf: Tensor | None  # > 0: the pass at w had a non-finite gradient (GradScaler only)
    grad_mean: tuple[Any, Tensor] | None  # in-flight average of g over the replicas (distributed only)


class SAM(torch.optim.Optimizer):
    r"""Sharpness-aware minimization around a base optimizer, with optional StableSAM renormalization.

    The step (module docstring has the full rule): ascend to ``w~ = w + rho d``, take the gradient
    ``g~`` there, restore ``w`` and let the base optimizer step with ``g~``, or with ``gamma g~``,
    ``gamma = ||g|| / ||g~||``, when ``stable`` (``||T_w g|| / ||T_w~ g~||`` for ASAM).

    Two ways to build it: ``SAM(base_optimizer_instance, rho=...)`` wraps an optimizer, or
    ``SAM(params, OptimizerClass, rho=..., **base_kwargs)`` (the davda54 / pytorch_optimizer form) builds
    ``OptimizerClass(params, **base_kwargs)`` first.

    Args:
        params: an optimizer *instance* (any ``torch.optim.Optimizer``), whose ``param_groups`` the wrapper
            shares (a learning-rate scheduler attached to either drives both); or the parameters (tensors or
            param groups) for ``base_optimizer``.
        base_optimizer: with parameters as ``params``, the optimizer class; ``base_kwargs`` go to it.
        rho: default ascent radius ``>= 0``; a param group may set its own ``"rho"``. With
            ``rho = 0`` the step is the base optimizer's, bit for bit.
        ascent: the name of an entry of :data:`stablesam.stability.ascents.ASCENTS` (``"normalized"``: SAM,
            ``"unnormalized"``: USAM, ``"adaptive"``: ASAM), or an :class:`~stablesam.stability.ascents.Ascent`.
        stable: apply the StableSAM factor ``gamma`` before the base step.
        gamma_cap: if given (``> 0``), the applied factor is ``min(gamma, gamma_cap)``; ``1.0`` is the
            authors' optional cap. Off by default.
        adaptive_eta: ASAM's ``eta_a >= 0`` in ``T = diag(|w| + eta_a)``.
        stacked: every parameter is a stack of independent models along dim 0 (``torch.func``
            ``stack_module_state`` + ``vmap``): norms, ascent and ``gamma`` are per model.
        max_grad_norm: if given (``> 0``), clip the *descent* gradient: the base optimizer steps with
            ``c gamma g~``, ``c = min(1, max_grad_norm / ||gamma g~||)`` (plain Euclidean norm, after the
            renormalization and the cap). The ascent uses the raw ``g``. Off by default.
        distributed: data-parallel training (``DistributedDataParallel``, default process group). Run the
            backward at ``w`` under ``model.no_sync()``: each replica ascends along its own gradient
            ``g_r`` (m-sharpness), DDP averages ``g~`` in the backward at ``w~``, and ``gamma`` uses
            ``||mean_r g_r||`` (a flat copy of ``g`` is averaged asynchronously during the pass at ``w~``),
            so the step has the length of an SGD step on the global batch and every replica computes the
            same ``gamma``. ASAM averages ``||T_w~ g~||`` over the replicas (their ``w~`` differ).
        track_stats: compute ``||g~||`` and ``gamma`` for logging even when they are not applied (SAM,
            USAM, ASAM without ``stable``). ``False`` saves one norm of ``g~`` per step (measured in
            ``benchmarks/optimizer_step.py``); ``last_stats`` then holds ``grad_norm`` and
            ``applied_gamma`` only (plus ``clip_factor``/``found_inf`` when enabled). StableSAM and
            clipping need the norm anyway, so there it changes nothing. Default ``True``.
        foreach: the wrapper's own kernels: ``torch._foreach_*`` (``True``) or one tensor at a time
            (``False``); ``None`` chooses as ``torch.optim`` does (foreach on CUDA, per tensor on CPU). The base
            optimizer keeps its own ``foreach``.
        check_finite: raise :class:`FloatingPointError` before the base step when a gradient norm or a group's
            ``lr`` is not finite (one host sync per step); off by default (module docstring).

    After each step, ``last_stats`` holds tensors on the parameters' device (shape ``()``, or
    ``(n_models,)`` when stacked), never synchronised with the host:

    * ``grad_norm``: ``||g||`` (ASAM: ``||T_w g||``);
    * ``surrogate_grad_norm``: ``||g~||`` (ASAM: ``||T_w~ g~||``);
    * ``gamma``: ``grad_norm / surrogate_grad_norm`` (1 where the surrogate norm is 0), computed for
      SAM too so that its runs can log the ratio (not with ``track_stats=False``);
    * ``applied_gamma``: the factor applied to ``g~``: ``min(gamma, gamma_cap)`` when ``stable``, else 1;
    * ``clip_factor`` (with ``max_grad_norm`` only): ``c`` above;
    * ``found_inf`` (with a ``grad_scaler`` only): 1 when a pass had a non-finite gradient and the step
      was skipped (``gamma`` is then logged as 1), else 0.

    With ``distributed=True``, ``grad_norm`` is ``n(w, mean_r g_r)`` (``first_step`` returns the local one).

    Each step makes a fresh dict of fresh tensors, so keeping references across steps is safe.

    Step with ``step(closure)`` (the closure zeroes the gradients, runs forward and backward, returns
    the loss; ``step`` returns the loss at ``w``), or with ``first_step()`` / ``second_step()`` around
    your own backward passes. The point ``w`` is restored by copying from buffers allocated once (never
    by subtracting the perturbation), also when the closure raises at ``w~`` (the exception propagates and
    no step is pending); in the two-call form, :meth:`cancel_step` does the same. Gradients hold
    ``gamma g~`` after a stable step.

    ``defaults`` is the base optimizer's merged with ``rho``, so every ``torch.optim.lr_scheduler`` works
    on the wrapper (``OneCycleLR`` and ``CyclicLR`` with ``cycle_momentum`` find ``momentum``/``betas``).
    ``state_dict()`` has torch.optim's layout (``state``, ``param_groups``): the base optimizer's, with each
    saved group also recording the wrapper's options.

    Integrations (README, "Optimizers"): gradient accumulation (accumulate every micro-batch into
    ``.grad`` before each of the two calls), mixed precision (bf16 autocast unchanged; fp16 with
    ``grad_scaler=``), BatchNorm (:func:`stablesam.stability.freeze_running_stats` around the pass at ``w~``),
    clipping (``max_grad_norm``) and weight decay (the base optimizer's), DDP (``distributed``),
    ``torch.compile`` on the model.
    """

    # Declarative constraints (stablesam.core.constraints), checked by _validate for __init__ and param groups.
    _parameter_constraints: dict[str, list] = {
        # A tensor radius is refused: rho enters Python-side decisions, and a tensor would force a host sync.
        "rho": [Interval(float, 0, None, closed="left")],
        "ascent": [Options(ASCENTS), Satisfies(lambda a: isinstance(a, Ascent), "an Ascent", "not-an-ascent")],
        "stable": [Boolean()],
        "gamma_cap": [Interval(float, 0, None, closed="neither"), NoneValue()],
        "adaptive_eta": [Interval(float, 0, None, closed="left")],
        "stacked": [Boolean()],
        "max_grad_norm": [Interval(float, 0, None, closed="neither"), NoneValue()],
        "distributed": [Boolean()],
        "track_stats": [Boolean()],
        "foreach": [Boolean(), NoneValue()],
        "check_finite": [Boolean()],
    }

    def __init__(
        self,
        params: torch.optim.Optimizer | Iterable[Tensor] | Iterable[dict[str, Any]],
        base_optimizer: type[torch.optim.Optimizer] | None = None,
        /,
        *,
        rho: float = DEFAULT_RHO,
        ascent: str | Ascent = "normalized",
        stable: bool = False,
        gamma_cap: float | None = None,
        adaptive_eta: float = 0.01,
        stacked: bool = False,
        max_grad_norm: float | None = None,
        distributed: bool = False,
        track_stats: bool = True,
        foreach: bool | None = None,
        check_finite: bool = False,
        **base_kwargs: Any,
    ) -> None:
        options = dict(rho=rho, ascent=ascent, stable=stable, gamma_cap=gamma_cap, adaptive_eta=adaptive_eta,
                       stacked=stacked, max_grad_norm=max_grad_norm, distributed=distributed,
                       track_stats=track_stats, foreach=foreach, check_finite=check_finite)
        validate_parameters(self._parameter_constraints, options, owner=type(self).__name__)
        base = self._base_from(params, base_optimizer, base_kwargs)
        if distributed and stacked:
            raise UsageError(
                "distributed=True and stacked=True cannot be combined: stacked models train in one process"
            )
        self.base_optimizer = base
        self.ascent = ascent.name if isinstance(ascent, Ascent) else ascent
        self._ascent = get_ascent(ascent)
        self.stable, self.gamma_cap, self.adaptive_eta = stable, gamma_cap, adaptive_eta
        self.stacked, self.max_grad_norm, self.distributed = stacked, max_grad_norm, distributed
        self.track_stats, self.foreach, self.check_finite = track_stats, foreach, check_finite
        self.n_models: int | None = None
        self.last_stats: dict[str, Tensor] = {}
        self._pending: _Pending | None = None
        self._origin_cache: tuple[tuple[int, ...], list[Tensor], list[Tensor], bool] | None = None
        # Optimizer.__init__ resets param_groups (that is, the base's list, see the property) and re-adds each
        # group through add_param_group, which sets and checks "rho". defaults: the base's, and rho.
        super().__init__(list(base.param_groups), {**base.defaults, "rho": rho})

    @classmethod
    def _base_from(cls, params: Any, base_class: Any, base_kwargs: dict[str, Any]) -> torch.optim.Optimizer:
        """The base optimizer instance of either constructor form; one line showing both forms otherwise."""
        if isinstance(params, SAM) or (isinstance(base_class, type) and issubclass(base_class, SAM)):
            raise UsageError("the base optimizer must be a plain optimizer, not another SAM wrapper")
        if isinstance(params, torch.optim.Optimizer):
            if base_class is not None or base_kwargs:
                extra = "an optimizer class" if base_class is not None else ", ".join(sorted(base_kwargs))
                raise UsageError(f"{cls.__name__} got an optimizer instance and {extra}: pass one of "
                                 f"{_SUPPORTED_FORMS}")
            return params
        if not (isinstance(base_class, type) and issubclass(base_class, torch.optim.Optimizer)):
            got = type(params).__name__ if base_class is None else repr(base_class)
            raise UsageError(f"{cls.__name__} needs a torch.optim.Optimizer instance, or parameters and an optimizer "
                             f"class: {_SUPPORTED_FORMS}; got {got}")
        return base_class(params, **base_kwargs)

    # The groups *are* the base optimizer's: the base replaces its list on load_state_dict, so the
    # wrapper looks it up every time instead of keeping a reference.
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.base_optimizer.param_groups

    @param_groups.setter
    def param_groups(self, groups: list[dict[str, Any]]) -> None:
        self.base_optimizer.param_groups = groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group to the base optimizer (with its defaults) and give it a ``"rho"``."""
        self.base_optimizer.add_param_group(param_group)
        self._check_group(len(self.param_groups) - 1)

    def _check_group(self, index: int) -> None:
        group = self.param_groups[index]
        group.setdefault("rho", self.defaults["rho"])
        validate_parameters({"rho": self._parameter_constraints["rho"]}, group,
                            owner=f"{type(self).__name__} param_groups[{index}]")
        if not self.stacked:
            return
        for p in group["params"]:
            if p.ndim == 0:
                raise UsageError("stacked=True needs parameters stacked along dim 0; got a 0-d parameter")
            if self.n_models is None:
                self.n_models = p.shape[0]
            elif p.shape[0] != self.n_models:
                raise UsageError(
                    f"stacked=True needs every parameter to stack the same number of models along dim 0; "
                    f"got {p.shape[0]} and {self.n_models}"
                )

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={getattr(self, key)!r}" for key in _CONFIG_KEYS)
        rhos = [group["rho"] for group in self.param_groups]
        rho = rhos if len(set(rhos)) > 1 else rhos[0]
        return f"{type(self).__name__}(rho={rho!r}, {options}, base={self.base_optimizer!r})"

    def _origins(self, params: list[Tensor]) -> tuple[list[Tensor], bool]:
        """The restore buffers of ``params``, allocated once, and the foreach choice; cached while the parameters
        with a gradient stay the same (the cache holds them, so their ids cannot be reused)."""
        key = tuple(map(id, params))
        if self._origin_cache is None or self._origin_cache[0] != key:
            origins = []
            for p in params:
                state = self.state[p]
                if "w" not in state:
                    state["w"] = torch.empty_like(p, memory_format=torch.preserve_format)
                origins.append(state["w"])
            foreach = default_foreach(params) if self.foreach is None else self.foreach
            self._origin_cache = (key, origins, params, foreach)
        return self._origin_cache[1], self._origin_cache[3]

    def _unscale(self, scaler: torch.amp.GradScaler) -> Tensor:
        """Unscale the gradients in place with ``scaler``; return its non-finite flag (> 0: found), no host sync."""
        scaler.unscale_(self.base_optimizer)
        # GradScaler's found-inf flags, one per device, are the scaler's private state: SAM needs two
        # unscales (one per pass) before the single scaler.step, which its public API forbids.
        flags = list(scaler._found_inf_per_device(self.base_optimizer).values())
        device = flags[0].device
        return torch.stack([f.to(device) for f in flags]).sum()

    def _mean_over_replicas(self, value: Tensor) -> Tensor:
        import torch.distributed as dist

        value = value.clone()
        dist.all_reduce(value)
        return value.div_(dist.get_world_size())

    def _start_grad_mean(self, grads: list[Tensor]) -> tuple[Any, Tensor]:
        """Start averaging a flat copy of ``g`` over the replicas; it overlaps the pass at ``w~``."""
        import torch.distributed as dist

        flat = torch.cat([g.reshape(-1) for g in grads])
        flat.div_(dist.get_world_size())  # divide first, as DDP does: exact for a power-of-two world size
        return dist.all_reduce(flat, async_op=True), flat

    def _finish_grad_mean(self, params: list[Tensor], reduction: tuple[Any, Tensor], foreach: bool) -> Tensor:
        """``n(w, mean_r g_r)``: the norm of the replicas' mean gradient, identical on every replica."""
        handle, flat = reduction
        handle.wait()
        views = [v.view_as(p) for v, p in zip(flat.split([p.numel() for p in params]), params)]
        return self._ascent.norm(TensorLists(foreach=foreach, stacked=self.stacked), params, views, self.adaptive_eta)

    def _with_grads(self) -> tuple[list[Tensor], list[Tensor], list[float]]:
        """The parameters with a gradient, the gradients and each one's ``rho`` (torch.optim's ``_init_group``)."""
        params, grads, rhos = [], [], []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    params.append(p)
                    grads.append(p.grad)
                    rhos.append(group["rho"])
        return params, grads, rhos

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False, grad_scaler: torch.amp.GradScaler | None = None) -> Tensor:
        r"""Save ``w`` and move to the ascent point ``w~ = w + rho d``; return ``n(w, g)``.

        Uses the gradients now stored in ``.grad`` (``g`` at ``w``: with gradient accumulation, all the
        micro-batches' backward passes come first). Parameters without a gradient are not moved.
        ``zero_grad`` clears the gradients afterwards, ready for the backward pass at ``w~``.

        ``grad_scaler``: the enabled ``torch.amp.GradScaler`` that scaled this backward pass; ``g`` is
        unscaled in place and checked for non-finite values (the flag stays on the device). Pass the same
        scaler to :meth:`second_step`. With ``distributed=True``, ``g`` is this replica's local gradient
        (run its backward under ``model.no_sync()``), the ascent and the returned norm are local, and the
        average of ``g`` over the replicas (for ``gamma``) starts here and overlaps the pass at ``w~``.
        """
        if self._pending is not None:
            raise RuntimeError("first_step() called twice: call second_step() to restore w before the next ascent")
        params, grads, rhos = self._with_grads()
        if not params:
            raise RuntimeError("first_step() found no gradient: run backward at w before the ascent")
        found_inf = None
        if grad_scaler is not None and grad_scaler.is_enabled():
            found_inf = self._unscale(grad_scaler)
            # Let the scaler unscale the second pass too; the first flag is added to the second's there.
            grad_scaler._per_optimizer_states.pop(id(self.base_optimizer), None)
            if self.distributed:  # one replica's overflow must skip the step on all of them
                found_inf = self._mean_over_replicas(found_inf)
        origins, foreach = self._origins(params)
        grad_mean = self._start_grad_mean(grads) if self.distributed else None
        grad_norm = sam_ascent_(params, grads, origins, rhos, ascent=self._ascent, adaptive_eta=self.adaptive_eta,
                                stacked=self.stacked, foreach=foreach)
        self._pending = _Pending(params, origins, grad_norm, found_inf, grad_mean)
        if zero_grad:
            self.zero_grad()
        return grad_norm

    @torch.no_grad()
    def cancel_step(self) -> None:
        """Restore ``w`` after :meth:`first_step` and forget the pending step (a failed pass at ``w~``)."""
        if self._pending is not None:
            params, origins = self._pending.params, self._pending.origins
            self._pending = None
            torch._foreach_copy_(params, origins)

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False, grad_scaler: torch.amp.GradScaler | None = None) -> Tensor:
        r"""Restore ``w``, rescale ``g~`` by ``gamma`` if ``stable``, clip, and take the base optimizer's step.

        Uses the gradients now stored in ``.grad`` (``g~`` at ``w~``, all micro-batches accumulated).
        Returns the applied factor. The descent gradient is ``c gamma g~`` with the clip factor
        ``c = min(1, max_grad_norm / ||gamma g~||)`` (``c = 1`` without ``max_grad_norm``); the base
        optimizer adds its own weight decay (coupled, as SGD's, or decoupled, as AdamW's) at ``w``.

        ``grad_scaler``: the scaler given to :meth:`first_step`. ``g~`` is unscaled in place, and the base
        step goes through ``grad_scaler.step``, which skips it when either pass had a non-finite gradient
        (``w`` is restored in every case); call ``grad_scaler.update()`` afterwards, as usual.
        """
        if self._pending is None:
            raise RuntimeError("second_step() needs a first_step() before it")
        scaler = grad_scaler if grad_scaler is not None and grad_scaler.is_enabled() else None
        if (scaler is None) != (self._pending.found_inf is None):
            raise UsageError("pass the same enabled grad_scaler to first_step() and second_step() (or to neither)")
        params, origins, grad_norm, found_inf, grad_mean = self._pending
        self._pending = None
        try:
            if scaler is not None:
                second_found = self._unscale(scaler)
                for flag in scaler._found_inf_per_device(self.base_optimizer).values():
                    flag.add_(found_inf.to(flag.device))  # scaler.step and scaler.update see both passes
                found_inf = found_inf + second_found
            surrogate_params, surrogate_grads, _ = self._with_grads()
            _, foreach = self._origins(params)
            stats = sam_descent_(
                params, origins, surrogate_params, surrogate_grads, grad_norm, ascent=self._ascent,
                adaptive_eta=self.adaptive_eta, stable=self.stable, gamma_cap=self.gamma_cap,
                max_grad_norm=self.max_grad_norm, track_stats=self.track_stats, stacked=self.stacked,
                foreach=foreach, found_inf=found_inf,
                mean_over_replicas=self._mean_over_replicas if self.distributed else None,
                restored_grad_norm=(
                    (lambda: self._finish_grad_mean(params, grad_mean, foreach)) if grad_mean is not None else None
                ),
            )
        except BaseException:  # w is back in every case
            torch._foreach_copy_(params, origins)
            raise
        if self.check_finite:
            surrogate = stats.get("surrogate_grad_norm")
            if surrogate is None and surrogate_grads:  # not tracked: the check needs ||g~|| anyway
                surrogate = TensorLists(foreach=foreach, stacked=self.stacked).norm(surrogate_grads)
            self._check_finite(stats["grad_norm"], surrogate, skip_grads=scaler is not None)
        if scaler is not None:
            scaler.step(self.base_optimizer)  # skips the step on a non-finite flag (GradScaler's one host sync)
            stats = {**{k: v for k, v in stats.items() if k != "applied_gamma"},
                     "found_inf": (found_inf > 0).to(stats["grad_norm"].dtype), "applied_gamma": stats["applied_gamma"]}
        else:
            self.base_optimizer.step()
        self._opt_called = True  # an lr scheduler on the wrapper sees the step (torch warns otherwise)
        self.last_stats = stats
        if zero_grad:
            self.zero_grad()
        return stats["applied_gamma"]

    def _check_finite(self, grad_norm: Tensor, surrogate_norm: Tensor | None, *, skip_grads: bool) -> None:
        """``check_finite=True``: one host sync; raise before the base step, with ``w`` restored."""
        for index, group in enumerate(self.param_groups):
            lr = group["lr"]
            if not (bool(torch.isfinite(lr).all()) if isinstance(lr, Tensor) else math.isfinite(lr)):
                raise FloatingPointError(f"param_groups[{index}]['lr'] is {lr!r}: the step was not taken, "
                                         f"w is unchanged")
        if skip_grads:  # the GradScaler skips a non-finite step itself
            return
        norms = [grad_norm, grad_norm if surrogate_norm is None else surrogate_norm]
        if not bool(torch.isfinite(torch.stack(norms)).all()):
            where = "w" if not bool(torch.isfinite(grad_norm).all()) else "w~"
            raise FloatingPointError(f"non-finite gradient at {where} (check_finite=True): the step was not taken, "
                                     f"w is unchanged")

    @torch.no_grad()
    def step(  # type: ignore[override]
        self,
        closure: Callable[[], Tensor] | None = None,
        *,
        grad_scaler: torch.amp.GradScaler | None = None,
        first_pass: Callable[[], AbstractContextManager[Any]] | None = None,
        second_pass: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> Tensor:
        r"""One full step: ``closure()`` at ``w``, ascent, ``closure()`` at ``w~``, restore, base step.

        The closure must zero the gradients, run forward and backward (``grad_scaler.scale(loss).backward()``
        with a scaler; accumulating micro-batches if you like), and return the loss. Returns the loss at
        ``w`` (the first evaluation). ``first_pass`` / ``second_pass``: functions returning a context
        manager entered around the closure at ``w`` / at ``w~``, e.g. ``first_pass=ddp_model.no_sync`` and
        ``second_pass=functools.partial(freeze_running_stats, model)``. ``grad_scaler`` is passed to
        :meth:`first_step` and :meth:`second_step`. If the closure raises at ``w~``, ``w`` is restored and
        the exception propagates (no step is taken or left pending).
        """
        if closure is None:
            raise UsageError(
                "SAM.step needs a closure (zero_grad, forward, backward, return loss); "
                "without one, use first_step() and second_step()"
            )
        for name, factory in (("first_pass", first_pass), ("second_pass", second_pass)):
            # A @contextmanager object is callable too (as a decorator), but can be entered only once.
            if factory is not None and (not callable(factory) or isinstance(factory, AbstractContextManager)):
                raise UsageError(f"{name} must be a function returning a context manager, got {type(factory).__name__}")
        with torch.enable_grad(), first_pass() if first_pass is not None else nullcontext():
            loss = closure()
        if loss is None:
            raise UsageError("the closure must return the loss, got None")
        self.first_step(grad_scaler=grad_scaler)
        try:
            with torch.enable_grad(), second_pass() if second_pass is not None else nullcontext():
                closure()
        except BaseException:
            self.cancel_step()
            raise
        self.second_step(grad_scaler=grad_scaler)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: the base optimizer's ``state`` (momentum, moments) and ``param_groups`` (with
        ``rho``), each saved group also holding the wrapper's options (checked by :meth:`load_state_dict`).

        The restore buffers are scratch space and are not saved.
        """
        if self._pending is not None:
            raise RuntimeError("state_dict() between first_step() and second_step(): the parameters sit at w~")
        saved = self.base_optimizer.state_dict()
        config = {key: getattr(self, key) for key in _CONFIG_KEYS}
        return {"state": saved["state"], "param_groups": [{**group, **config} for group in saved["param_groups"]]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict from :meth:`state_dict` (or the older ``{'base_optimizer', 'sam'}`` layout); the
        wrapper's options saved with it must match this instance's."""
        if isinstance(state_dict, dict) and set(state_dict) == {"base_optimizer", "sam"}:  # layout before 2026-12
            base_state, configs = state_dict["base_optimizer"], [state_dict["sam"]]
        elif isinstance(state_dict, dict) and {"state", "param_groups"} <= set(state_dict):
            groups = state_dict["param_groups"]
            if not all(isinstance(group, dict) and set(_CONFIG_KEYS) <= set(group) for group in groups):
                raise UsageError("state_dict must come from SAM.state_dict(): its param_groups lack the wrapper's "
                                 "options (a base optimizer's state dict loads with .base_optimizer.load_state_dict)")
            configs = [{key: group[key] for key in _CONFIG_KEYS} for group in groups]
            base_groups = [{k: v for k, v in group.items() if k not in _CONFIG_KEYS} for group in groups]
            base_state = {**state_dict, "param_groups": base_groups}
        else:
            found = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise UsageError(f"state_dict must come from SAM.state_dict() (keys 'state', 'param_groups'); got {found}")
        if self._pending is not None:
            raise RuntimeError("load_state_dict() between first_step() and second_step()")
        for config in configs:
            for key in _CONFIG_KEYS:
                saved, current = config.get(key), getattr(self, key)
                if saved != current:
                    raise UsageError(f"state_dict has {key}={saved!r} but this optimizer has {key}={current!r}")
        self.base_optimizer.load_state_dict(base_state)
        for index in range(len(self.param_groups)):
            self._check_group(index)


class StableSAM(SAM):
    r"""StableSAM (Tan et al. 2024, arXiv:2401.07250): :class:`SAM` with ``stable=True`` by default.

    The base optimizer steps with ``gamma g~``, ``gamma = ||g|| / ||g~||``: the direction of the
    surrogate gradient with the length of the exact one. ``ascent="normalized"`` gives StableSAM-N,
    ``"unnormalized"`` StableSAM-U (the variant the authors' code labels as used for their results),
    ``"adaptive"`` StableSAM on ASAM. Every other argument is :class:`SAM`'s.
    """

    __init__ = functools.partialmethod(SAM.__init__, stable=True)
