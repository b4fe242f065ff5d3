"""Edge of stability on real networks: the sharpness along training against each method's edge.

Train a network at a fixed learning rate ``eta`` with GD, SAM, USAM, StableSAM-U or StableSAM-N (full batch by
default) and, every ``measure_every`` steps, measure on the full training set

* the sharpness ``lambda_max``: the top eigenvalue of the Hessian of the training loss (Lanczos,
  :func:`stablesam.analysis.curvature.eigen.lanczos_top_eigenpairs`, warm-started from the previous top eigenvector), with the
  residual ``||H v - lambda v||`` that bounds its error;
* the loss, the accuracy and the gradient norm ``||g||``;
* the method's edge ``lambda*`` (:func:`stablesam.theory.stability_edge.max_stable_sharpness`, keyed by
  :attr:`stablesam.core.methods.Method.edge`): ``2/eta`` for GD and both StableSAM variants, USAM's
  ``(sqrt(1 + 8 rho/eta) - 1)/(2 rho)`` (Agarwala and Dauphin 2023), SAM's
  ``(||g||/(2 rho))(sqrt(1 + 8 rho/(eta ||g||)) - 1)`` at the measured ``||g||`` (Long and Bartlett 2023);
* ``sharpness_ratio = lambda_max / lambda*``.

The number that summarises a run is its **plateau ratio**: the median of ``sharpness_ratio`` over the
measurements in the last half of training (:func:`plateau_ratios`; :func:`plateau_summary` gives the spread
over seeds). Cohen et al. (ICLR 2021, "Gradient descent on neural networks typically occurs at the edge of
stability") observe GD's sharpness rise (progressive sharpening) to ``2/eta`` and hover there: a plateau
ratio near 1. Long and Bartlett (2023) observe SAM hovering at its SAM-edge. Where USAM, StableSAM-U and
StableSAM-N hover is what this module *observes*; only the quadratic-model statements are proved
(``docs/theory.md`` sections 2 and 3).

Experimental choices (all in :class:`EosConfig`):

* loss ``"mse"`` (default): ``(1/(2n)) sum_i ||f(x_i) - e_{y_i}||^2`` with one-hot targets, the square loss
  of Cohen et al.; ``"cross-entropy"`` is offered too (its sharpness falls late in training as the
  margins grow, Cohen et al. section 3);
* float64 by default: the models are small, and the tests compare the measured sharpness with the dense
  Hessian's top eigenvalue; float32 (on a GPU) changes no formula;
* the data split is fixed by ``data_seed``; ``seeds`` vary the initialisation and, with ``batch_size``,
  the mini-batch order. Mini-batch runs still measure on the full training set.
* a run *diverges* when the training loss is non-finite or exceeds ``divergence_factor`` times its initial
  value at a measurement; the divergence is recorded (metric ``diverged``, value 1) and the run stops.

Files (``out_dir``, a verified store, :mod:`stablesam.core.store`: locked by one writer, every file written atomically
with its sha256 recorded first, a damaged one set aside as ``*.damaged`` and recomputed): ``config.json``;
``runs/<run>.pt``, one
checkpoint per run (``torch.save`` of the model and optimizer state, step, warm-start vector, batch-order
generator state, the rows so far and the config; read with ``weights_only=True``) every ``checkpoint_every`` steps and
at the end; ``metrics.csv`` (the tidy table) and ``summary.json`` (plateau ratios) after each run. Calling
:func:`run_edge_of_stability` again with the same config continues where it stopped and, on the CPU,
reproduces the uninterrupted run bit for bit.

Example::

    >>> from stablesam.analysis.experiments.edge_of_stability import EosConfig, run_edge_of_stability
    >>> result = run_edge_of_stability(EosConfig(methods=("gd",), lrs=(0.2,), steps=400))  # doctest: +SKIP
    >>> result.summary                                           # plateau ratio per method and eta # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from stablesam.core.constraints import Interval, NoneValue, Options, Satisfies, validate_parameters
from stablesam.core.methods import method, method_keys
from stablesam.core.paths import check_output_dir
from stablesam.core.progress import progress_mode
from stablesam.core.store import Store
from stablesam.core.validation import UsageError, check_positive
from stablesam.stability.optimizers import make_optimizer
from stablesam.stability.training.device import resolve_device
from stablesam.stability.training.loop import DivergenceRule, Hook, all_finite, closure_for, run_steps

__all__ = [
    "COLUMNS",
    "EOS_METHODS",
    "EosConfig",
    "EosResult",
    "edge_for",
    "figure_edge_of_stability",
    "plateau_ratios",
    "plateau_summary",
    "run_edge_of_stability",
]

EOS_METHODS: tuple[str, ...] = method_keys(edge=True)
"""Methods with an edge formula: ``gd``/``sgd`` (the base step alone), ``sam``, ``usam``, ``stablesam-n``,
``stablesam-u``."""

COLUMNS = ("run", "seed", "optimizer", "rho", "lr", "step", "metric", "value", "model", "dataset")
_LOSSES = ("mse", "cross-entropy")
_DTYPES = ("float64", "float32")
_DEVICES = ("cpu", "cuda", "auto")
_MODELS = ("mlp", "cnn")
_ACTIVATIONS = ("tanh", "relu")
MAX_STEPS = 10**8
"""The most training steps a run may ask for (days on the smallest model: a larger value is a typo)."""


def _sequence_of(kind: type, accepts, *, distinct: bool = True, empty: bool = False):
    """A predicate: a list or tuple of ``kind`` values (finite numbers, not bools; or strings) that ``accepts``
    takes, distinct unless ``distinct=False``, non-empty unless ``empty=True``."""
    item = (lambda v: isinstance(v, str)) if kind is str else Interval(kind, None, None).accepts

    def predicate(value) -> bool:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or (not value and not empty):
            return False
        items = list(value)
        return all(item(v) and accepts(v) for v in items) and (not distinct or len(set(items)) == len(items))

    return predicate


# What each parameter may be (scikit-learn's ``_parameter_constraints``); validated at construction.
_PARAMETER_CONSTRAINTS = {
    "dataset": [Satisfies(lambda v: isinstance(v, str) and bool(v), "a data set name", 3)],
    "model": [Options(frozenset(_MODELS))],
    "activation": [Options(frozenset(_ACTIVATIONS))],
    "hidden": [Satisfies(_sequence_of(int, lambda v: v >= 1, distinct=False, empty=True),
                         "a list of layer widths >= 1 (possibly empty)", [0])],
    "channels": [Satisfies(_sequence_of(int, lambda v: v >= 1), "a non-empty list of distinct channel counts >= 1",
                           [0])],
    "methods": [Satisfies(_sequence_of(str, lambda v: v in EOS_METHODS),
                          f"a non-empty list of distinct method keys among {', '.join(EOS_METHODS)}", ["asam"])],
    "lrs": [Satisfies(_sequence_of(float, lambda v: v > 0), "a non-empty list of distinct learning rates > 0",
                      [0.0])],
    "rhos": [Satisfies(_sequence_of(float, lambda v: v >= 0), "a non-empty list of distinct radii >= 0", [-0.1])],
    "seeds": [Satisfies(_sequence_of(int, lambda v: v >= 0), "a non-empty list of distinct seeds >= 0", [0, 0])],
    "steps": [Interval(int, 1, MAX_STEPS)],
    "measure_every": [Interval(int, 1, None)],
    "batch_size": [Interval(int, 1, None), NoneValue()],
    "loss": [Options(frozenset(_LOSSES))],
    "n_train": [Interval(int, 2, None), NoneValue()],
    "data_seed": [Interval(int, 0, None)],
    "data_dir": [Satisfies(lambda v: isinstance(v, str) and bool(v), "a directory path", 3), NoneValue()],
    "dtype": [Options(frozenset(_DTYPES))],
    "device": [Options(frozenset(_DEVICES))],
    "lanczos_tol": [Interval(float, 0, None, closed="neither")],
    "lanczos_ncv": [Interval(int, 2, None)],
    "divergence_factor": [Interval(float, 1, None, closed="neither")],
    "checkpoint_every": [Interval(int, 1, None)],
}


@dataclass(frozen=True)
class EosConfig:
    """One edge-of-stability experiment: every method x learning rate x radius x seed is a run.

    ``rhos`` apply to the methods that use a radius; ``gd``/``sgd`` run once per ``lr`` and seed with
    ``rho = 0``. ``hidden``/``activation`` configure the ``mlp``, ``channels`` the ``cnn`` (ReLU)
    of :mod:`stablesam.stability.models`. ``batch_size=None``: full batch. ``lanczos_tol``: ARPACK's relative residual
    tolerance (the eigenvalue's error is of the order of the squared residual over the spectral gap: 1e-4 gave
    relative errors below 1e-7 on the digits MLP; the residual is recorded); ``lanczos_ncv``: its Lanczos basis
    size (a small basis is what lets the warm start pay off: ARPACK builds the whole basis before it tests
    convergence; ``benchmarks/eos_lanczos.py`` measures the products warm and cold).
    """

    dataset: str = "digits"
    model: str = "mlp"
    activation: str = "tanh"
    hidden: tuple[int, ...] = (64, 64)
    channels: tuple[int, ...] = (8, 16)
    methods: tuple[str, ...] = ("gd", "sam", "usam", "stablesam-u", "stablesam-n")
    lrs: tuple[float, ...] = (0.1,)
    rhos: tuple[float, ...] = (0.05,)
    seeds: tuple[int, ...] = (0,)
    steps: int = 2000
    measure_every: int = 20
    batch_size: int | None = None
    loss: str = "mse"
    n_train: int | None = None
    data_seed: int = 0
    data_dir: str | None = None
    dtype: str = "float64"
    device: str = "cpu"
    lanczos_tol: float = 1e-4
    lanczos_ncv: int = 6
    divergence_factor: float = 1e3
    checkpoint_every: int = 200

    _parameter_constraints = _PARAMETER_CONSTRAINTS

    def __post_init__(self) -> None:
        validate_parameters(self._parameter_constraints, {f.name: getattr(self, f.name) for f in fields(self)},
                            owner="EosConfig")
        for name, kind in (("hidden", int), ("channels", int), ("methods", str), ("lrs", float), ("rhos", float),
                           ("seeds", int)):  # one canonical form: tuples of plain Python numbers
            object.__setattr__(self, name, tuple(kind(v) for v in getattr(self, name)))
        for name in ("lanczos_tol", "divergence_factor"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def model_label(self) -> str:
        """The ``model`` column: ``mlp-tanh-64x64``, ``cnn-8x16``."""
        if self.model == "mlp":
            return f"mlp-{self.activation}-" + ("x".join(map(str, self.hidden)) or "linear")
        return "cnn-" + "x".join(map(str, self.channels))

    def runs(self) -> list[RunSpec]:
        """Every run, in the order they are trained."""
        specs = []
        for key in self.methods:
            for lr in self.lrs:
                for rho in (self.rhos if method(key).uses_rho else (0.0,)):
                    for seed in self.seeds:
                        specs.append(RunSpec(key, lr, rho, seed))
        return specs

    def to_json(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EosConfig:
        known = {f.name for f in fields(cls)}
        if not isinstance(data, dict):
            raise UsageError(f"an EosConfig must be a table of settings, got {type(data).__name__}")
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown EosConfig key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)


@dataclass(frozen=True)
class RunSpec:
    """One training run of an experiment."""

    optimizer: str
    lr: float
    rho: float
    seed: int

    @property
    def name(self) -> str:
        """The ``run`` column and the checkpoint's file name."""
        return f"{self.optimizer}_lr{self.lr:g}_rho{self.rho:g}_seed{self.seed}"


