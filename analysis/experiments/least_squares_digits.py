"""The exact test case of observed thresholds: least squares on the standardised digits features.

``F(w) = (1/2n) ||X~ w - y||^2`` with ``X~ = [X, 1]``, whose Hessian ``X~^T X~ / n`` is known in closed form,
so the predicted thresholds (``2/lambda``, ``2/(lambda (1 + rho lambda))``) are exact for GD, USAM and both
StableSAM variants (docs/theory.md section 2), and divergence is monotone in the learning rate: bisection applies.

Example::

    >>> import numpy as np
    >>> table = least_squares_thresholds(["gd"], rho=0.05, steps=400, generator=np.random.default_rng(0))
    >>> bool(abs(table.loc[0, "relative_error"]) < 0.02)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from stablesam.analysis.experiments.lr_bisection import observed_thresholds
from stablesam.core.validation import UsageError
from stablesam.stability.optimizers import DEFAULT_RHO

__all__ = ["LeastSquaresProblem", "least_squares_problem", "least_squares_thresholds", "standardised_digits"]


@dataclass(frozen=True)
class LeastSquaresProblem:
    """``F(w) = (1/2n) ||X~ w - y||^2``; ``hessian = X~^T X~ / n``; ``eigenvalues`` ascending, ``top_vector``
    the unit eigenvector of ``lambda_max``; ``w_star`` a minimiser; ``model`` a ``nn.Linear`` (float64) at the
    start point ``w_star + top_vector + xi`` (``xi`` a random unit vector)."""

    x: torch.Tensor
    y: torch.Tensor
    hessian: np.ndarray
    eigenvalues: np.ndarray
    top_vector: np.ndarray
    w_star: np.ndarray
    model: nn.Linear

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues[-1])

    @staticmethod
    def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.mean((outputs.squeeze(-1) - targets) ** 2)


def standardised_digits() -> tuple[np.ndarray, np.ndarray]:
    """``(X~, y)``: scikit-learn's 1797 8x8 digits (embedded; nothing is downloaded), features standardised per
    pixel (constant pixels left at 0) plus an intercept column, target the standardised digit label; float64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    features = digits.data.astype(np.float64)
    std = features.std(axis=0)
    features = (features - features.mean(axis=0)) / np.where(std > 0, std, 1.0)
    target = digits.target.astype(np.float64)
    target = (target - target.mean()) / target.std()
    return np.hstack([features, np.ones((len(features), 1))]), target


def least_squares_problem(*, generator: np.random.Generator) -> LeastSquaresProblem:
    """The digits least-squares problem (scikit-learn's 1797 8x8 digits, embedded; nothing is downloaded).

    Features standardised per pixel (constant pixels left at 0), target the standardised digit label,
    an intercept column; float64 throughout.
    """
    if not isinstance(generator, np.random.Generator):
        raise UsageError(f"generator must be a numpy.random.Generator, got {type(generator).__name__}")
    design, target = standardised_digits()
    n, d = design.shape
    hessian = design.T @ design / n
    eigenvalues, eigenvectors = np.linalg.eigh(hessian)
    w_star = np.linalg.lstsq(design, target, rcond=None)[0]
    xi = generator.standard_normal(d)
    start = w_star + eigenvectors[:, -1] + xi / np.linalg.norm(xi)
    model = nn.Linear(d - 1, 1, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(start[:-1]).view(1, -1))
        model.bias.copy_(torch.from_numpy(start[-1:]))
    return LeastSquaresProblem(
        x=torch.from_numpy(design[:, :-1].copy()),
        y=torch.from_numpy(target),
        hessian=hessian,
        eigenvalues=eigenvalues,
        top_vector=eigenvectors[:, -1],
        w_star=w_star,
        model=model,
    )


def least_squares_thresholds(
    methods: Sequence[str] = ("gd", "usam", "stablesam-u", "stablesam-n"),
    *,
    rho: float = DEFAULT_RHO,
    steps: int = 1000,
    blowup: float = 1e6,
    rel_tol: float = 1e-3,
    lr_low: float = 1e-3,
    lr_high: float = 1.0,
    generator: np.random.Generator,
    progress: bool | None = None,
):
    """Predicted (exact, from ``lambda_max`` of ``X~^T X~ / n`` through :mod:`stablesam.theory.stability_edge`) vs observed
    divergence thresholds on the digits least-squares problem; a pandas DataFrame, one row per method.

    Columns: ``method, rho, lambda_max, predicted_lr, observed_lr, observed_low, observed_high,
    relative_error`` (``observed_lr / predicted_lr - 1``), ``steps, blowup, evaluations``. ``[lr_low, lr_high]``
    is the initial bracket (widened if needed). For SAM the
    prediction is the SAM-edge at the start point's gradient norm (a local statement, not a divergence
    threshold of the quadratic: docs/theory.md section 2).
    """
    import pandas as pd

    from stablesam.analysis.experiments.measured_thresholds import max_stable_learning_rates

    problem = least_squares_problem(generator=generator)
    loss = problem.loss_fn(problem.model(problem.x), problem.y)
    grads = torch.autograd.grad(loss, list(problem.model.parameters()))
    grad_norm = float(torch.cat([g.reshape(-1) for g in grads]).norm())
    predicted = max_stable_learning_rates(problem.lambda_max, rho=rho, grad_norm=grad_norm, methods=methods)
    observed = observed_thresholds(
        problem.model, problem.loss_fn, (problem.x, problem.y), methods, rho=rho, steps=steps, blowup=blowup,
        lr_low=lr_low, lr_high=lr_high, rel_tol=rel_tol, progress=progress,
    )
    rows = [
        {
            "method": m,
            "rho": rho,
            "lambda_max": problem.lambda_max,
            "predicted_lr": predicted[m],
            "observed_lr": observed[m].estimate,
            "observed_low": observed[m].low,
            "observed_high": observed[m].high,
            "relative_error": observed[m].estimate / predicted[m] - 1,
            "steps": steps,
            "blowup": blowup,
            "evaluations": observed[m].evaluations,
        }
        for m in methods
    ]
    return pd.DataFrame(rows)
