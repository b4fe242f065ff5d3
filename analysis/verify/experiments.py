r"""The settings and units of work of ``stablesam verify``: :class:`Scale`, :class:`Experiment` and the
:data:`KINDS` registry of experiment kinds.

An :class:`Experiment` is a kind and its settings; equal settings are the same experiment, shared by every claim
that needs it and cached under :attr:`Experiment.key`. Each kind in :data:`KINDS` says how to run it (``run``:
in this process, returning a JSON document; ``None``: a twin run, which goes through the sweep engine and leaves
a run directory), what a finished document holds (``fields``: the keys it must have, checked on every load of the
verified cache), how to read a finished one (``read``: the object a claim's ``evaluate`` receives, from the
verified document or, for a twin run, the run directory) and how to name it (``label``). A new kind is one
:class:`ExperimentKind` row.

Scales (seeds and epochs fixed here before anything runs; ``--seeds N`` and ``--epochs E`` override them and are
recorded in the provenance):

- ``quick`` (``make run``: at most 5 minutes on 2 CPU cores from an empty ``--out``): digits, MLP and linear
  models; 10 seeds for the twin claims (the sign test within a Holm family of 16 cases needs 10), 8 for the
  per-step claims (a sign-test verdict within a Holm family of 2 cases needs 7);
- ``standard`` (at most 30 minutes on 2 CPU cores: measured 1284 s from empty on 2 quiet cores with one worker
  process per core, the default; 1525 s with the cores shared): 20 seeds, longer training, 40 seeds for C5's
  superiority reading;
- ``full`` (one GPU): digits and mnist1d, MLP and CNN, 20 seeds, plus ResNet-20 on CIFAR-10 with a data
  directory. It resumes from its cache, so two shorter runs can finish it.

Every claim comparing StableSAM with its base runs every pair of :data:`PAIRS` (from the method table: SAM,
USAM and ASAM with their StableSAM). Measured at quick on a 2-core machine at load 1-2, the ASAM rows cost 26.5 s
of training (22 twin runs for C3/C4 20.1 s, 2 label-noise runs for C5 4.0 s, C6's timing 2.4 s) and C9 (the SAM
pair only at quick) 6 capped twin runs, 21 s with its evaluation. Measured at standard (1284 s wall on 2 quiet
cores; 31.6 minutes of experiments added over both workers): the label-noise runs of C5 (18 runs) and C9 (9 runs)
at 40 seeds and 40 epochs take 18.4 of those minutes, the ASAM and StableSAM-A twin runs and timings 7.7, C10's
flatness runs 5.7 (341 s for its seven methods; 258 s for five on shared cores), C8's network escapes 1.9; evaluating
the claims and writing the report took about 15 s.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from stablesam.analysis.verify.verdicts import min_seeds
from stablesam.core.constraints import Interval as Range
from stablesam.core.constraints import NoneValue, Options, Satisfies, validate_parameters
from stablesam.core.methods import METHODS

__all__ = ["KINDS", "PAIRS", "SCALES", "Experiment", "ExperimentKind", "Scale", "exact_experiment", "least_squares_problem", "make_scale", "regimes_experiment",
           "timing_experiment", "trajectory_experiment", "twin_experiment"]

SCALES = ("quick", "standard", "full")
# (base, StableSAM on that base): every renormalized row of the method table with the plain row of the same ascent,
# SAM first (the paper's base), so "every claim comparing StableSAM with its base" runs ASAM against StableSAM-A too
PAIRS = tuple(sorted(((b.key, s.key) for s in METHODS.values() if s.stable for b in METHODS.values()
                      if not b.stable and b.ascent == s.ascent), key=lambda pair: pair[0] != "sam"))


def _positive_floats(value) -> bool:
    return isinstance(value, tuple) and len(value) > 0 and all(isinstance(v, float) and v > 0 for v in value)


def _seed_tuple(value) -> bool:
    return (isinstance(value, tuple) and len(value) >= min_seeds() and len(set(value)) == len(value)
            and all(isinstance(v, int) and v >= 0 for v in value))


def _models(value) -> bool:
    return isinstance(value, tuple) and all(isinstance(m, tuple) and len(m) == 2 for m in value)


@dataclass(frozen=True, kw_only=True)
class Scale:
    """Every setting of one verification scale; the report lists them all. Validated declaratively
    (:data:`Scale.constraints`, :func:`stablesam.core.constraints.validate_parameters`)."""

    name: str
    device: str
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    epochs: int
    stability_models: tuple[tuple[str, str], ...]  # (dataset, model) of C2 / C4
    edge_models: tuple[tuple[str, str], ...]  # (dataset, model) of C3
    noise_model: tuple[str, str]
    label_noises: tuple[float, ...]
    noise_lr: float
    noise_epochs: int
    noise_seeds: tuple[int, ...]
    trajectory_models: tuple[tuple[str, str], ...]
    trajectory_lrs: tuple[float, ...]
    trajectory_rhos: tuple[float, ...]
    trajectory_seeds: tuple[int, ...]
    trajectory_epochs: int
    timing_model: tuple[str, str]
    timing_batch: int
    timing_rounds: int
    timing_steps: int
    eos_seeds: tuple[int, ...] = (0, 1, 2)
    rho: float = 0.05
    batch_size: int = 64
    target_accuracy: float = 0.9
    data_dir: str | None = None
    cifar_n_train: int = 2000
    cifar_epochs: int = 10
    overrides: Mapping[str, int] = field(default_factory=dict)
    # exact expected twin distance on standardised digits least squares (C4 theory): the first exact_n examples,
    # one example per step for exact_steps steps, SGD against USAM at each exact_rhos, on the exact_lrs grid
    exact_n: int = 200
    exact_steps: int = 200
    exact_lrs: tuple[float, ...] = tuple(float(x) for x in np.geomspace(1e-6, 3e-3, 8))
    exact_rhos: tuple[float, ...] = (0.001, 0.01, 0.05)

    constraints = {
        "name": [Options(set(SCALES))],
        "device": [Options({"cpu", "cuda"})],
        "lrs": [Satisfies(_positive_floats, "a non-empty tuple of positive floats", ())],
        "seeds": [Satisfies(_seed_tuple, f"a tuple of at least {min_seeds()} distinct seeds >= 0", (0, 1, 2))],
        "noise_seeds": [Satisfies(_seed_tuple, f"a tuple of at least {min_seeds()} distinct seeds >= 0", (0, 1, 2))],
        "trajectory_seeds": [Satisfies(_seed_tuple, f"a tuple of at least {min_seeds()} distinct seeds >= 0", (0, 1, 2))],
        "epochs": [Range(int, 1, None)],
        "noise_epochs": [Range(int, 1, None)],
        "trajectory_epochs": [Range(int, 1, None)],
        "stability_models": [Satisfies(_models, "a tuple of (dataset, model) pairs", ("digits",))],
        "edge_models": [Satisfies(_models, "a tuple of (dataset, model) pairs", ("digits",))],
        "trajectory_lrs": [Satisfies(_positive_floats, "a non-empty tuple of positive floats", ())],
        "trajectory_rhos": [Satisfies(_positive_floats, "a non-empty tuple of positive floats", ())],
        "timing_batch": [Range(int, 1, None)],
        "timing_rounds": [Range(int, min_seeds(), None)],
        "timing_steps": [Range(int, 1, None)],
        "rho": [Range(float, 0.0, None, closed="neither")],
        "target_accuracy": [Range(float, 0.0, 1.0, closed="right")],
        "data_dir": [NoneValue(), Satisfies(lambda v: isinstance(v, str), "a directory path", 3)],
    }

    def __post_init__(self) -> None:
        validate_parameters(self.constraints, self.__dict__, owner=f"verify scale {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.__dict__))


def make_scale(name: str, *, device: str = "cpu", data_dir: str | None = None, seeds: int | None = None,
               epochs: int | None = None) -> Scale:
    """The ``quick``, ``standard`` or ``full`` scale on ``device``; ``seeds`` / ``epochs`` override every seeded
    experiment's seed count and every training's epochs (recorded in :attr:`Scale.overrides`)."""
    validate_parameters({"name": [Options(set(SCALES))], "seeds": [NoneValue(), Range(int, min_seeds(), None)],
                         "epochs": [NoneValue(), Range(int, 1, None)]},
                        {"name": name, "seeds": seeds, "epochs": epochs}, owner="verify")
    if name == "quick":
        # Sized from measured costs on one shared CPU core (twin run, digits MLP, 10 seeds, 3 epochs: 1.3 s;
        # per-step trajectory: 7-14 ms a step): C1/C7 8 seeds x 200 steps = 1600 steps per case. C6 times the
        # digits CNN at batch 1024: at 512 a SAM step took 50 ms at load 5 but 12-17 ms on a quiet machine, below the
        # 20 ms a step the timing needs (the digits MLP: 8 ms at batch 1024). 80 rounds: at 20 the intervals were
        # 5-15% wide on a quiet machine and 7-9% at 40 under load, and the width falls like 1 / sqrt(rounds), so 80
        # halves the former (the margin needs < 5%); about 15 s a pair.
        scale = Scale(
            name=name, device=device, lrs=(0.1, 0.3, 1.0, 3.0), seeds=tuple(range(10)), epochs=3,
            stability_models=(("digits", "mlp"),), edge_models=(("digits", "mlp"), ("digits", "linear")),
            noise_model=("digits", "mlp"), label_noises=(0.0, 0.4), noise_lr=0.3, noise_epochs=8,
            noise_seeds=tuple(range(10)), trajectory_models=(("digits", "mlp"),), trajectory_lrs=(0.3,),
            trajectory_rhos=(0.05,), trajectory_seeds=tuple(range(8)), trajectory_epochs=10,
            timing_model=("digits", "cnn"), timing_batch=1024, timing_rounds=80, timing_steps=3, data_dir=data_dir)
    elif name == "standard":
        # At most 30 minutes on 2 CPU cores with a worker per core (measured: module docstring): 20 seeds decide C4 at
        # eta = 0.1 (per-seed spreads of issue 22), 40 seeds C5's superiority at 40% noise.
        scale = Scale(
            name=name, device=device, lrs=(0.03, 0.1, 0.3, 1.0, 3.0), seeds=tuple(range(20)), epochs=5,
            stability_models=(("digits", "mlp"),), edge_models=(("digits", "mlp"), ("digits", "linear")),
            noise_model=("digits", "mlp"), label_noises=(0.0, 0.2, 0.4), noise_lr=0.3, noise_epochs=40,
            noise_seeds=tuple(range(40)), trajectory_models=(("digits", "mlp"),), trajectory_lrs=(0.1, 0.3),
            trajectory_rhos=(0.05, 0.2), trajectory_seeds=tuple(range(10)), trajectory_epochs=20,
            timing_model=("digits", "cnn"), timing_batch=1024, timing_rounds=80, timing_steps=3,
            eos_seeds=tuple(range(6)), data_dir=data_dir)
    else:
        edge = [("digits", "mlp"), ("digits", "cnn"), ("mnist1d", "cnn")]
        if data_dir is not None:
            edge.append(("cifar10", "resnet20"))
        scale = Scale(
            name=name, device=device, lrs=(0.03, 0.1, 0.3, 1.0, 3.0), seeds=tuple(range(20)), epochs=20,
            stability_models=(("digits", "mlp"), ("mnist1d", "cnn")), edge_models=tuple(edge),
            noise_model=("mnist1d", "cnn"), label_noises=(0.0, 0.2, 0.4), noise_lr=0.1, noise_epochs=60,
            noise_seeds=tuple(range(40)), trajectory_models=(("digits", "mlp"), ("digits", "cnn")),
            trajectory_lrs=(0.03, 0.1, 0.3), trajectory_rhos=(0.02, 0.05, 0.2), trajectory_seeds=tuple(range(12)),
            trajectory_epochs=20, timing_model=("mnist1d", "cnn") if data_dir is None else ("cifar10", "resnet20"),
            timing_batch=256, timing_rounds=40, timing_steps=10, eos_seeds=tuple(range(6)), data_dir=data_dir,
            exact_n=600, exact_steps=600, exact_lrs=tuple(float(x) for x in np.geomspace(1e-6, 3e-3, 12)))
    overrides = {}
    if seeds is not None:
        overrides["seeds"] = seeds
        scale = replace(scale, seeds=tuple(range(seeds)), noise_seeds=tuple(range(seeds)),
                        trajectory_seeds=tuple(range(seeds)))
    if epochs is not None:
        overrides["epochs"] = epochs
        scale = replace(scale, epochs=epochs, noise_epochs=epochs, trajectory_epochs=epochs)
    return replace(scale, overrides=overrides) if overrides else scale


@dataclass(frozen=True)
class ExperimentKind:
    """How to run, read and name one kind of experiment (a row of :data:`KINDS`)."""

    name: str
    label: Callable[[Mapping[str, Any]], str]
    read: Callable[[Any], Any]  # (verified JSON document, or a twin's run directory) -> what evaluate receives
    run: Callable[..., dict[str, Any]] | None = None  # settings -> JSON document; None: a twin run (sweep engine)
    fields: tuple[str, ...] = ()  # keys every finished document has (a document without them is damaged)

    @property
    def directory(self) -> bool:
        return self.run is None

    def valid(self, document: Any) -> bool:
        """Whether ``document`` is a finished result of this kind (a dict with every key of :attr:`fields`)."""
        return isinstance(document, dict) and all(key in document for key in self.fields)


@dataclass(frozen=True)
class Experiment:
    """One unit of work, identified by its kind (a key of :data:`KINDS`) and settings (the keyword arguments of
    its kind's runner)."""

    kind: str
    settings: Mapping[str, Any]

    @property
    def key(self) -> str:
        text = json.dumps({"kind": self.kind, "settings": self.settings}, sort_keys=True)
        return f"{self.kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    @property
    def label(self) -> str:
        return KINDS[self.kind].label(self.settings)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Experiment) and other.key == self.key