def edge_for(optimizer: str, lr, *, rho=0.0, grad_norm=None):
    """The edge ``lambda*`` of ``optimizer`` at learning rate ``lr`` (:func:`stablesam.theory.stability_edge.max_stable_sharpness`
    with the formula :attr:`stablesam.core.methods.Method.edge` names; ``grad_norm`` is used by SAM's edge only)."""
    from stablesam.theory import max_stable_sharpness

    formula = method(optimizer).edge
    if formula is None:
        raise UsageError(f"method {optimizer!r} has no edge formula; choose one of {', '.join(EOS_METHODS)}")
    return max_stable_sharpness(formula, lr, rho=rho, grad_norm=grad_norm if formula == "sam" else None)


@dataclass
class EosResult:
    """The config, the tidy table (:data:`COLUMNS`), the plateau ratio of every run (:func:`plateau_ratios`),
    their spread over seeds (:func:`plateau_summary`) and the output directory (None: in memory)."""

    config: EosConfig
    table: Any
    ratios: Any
    summary: Any
    out_dir: Path | None = None


# -- the loss ---------------------------------------------------------------------------------------------


def _loss_function(kind: str, num_classes: int):
    import torch
    import torch.nn.functional as F

    if kind == "cross-entropy":
        return F.cross_entropy

    def square_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``(1/(2n)) sum_i ||f(x_i) - onehot(y_i)||^2`` (the mean over the examples of a chunk)."""
        onehot = F.one_hot(targets, num_classes).to(outputs.dtype)
        return 0.5 * (outputs - onehot).square().sum(dim=1).mean()

    return square_loss


# -- one run ----------------------------------------------------------------------------------------------


def _build(config: EosConfig, seed: int, data, dtype, device):
    import torch

    from stablesam.stability.models import build_model

    options = {"hidden": config.hidden, "activation": config.activation} if config.model == "mlp" else {"channels": config.channels}
    model = build_model(config.model, data.input_shape, data.num_outputs, generator=torch.Generator().manual_seed(seed),
                        dtype=dtype, **options)
    return model.to(device)


class _Run:
    """The state of one run: model, optimizer, step, warm-start vector, batch order, rows so far."""

    def __init__(self, config: EosConfig, spec: RunSpec, data, loss_fn, device, dtype):
        import torch

        self.config, self.spec, self.loss_fn, self.device, self.dtype = config, spec, loss_fn, device, dtype
        self.x = data.x_train.to(device)
        self.y = data.y_train.to(device)
        self.model = _build(config, spec.seed, data, dtype, device)
        self.optimizer = make_optimizer(spec.optimizer, self.model.parameters(), lr=spec.lr, rho=spec.rho)
        self.step = 0
        self.v0: np.ndarray | None = None
        self.batch_generator = torch.Generator().manual_seed(spec.seed)
        self.order = None
        self.position = 0
        self.rows: list[tuple[int, str, float]] = []
        self.initial_loss: float | None = None
        self.status = "running"

    # -- checkpoint ---------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        import torch

        return {
            "config": self.config.to_json(),
            "run": self.spec.name,
            "step": self.step,
            "status": self.status,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "v0": None if self.v0 is None else torch.from_numpy(self.v0.copy()),
            "batch_generator": self.batch_generator.get_state(),
            "order": self.order,
            "position": self.position,
            "rows": list(self.rows),
            "initial_loss": self.initial_loss,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.step, self.status = int(state["step"]), str(state["status"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.v0 = None if state["v0"] is None else state["v0"].numpy().astype(np.float64)
        self.batch_generator.set_state(state["batch_generator"])
        self.order = None if state["order"] is None else state["order"].to(self.device)
        self.position = int(state["position"])
        self.rows = [(int(s), str(m), float(v)) for s, m, v in state["rows"]]
        self.initial_loss = state["initial_loss"]

    # -- training -----------------------------------------------------------------------------------------

    def _batch(self):
        import torch

        size = self.config.batch_size
        n = self.x.shape[0]
        if size is None or size >= n:
            return self.x, self.y
        if self.order is None or self.position + size > n:  # a new epoch: reshuffle, drop the last partial batch
            # Drawn on the CPU generator (the same order on every device), moved once per epoch.
            self.order, self.position = torch.randperm(n, generator=self.batch_generator).to(self.device), 0
        index = self.order[self.position : self.position + size]
        self.position += size
        return self.x[index], self.y[index]

    def train_step(self) -> None:
        """One update on the step's batch; no host synchronisation."""
        x, y = self._batch()
        self.optimizer.step(closure_for(self.model, self.loss_fn, x, y, self.optimizer))
        self.step += 1

    # -- measurement --------------------------------------------------------------------------------------

    def measure(self) -> None:
        """Loss, accuracy, ``||g||``, sharpness and edge on the full training set; detects divergence."""
        import torch

        from stablesam.analysis.curvature.eigen import lanczos_top_eigenpairs
        from stablesam.analysis.curvature.hessian import HessianOperator

        operator = HessianOperator(self.model, self.loss_fn, (self.x, self.y), dtype=self.dtype)
        loss, grad = operator.loss_and_gradient()
        loss, grad_norm = float(loss), float(torch.linalg.vector_norm(grad))
        if self.initial_loss is None:
            self.initial_loss = loss
        record = lambda metric, value: self.rows.append((self.step, metric, float(value)))  # noqa: E731
        rule = DivergenceRule(threshold=self.config.divergence_factor * self.initial_loss)
        if rule.reason(loss, grad_norm) or not bool(all_finite(self.model.parameters())):
            record("loss", loss)
            record("diverged", 1.0)
            self.status = "diverged"
            return
        with torch.no_grad():
            accuracy = float((self.model(self.x).argmax(dim=1) == self.y).double().mean())
        eig = lanczos_top_eigenpairs(
            operator, 1, generator=np.random.default_rng(self.spec.seed), tol=self.config.lanczos_tol,
            ncv=self.config.lanczos_ncv, v0=self.v0,
        )
        sharpness = float(eig.eigenvalues[0])
        self.v0 = eig.eigenvectors[:, 0]
        # SAM's edge needs ||g|| > 0; at an exact stationary point it is undefined (NaN), never an error.
        defined = grad_norm > 0 or method(self.spec.optimizer).edge != "sam"
        edge = float(edge_for(self.spec.optimizer, self.spec.lr, rho=self.spec.rho, grad_norm=grad_norm)) if defined else math.nan
        record("loss", loss)
        record("accuracy", accuracy)
        record("grad_norm", grad_norm)
        record("sharpness", sharpness)
        record("lanczos_residual", eig.residuals[0])
        record("lanczos_hvps", eig.num_hvps)
        record("edge", edge)
        record("sharpness_ratio", sharpness / edge)
        stats = getattr(self.optimizer, "last_stats", None)
        if stats and self.step > 0:
            record("gamma", float(stats["gamma"]))


