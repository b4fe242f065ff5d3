"""Model-level maximal stable learning rates from measured curvature (docs/theory.md section 3).

The local quadratic model of the loss at ``w`` has Hessian ``H``; with ``lambda = lambda_max(H)`` (measured by
Lanczos, :mod:`stablesam.analysis.curvature.eigen`) and ``||g|| = ||grad F_S(w)||`` (measured), the edge-of-stability formulas give
the largest learning rate at which the top direction does not grow:

- GD, StableSAM-U, StableSAM-N: ``eta_max = 2 / lambda``;
- USAM (Agarwala and Dauphin 2023): ``eta_max = 2 / (lambda (1 + rho lambda))``;
- SAM (Long and Bartlett 2023, "SAM-edge"): ``eta_max = 2 / (lambda (1 + rho lambda / ||g||))``.

The formulas themselves live in :mod:`stablesam.theory.stability_edge` (``max_stable_lr``); this module measures ``lambda`` and
``||g||`` on a model and evaluates them. They are statements about the quadratic model: a network leaves
it (the Hessian changes along the trajectory), so the observed thresholds (:mod:`stablesam.analysis.experiments.lr_scan`) are
the test of how far they carry. For ``lambda <= 0`` no direction is curvature-limited and the threshold is
``inf``.

Example::

    >>> rates = max_stable_learning_rates(10.0, rho=0.05, grad_norm=1.0)
    >>> round(rates["gd"], 6), round(rates["usam"], 6)
    (0.2, 0.133333)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from stablesam.core.methods import method_keys
from stablesam.core.validation import UsageError, check_choice, check_finite, check_integer, check_nonnegative

__all__ = ["CurvatureReport", "THRESHOLD_METHODS", "max_stable_learning_rates", "measure_curvature"]

THRESHOLD_METHODS = method_keys(edge=True, full_batch=True)


def max_stable_learning_rates(
    sharpness: float, *, rho: float, grad_norm: float | None = None, methods: Sequence[str] = THRESHOLD_METHODS
) -> dict[str, float]:
    """``{method: eta_max}`` at top eigenvalue ``sharpness`` and radius ``rho`` (``grad_norm`` needed for SAM)."""
    from stablesam.theory.stability_edge import max_stable_lr

    sharpness = check_finite("sharpness", sharpness)
    rho = check_nonnegative("rho", rho)
    for method in methods:
        check_choice("method", method, THRESHOLD_METHODS)
    if "sam" in methods:
        if grad_norm is None:
            raise UsageError("grad_norm is required for the SAM threshold (SAM-edge depends on ||g||)")
        grad_norm = check_nonnegative("grad_norm", grad_norm)
    if sharpness <= 0:
        return {method: math.inf for method in methods}
    return {
        method: float(max_stable_lr(method, sharpness, rho=rho, grad_norm=grad_norm if method == "sam" else None))
        for method in methods
    }


@dataclass(frozen=True)
class CurvatureReport:
    """What :func:`measure_curvature` measured at one point ``w``, and the thresholds it implies."""

    eigenvalues: np.ndarray
    residuals: np.ndarray
    converged: bool
    num_hvps: int
    loss: float
    grad_norm: float
    rho: float
    max_stable_lr: dict[str, float]
    trace: float = math.nan
    trace_standard_error: float = math.nan
    extra: dict = field(default_factory=dict)

    @property
    def sharpness(self) -> float:
        """``lambda_max``, the largest eigenvalue."""
        return float(self.eigenvalues[0])

    def rows(self, **identifiers) -> list[dict]:
        """Tidy rows ``{**identifiers, metric, value}``: eigenvalues, residuals, trace, ``||g||`` and one
        ``max_stable_lr`` row per method (with a ``method`` column)."""
        out = [{**identifiers, "metric": "loss", "value": self.loss}, {**identifiers, "metric": "grad_norm", "value": self.grad_norm}]
        for i, (value, residual) in enumerate(zip(self.eigenvalues, self.residuals)):
            out.append({**identifiers, "metric": f"eigenvalue_{i + 1}", "value": float(value)})
            out.append({**identifiers, "metric": f"residual_{i + 1}", "value": float(residual)})
        if not math.isnan(self.trace):
            out.append({**identifiers, "metric": "trace", "value": self.trace})
            out.append({**identifiers, "metric": "trace_standard_error", "value": self.trace_standard_error})
        for method, lr in self.max_stable_lr.items():
            out.append({**identifiers, "method": method, "rho": self.rho, "metric": "max_stable_lr", "value": lr})
        return out


def measure_curvature(
    model,
    loss_fn: Callable,
    data,
    *,
    rho: float,
    generator: np.random.Generator,
    k: int = 1,
    trace_probes: int = 0,
    methods: Sequence[str] = THRESHOLD_METHODS,
    **operator_options,
) -> CurvatureReport:
    """Measure ``lambda_1..lambda_k`` (Lanczos), ``||g||``, optionally ``tr H`` (Hutchinson), and the thresholds.

    ``operator_options`` go to :class:`stablesam.analysis.curvature.hessian.HessianOperator` (``backend``, ``dtype``, ``bn_mode``,
    ``chunk_size``, ``device``). ``generator`` seeds the Lanczos start vector and the trace probes.
    """
    from stablesam.analysis.curvature.eigen import hutchinson_trace, lanczos_top_eigenpairs
    from stablesam.analysis.curvature.hessian import HessianOperator

    rho = check_nonnegative("rho", rho)
    k = check_integer("k", k, minimum=1)
    trace_probes = check_integer("trace_probes", trace_probes, minimum=0)
    if trace_probes == 1:
        raise UsageError("trace_probes must be 0 (no trace) or >= 2 (a standard error needs two probes), got 1")
    operator = HessianOperator(model, loss_fn, data, **operator_options)
    loss, gradient = operator.loss_and_gradient()
    grad_norm = float(gradient.norm())
    eigen = lanczos_top_eigenpairs(operator, k=k, generator=generator)
    trace = se = math.nan
    if trace_probes:
        estimate = hutchinson_trace(operator, trace_probes, generator=generator)
        trace, se = estimate.trace, estimate.standard_error
    sharpness = float(eigen.eigenvalues[0]) if len(eigen.eigenvalues) else math.nan
    rates = (
        max_stable_learning_rates(sharpness, rho=rho, grad_norm=grad_norm, methods=methods)
        if math.isfinite(sharpness)
        else {m: math.nan for m in methods}
    )
    return CurvatureReport(
        eigenvalues=eigen.eigenvalues,
        residuals=eigen.residuals,
        converged=eigen.converged,
        num_hvps=operator.num_hvps,
        loss=float(loss),
        grad_norm=grad_norm,
        rho=rho,
        max_stable_lr=rates,
        trace=trace,
        trace_standard_error=se,
    )