def twin_experiment(scale: Scale, dataset: str, model: str, optimizer: str, lr: float, *, label_noise: float = 0.0,
                    epochs: int | None = None, seeds: tuple[int, ...] | None = None,
                    gamma_cap: float | None = None) -> Experiment:
    """A twin run: every seed of the scale as one stacked population, one replaced index, a pool of one example
    (so ``S'`` is fixed). ``gamma_cap``: StableSAM's applied factor ``min(gamma, gamma_cap)`` (C9); absent from
    the settings when ``None``, so an uncapped run keeps the cache key it always had."""
    epochs = epochs or scale.epochs
    settings = dict(dataset=dataset, model=model, optimizer=optimizer, lr=float(lr), rho=scale.rho,
                    epochs=epochs, batch_size=scale.batch_size, seeds=list(seeds or scale.seeds),
                    replaced_indices=[0], n_pool=1, label_noise=float(label_noise), device=scale.device,
                    checkpoint_every=epochs)
    if gamma_cap is not None:
        settings["gamma_cap"] = float(gamma_cap)
    if dataset == "cifar10":  # ResNet-20 on a subset, so that the full scale fits one GPU
        settings.update(data_dir=scale.data_dir, n_train=scale.cifar_n_train, epochs=scale.cifar_epochs,
                        checkpoint_every=scale.cifar_epochs)
    return Experiment("twin", settings)