_CHECKPOINT_KEYS = {"step", "status", "model", "optimizer", "v0", "batch_generator", "order", "position", "rows",
                    "initial_loss"}


def _checkpoint_name(spec: RunSpec) -> str:
    return f"runs/{spec.name}.pt"


def _load_checkpoint(store: Store, config: EosConfig, spec: RunSpec) -> dict | None:
    """The verified checkpoint of ``spec`` (None: absent, or damaged and set aside, so the run starts again)."""
    state = store.get_tensors(_checkpoint_name(spec), valid=lambda s: isinstance(s, dict) and _CHECKPOINT_KEYS <= set(s))
    if state is not None and state.get("config", config.to_json()) != config.to_json():
        raise UsageError(f"{str(store.path(_checkpoint_name(spec)))!r} belongs to an experiment with another config "
                         "than config.json; rerun into a fresh directory")
    return state


def _run_one(config: EosConfig, spec: RunSpec, data, loss_fn, device, dtype, store: Store | None, bar) -> _Run:
    """Train (or continue) one run through the step loop: measure every ``measure_every`` steps and at the end,
    stop at a divergence, checkpoint every ``checkpoint_every`` steps and at the end."""
    run = _Run(config, spec, data, loss_fn, device, dtype)
    state = None if store is None else _load_checkpoint(store, config, spec)
    if state is not None:
        run.load(state)
        bar.update(run.step)
    else:
        run.measure()
    save = (lambda: store.put_tensors(_checkpoint_name(spec), run.state())) if store is not None else (lambda: None)
    if run.status == "running":  # finished or diverged earlier: nothing to do

        def step(t: int) -> None:
            run.train_step()
            bar.update(1)

        def measure(t: int) -> bool:
            run.measure()
            return run.status != "running"

        run_steps(step, start=run.step, stop=config.steps,
                  hooks=[Hook(config.measure_every, measure), Hook(config.checkpoint_every, lambda t: save(), at_stop=False)])
        if run.status == "running":
            run.status = "finished"
        save()
    bar.update(config.steps - run.step)
    return run


