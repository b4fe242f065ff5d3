r"""Per-step optimizer statistics of one training run, and the interleaved step-time ratio of two methods.

:func:`gradient_norm_trajectory` trains one model with one method (:mod:`stability` optimizers) and records at
every step the exact mini-batch gradient norm ``||g||``, the surrogate's ``||g~||`` (gradient at the ascent point
``w~``) and the renormalization factor ``gamma = ||g|| / ||g~||`` (docs/theory.md section 1; logged for plain SAM and
USAM too, where it is not applied). The twin harness logs these only as means, minima and maxima per logging
interval; claims about *every* step (the fraction of steps with ``gamma > 1``) need them step by step. Statistics
stay on the device and are read once per epoch.

:func:`step_times` times the optimizer steps of two methods on the same model and mini-batch in interleaved
blocks, alternating which method goes first, so that drifts of a shared machine hit both alike; the ratio of
block times is the measured overhead. (A minimal loop on purpose: the benchmarks' timing helper lives in
``benchmarks/``, outside the package.)
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from stablesam.core.methods import method as method_row
from stablesam.core.validation import UsageError, check_integer, check_nonnegative, check_positive

__all__ = ["StepTimes", "gradient_norm_trajectory", "step_times"]

_STATS = ("loss", "grad_norm", "surrogate_grad_norm", "gamma")


@lru_cache(maxsize=4)
def _dataset(name: str, data_seed: int, n_train: int | None):
    """The data set of a run, loaded once per process (a verification trains many models on it)."""
    from stablesam.stability.data import load_dataset

    return load_dataset(name, generator=np.random.default_rng(data_seed), n_train=n_train)


def _problem(dataset: str, model: str, *, seed: int, data_seed: int, n_train: int | None, device: str):
    import torch

    from stablesam.stability.models import build_model
    from stablesam.stability.twin.pairs import STREAM_INIT, stream_seed

    data = _dataset(dataset, data_seed, n_train)
    outputs = data.num_classes if data.task == "classification" else 1
    net = build_model(model, tuple(data.input_shape), outputs,
                      generator=torch.Generator().manual_seed(stream_seed(seed, STREAM_INIT)))
    return data, net.to(device)


def gradient_norm_trajectory(method: str, *, lr: float, rho: float, epochs: int, seed: int, dataset: str = "digits",
                             model: str = "mlp", batch_size: int = 64, data_seed: int = 0, n_train: int | None = None,
                             device: str = "cpu", divergence_threshold: float = 1e6) -> dict[str, list[float]]:
    """Train ``model`` on ``dataset`` with ``method`` (plain SGD base) and return the per-step statistics.

    Returns ``{"step": [...], "loss": [...], "grad_norm": [...], "surrogate_grad_norm": [...], "gamma": [...],
    "diverged": bool}``; the loss is the mini-batch loss at ``w`` before the step. Training stops at the end of the
    epoch in which the loss or the gradient norm became non-finite or the loss exceeded ``divergence_threshold``
    (``diverged`` is then true; the rule of :class:`stablesam.stability.training.loop.DivergenceRule`).
    Initialisation and batch order come from ``seed`` (the twin harness's streams), the data split from
    ``data_seed``.
    """
    import torch
    from torch.nn import functional as F

    from stablesam.stability.optimizers import make_optimizer
    from stablesam.stability.training.loop import DivergenceRule, Hook, closure_for, run_steps
    from stablesam.stability.twin.pairs import STREAM_BATCHES, stream_seed

    row = method_row(method)
    if not row.uses_rho or row.ascent == "adaptive":
        raise UsageError(f"method must have a SAM or USAM ascent (sam, usam, stablesam-n, stablesam-u), got {method!r}")
    lr, rho = check_positive("lr", lr), check_nonnegative("rho", rho)
    epochs = check_integer("epochs", epochs, minimum=1)
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    data, net = _problem(dataset, model, seed=seed, data_seed=data_seed, n_train=n_train, device=device)
    x, y = data.x_train.to(device), data.y_train.to(device)
    optimizer = make_optimizer(method, net.parameters(), lr=lr, rho=rho)
    batches = torch.Generator().manual_seed(stream_seed(seed, STREAM_BATCHES))
    steps_per_epoch = math.ceil(len(y) / batch_size)
    rule = DivergenceRule(threshold=divergence_threshold)
    records: list[torch.Tensor] = []
    order, diverged = None, False

    def step(t: int) -> None:
        nonlocal order
        if t % steps_per_epoch == 0:  # a new epoch: a new permutation
            order = torch.randperm(len(y), generator=batches).to(device)
        start = (t % steps_per_epoch) * batch_size
        idx = order[start:start + batch_size]
        loss = optimizer.step(closure_for(net, F.cross_entropy, x[idx], y[idx], optimizer))
        stats = optimizer.last_stats
        records.append(torch.stack([loss.detach(), stats["grad_norm"], stats["surrogate_grad_norm"], stats["gamma"]]))

    def diverged_this_epoch(t: int) -> bool:  # one sync per epoch
        nonlocal diverged
        epoch = torch.stack(records[-steps_per_epoch:])
        diverged = bool(rule.reasons(epoch[:, 0], epoch[:, 1]).any())
        return diverged

    run_steps(step, start=0, stop=epochs * steps_per_epoch, hooks=[Hook(steps_per_epoch, diverged_this_epoch)])
    table = torch.stack(records).double().cpu().numpy()
    out: dict[str, list] = {"step": list(range(len(table)))}
    out.update({name: table[:, k].tolist() for k, name in enumerate(_STATS)})
    out["diverged"] = diverged
    return out


@dataclass(frozen=True)
class StepTimes:
    """Seconds per block of ``steps`` optimizer steps of each method; ``ratio = seconds_b / seconds_a`` per block."""

    method_a: str
    method_b: str
    seconds_a: tuple[float, ...]
    seconds_b: tuple[float, ...]
    steps: int
    threads: int
    device: str

    @property
    def ratio(self) -> np.ndarray:
        return np.asarray(self.seconds_b) / np.asarray(self.seconds_a)


def step_times(method_a: str, method_b: str, *, model: str = "mlp", dataset: str = "digits", lr: float = 0.1,
               rho: float = 0.05, batch_size: int = 128, blocks: int = 20, steps: int = 10, warmup: int = 5,
               seed: int = 0, device: str = "cpu") -> StepTimes:
    """Interleaved timing of ``steps`` optimizer steps of ``method_a`` and ``method_b`` per block.

    Both methods train their own copy of the same initial model on the same mini-batch; block ``k`` runs
    ``method_a`` first when ``k`` is even and ``method_b`` first otherwise. CUDA work is synchronised before each
    clock reading. ``warmup`` untimed steps of each method come first.
    """
    import torch
    from torch.nn import functional as F

    from stablesam.stability.optimizers import make_optimizer

    for key in (method_a, method_b):
        method_row(key)
    blocks = check_integer("blocks", blocks, minimum=2)
    steps = check_integer("steps", steps, minimum=1)
    data, net = _problem(dataset, model, seed=seed, data_seed=0, n_train=None, device=device)
    x, y = data.x_train[:batch_size].to(device), data.y_train[:batch_size].to(device)
    runs = {}
    for key in (method_a, method_b):
        copy_ = copy.deepcopy(net)
        optimizer = make_optimizer(key, copy_.parameters(), lr=lr, rho=rho)

        def closure(net=copy_, optimizer=optimizer):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            return loss

        runs[key] = (optimizer, closure)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)

    def timed(key: str, count: int) -> float:
        optimizer, closure = runs[key]
        sync()
        start = time.perf_counter()
        for _ in range(count):
            optimizer.step(closure)
        sync()
        return time.perf_counter() - start

    for key in (method_a, method_b):
        timed(key, warmup)
    seconds = {method_a: [], method_b: []}
    for k in range(blocks):
        for key in ((method_a, method_b) if k % 2 == 0 else (method_b, method_a)):
            seconds[key].append(timed(key, steps))
    return StepTimes(method_a, method_b, tuple(seconds[method_a]), tuple(seconds[method_b]), steps,
                     torch.get_num_threads(), str(device))