def trajectory_experiment(scale: Scale, dataset: str, model: str, method: str, lr: float, rho: float,
                          seed: int) -> Experiment:
    return Experiment("trajectory", dict(method=method, dataset=dataset, model=model, lr=float(lr), rho=float(rho),
                                         epochs=scale.trajectory_epochs, seed=int(seed),
                                         batch_size=scale.batch_size, device=scale.device))


def timing_experiment(scale: Scale, method_a: str, method_b: str) -> Experiment:
    dataset, model = scale.timing_model
    return Experiment("timing", dict(method_a=method_a, method_b=method_b, dataset=dataset, model=model,
                                     rho=scale.rho, batch_size=scale.timing_batch, blocks=scale.timing_rounds,
                                     steps=scale.timing_steps, device=scale.device))


def exact_experiment(scale: Scale) -> Experiment:
    """The exact expected twin distance of SGD and USAM (every ``exact_rhos``) on digits least squares (C4)."""
    methods = [["sgd", 0.0]] + [["usam", float(r)] for r in scale.exact_rhos]
    return Experiment("exact", dict(lrs=list(scale.exact_lrs), methods=methods, steps=scale.exact_steps,
                                    n=scale.exact_n, replaced_index=0))


# The least-squares problem of C2's theory track (fixed before anything ran): x ~ N(0, diag(1, 1/3, 1/9)),
# w* = (1, -1, 1), noise 0.5, 20 examples from default_rng(0), T = 100 full-batch steps, rho = the scale's.
LS_PROBLEM = dict(n=20, T=100, num=12, lr_min_factor=1e-3, lr_max_factor=2.2)