# -- the experiment ---------------------------------------------------------------------------------------

_OWN_FILES = ("config.json", "metrics.csv", "summary.json")


def _open_store(config: EosConfig, out_dir: Path, overwrite: bool) -> Store:
    """Lock ``out_dir`` (one writer) and make it hold ``config``'s experiment; nothing of another is deleted
    unless ``overwrite``. A damaged config.json is set aside and rewritten (each checkpoint names its config)."""
    store = Store(out_dir, what="edge-of-stability experiment").lock()
    try:
        present = [p for p in out_dir.iterdir()
                   if not p.name.startswith(".") and p.name != "checksums.json" and not p.name.endswith(".damaged")]
        stored = out_dir / "config.json"
        if present and not stored.is_file() and not (out_dir / "runs").is_dir():
            raise UsageError(f"out {str(out_dir)!r} is a non-empty directory without an edge-of-stability config.json; "
                             "choose an empty or new directory")
        if stored.is_file():
            saved = store.get_json("config.json", valid=lambda v: isinstance(v, dict)) \
                if store.checksums("config.json") else _legacy_json(stored)
            same = None
            if saved is not None:
                try:
                    same = EosConfig.from_json(saved) == config
                except (ValueError, TypeError) as error:
                    store.quarantine("config.json", f"not an edge-of-stability config: {str(error).splitlines()[0]}")
            if same is False:
                if not overwrite:
                    raise UsageError(f"out {str(out_dir)!r} holds an experiment with a different config; pass "
                                     "overwrite (--overwrite) to replace it, or choose another directory")
                for name in _OWN_FILES:
                    store.remove(name)
                for name in store.names("runs/*.pt"):
                    store.remove(name)
        store.put_json("config.json", config.to_json())
    except BaseException:
        store.unlock()
        raise
    return store


