"""Observed divergence thresholds by bisection over the learning rate, where divergence is monotone in it.

:func:`bisect_threshold` brackets the transition and halves the bracket in ``log eta`` until
``high / low - 1 <= rel_tol``. It is sound only where divergence is monotone in ``eta``: on quadratics, where
the maps of docs/theory.md section 2 diverge exactly above their thresholds (the exact least-squares case,
:mod:`stablesam.analysis.experiments.least_squares_digits`). On networks the outcome is not monotone (issue 14, item 7): scan a
grid instead (:mod:`stablesam.analysis.experiments.lr_scan`). A run *diverges* when it blows up (:func:`stablesam.analysis.experiments.blowup_run.run_until_blowup`).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from stablesam.analysis.experiments.blowup_run import SCAN_METHODS, run_until_blowup
from stablesam.core.progress import progress_mode
from stablesam.core.validation import UsageError, check_choice, check_integer, check_positive
from stablesam.stability.threads import torch_threads

__all__ = ["SCAN_METHODS", "Threshold", "bisect_threshold", "observed_thresholds"]


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
    mode = progress_mode(progress)
    started = time.perf_counter()
    with torch_threads(threads):
        for method in tqdm(methods, desc="lr-scan", unit="method", disable=not mode.bar):

            def run(lr: float, method=method) -> bool:
                work.load_state_dict(start)
                return run_until_blowup(work, loss_fn, data, method, lr, rho=rho, steps=steps, blowup=blowup, check_every=check_every)[0]

            out[method] = bisect_threshold(run, lr_low=lr_low, lr_high=lr_high, rel_tol=rel_tol)
            mode.line(f"lr-scan: {method} bisected ({time.perf_counter() - started:.0f} s)")
    return out