def regimes_experiment(scale: Scale, method: str) -> Experiment:
    """The exact least-squares excess-risk regimes of ``method`` against GD (C2's theory track)."""
    return Experiment("regimes", dict(method=method, rho=scale.rho, **LS_PROBLEM))


def least_squares_problem(n: int):
    """C2's least-squares problem: the :class:`~stablesam.theory.least_squares.LinearModel` and ``n`` draws."""
    from stablesam.theory.least_squares import LinearModel

    model = LinearModel(np.diag(3.0 ** -np.arange(3)), (-1.0) ** np.arange(3), noise_std=0.5)
    X, y = model.sample(n, np.random.default_rng(0))
    return model, X, y


def _run_regimes(*, method: str, rho: float, n: int, T: int, num: int, lr_min_factor: float,
                 lr_max_factor: float) -> dict[str, Any]:
    """:func:`stablesam.theory.least_squares.lr_ranges_beating` of ``method`` against GD on the problem of
    :func:`least_squares_problem`, on ``[lr_min_factor, lr_max_factor] / lambda_max``."""
    from stablesam.theory.least_squares import lr_ranges_beating

    model, X, y = least_squares_problem(n)
    lam = float(np.linalg.eigvalsh(X.T @ X / n)[-1])
    lr_min, lr_max = lr_min_factor / lam, lr_max_factor / lam
    ranges = lr_ranges_beating(model, X, y, method, rho=rho, T=T, lr_min=lr_min, lr_max=lr_max, num=num)
    return {"ranges": [list(r) for r in ranges], "lr_min": lr_min, "lr_max": lr_max, "gd_edge": 2.0 / lam}


