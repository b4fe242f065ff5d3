r"""C10, flatter minima: sharpness at the end of training and at equal training loss, per method.

The claim (Tan et al., arXiv:2401.07250, experiments): "StableSAM, like SAM, finds flatter minima than SGD". No
theorem in the toolkit speaks to it (:data:`C10_THEORY`): it is an observation, checked here as one.

Each run trains a tanh MLP on digits (square loss ``(1/2n) sum ||f(x_i) - e_{y_i}||^2``, full batch by default) and
measures, on the full training set,

* at the **first step where the training loss reaches each stated loss** (``target_losses``; the loss is checked
  after every step, so "first" is exact) and at the **end**: the top Hessian eigenvalue ``lambda_max`` by Lanczos
  (:func:`stablesam.analysis.curvature.eigen.lanczos_top_eigenpairs`) with its residual ``||H v - lambda v||``
  (which bounds the eigenvalue's error), and the trace by Hutchinson's estimator
  (:func:`~stablesam.analysis.curvature.eigen.hutchinson_trace`) with its standard error.

Sharpness falls with the training loss anyway, so methods are compared **at equal training loss**
(:func:`equal_loss_comparison`): per seed, method ``m`` against the reference (SGD/GD) at the first step each
reaches the same stated loss. A run that never reaches the loss is an outcome (``reached = False``), never a number.

The claim's decision rule lives with the claim, in :mod:`stablesam.analysis.verify.claims.c10_flatness` (this room
does not import ``verify``): per seed the log-ratio to SGD at equal loss, the exact sign-test interval of its
median, every (method, stated loss) case required.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from stablesam.core.methods import method_keys
from stablesam.core.progress import progress_mode
from stablesam.core.validation import UsageError

__all__ = [
    "C10_THEORY",
    "FlatnessConfig",
    "equal_loss_comparison",
    "first_step_reaching",
    "flatness_table",
]

C10_THEORY = {
    "claim": "C10: StableSAM, like SAM, finds flatter minima than SGD",
    "status": "no theory (observed only)",
    "line": "no result of the toolkit predicts the final sharpness of a network; on quadratics StableSAM's edge is "
    "GD's 2/eta, above SAM's (docs/theory.md section 3), which suggests StableSAM may sit sharper than SAM",
    "source": "stablesam.theory.stability_edge",
}
"""What the theory says about C10 (status and one line), for ``stablesam verify``."""

def first_step_reaching(loss, target: float) -> int:
    """The first index with ``loss <= target`` (``-1``: never).

    >>> first_step_reaching([1.0, 0.5, 0.2, 0.3, 0.1], 0.25), first_step_reaching([1.0, 0.5], 0.1)
    (2, -1)
    """
    loss = np.asarray(loss, dtype=np.float64)
    hit = loss <= target
    return int(hit.argmax()) if hit.any() else -1


def _positive_tuple(value) -> bool:
    return (isinstance(value, tuple) and len(value) >= 1
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in value))


@dataclass(frozen=True)
class FlatnessConfig:
    """The C10 experiment: every method x seed is a run (``gd``/``sgd`` with ``rho = 0``)."""

    methods: tuple[str, ...] = ("gd", "sam", "stablesam-n", "stablesam-u")
    lr: float = 0.1
    rho: float = 0.05
    hidden: tuple[int, ...] = (32,)
    steps: int = 2000
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    target_losses: tuple[float, ...] = (0.1, 0.05)
    batch_size: int | None = None
    n_train: int | None = None
    data_seed: int = 0
    probes: int = 50
    lanczos_tol: float = 1e-6

    def __post_init__(self) -> None:
        from stablesam.core.constraints import Interval, NoneValue, Satisfies, validate_parameters

        keys = method_keys()
        constraints = {
            "methods": [Satisfies(lambda v: isinstance(v, tuple) and len(v) >= 1 and len(set(v)) == len(v)
                                  and all(m in keys for m in v), f"a non-empty tuple of distinct methods from {keys}",
                                  ("nope",))],
            "lr": [Interval(float, 0, None, closed="neither")],
            "rho": [Interval(float, 0, None, closed="neither")],
            "hidden": [Satisfies(lambda v: isinstance(v, tuple) and all(isinstance(h, int) and h >= 1 for h in v),
                                 "a tuple of widths >= 1", (0,))],
            "steps": [Interval(int, 1, None)],
            "seeds": [Satisfies(lambda v: isinstance(v, tuple) and len(v) >= 1 and len(set(v)) == len(v)
                                and all(isinstance(s, int) and s >= 0 for s in v), "a tuple of distinct seeds >= 0", (-1,))],
            "target_losses": [Satisfies(_positive_tuple, "a non-empty tuple of losses > 0", (0.0,))],
            "batch_size": [NoneValue(), Interval(int, 1, None)],
            "n_train": [NoneValue(), Interval(int, 10, None)],
            "data_seed": [Interval(int, 0, None)],
            "probes": [Interval(int, 2, None)],
            "lanczos_tol": [Interval(float, 0, None, closed="neither")],
        }
        validate_parameters(constraints, {n: getattr(self, n) for n in constraints}, owner="FlatnessConfig")


def _measure(model, loss_fn, data, seed: int, config: FlatnessConfig) -> dict[str, float]:
    import torch

    from stablesam.analysis.curvature.eigen import hutchinson_trace, lanczos_top_eigenpairs
    from stablesam.analysis.curvature.hessian import HessianOperator

    operator = HessianOperator(model, loss_fn, data, dtype=torch.float64)
    eig = lanczos_top_eigenpairs(operator, 1, generator=np.random.default_rng(seed), tol=config.lanczos_tol)
    trace = hutchinson_trace(operator, config.probes, generator=np.random.default_rng(10_000 + seed))
    top = float(eig.eigenvalues[0]) if len(eig.eigenvalues) else math.nan
    residual = float(eig.residuals[0]) if len(eig.residuals) else math.nan
    return {"lambda_max": top, "lanczos_residual": residual, "trace": trace.trace, "trace_se": trace.standard_error}


def flatness_table(config: FlatnessConfig = FlatnessConfig(), *, progress: bool | None = None):
    """Run the experiment; return ``(table, curves)``. ``progress``: see
    :func:`stablesam.core.progress.progress_mode` (one line per finished run off a terminal).

    ``table``: one row per (method, seed, point) with ``point`` ``"loss<=L"`` for each stated loss and ``"final"``:
    ``rho, step, loss, reached, lambda_max, lanczos_residual, trace, trace_se`` (NaN where not reached).
    ``curves``: the training loss, a tidy table ``method, seed, step, loss`` (every step).
    """
    import pandas as pd
    import torch
    import torch.nn.functional as F

    from stablesam.stability.data import load_dataset
    from stablesam.stability.models import build_model
    from stablesam.stability.optimizers import effective_rho, make_optimizer

    data = load_dataset("digits", generator=np.random.default_rng(config.data_seed), n_train=config.n_train,
                        dtype=torch.float64)
    x, y = data.x_train, data.y_train
    k = data.num_outputs

    def loss_fn(outputs, targets):
        return 0.5 * (outputs - F.one_hot(targets, k).to(outputs.dtype)).square().sum(dim=1).mean()

    rows, curves = [], []
    runs = [(m, s) for m in config.methods for s in config.seeds]
    from tqdm.auto import tqdm

    mode, started = progress_mode(progress), time.perf_counter()  # one line per finished run off a tty
    for index, (key, seed) in enumerate(tqdm(runs, desc="flatness runs", unit="run", disable=not mode.bar), 1):
        model = build_model("mlp", data.input_shape, k, generator=torch.Generator().manual_seed(seed),
                            dtype=torch.float64, hidden=config.hidden, activation="tanh")
        rho = effective_rho(key, config.rho)
        optimizer = make_optimizer(key, model.parameters(), lr=config.lr, rho=config.rho)
        batches = torch.Generator().manual_seed(seed)
        pending = sorted(config.target_losses, reverse=True)
        reached: dict[float, tuple[int, float, dict]] = {}
        losses = []

        def full_loss():
            with torch.no_grad():
                return float(loss_fn(model(x), y))

        for step in range(config.steps + 1):
            loss = full_loss()  # one host sync per step: "first step reaching a loss" must be exact
            losses.append(loss)
            if not math.isfinite(loss):
                break
            while pending and loss <= pending[0]:
                reached[pending.pop(0)] = (step, loss, _measure(model, loss_fn, (x, y), seed, config))
            if step == config.steps:
                break
            if config.batch_size is None or config.batch_size >= len(x):
                bx, by = x, y
            else:
                index_ = torch.randperm(len(x), generator=batches)[: config.batch_size]
                bx, by = x[index_], y[index_]

            def closure():
                optimizer.zero_grad()
                value = loss_fn(model(bx), by)
                value.backward()
                return value

            optimizer.step(closure)
        final_step = len(losses) - 1
        final = _measure(model, loss_fn, (x, y), seed, config) if math.isfinite(losses[-1]) else {}
        nan = {"lambda_max": math.nan, "lanczos_residual": math.nan, "trace": math.nan, "trace_se": math.nan}
        for target in config.target_losses:
            if target in reached:
                step, loss, values = reached[target]
                rows.append({"method": key, "rho": rho, "seed": seed, "point": f"loss<={target:g}", "target": target,
                             "step": step, "loss": loss, "reached": True, **values})
            else:
                rows.append({"method": key, "rho": rho, "seed": seed, "point": f"loss<={target:g}", "target": target,
                             "step": math.nan, "loss": math.nan, "reached": False, **nan})
        rows.append({"method": key, "rho": rho, "seed": seed, "point": "final", "target": math.nan, "step": final_step,
                     "loss": losses[-1], "reached": bool(final), **(final or nan)})
        curves.extend((key, seed, t, v) for t, v in enumerate(losses))
        mode.line(f"flatness: {key} seed {seed} done ({index}/{len(runs)}, {time.perf_counter() - started:.0f} s)")
    return pd.DataFrame(rows), pd.DataFrame(curves, columns=["method", "seed", "step", "loss"])


def equal_loss_comparison(curves, sharpness, target: float, *, reference: str = "gd", metric: str = "lambda_max"):
    """Per (method, seed): ``metric`` at the first step where the loss reaches ``target``, beside the reference's.

    ``curves``: tidy ``method, seed, step, loss``; ``sharpness``: tidy ``method, seed, step, <metric>`` (measured at
    least at the steps that matter; a run whose first-reaching step has no measurement raises). Returns rows
    ``method, seed, step, value, reference_step, reference_value, ratio`` for every method other than the
    reference, with NaN (and ``reached = False``) where either run never reaches ``target``.
    """
    import pandas as pd

    first = {}
    for (m, s), run in curves.sort_values("step").groupby(["method", "seed"]):
        hit = first_step_reaching(run["loss"].to_numpy(), target)
        first[m, s] = int(run["step"].to_numpy()[hit]) if hit >= 0 else None
    measured = sharpness.set_index(["method", "seed", "step"])[metric]

    def value_at(m, s):
        step = first.get((m, s))
        if step is None:
            return None, math.nan
        if (m, s, step) not in measured.index:
            raise UsageError(f"{metric} of ({m}, seed {s}) was not measured at step {step}, where it first reaches {target:g}")
        return step, float(measured.loc[(m, s, step)])

    rows = []
    for (m, s) in first:
        if m == reference:
            continue
        step, value = value_at(m, s)
        ref_step, ref_value = value_at(reference, s) if (reference, s) in first else (None, math.nan)
        ok = step is not None and ref_step is not None
        rows.append({"method": m, "seed": s, "target": target, "reached": ok,
                     "step": math.nan if step is None else step, "value": value,
                     "reference_step": math.nan if ref_step is None else ref_step, "reference_value": ref_value,
                     "ratio": value / ref_value if ok else math.nan})
    return pd.DataFrame(rows)
