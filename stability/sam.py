r"""SAM, USAM, ASAM and their StableSAM renormalization, wrapped around any ``torch.optim`` optimizer.

Update rule (one step on the mini-batch ``B``, ``docs/theory.md`` section 1)::

    g      = grad F_B(w)
    w~     = w + rho d(w, g)                 d: g/||g|| (SAM), g (USAM), T^2 g/||T g|| (ASAM)
    g~     = grad F_B(w~)
    gamma  = n(w, g) / n(w~, g~)             n: ||g||, or ||T_w g|| for ASAM  (StableSAM only)
    w      <- base_step(w, gamma g~)         base_step: the wrapped optimizer (SGD, momentum, Adam...)

``T = diag(|w| + eta_a)``. Without ``stable`` the base optimizer steps with ``g~``. ``gamma`` is one global
factor and multiplies the loss gradient only, before momentum and weight decay (as the authors' code
does). With plain SGD the StableSAM step ``eta gamma g~`` has exactly the length ``eta ||g||`` of an SGD
step. Sources: SAM, Foret et al. 2021 (arXiv:2010.01412); USAM, Andriushchenko and Flammarion 2022
(arXiv:2206.06232); ASAM, Kwon et al. 2021 (arXiv:2102.11600); StableSAM, Tan et al. 2024
(arXiv:2401.07250).

Example (both ways to step)::

    >>> import torch
    >>> from stablesam.stability import SAM, StableSAM
    >>> model = torch.nn.Linear(3, 1)
    >>> x, y = torch.ones(8, 3), torch.zeros(8, 1)
    >>> opt = StableSAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=0.05, ascent="unnormalized")
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = torch.nn.functional.mse_loss(model(x), y)
    ...     loss.backward()
    ...     return loss
    >>> loss = opt.step(closure)                 # evaluates the closure at w and at w~
    >>> sorted(opt.last_stats)
    ['applied_gamma', 'gamma', 'grad_norm', 'surrogate_grad_norm']
    >>> loss = closure(); grad_norm = opt.first_step(zero_grad=True)  # the two-call form
    >>> loss = closure(); applied_gamma = opt.second_step(zero_grad=True)
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

import torch
from torch import Tensor

from stablesam.stability.functional import (
    ASCENTS,
    ascent_direction,
    capped_gamma,
    global_norm,
    per_model,
    renormalization_factor,
    safe_divisor,
    surrogate_norm,
    weighted_global_norm,
)
from stablesam.core.validation import UsageError, check_choice, check_nonnegative, check_positive
from stablesam.stability.optimizers import DEFAULT_RHO

__all__ = ["SAM", "StableSAM"]

# Constructor arguments saved in ``state_dict()["sam"]`` and checked on load; per-group ``rho`` travels
# with the base optimizer's param_groups (like ``lr``).
_CONFIG_KEYS = ("ascent", "stable", "gamma_cap", "adaptive_eta", "stacked", "max_grad_norm")


class _Pending(NamedTuple):
    """What first_step leaves for second_step."""

    params: list[Tensor]
    origins: list[Tensor]
    grad_norm: Tensor
    found_inf: Tensor | None  # > 0: the pass at w had a non-finite gradient (GradScaler only)
    grad_mean: tuple[Any, Tensor] | None  # in-flight average of g over the replicas (distributed only)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{name} must be True or False, got {value!r}")
    return value


def _check_rho(name: str, value: object) -> float:
    if isinstance(value, Tensor):
        raise UsageError(f"{name} must be a Python real number (a tensor would force a host sync), got a tensor")
    return check_nonnegative(name, value)


class SAM(torch.optim.Optimizer):
    r"""Sharpness-aware minimization around a base optimizer, with optional StableSAM renormalization.

    The step (module docstring has the full rule): ascend to ``w~ = w + rho d``, take the gradient
    ``g~`` there, restore ``w`` and let the base optimizer step with ``g~``, or with ``gamma g~``,
    ``gamma = ||g|| / ||g~||``, when ``stable`` (``||T_w g|| / ||T_w~ g~||`` for ASAM).

    Args:
        base_optimizer: an optimizer *instance* (any ``torch.optim.Optimizer``). The wrapper shares its
            ``param_groups``, so a learning-rate scheduler attached to either drives both.
        rho: default ascent radius ``>= 0``; a param group may set its own ``"rho"``. With
            ``rho = 0`` the step is the base optimizer's, bit for bit.
        ascent: ``"normalized"`` (SAM), ``"unnormalized"`` (USAM) or ``"adaptive"`` (ASAM).
        stable: apply the StableSAM factor ``gamma`` before the base step.
        gamma_cap: if given (``> 0``), the applied factor is ``min(gamma, gamma_cap)``; ``1.0`` is the
            authors' optional cap. Off by default.
        adaptive_eta: ASAM's ``eta_a >= 0`` in ``T = diag(|w| + eta_a)``.
        stacked: every parameter is a stack of independent models along dim 0 (``torch.func``
            ``stack_module_state`` + ``vmap``): norms, ascent and ``gamma`` are per model.
        max_grad_norm: if given (``> 0``), clip the *descent* gradient: the base optimizer steps with
            ``c gamma g~``, ``c = min(1, max_grad_norm / ||gamma g~||)`` (plain Euclidean norm, after the
            renormalization and the cap). The ascent uses the raw ``g``. Off by default.
        track_stats: compute ``||g~||`` and ``gamma`` for logging even when they are not applied (SAM,
            USAM, ASAM without ``stable``). ``False`` saves one norm of ``g~`` per step (measured in
            ``benchmarks/optimizer_step.py``); ``last_stats`` then holds ``grad_norm`` and
            ``applied_gamma`` only (plus ``clip_factor``/``found_inf`` when enabled). StableSAM and
            clipping need the norm anyway, so there it changes nothing. Default ``True``.
        distributed: data-parallel training (``DistributedDataParallel``, default process group). Run the
            backward at ``w`` under ``model.no_sync()``: each replica ascends along its own gradient
            ``g_r`` (m-sharpness), DDP averages ``g~`` in the backward at ``w~``, and ``gamma`` uses
            ``||mean_r g_r||`` (a flat copy of ``g`` is averaged asynchronously during the pass at ``w~``),
            so the step has the length of an SGD step on the global batch and every replica computes the
            same ``gamma``. ASAM averages ``||T_w~ g~||`` over the replicas (their ``w~`` differ).

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
    by subtracting the perturbation). Gradients hold ``gamma g~`` after a stable step.

    Integrations (README, "Optimizers"): gradient accumulation (accumulate every micro-batch into
    ``.grad`` before each of the two calls), mixed precision (bf16 autocast unchanged; fp16 with
    ``grad_scaler=``), BatchNorm (:func:`stablesam.stability.freeze_running_stats` around the pass at ``w~``),
    clipping (``max_grad_norm``) and weight decay (the base optimizer's), DDP (``distributed``).
    """

    def __init__(
        self,
        base_optimizer: torch.optim.Optimizer,
        rho: float = DEFAULT_RHO,
        ascent: str = "normalized",
        stable: bool = False,
        gamma_cap: float | None = None,
        adaptive_eta: float = 0.01,
        stacked: bool = False,
        max_grad_norm: float | None = None,
        distributed: bool = False,
        track_stats: bool = True,
    ) -> None:
        if not isinstance(base_optimizer, torch.optim.Optimizer):
            raise UsageError(
                f"base_optimizer must be a torch.optim.Optimizer instance, got {type(base_optimizer).__name__}"
            )
        if isinstance(base_optimizer, SAM):
            raise UsageError("base_optimizer must be a plain optimizer, not another SAM wrapper")
        rho = _check_rho("rho", rho)
        self.ascent = check_choice("ascent", ascent, ASCENTS)
        self.stable = _check_bool("stable", stable)
        self.gamma_cap = None if gamma_cap is None else check_positive("gamma_cap", gamma_cap)
        self.adaptive_eta = check_nonnegative("adaptive_eta", adaptive_eta)
        self.stacked = _check_bool("stacked", stacked)
        self.max_grad_norm = None if max_grad_norm is None else check_positive("max_grad_norm", max_grad_norm)
        self.distributed = _check_bool("distributed", distributed)
        self.track_stats = _check_bool("track_stats", track_stats)
        if self.distributed and self.stacked:
            raise UsageError(
                "distributed=True and stacked=True cannot be combined: stacked models train in one process"
            )
        self.base_optimizer = base_optimizer
        self.n_models: int | None = None
        self.last_stats: dict[str, Tensor] = {}
        self._pending: _Pending | None = None
        self._origin_cache: tuple[tuple[int, ...], list[Tensor], list[Tensor]] | None = None
        # Optimizer.__init__ resets param_groups (that is, the base's list, see the property) and
        # re-adds each group through add_param_group, which sets and checks "rho".
        super().__init__(list(base_optimizer.param_groups), {"rho": rho})

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
        group["rho"] = _check_rho(f"param_groups[{index}]['rho']", group.setdefault("rho", self.defaults["rho"]))
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

    def _origins(self, params: list[Tensor]) -> list[Tensor]:
        """The restore buffers of ``params``, allocated once; the list is cached while the parameters
        with a gradient stay the same (the cache holds them, so their ids cannot be reused)."""
        key = tuple(map(id, params))
        if self._origin_cache is None or self._origin_cache[0] != key:
            origins = []
            for p in params:
                state = self.state[p]
                if "w" not in state:
                    state["w"] = torch.empty_like(p, memory_format=torch.preserve_format)
                origins.append(state["w"])
            self._origin_cache = (key, origins, params)
        return self._origin_cache[1]

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

    def _finish_grad_mean(self, params: list[Tensor], reduction: tuple[Any, Tensor]) -> Tensor:
        """``n(w, mean_r g_r)``: the norm of the replicas' mean gradient, identical on every replica."""
        handle, flat = reduction
        handle.wait()
        views = [v.view_as(p) for v, p in zip(flat.split([p.numel() for p in params]), params)]
        if self.ascent == "adaptive":
            return weighted_global_norm(params, views, self.adaptive_eta)
        return global_norm(views)

    @staticmethod
    def _init_group(group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        """Append the group's parameters that have a gradient, and those gradients (torch.optim's ``_init_group``)."""
        for p in group["params"]:
            if p.grad is not None:
                params.append(p)
                grads.append(p.grad)

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
        params: list[Tensor] = []
        grads: list[Tensor] = []
        group_ranges: list[tuple[float, int, int]] = []
        for group in self.param_groups:
            start = len(params)
            self._init_group(group, params, grads)
            group_ranges.append((group["rho"], start, len(params)))
        if not params:
            raise RuntimeError("first_step() found no gradient: run backward at w before the ascent")
        found_inf = None
        if grad_scaler is not None and grad_scaler.is_enabled():
            found_inf = self._unscale(grad_scaler)
            # Let the scaler unscale the second pass too; the first flag is added to the second's there.
            grad_scaler._per_optimizer_states.pop(id(self.base_optimizer), None)
            if self.distributed:  # one replica's overflow must skip the step on all of them
                found_inf = self._mean_over_replicas(found_inf)
        origins = self._origins(params)
        torch._foreach_copy_(origins, params)
        grad_mean = self._start_grad_mean(grads) if self.distributed else None

        if self.ascent == "normalized" and params[0].device.type == "cpu":
            # CPU runs foreach ops tensor by tensor, so one fused w += rho g / ||g|| (addcdiv) beats
            # materialising g / ||g|| and adding it (measured 55 us vs 105 us on 50 tensors). CUDA
            # fuses div and add into two launches but not addcdiv with broadcast divisors.
            grad_norm = global_norm(grads, stacked=self.stacked)
            divisor = safe_divisor(grad_norm)
            divisors = per_model(divisor, grads, stacked=True) if self.stacked else [divisor] * len(grads)
            for rho, start, stop in group_ranges:
                if rho != 0 and stop > start:  # rho = 0: leave w untouched (w + 0 can flip the sign of -0.0)
                    torch._foreach_addcdiv_(params[start:stop], grads[start:stop], divisors[start:stop], value=rho)
        else:
            direction, grad_norm = ascent_direction(
                params, grads, ascent=self.ascent, adaptive_eta=self.adaptive_eta, stacked=self.stacked
            )
            for rho, start, stop in group_ranges:
                if rho != 0 and stop > start:
                    torch._foreach_add_(params[start:stop], direction[start:stop], alpha=rho)
        self._pending = _Pending(params, origins, grad_norm, found_inf, grad_mean)
        if zero_grad:
            self.zero_grad()
        return grad_norm

    def _base_step(self, scaler: torch.amp.GradScaler | None) -> None:
        if scaler is not None:
            scaler.step(self.base_optimizer)  # skips the step on a non-finite flag (GradScaler's one host sync)
        else:
            self.base_optimizer.step()

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
        if scaler is not None:
            second_found = self._unscale(scaler)
            for flag in scaler._found_inf_per_device(self.base_optimizer).values():
                flag.add_(found_inf.to(flag.device))  # scaler.step and scaler.update see both passes
            found_inf = found_inf + second_found
        surrogate_params: list[Tensor] = []
        surrogate_grads: list[Tensor] = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    surrogate_params.append(p)
                    surrogate_grads.append(p.grad)
        if not (self.stable or self.track_stats or self.max_grad_norm is not None):
            torch._foreach_copy_(params, origins)
            if grad_mean is not None:
                grad_norm = self._finish_grad_mean(params, grad_mean)
            self._base_step(scaler)
            self.last_stats = {"grad_norm": grad_norm, "applied_gamma": torch.ones_like(grad_norm)}
            if scaler is not None:
                self.last_stats["found_inf"] = (found_inf > 0).to(grad_norm.dtype)
            if zero_grad:
                self.zero_grad()
            return self.last_stats["applied_gamma"]
        if surrogate_grads:  # ASAM's T_w~ needs the parameters still at w~
            s_norm = surrogate_norm(
                surrogate_params, surrogate_grads,
                ascent=self.ascent, adaptive_eta=self.adaptive_eta, stacked=self.stacked,
            )
            if self.distributed and self.ascent == "adaptive":  # T_w~ differs between replicas
                s_norm = self._mean_over_replicas(s_norm)
        else:
            s_norm = torch.zeros_like(grad_norm)
        torch._foreach_copy_(params, origins)
        if grad_mean is not None:
            grad_norm = self._finish_grad_mean(params, grad_mean)

        gamma = renormalization_factor(grad_norm, s_norm)
        if found_inf is not None:  # a skipped step logs gamma = 1, not a ratio of overflowed norms
            gamma = torch.where(found_inf > 0, torch.ones_like(gamma), gamma)
        stats = {"grad_norm": grad_norm, "surrogate_grad_norm": s_norm, "gamma": gamma}
        if self.stable:
            applied = capped_gamma(gamma, self.gamma_cap)
            factor: Tensor | None = applied
        else:
            applied = torch.ones_like(gamma)
            factor = None
        if self.max_grad_norm is not None and surrogate_grads:
            plain_norm = global_norm(surrogate_grads, stacked=self.stacked) if self.ascent == "adaptive" else s_norm
            clip = (self.max_grad_norm / safe_divisor(applied * plain_norm)).clamp(max=1.0)
            factor = clip if factor is None else factor * clip
            stats["clip_factor"] = clip
        if factor is not None and surrogate_grads:
            torch._foreach_mul_(surrogate_grads, per_model(factor, surrogate_grads, stacked=self.stacked))
        self._base_step(scaler)
        if scaler is not None:
            stats["found_inf"] = (found_inf > 0).to(gamma.dtype)
        stats["applied_gamma"] = applied
        self.last_stats = stats
        if zero_grad:
            self.zero_grad()
        return applied

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
        :meth:`first_step` and :meth:`second_step`.
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
        with torch.enable_grad(), second_pass() if second_pass is not None else nullcontext():
            closure()
        self.second_step(grad_scaler=grad_scaler)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state dict (param groups with ``rho``, momentum, moments) and the wrapper's options.

        The restore buffers are scratch space and are not saved.
        """
        if self._pending is not None:
            raise RuntimeError("state_dict() between first_step() and second_step(): the parameters sit at w~")
        config = {key: getattr(self, key) for key in _CONFIG_KEYS}
        return {"base_optimizer": self.base_optimizer.state_dict(), "sam": config}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict from :meth:`state_dict`; the wrapper's options must match this instance's."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"base_optimizer", "sam"}:
            found = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise UsageError(f"state_dict must come from SAM.state_dict() (keys 'base_optimizer', 'sam'); got {found}")
        if self._pending is not None:
            raise RuntimeError("load_state_dict() between first_step() and second_step()")
        for key in _CONFIG_KEYS:
            saved, current = state_dict["sam"].get(key), getattr(self, key)
            if saved != current:
                raise UsageError(f"state_dict has {key}={saved!r} but this optimizer has {key}={current!r}")
        self.base_optimizer.load_state_dict(state_dict["base_optimizer"])
        for index in range(len(self.param_groups)):
            self._check_group(index)


class StableSAM(SAM):
    r"""StableSAM (Tan et al. 2024, arXiv:2401.07250): :class:`SAM` with ``stable=True`` by default.

    The base optimizer steps with ``gamma g~``, ``gamma = ||g|| / ||g~||``: the direction of the
    surrogate gradient with the length of the exact one. ``ascent="normalized"`` gives StableSAM-N,
    ``"unnormalized"`` StableSAM-U (the variant the authors' code labels as used for their results),
    ``"adaptive"`` StableSAM on ASAM.
    """

    def __init__(
        self,
        base_optimizer: torch.optim.Optimizer,
        rho: float = DEFAULT_RHO,
        ascent: str = "normalized",
        stable: bool = True,
        gamma_cap: float | None = None,
        adaptive_eta: float = 0.01,
        stacked: bool = False,
        max_grad_norm: float | None = None,
        distributed: bool = False,
        track_stats: bool = True,
    ) -> None:
        super().__init__(
            base_optimizer, rho, ascent, stable, gamma_cap, adaptive_eta, stacked, max_grad_norm, distributed,
            track_stats,
        )