# ---------------------------------------------------------------------------------------------------------------
# The kinds
# ---------------------------------------------------------------------------------------------------------------


def _document(document: dict[str, Any]) -> dict[str, Any]:
    return document


def _read_twin(path):
    from stablesam.analysis.verify.twin_outcome import TwinOutcome

    return TwinOutcome(path)


def _run_trajectory(**settings) -> dict[str, Any]:
    from stablesam.analysis.experiments.step_statistics import gradient_norm_trajectory

    return gradient_norm_trajectory(**settings)


def _run_timing(**settings) -> dict[str, Any]:
    from dataclasses import asdict

    from stablesam.analysis.experiments.step_statistics import step_times

    return asdict(step_times(**settings))


def _run_exact(*, lrs, methods, steps: int, n: int, replaced_index: int) -> dict[str, Any]:
    """:func:`stablesam.analysis.experiments.exact_stability.exact_stability_table` as JSON (one curve of
    ``sqrt(E||w_T - w'_T||^2)`` and ``||E[w_T - w'_T]||`` over ``lrs`` per ``(method, rho)``)."""
    from stablesam.analysis.experiments.exact_stability import exact_stability_table

    table = exact_stability_table(lrs, methods=[tuple(m) for m in methods], steps=steps, n=n,
                                  replaced_index=replaced_index)
    curves = []
    for method, rho in methods:
        part = table[(table["method"] == method) & (table["rho"] == rho)]
        curves.append({"method": method, "rho": rho, **{
            key: part[part["metric"] == metric].sort_values("lr")["value"].tolist()
            for key, metric in (("rms", "rms_distance"), ("mean_difference_norm", "mean_difference_norm"))}})
    return {"lrs": sorted(float(x) for x in lrs), "curves": curves, "steps": steps, **table.attrs}


