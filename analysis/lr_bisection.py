"""Observed divergence thresholds: bisection over the learning rate with the actual optimizers.

A run *diverges* at learning rate ``eta`` if, within ``steps`` full-batch steps of the optimizer from the given
point, the training loss becomes non-finite or exceeds ``blowup`` times its initial value (checked every
``check_every`` steps, on the running maximum, so no step escapes the check and the hot loop has no host
sync). :func:`bisect_threshold` brackets the transition and halves the bracket in ``log eta`` until
``high / low - 1 <= rel_tol``; it assumes divergence is monotone in ``eta`` (exact for quadratics, an
assumption for networks, where it reports one transition).

Finite-horizon bias (THEORY.md section 2): with growth factor ``1 + eps`` per step, a blow-up by ``B`` is seen
within ``T`` steps only if ``eps >~ ln(B) / T``, so the observed threshold overestimates the true one by
about ``ln(B) / T`` relative (halved for GD-like growth ``|1 - eta lambda|`` at ``eta lambda ~ 2``, and
halved again because the loss is quadratic in the growing component). Use long horizons and compare with
exact formulas.

:func:`least_squares_thresholds` is the exact test case: least squares on the standardised digits features,
``F(w) = (1/2n) ||X~ w - y||^2`` with ``X~ = [X, 1]``, whose Hessian ``X~^T X~ / n`` is known in closed form,
so the predicted thresholds (``2/lambda``, ``2/(lambda (1 + rho lambda))``) are exact for GD, USAM and both
StableSAM variants (THEORY.md section 2). :func:`thresholds_along_training` does the same for a network, at
several points along a GD trajectory, predicted from the measured curvature (:mod:`analysis.thresholds`).

Example::

    >>> import numpy as np
    >>> table = least_squares_thresholds(["gd"], rho=0.05, steps=400, generator=np.random.default_rng(0))
    >>> bool(abs(table.loc[0, "relative_error"]) < 0.02)
    True
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.methods import method_keys
from core.validation import UsageError, check_choice, check_integer, check_positive
from stability.optimizers import make_optimizer

__all__ = [
    "SCAN_METHODS",
    "LeastSquaresProblem",
    "Threshold",
    "bisect_threshold",
    "diverges",
    "least_squares_problem",
    "least_squares_thresholds",
    "observed_thresholds",
    "thresholds_along_training",
]

# Full-batch methods whose divergence threshold has a prediction (an edge formula).
SCAN_METHODS = method_keys(edge=True, full_batch=True)


def diverges(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    data: Sequence[torch.Tensor],
    method: str,
    lr: float,
    *,
    rho: float,
    steps: int,
    blowup: float,
    check_every: int = 50,
) -> tuple[bool, int]:
    """Train ``model`` in place with ``method`` at ``lr`` for ``steps`` full-batch steps; ``(diverged, step)``.

    ``step`` is the check at which divergence was seen (``steps`` if it was not).
    """
    x, y = data
    optimizer = make_optimizer(method, model.parameters(), lr=lr, rho=rho)  # plain SGD base: full-batch GD

    def closure():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    with torch.no_grad():
        limit = blowup * loss_fn(model(x), y)
    if not torch.isfinite(limit):
        raise ValueError("the initial loss is not finite: there is nothing to scan from")
    worst = torch.zeros_like(limit)
    for step in range(1, steps + 1):
        loss = optimizer.step(closure)
        # maximum propagates NaN, so a non-finite loss at any step is caught at the next check.
        worst = torch.maximum(worst, loss.detach())
        if step % check_every == 0 or step == steps:
            if not bool(torch.isfinite(worst)) or bool(worst > limit):
                return True, step
    with torch.no_grad():  # the loss after the last step
        final = loss_fn(model(x), y)
    return (not bool(torch.isfinite(final)) or bool(final > limit)), steps


@dataclass(frozen=True)
class Threshold:
    """The bracket ``low < eta* <= high`` (``low`` stable, ``high`` diverged) and its geometric midpoint."""

    low: float
    high: float
    evaluations: int

    @property
    def estimate(self) -> float:
        return math.sqrt(self.low * self.high)


def bisect_threshold(
    diverges_at: Callable[[float], bool],
    *,
    lr_low: float,
    lr_high: float,
    rel_tol: float = 1e-3,
    max_evaluations: int = 80,
) -> Threshold:
    """Bracket the smallest diverging learning rate and bisect it (in ``log eta``) to ``high/low - 1 <= rel_tol``.

    The initial bracket is widened by factors of 4 (down while ``lr_low`` diverges, up while ``lr_high`` does
    not). Raises ``ValueError`` if ``max_evaluations`` does not suffice.
    """
    low = check_positive("lr_low", lr_low)
    high = check_positive("lr_high", lr_high)
    if not low < high:
        raise UsageError(f"lr_low must be below lr_high, got {lr_low!r} and {lr_high!r}")
    rel_tol = check_positive("rel_tol", rel_tol)
    max_evaluations = check_integer("max_evaluations", max_evaluations, minimum=2)
    evaluations = 0

    def test(lr: float) -> bool:
        nonlocal evaluations
        if evaluations >= max_evaluations:
            raise ValueError(f"no divergence threshold found within max_evaluations={max_evaluations} runs")
        evaluations += 1
        return bool(diverges_at(lr))

    while test(low):
        low, high = low / 4, low
    while not test(high):
        low, high = high, high * 4
    while high / low - 1 > rel_tol:
        middle = math.sqrt(low * high)
        if test(middle):
            high = middle
        else:
            low = middle
    return Threshold(low=low, high=high, evaluations=evaluations)


def observed_thresholds(
    model: nn.Module,
    loss_fn: Callable,
    data: Sequence[torch.Tensor],
    methods: Sequence[str],
    *,
    rho: float,
    steps: int,
    blowup: float,
    lr_low: float = 1e-3,
    lr_high: float = 1.0,
    rel_tol: float = 1e-3,
    check_every: int = 50,
    threads: int | None = 1,
    progress: bool | None = None,
) -> dict[str, Threshold]:
    """``{method: Threshold}``: each method's divergence threshold from ``model``'s current point (not modified).

    ``threads``: torch intra-op threads during the runs, restored afterwards (``None``: leave torch's
    setting). Thousands of small full-batch CPU steps run fastest on one thread (measured: 8x faster than two
    threads on a loaded 2-core machine); raise it for large models.
    """
    from tqdm.auto import tqdm

    for method in methods:
        check_choice("method", method, SCAN_METHODS)
    steps = check_integer("steps", steps, minimum=1)
    blowup = check_positive("blowup", blowup)
    if blowup <= 1:
        raise UsageError(f"blowup must be > 1 (a multiple of the initial loss), got {blowup!r}")
    start = copy.deepcopy(model.state_dict())
    work = copy.deepcopy(model)
    out = {}
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_integer("threads", threads, minimum=1))
    try:
        for method in tqdm(methods, desc="lr-scan", unit="method", disable=disable):

            def run(lr: float, method=method) -> bool:
                work.load_state_dict(start)
                return diverges(work, loss_fn, data, method, lr, rho=rho, steps=steps, blowup=blowup, check_every=check_every)[0]

            out[method] = bisect_threshold(run, lr_low=lr_low, lr_high=lr_high, rel_tol=rel_tol)
    finally:
        torch.set_num_threads(previous_threads)
    return out


# -- least squares on digits: the exact case --------------------------------------------------------------


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


def least_squares_problem(*, generator: np.random.Generator) -> LeastSquaresProblem:
    """The digits least-squares problem (scikit-learn's 1797 8x8 digits, embedded; nothing is downloaded).

    Features standardised per pixel (constant pixels left at 0), target the standardised digit label,
    an intercept column; float64 throughout.
    """
    from sklearn.datasets import load_digits

    if not isinstance(generator, np.random.Generator):
        raise UsageError(f"generator must be a numpy.random.Generator, got {type(generator).__name__}")
    digits = load_digits()
    features = digits.data.astype(np.float64)
    std = features.std(axis=0)
    features = (features - features.mean(axis=0)) / np.where(std > 0, std, 1.0)
    target = digits.target.astype(np.float64)
    target = (target - target.mean()) / target.std()
    design = np.hstack([features, np.ones((len(features), 1))])
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
        x=torch.from_numpy(features),
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
    rho: float = 0.05,
    steps: int = 1000,
    blowup: float = 1e6,
    rel_tol: float = 1e-3,
    lr_low: float = 1e-3,
    lr_high: float = 1.0,
    generator: np.random.Generator,
    progress: bool | None = None,
):
    """Predicted (exact, from ``lambda_max`` of ``X~^T X~ / n`` through :mod:`theory.edge`) vs observed
    divergence thresholds on the digits least-squares problem; a pandas DataFrame, one row per method.

    Columns: ``method, rho, lambda_max, predicted_lr, observed_lr, observed_low, observed_high,
    relative_error`` (``observed_lr / predicted_lr - 1``), ``steps, blowup, evaluations``. ``[lr_low, lr_high]``
    is the initial bracket (widened if needed). For SAM the
    prediction is the SAM-edge at the start point's gradient norm (a local statement, not a divergence
    threshold of the quadratic: THEORY.md section 2).
    """
    import pandas as pd

    from analysis.thresholds import max_stable_learning_rates

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


# -- networks: predicted from the curvature vs observed, along a trajectory ---------------------------------


def thresholds_along_training(
    model: nn.Module,
    loss_fn: Callable,
    data: Sequence[torch.Tensor],
    methods: Sequence[str] = SCAN_METHODS,
    *,
    rho: float = 0.05,
    train_lr: float,
    checkpoints: Sequence[int] = (0,),
    steps: int = 200,
    blowup: float = 10.0,
    rel_tol: float = 1e-2,
    generator: np.random.Generator,
    progress: bool | None = None,
    **operator_options,
):
    """At each step count in ``checkpoints`` of a full-batch GD trajectory at ``train_lr`` (from ``model``'s
    point; ``model`` is not modified), measure ``lambda_max`` and ``||g||`` (predicted thresholds) and bisect
    the observed divergence threshold of each method from that point.

    Returns a tidy DataFrame with columns ``checkpoint, method, rho, metric, value``; metrics
    ``sharpness``, ``grad_norm``, ``loss`` (method ``""``) and ``predicted_lr``, ``observed_lr``,
    ``observed_low``, ``observed_high`` per method. Divergence: loss above ``blowup`` times its value at the
    checkpoint, or non-finite, within ``steps`` steps.
    """
    import pandas as pd

    from analysis.thresholds import measure_curvature

    checkpoints = sorted(check_integer("checkpoint", c, minimum=0) for c in checkpoints)
    train_lr = check_positive("train_lr", train_lr)
    work = copy.deepcopy(model)
    optimizer = torch.optim.SGD(work.parameters(), lr=train_lr)
    x, y = data
    done, rows = 0, []
    for checkpoint in checkpoints:
        for _ in range(checkpoint - done):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(work(x), y).backward()
            optimizer.step()
        done = checkpoint
        report = measure_curvature(work, loss_fn, data, rho=rho, generator=generator, methods=methods, **operator_options)
        base = {"checkpoint": checkpoint, "rho": rho}
        rows += [
            {**base, "method": "", "metric": "sharpness", "value": report.sharpness},
            {**base, "method": "", "metric": "grad_norm", "value": report.grad_norm},
            {**base, "method": "", "metric": "loss", "value": report.loss},
        ]
        observed = observed_thresholds(
            work, loss_fn, data, methods, rho=rho, steps=steps, blowup=blowup, rel_tol=rel_tol, progress=progress
        )
        for m in methods:
            rows += [
                {**base, "method": m, "metric": "predicted_lr", "value": report.max_stable_lr[m]},
                {**base, "method": m, "metric": "observed_lr", "value": observed[m].estimate},
                {**base, "method": m, "metric": "observed_low", "value": observed[m].low},
                {**base, "method": m, "metric": "observed_high", "value": observed[m].high},
            ]
    return pd.DataFrame(rows)