def _legacy_json(path: Path):
    """config.json of a directory written before it recorded checksums: parsed, not verified."""
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"unreadable": True}


def _table(config: EosConfig, runs: list[tuple[RunSpec, list[tuple[int, str, float]]]]):
    import pandas as pd

    records = [
        (spec.name, spec.seed, spec.optimizer, spec.rho, spec.lr, step, metric, value, config.model_label, config.dataset)
        for spec, rows in runs
        for step, metric, value in rows
    ]
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def run_edge_of_stability(
    config: EosConfig,
    out_dir: str | Path | None = None,
    *,
    overwrite: bool = False,
    progress: bool | None = None,
) -> EosResult:
    """Train every run of ``config``, measuring the sharpness against the edge; see the module docstring.

    With ``out_dir``, results and checkpoints are written there (atomically) and an interrupted experiment
    resumes; a directory holding a different config is refused unless ``overwrite``. ``progress``: a tqdm
    bar over all training steps (None: a bar when stderr is a terminal, else one line per finished run).
    """
    import torch
    from tqdm.auto import tqdm

    from stablesam.stability.data import load_dataset

    if not isinstance(config, EosConfig):
        raise UsageError(f"config must be an EosConfig, got {type(config).__name__}")
    out = None if out_dir is None else check_output_dir("out", out_dir)
    device, dtype = resolve_device(config.device), getattr(torch, config.dtype)
    data = load_dataset(config.dataset, generator=np.random.default_rng(config.data_seed), data_dir=config.data_dir,
                        n_train=config.n_train, dtype=dtype)
    if data.task != "classification":
        raise UsageError(f"dataset {config.dataset!r} is a regression task; edge-of-stability runs need classification")
    if config.batch_size is not None and config.batch_size > data.x_train.shape[0]:
        raise UsageError(f"batch_size must be at most the {data.x_train.shape[0]} training examples, got {config.batch_size}")
    loss_fn = _loss_function(config.loss, data.num_classes)
    store = None if out is None else _open_store(config, out, overwrite)  # everything validated: now lock and write
    try:
        specs = config.runs()
        finished: list[tuple[RunSpec, list[tuple[int, str, float]]]] = []
        mode = progress_mode(progress)
        started = time.perf_counter()
        with tqdm(total=len(specs) * config.steps, disable=not mode.bar, unit="step", desc="eos") as bar:
            for index, spec in enumerate(specs, 1):
                bar.set_postfix_str(spec.name)
                run = _run_one(config, spec, data, loss_fn, device, dtype, store, bar)
                finished.append((spec, run.rows))
                mode.line(f"eos: run {index}/{len(specs)} ({spec.name}) done ({time.perf_counter() - started:.0f} s)")
                if store is not None:
                    _write_results(store, config, finished)
    finally:
        if store is not None:
            store.unlock()
    table = _table(config, finished)
    ratios = plateau_ratios(table)
    return EosResult(config=config, table=table, ratios=ratios, summary=plateau_summary(ratios), out_dir=out)