def _run_eos(**settings) -> dict[str, Any]:
    """One edge-of-stability run in memory; its tidy table as records."""
    from stablesam.analysis.experiments.edge_of_stability import EosConfig, run_edge_of_stability

    config = EosConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
    return {"table": run_edge_of_stability(config, progress=False).table.to_dict(orient="records")}


def _tuples(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
            for k, v in settings.items()}


def _run_saddle_toy(**settings) -> dict[str, Any]:
    """:func:`stablesam.analysis.experiments.saddles.toy_escape_table` (every toy saddle) as records."""
    from stablesam.analysis.experiments.saddles import toy_escape_table

    return {"table": toy_escape_table(**_tuples(settings)).to_dict(orient="records")}


def _run_saddle_network(**settings) -> dict[str, Any]:
    """:func:`stablesam.analysis.experiments.saddles.network_escape_table` as records (the table; no curves)."""
    from stablesam.analysis.experiments.saddles import NetworkSaddleConfig, network_escape_table

    table, _ = network_escape_table(NetworkSaddleConfig(**_tuples(settings)), progress=False)
    return {"table": table.to_dict(orient="records")}


def _run_flatness(**settings) -> dict[str, Any]:
    """:func:`stablesam.analysis.experiments.flatness.flatness_table` as records (the table; no curves)."""
    from stablesam.analysis.experiments.flatness import FlatnessConfig, flatness_table

    table, _ = flatness_table(FlatnessConfig(**_tuples(settings)), progress=False)
    return {"table": table.to_dict(orient="records")}


def _twin_label(s) -> str:
    noise = f" noise={s['label_noise']:g}" if s.get("label_noise") else ""
    cap = f" cap={s['gamma_cap']:g}" if s.get("gamma_cap") is not None else ""
    return f"twin {s['dataset']}/{s['model']} {s['optimizer']}{cap} lr={s['lr']:g}{noise} seeds={len(s['seeds'])}"


KINDS: dict[str, ExperimentKind] = {k.name: k for k in (
    ExperimentKind("twin", _twin_label, _read_twin),
    ExperimentKind("trajectory", lambda s: f"steps {s['dataset']}/{s['model']} {s['method']} lr={s['lr']:g} "
                   f"rho={s['rho']:g} seed={s['seed']}", _document, _run_trajectory,
                   ("step", "grad_norm", "surrogate_grad_norm", "gamma", "loss", "diverged")),
    ExperimentKind("timing", lambda s: f"timing {s['dataset']}/{s['model']} {s['method_a']} vs {s['method_b']}",
                   _document, _run_timing,
                   ("method_a", "method_b", "seconds_a", "seconds_b", "steps", "threads", "device")),
    ExperimentKind("exact", lambda s: f"exact twin distance, digits least squares n={s['n']} T={s['steps']}",
                   _document, _run_exact, ("lrs", "curves", "steps")),
    ExperimentKind("regimes", lambda s: f"exact least-squares excess-risk regimes, {s['method']} vs GD",
                   _document, _run_regimes, ("ranges", "lr_min", "lr_max", "gd_edge")),
    ExperimentKind("eos", lambda s: f"eos {s['dataset']}/{s['model']} {','.join(s['methods'])} "
                   f"lr={','.join(f'{v:g}' for v in s['lrs'])}", _document, _run_eos, ("table",)),
    ExperimentKind("saddle_toy", lambda s: f"toy saddles escape grid, {len(s['methods'])} methods, {s['steps']} steps",
                   _document, _run_saddle_toy, ("table",)),
    ExperimentKind("saddle_network", lambda s: f"saddle escape, digits MLP from init {s['init_scale']:g}, "
                   f"{len(s['seeds'])} seeds", _document, _run_saddle_network, ("table",)),
    ExperimentKind("flatness", lambda s: f"flatness at equal loss, digits MLP {','.join(s['methods'])} "
                   f"seeds={len(s['seeds'])}", _document, _run_flatness, ("table",)),
)}
