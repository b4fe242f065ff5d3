"""Observed stability of networks over a grid of learning rates: each run diverged, collapsed to chance, or trained.

On a network, "the loss blows up within ``T`` steps" is not monotone in ``eta`` (issue 14, item 7: the digits
MLP under GD at initialisation diverges at ``eta`` 2.6 and 2.8, not at 2.83 and 2.9, and again at 3.0; at 2.83
and 2.9 it ends at chance accuracy). Bisection, which assumes one transition, then reports a threshold that
does not exist. :func:`scan_learning_rates` instead runs every ``eta`` of a grid from the same point and
classifies each run:

- ``diverged``: the loss became non-finite or exceeded ``blowup`` times its initial value within ``steps``
  steps (:func:`stablesam.analysis.experiments.blowup_run.run_until_blowup`);
- ``collapsed``: it did not blow up, but the final accuracy is at most the chance level plus ``margin``
  (chance: the frequency of the most common class; classification only). A rate too small to learn anything
  in ``steps`` steps also reads as collapsed, so grids start well inside the trainable range;
- ``trained``: neither.

:class:`LearningRateScan` reports the smallest failing (not ``trained``) ``eta`` and whether the outcomes are
monotone (every ``eta`` above a failing one fails too). Only a monotone scan has a threshold, bracketed
by the largest trained ``eta`` below the smallest failing one. It also reports the smallest diverged ``eta``
and whether divergence alone is monotone (what bisection assumed): on the digits MLP above it is not, while
counting collapse as failure it is.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from stablesam.analysis.experiments.blowup_run import SCAN_METHODS, run_until_blowup
from stablesam.core.progress import progress_mode
from stablesam.core.validation import UsageError, check_choice, check_integer, check_positive, check_probability
from stablesam.stability.training.loop import OUTCOMES
from stablesam.stability.optimizers import DEFAULT_RHO
from stablesam.stability.threads import torch_threads

__all__ = ["DEFAULT_GRID", "OUTCOMES", "SCAN_METHODS", "LearningRateScan", "scan_learning_rates", "thresholds_along_training"]

# Learning rates scanned, as (lowest, highest) multiples of GD's predicted threshold 2/lambda and a count: networks
# train far above the local quadratic model's edge (20-65x at initialisation for the digits MLP), so the grid
# reaches two orders of magnitude above it.
DEFAULT_GRID = (0.25, 128.0, 25)


@dataclass(frozen=True)
class LearningRateScan:
    """The outcome of each learning rate of an increasing grid."""

    lrs: tuple[float, ...]
    outcomes: tuple[str, ...]

    @property
    def failing(self) -> np.ndarray:
        return np.array([o != "trained" for o in self.outcomes])

    @property
    def diverged(self) -> np.ndarray:
        return np.array([o == "diverged" for o in self.outcomes])

    @property
    def smallest_failing_lr(self) -> float:
        """The smallest ``eta`` whose run did not train (``inf`` if all trained)."""
        return _first(self.lrs, self.failing)

    @property
    def smallest_diverged_lr(self) -> float:
        """The smallest ``eta`` whose run blew up (``inf`` if none): what bisection on blow-up alone looks for."""
        return _first(self.lrs, self.diverged)

    @property
    def largest_trained_below(self) -> float:
        """The largest trained ``eta`` below :attr:`smallest_failing_lr` (``nan`` if none)."""
        lrs = np.asarray(self.lrs)
        below = lrs[(lrs < self.smallest_failing_lr) & ~self.failing]
        return float(below[-1]) if below.size else float("nan")

    @property
    def monotone(self) -> bool:
        """Whether every ``eta`` above a failing one fails too: only then is there one threshold."""
        return _upward_closed(self.failing)

    @property
    def divergence_monotone(self) -> bool:
        """Whether every ``eta`` above a diverged one diverges too (the assumption of bisection on blow-up)."""
        return _upward_closed(self.diverged)


def _first(lrs: Sequence[float], mask: np.ndarray) -> float:
    return float(np.asarray(lrs)[mask][0]) if mask.any() else float("inf")


def _upward_closed(mask: np.ndarray) -> bool:
    return bool(not mask.any() or mask[int(np.argmax(mask)):].all())


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(dim=-1) == y).double().mean())


def scan_learning_rates(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    data: Sequence[torch.Tensor],
    method: str,
    lrs: Sequence[float],
    *,
    rho: float,
    steps: int,
    blowup: float,
    margin: float = 0.05,
    check_every: int = 50,
) -> LearningRateScan:
    """Run ``method`` from ``model``'s point (not modified) at every ``eta`` of ``lrs`` (sorted) and classify each run
    (see the module docstring). Integer labels ``y`` mean classification (``collapsed`` is then possible)."""
    x, y = data
    classification = not torch.is_floating_point(y)
    chance = float(torch.bincount(y).max() / len(y)) if classification else None
    start = copy.deepcopy(model.state_dict())
    work = copy.deepcopy(model)
    lrs = tuple(sorted(float(lr) for lr in lrs))
    outcomes = []
    for lr in lrs:
        work.load_state_dict(start)
        blew_up, _ = run_until_blowup(work, loss_fn, data, method, lr, rho=rho, steps=steps, blowup=blowup,
                                      check_every=check_every)
        if blew_up:
            outcomes.append("diverged")
        elif classification and _accuracy(work, x, y) <= chance + margin:
            outcomes.append("collapsed")
        else:
            outcomes.append("trained")
    return LearningRateScan(lrs, tuple(outcomes))


def thresholds_along_training(
    model: nn.Module,
    loss_fn: Callable,
    data: Sequence[torch.Tensor],
    methods: Sequence[str] = SCAN_METHODS,
    *,
    rho: float = DEFAULT_RHO,
    train_lr: float,
    checkpoints: Sequence[int] = (0,),
    steps: int = 200,
    blowup: float = 10.0,
    grid: tuple[float, float, int] = DEFAULT_GRID,
    margin: float = 0.05,
    threads: int | None = 1,
    generator: np.random.Generator,
    progress: bool | None = None,
    **operator_options,
):
    """At each step count in ``checkpoints`` of a full-batch GD trajectory at ``train_lr`` (from ``model``'s
    point; ``model`` is not modified), measure ``lambda_max`` and ``||g||`` (predicted thresholds) and scan each
    method's outcome over the grid ``geomspace(grid[0] * 2/lambda, grid[1] * 2/lambda, grid[2])`` (multiples of
    GD's predicted threshold there, one grid for every method).

    Returns a tidy DataFrame with columns ``checkpoint, method, rho, lr, metric, value``: metrics ``sharpness``,
    ``grad_norm``, ``loss`` (method ``""``); per method ``predicted_lr``, ``smallest_failing_lr``,
    ``largest_trained_below``, ``monotone`` (1 or 0), ``smallest_diverged_lr``, ``divergence_monotone``; per
    method and ``lr``, ``outcome`` (the index in
    :data:`OUTCOMES`). ``threads``: torch intra-op threads during the runs, restored afterwards (tiny full-batch
    steps run fastest on one).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from stablesam.analysis.experiments.measured_thresholds import measure_curvature

    for method in methods:
        check_choice("method", method, SCAN_METHODS)
    checkpoints = sorted(check_integer("checkpoint", c, minimum=0) for c in checkpoints)
    train_lr = check_positive("train_lr", train_lr)
    steps = check_integer("steps", steps, minimum=1)
    if check_positive("blowup", blowup) <= 1:
        raise UsageError(f"blowup must be > 1 (a multiple of the initial loss), got {blowup!r}")
    low, high = check_positive("grid[0]", grid[0]), check_positive("grid[1]", grid[1])
    num = check_integer("grid[2]", grid[2], minimum=2)
    margin = check_probability("margin", margin)
    work = copy.deepcopy(model)
    optimizer = torch.optim.SGD(work.parameters(), lr=train_lr)
    x, y = data
    done, rows = 0, []
    mode = progress_mode(progress)
    with torch_threads(threads):
        bar = tqdm(total=len(checkpoints) * len(methods), desc="lr-scan", unit="scan", disable=not mode.bar)
        started = time.perf_counter()
        for checkpoint in checkpoints:
            for _ in range(checkpoint - done):
                optimizer.zero_grad(set_to_none=True)
                loss_fn(work(x), y).backward()
                optimizer.step()
            done = checkpoint
            report = measure_curvature(work, loss_fn, data, rho=rho, generator=generator, methods=methods,
                                       **operator_options)
            base = {"checkpoint": checkpoint, "rho": rho, "lr": np.nan}
            rows += [
                {**base, "method": "", "metric": "sharpness", "value": report.sharpness},
                {**base, "method": "", "metric": "grad_norm", "value": report.grad_norm},
                {**base, "method": "", "metric": "loss", "value": report.loss},
            ]
            lrs = np.geomspace(low * 2 / report.sharpness, high * 2 / report.sharpness, num)
            for m in methods:
                scan = scan_learning_rates(work, loss_fn, data, m, lrs, rho=rho, steps=steps, blowup=blowup,
                                           margin=margin)
                rows += [
                    {**base, "method": m, "metric": "predicted_lr", "value": report.max_stable_lr[m]},
                    {**base, "method": m, "metric": "smallest_failing_lr", "value": scan.smallest_failing_lr},
                    {**base, "method": m, "metric": "largest_trained_below", "value": scan.largest_trained_below},
                    {**base, "method": m, "metric": "monotone", "value": float(scan.monotone)},
                    {**base, "method": m, "metric": "smallest_diverged_lr", "value": scan.smallest_diverged_lr},
                    {**base, "method": m, "metric": "divergence_monotone", "value": float(scan.divergence_monotone)},
                ]
                rows += [{**base, "method": m, "lr": lr, "metric": "outcome", "value": float(OUTCOMES.index(o))}
                         for lr, o in zip(scan.lrs, scan.outcomes)]
                bar.update(1)
                mode.line(f"lr-scan: {m} at checkpoint {checkpoint} done ({time.perf_counter() - started:.0f} s)")
        bar.close()
    return pd.DataFrame(rows, columns=["checkpoint", "method", "rho", "lr", "metric", "value"])