def _write_results(store: Store, config: EosConfig, finished) -> None:
    table = _table(config, finished)
    ratios = plateau_ratios(table)
    store.put_text("metrics.csv", table.to_csv(index=False))
    summary = plateau_summary(ratios)
    store.put_json("summary.json", {
        "runs_finished": len(finished),
        "runs_total": len(config.runs()),
        "plateau_ratios": ratios.to_dict(orient="records"),
        "summary": summary.to_dict(orient="records"),
    })


# -- the measurement that counts --------------------------------------------------------------------------

_RUN_KEYS = ["run", "model", "dataset", "optimizer", "lr", "rho", "seed"]


def plateau_ratios(table, *, last_fraction: float = 0.5):
    """One row per run: ``plateau_ratio``, the median of ``sharpness / edge`` over the measurements at steps
    ``>= (1 - last_fraction) * final_step`` (the last half of training by default), with the median sharpness
    and edge there, the final sharpness ratio, and ``diverged``. A diverged run has ``plateau_ratio`` NaN.

    ``table``: the tidy table of :func:`run_edge_of_stability` (columns :data:`COLUMNS`).
    """
    import pandas as pd

    last_fraction = check_positive("last_fraction", last_fraction)
    if last_fraction > 1:
        raise UsageError(f"last_fraction must lie in (0, 1], got {last_fraction!r}")
    missing = sorted(set(COLUMNS) - set(table.columns))
    if missing:
        raise UsageError(f"table lacks the column(s) {', '.join(missing)}")
    out = []
    for keys, group in table.groupby(_RUN_KEYS, sort=False):
        wide = group.pivot_table(index="step", columns="metric", values="value", aggfunc="first").sort_index()
        diverged = "diverged" in wide.columns and bool((wide["diverged"] == 1).any())
        final = int(wide.index.max())
        late = wide[wide.index >= (1 - last_fraction) * final]
        row = dict(zip(_RUN_KEYS, keys))
        if diverged or "sharpness_ratio" not in wide.columns:
            row.update(plateau_ratio=math.nan, plateau_sharpness=math.nan, plateau_edge=math.nan,
                       final_ratio=math.nan)
        else:
            row.update(plateau_ratio=float(late["sharpness_ratio"].median()),
                       plateau_sharpness=float(late["sharpness"].median()),
                       plateau_edge=float(late["edge"].median()),
                       final_ratio=float(wide["sharpness_ratio"].iloc[-1]))
        row.update(final_step=final, diverged=diverged)
        out.append(row)
    return pd.DataFrame(out)


