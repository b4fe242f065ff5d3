"""The threshold experiments behind the curvature figures: the scans, then :mod:`stablesam.analysis.plots.curvature` draws.

- :func:`figure_least_squares_thresholds`: digits least squares, observed (bisection) vs exact thresholds.
- :func:`figure_network_thresholds`: a digits network along a GD trajectory, predicted thresholds vs the outcome
  of each learning rate of a grid (:mod:`stablesam.analysis.experiments.lr_scan`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stablesam.analysis.experiments.lr_scan import DEFAULT_GRID
from stablesam.analysis.plots.curvature import plot_threshold_comparison, plot_thresholds_along_training
from stablesam.stability.optimizers import DEFAULT_RHO

__all__ = ["figure_least_squares_thresholds", "figure_network_thresholds"]


def figure_least_squares_thresholds(
    *, methods: Sequence[str] = ("gd", "usam", "stablesam-u", "stablesam-n"), rho: float = DEFAULT_RHO, steps: int = 2000,
    rel_tol: float = 1e-3, seed: int = 0,
):
    """Digits least squares: observed divergence thresholds vs the exact ones."""
    from stablesam.analysis.experiments.least_squares_digits import least_squares_thresholds

    table = least_squares_thresholds(list(methods), rho=rho, steps=steps, rel_tol=rel_tol, lr_low=0.05,
                                     generator=np.random.default_rng(seed))
    return plot_threshold_comparison(table, title=f"least squares on digits, $\\rho$={rho}, T={steps}")


def figure_network_thresholds(
    *, model: str = "mlp", methods: Sequence[str] = ("gd", "usam", "sam", "stablesam-u", "stablesam-n"),
    rho: float = DEFAULT_RHO, n_train: int | None = None, train_lr: float = 0.02, checkpoints: Sequence[int] = (0, 100, 300),
    steps: int = 200, blowup: float = 10.0, grid: Sequence[float] = DEFAULT_GRID, seed: int = 0,
    hidden: Sequence[int] = (64,),
):
    """Digits network (float64): predicted (curvature) thresholds vs the outcome of each learning rate of a grid,
    along a GD trajectory."""
    import torch
    import torch.nn.functional as F

    from stablesam.analysis.experiments.lr_scan import thresholds_along_training
    from stablesam.stability.data import load_dataset
    from stablesam.stability.models import build_model

    data = load_dataset("digits", generator=np.random.default_rng(seed), n_train=n_train, dtype=torch.float64)
    options = {"hidden": tuple(hidden)} if model == "mlp" else {}
    net = build_model(model, data.input_shape, data.num_outputs, generator=torch.Generator().manual_seed(seed),
                      dtype=torch.float64, **options)
    tidy = thresholds_along_training(net, F.cross_entropy, (data.x_train, data.y_train), list(methods), rho=rho,
                                     train_lr=train_lr, checkpoints=checkpoints, steps=steps, blowup=blowup,
                                     grid=tuple(grid), generator=np.random.default_rng(seed))
    return plot_thresholds_along_training(tidy, title=f"{model} on digits, $\\rho$={rho}, blow-up x{blowup:g} in {steps} steps")
