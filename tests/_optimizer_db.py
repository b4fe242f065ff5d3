"""The optimizer database of the tests, as torch's ``common_optimizers.OptimizerInfo``: one record per row of the
method table (:data:`stablesam.core.methods.METHODS`), with what the optimizer supports, how to build and step it,
sample inputs, its update on a quadratic in numpy, and the errors it must raise with their messages.

Generic tests (``tests/stability/test_method_conformance.py``) run over :data:`OPTIMIZER_DB`; a new method row gets them all
without an edit here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stablesam.core.methods import METHODS, Method
from stablesam.stability import SAM
from stablesam.stability.ascents import ASCENTS
from stablesam.stability.optimizers import make_optimizer


@dataclass(frozen=True)
class ErrorInput:
    """Constructor arguments that must raise ``error`` whose message is exactly ``message`` (one line)."""

    kwargs: dict[str, Any]
    error: type[Exception]
    message: str


@dataclass(frozen=True)
class OptimizerInfo:
    """What the tests know about the optimizer of one method row."""

    row: Method
    supports_stacked: bool  # stacked=True: a population of models along dim 0
    supports_foreach: bool  # the wrapper's own foreach / per-tensor paths
    supports_amp: bool  # step(closure, grad_scaler=...)
    closure_forms: tuple[str, ...]  # "closure": step(closure); "two_calls": first_step()/second_step()
    sample_kwargs: tuple[dict[str, Any], ...] = ({},)  # make() arguments the generic tests loop over
    error_inputs: tuple[ErrorInput, ...] = ()

    @property
    def key(self) -> str:
        return self.row.key

    def make(self, params, *, lr: float = 0.1, rho: float = 0.2, **options) -> torch.optim.Optimizer:
        """The optimizer of the row (the one factory), with wrapper ``options`` (foreach, check_finite...) applied."""
        base_options = {k: options.pop(k) for k in ("base", "momentum", "weight_decay") if k in options}
        optimizer = make_optimizer(self.key, params, lr=lr, rho=rho, **base_options)
        if not options or not isinstance(optimizer, SAM):
            return optimizer
        # Wrapper options the factory does not take: the same row around the same base optimizer.
        row_options = {"ascent": self.row.ascent, "stable": self.row.stable}
        return SAM(optimizer.base_optimizer, rho=rho, **{**row_options, **options})

    def step(self, optimizer, closure, *, form: str = "closure", grad_scaler=None) -> None:
        """One step in ``form``; a base optimizer alone goes through ``grad_scaler.step`` when given one."""
        if not isinstance(optimizer, SAM):
            closure()
            if grad_scaler is None:
                optimizer.step()
            else:
                grad_scaler.step(optimizer)
            return
        if form == "closure":
            optimizer.step(closure, grad_scaler=grad_scaler)
            return
        closure()
        optimizer.first_step(grad_scaler=grad_scaler)
        closure()
        optimizer.second_step(grad_scaler=grad_scaler)

    def reference_step(self, H: np.ndarray, w: np.ndarray, lr: float, rho: float, eta: float = 0.01) -> np.ndarray:
        """``docs/theory.md`` section 1 in numpy float64 on ``f(w) = w^T H w / 2``, vectorised over leading axes."""
        return self.reference(H, w, lr, rho, eta)[0]

    def reference(self, H: np.ndarray, w: np.ndarray, lr: float, rho: float, eta: float = 0.01):
        """The next iterate and the applied factor ``gamma`` (1 unless the row is stable)."""
        g = w @ H
        ascent = self.row.ascent
        if ascent == "none":
            return w - lr * g, 1.0
        norm = lambda x: np.linalg.norm(x, axis=-1, keepdims=True)
        safe = lambda n: np.where(n == 0, 1.0, n)
        T = np.abs(w) + eta
        if ascent == "normalized":
            w_tilde = w + rho * g / safe(norm(g))
        elif ascent == "unnormalized":
            w_tilde = w + rho * g
        else:
            w_tilde = w + rho * T**2 * g / safe(norm(T * g))
        g_tilde = w_tilde @ H
        gamma = 1.0
        if self.row.stable:
            if ascent == "adaptive":
                n, n_tilde = norm(T * g), norm((np.abs(w_tilde) + eta) * g_tilde)
            else:
                n, n_tilde = norm(g), norm(g_tilde)
            gamma = np.where(n_tilde == 0, 1.0, n / safe(n_tilde))
        return w - lr * gamma * g_tilde, gamma


def _sam_errors(cls: type[SAM]) -> tuple[ErrorInput, ...]:
    """The wrapper's bad arguments with their exact one-line messages (written out, not derived from the table)."""
    name = cls.__name__
    registered = ", ".join(map(repr, sorted(ASCENTS)))  # the registry's names, e.g. 'adaptive', 'normalized', ...
    cases = [
        ({"rho": -0.1}, f"{name}: rho must be a real number in [0, inf); got -0.1"),
        ({"rho": float("nan")}, f"{name}: rho must be a real number in [0, inf); got nan"),
        ({"rho": float("inf")}, f"{name}: rho must be a real number in [0, inf); got inf"),
        ({"rho": "0.1"}, f"{name}: rho must be a real number in [0, inf); got '0.1'"),
        ({"rho": torch.tensor(0.5)}, f"{name}: rho must be a real number in [0, inf); got tensor(0.5000)"),
        ({"ascent": "sharp"}, f"{name}: ascent must be one of {registered} or an Ascent; got 'sharp'"),
        ({"gamma_cap": 0.0}, f"{name}: gamma_cap must be a real number in (0, inf) or None; got 0.0"),
        ({"gamma_cap": float("inf")}, f"{name}: gamma_cap must be a real number in (0, inf) or None; got inf"),
        ({"adaptive_eta": -0.01}, f"{name}: adaptive_eta must be a real number in [0, inf); got -0.01"),
        ({"stable": 1}, f"{name}: stable must be a boolean; got 1"),
        ({"stacked": "yes"}, f"{name}: stacked must be a boolean; got 'yes'"),
        ({"max_grad_norm": 0.0}, f"{name}: max_grad_norm must be a real number in (0, inf) or None; got 0.0"),
        ({"distributed": 1}, f"{name}: distributed must be a boolean; got 1"),
        ({"foreach": "yes"}, f"{name}: foreach must be a boolean or None; got 'yes'"),
        ({"check_finite": None}, f"{name}: check_finite must be a boolean; got None"),
        ({"stacked": True, "distributed": True},
         "distributed=True and stacked=True cannot be combined: stacked models train in one process"),
    ]
    return tuple(ErrorInput(kwargs, ValueError, message) for kwargs, message in cases)


def _info(row: Method) -> OptimizerInfo:
    if not row.uses_rho:  # the base optimizer alone
        return OptimizerInfo(row, supports_stacked=False, supports_foreach=False, supports_amp=True,
                             closure_forms=("closure",), sample_kwargs=_BASE_SAMPLES)
    return OptimizerInfo(
        row, supports_stacked=True, supports_foreach=True, supports_amp=True, closure_forms=("closure", "two_calls"),
        sample_kwargs=_BASE_SAMPLES, error_inputs=_sam_errors(SAM),
    )


# The base optimizers of the factory, as make() arguments: plain SGD, momentum with weight decay, Adam.
_BASE_SAMPLES = ({}, {"base": "momentum", "momentum": 0.9, "weight_decay": 1e-3}, {"base": "adam"})


OPTIMIZER_DB: tuple[OptimizerInfo, ...] = tuple(_info(row) for row in METHODS.values())


def infos(predicate: Callable[[OptimizerInfo], bool] = lambda info: True) -> list[OptimizerInfo]:
    """The records satisfying ``predicate``, for ``pytest.mark.parametrize(..., ids=lambda i: i.key)``."""
    return [info for info in OPTIMIZER_DB if predicate(info)]