def plateau_summary(ratios):
    """Spread over seeds of :func:`plateau_ratios`: per ``model, dataset, optimizer, lr, rho`` the median,
    minimum and maximum plateau ratio over the seeds that did not diverge, ``seeds`` and ``diverged``
    (counts)."""
    import pandas as pd

    keys = ["model", "dataset", "optimizer", "lr", "rho"]
    rows = []
    for values, group in ratios.groupby(keys, sort=False):
        finite = group["plateau_ratio"].dropna()
        rows.append({
            **dict(zip(keys, values)),
            "plateau_ratio_median": float(finite.median()) if len(finite) else math.nan,
            "plateau_ratio_min": float(finite.min()) if len(finite) else math.nan,
            "plateau_ratio_max": float(finite.max()) if len(finite) else math.nan,
            "plateau_edge_median": float(group["plateau_edge"].median()) if len(finite) else math.nan,
            "seeds": int(len(group)),
            "diverged": int(group["diverged"].sum()),
        })
    return pd.DataFrame(rows, columns=[*keys, "plateau_ratio_median", "plateau_ratio_min", "plateau_ratio_max",
                                       "plateau_edge_median", "seeds", "diverged"])


def figure_edge_of_stability(**settings):
    """Run the experiment ``EosConfig(**settings)`` (in memory) and draw
    :func:`stablesam.analysis.plots.edge_of_stability.plot_edge_of_stability` (the ``stablesam figures`` entry ``edge-of-stability``)."""
    from stablesam.analysis.plots.edge_of_stability import plot_edge_of_stability

    config = EosConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
    result = run_edge_of_stability(config, progress=False)
    return plot_edge_of_stability(result.table)
