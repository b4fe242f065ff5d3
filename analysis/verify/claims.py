r"""The one registry of the StableSAM paper's claims that ``stablesam verify`` checks (C1..C7).

Each :class:`Claim` holds its statement (worded as the paper summary words it), its source, a theory check
(calling :mod:`theory`), the experiments it needs (twin runs of :func:`stablesam.stability.twin.run_twin`, per-step
optimizer statistics, step timings), a :class:`~stablesam.analysis.verify.verdicts.DecisionRule` fixed here before anything
runs, and the evaluation that turns the experiments' results into a verdict with its numbers. Where a planned
source of evidence does not exist yet, the claim names it in ``pending`` and the verdict is computed from the
parts that exist; the report lists what is missing.

Two kinds of claims, and how their cases combine (:func:`~stablesam.analysis.verify.verdicts.combine_cases`):

- universal ("in every setting"): C1, C5, C6, C7 are supported only if every setting run is;
- existential (C2, C3, C4: "holds, and is contradicted in no setting run"): supported when some setting
  supports it and none contradicts it.

Theory and experiment: the experiments decide every verdict; a claim's theory check (:class:`TheoryCheck`) is
reported beside it with its status, and ``decided_by`` says, per claim, how the two combine. A theory computation
that takes seconds (C2/C4's exact twin distance on least squares) is an :class:`Experiment` of kind ``exact``,
cached like the runs.

Stability quantities (:mod:`stablesam.analysis.experiments.twin_stability`): ``stability_estimate`` = ``sup_z |E_A[l(A(S); z) -
l(A(S'); z)]|`` (the quantity uniform stability bounds) decides C2 and C4; the harness's ``loss_diff_max``
(``E_A sup_z |...|``, an upper estimate) and the twin distance ``||w - w'||`` are reported beside it.

Scales: ``quick`` (about two minutes on two CPU cores: digits, MLP and linear models, 3 epochs, 5 seeds) and
``full`` (designed for one GPU in under 30 minutes: digits and mnist1d, MLP and CNN, 20 epochs, 10 seeds, plus
ResNet-20 on CIFAR-10 when a data directory holding it is given).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stablesam.analysis.verify.verdicts import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    DecisionRule,
    Interval,
    bootstrap_interval,
    combine_cases,
    crossover,
    only_below,
)
from stablesam.core.validation import check_choice

__all__ = ["CLAIMS", "SCALES", "Claim", "ClaimResult", "Experiment", "Scale", "TheoryCheck", "claim_ids", "make_scale"]

SCALES = ("quick", "full")
PAIRS = (("sam", "stablesam-n"), ("usam", "stablesam-u"))  # (base, StableSAM on that base)
_SUMMARY = "Tan et al., \"Stabilizing Sharpness-aware Minimization Through A Simple Renormalization Strategy\", arXiv:2401.07250 (v1 2024; JMLR 2025)"


# ---------------------------------------------------------------------------------------------------------------
# Settings and experiments
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """Every setting of one verification scale; the report lists them all."""

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
    trajectory_models: tuple[tuple[str, str], ...]
    trajectory_lrs: tuple[float, ...]
    trajectory_rhos: tuple[float, ...]
    trajectory_seeds: tuple[int, ...]
    trajectory_epochs: int
    timing_model: tuple[str, str]
    timing_blocks: int
    timing_steps: int
    rho: float = 0.05
    batch_size: int = 64
    target_accuracy: float = 0.9
    data_dir: str | None = None
    cifar_n_train: int = 2000
    cifar_epochs: int = 10
    bootstrap_resamples: int = 2000
    # exact expected twin distance on standardised digits least squares (C2, C4 theory): the first exact_n examples,
    # one example per step for exact_steps steps, SGD against USAM at each exact_rhos, on the exact_lrs grid
    exact_n: int = 200
    exact_steps: int = 200
    exact_lrs: tuple[float, ...] = tuple(float(x) for x in np.geomspace(1e-6, 3e-3, 8))
    exact_rhos: tuple[float, ...] = (0.001, 0.01, 0.05)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.__dict__))


def make_scale(name: str, *, device: str = "cpu", data_dir: str | None = None) -> Scale:
    """The ``quick`` or ``full`` scale on ``device``; ``full`` adds ResNet-20 on CIFAR-10 when ``data_dir`` is given."""
    check_choice("scale", name, SCALES)
    if name == "quick":
        return Scale(
            name, device, lrs=(0.1, 0.3, 1.0, 3.0), seeds=(0, 1, 2, 3, 4), epochs=3,
            stability_models=(("digits", "mlp"),), edge_models=(("digits", "mlp"), ("digits", "linear")),
            noise_model=("digits", "mlp"), label_noises=(0.0, 0.2, 0.4), noise_lr=0.3, noise_epochs=3,
            trajectory_models=(("digits", "mlp"),), trajectory_lrs=(0.1, 0.3), trajectory_rhos=(0.05, 0.2),
            trajectory_seeds=(0, 1, 2), trajectory_epochs=2, timing_model=("digits", "mlp"), timing_blocks=12,
            timing_steps=5, data_dir=data_dir, bootstrap_resamples=1000)
    edge = [("digits", "mlp"), ("digits", "cnn"), ("mnist1d", "cnn")]
    if data_dir is not None:
        edge.append(("cifar10", "resnet20"))
    return Scale(
        name, device, lrs=(0.03, 0.1, 0.3, 1.0, 3.0), seeds=tuple(range(10)), epochs=20,
        stability_models=(("digits", "mlp"), ("mnist1d", "cnn")), edge_models=tuple(edge),
        noise_model=("mnist1d", "cnn"), label_noises=(0.0, 0.2, 0.4), noise_lr=0.1, noise_epochs=30,
        trajectory_models=(("digits", "mlp"), ("digits", "cnn")), trajectory_lrs=(0.03, 0.1, 0.3),
        trajectory_rhos=(0.02, 0.05, 0.2), trajectory_seeds=(0, 1, 2, 3, 4), trajectory_epochs=10,
        timing_model=("mnist1d", "cnn") if data_dir is None else ("cifar10", "resnet20"), timing_blocks=30,
        timing_steps=20, data_dir=data_dir, exact_n=600, exact_steps=600,
        exact_lrs=tuple(float(x) for x in np.geomspace(1e-6, 3e-3, 12)))


@dataclass(frozen=True)
class Experiment:
    """One unit of work, identified by its settings: ``kind`` is ``twin``, ``trajectory``, ``timing``, ``exact`` or
    ``eos``.

    ``settings`` are the keyword arguments of :class:`~stablesam.stability.twin.TwinConfig` (``twin``),
    :func:`~stablesam.analysis.experiments.step_statistics.gradient_norm_trajectory` (``trajectory``),
    :func:`~stablesam.analysis.experiments.step_statistics.step_times` (``timing``) or
    :func:`~stablesam.analysis.experiments.exact_stability.exact_stability_table` (``exact``: a theory computation, cached because it
    takes seconds) or :class:`~stablesam.analysis.experiments.edge_of_stability.EosConfig` (``eos``). Equal settings are the same
    experiment, shared by
    the claims that need it and cached under :attr:`key`.
    """

    kind: str
    settings: Mapping[str, Any]

    @property
    def key(self) -> str:
        text = json.dumps({"kind": self.kind, "settings": self.settings}, sort_keys=True)
        return f"{self.kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    @property
    def label(self) -> str:
        s = self.settings
        if self.kind == "twin":
            noise = f" noise={s['label_noise']:g}" if s.get("label_noise") else ""
            return f"twin {s['dataset']}/{s['model']} {s['optimizer']} lr={s['lr']:g}{noise}"
        if self.kind == "trajectory":
            return f"steps {s['dataset']}/{s['model']} {s['method']} lr={s['lr']:g} rho={s['rho']:g} seed={s['seed']}"
        if self.kind == "exact":
            return f"exact twin distance, digits least squares n={s['n']} T={s['steps']}"
        if self.kind == "eos":
            return f"eos {s['dataset']}/{s['model']} {','.join(s['methods'])} lr={','.join(f'{v:g}' for v in s['lrs'])}"
        return f"timing {s['dataset']}/{s['model']} {s['method_a']} vs {s['method_b']}"


def twin_experiment(scale: Scale, dataset: str, model: str, optimizer: str, lr: float, *, label_noise: float = 0.0,
                    epochs: int | None = None) -> Experiment:
    """A twin run: every seed of the scale, one replaced index, a pool of one example (so ``S'`` is fixed)."""
    settings = dict(dataset=dataset, model=model, optimizer=optimizer, lr=float(lr), rho=scale.rho,
                    epochs=epochs or scale.epochs, batch_size=scale.batch_size, seeds=list(scale.seeds),
                    replaced_indices=[0], n_pool=1, label_noise=float(label_noise), device=scale.device,
                    checkpoint_every=epochs or scale.epochs)
    if dataset == "cifar10":  # ResNet-20 on a subset, so that the full scale fits one GPU in 30 minutes
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
                                     rho=scale.rho, blocks=scale.timing_blocks, steps=scale.timing_steps,
                                     device=scale.device))


def exact_experiment(scale: Scale) -> Experiment:
    """The exact expected twin distance of SGD and USAM (every ``exact_rhos``) on digits least squares (C2, C4)."""
    methods = [["sgd", 0.0]] + [["usam", float(r)] for r in scale.exact_rhos]
    return Experiment("exact", dict(lrs=list(scale.exact_lrs), methods=methods, steps=scale.exact_steps,
                                    n=scale.exact_n, replaced_index=0))


# ---------------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class TheoryCheck:
    """What :mod:`theory` says about a claim: ``status`` is ``proved``, ``consistent``, ``contradicts`` (the theory
    predicts the opposite in its setting), ``no prediction`` (the theory available makes none) or ``not applicable``;
    ``numbers`` are the values behind ``summary``."""

    status: str
    summary: str
    source: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClaimResult:
    """A claim's verdict, its key number with its interval, and every case behind it."""

    verdict: str
    key_label: str
    key: Interval | None
    cases: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    figure_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """One claim of the registry (see the module docstring)."""

    id: str
    title: str
    statement: str
    source: str
    rule: DecisionRule
    combine: str  # "every setting" or "some setting, none contradicting"
    quantity: str
    stronger: str  # where the paper's claim is stronger than what is checked here
    would_change: str
    pending: tuple[str, ...]
    experiments: Callable[[Scale], list[Experiment]]
    theory: Callable[[Scale, Any], TheoryCheck]  # (scale, results): a theory computation may be a cached experiment
    evaluate: Callable[[Scale, Any, np.random.Generator], ClaimResult]
    decided_by: str = ("The experiment decides the verdict under the rule; the theory check is reported beside it and "
                       "does not change the verdict.")


def _interval(statistic, n: int, rule: DecisionRule, scale: Scale, generator: np.random.Generator) -> Interval:
    return bootstrap_interval(statistic, n, generator=generator, confidence=rule.confidence,
                              n_resamples=scale.bootstrap_resamples)


def _case(setting: dict[str, Any], interval: Interval | None, verdict: str, **extra: Any) -> dict[str, Any]:
    return {"setting": setting, "interval": None if interval is None else interval.to_dict(), "verdict": verdict,
            **extra}


def _weakest(cases: list[dict[str, Any]], claimed: str) -> Interval | None:
    """The case interval nearest to contradicting the claim (the key number of a universal claim)."""
    intervals = [Interval(**c["interval"]) for c in cases if c["interval"] is not None
                 and math.isfinite(c["interval"]["low"])]
    if not intervals:
        return None
    return min(intervals, key=lambda i: i.low) if claimed == "greater" else max(intervals, key=lambda i: i.high)


# ---------------------------------------------------------------------------------------------------------------
# C1: the surrogate gradient's norm exceeds the true gradient's
# ---------------------------------------------------------------------------------------------------------------

C1_RULE = DecisionRule("mean over steps of ||g~||/||g||, mean over seeds", claimed="greater", boundary=1.05, null=1.0)


def _trajectory_grid(scale: Scale, methods: tuple[str, ...]) -> list[tuple[tuple, list[Experiment]]]:
    grid = []
    for dataset, model in scale.trajectory_models:
        for method in methods:
            for lr in scale.trajectory_lrs:
                for rho in scale.trajectory_rhos:
                    runs = [trajectory_experiment(scale, dataset, model, method, lr, rho, s)
                            for s in scale.trajectory_seeds]
                    grid.append(((dataset, model, method, lr, rho), runs))
    return grid


def c1_experiments(scale: Scale) -> list[Experiment]:
    return [e for _, runs in _trajectory_grid(scale, ("sam", "usam")) for e in runs]


def _least_squares_spectrum() -> tuple[np.ndarray, float]:
    """Eigenvalues of the digits least-squares Hessian and the gradient norm at ``w = 0`` (exact, float64)."""
    from stablesam.analysis.experiments.least_squares_digits import least_squares_problem

    problem = least_squares_problem(generator=np.random.default_rng(0))
    x = np.hstack([problem.x.numpy(), np.ones((len(problem.y), 1))])
    grad0 = -x.T @ problem.y.numpy() / len(problem.y)
    return problem.eigenvalues, float(np.linalg.norm(grad0))


def c1_theory(scale: Scale, results=None) -> TheoryCheck:
    from stablesam.theory.renormalization import gamma_range

    eigenvalues, grad_norm = _least_squares_spectrum()
    positive = eigenvalues[eigenvalues > 1e-12 * eigenvalues[-1]]
    numbers = {}
    for rho in scale.trajectory_rhos:
        g_min, g_max = gamma_range("stablesam-u", positive, rho)
        n_min, n_max = gamma_range("stablesam-n", positive, rho, grad_norm=grad_norm)
        numbers[f"rho={rho:g}"] = {"usam_ratio_range": [1 / g_max, 1 / g_min],
                                   "sam_ratio_range_at_w0": [1 / n_max, 1 / n_min]}
    return TheoryCheck(
        "proved",
        "On a PSD quadratic the ratio ||g~||/||g|| = 1/gamma lies in [1 + rho lambda_min, 1 + rho lambda_max] (USAM) and "
        "[1 + rho lambda_min/||g||, 1 + rho lambda_max/||g||] (SAM): never below 1, and for SAM unbounded as ||g|| -> 0. "
        "On the digits least-squares Hessian (exact spectrum; SAM at w = 0): " + "; ".join(
            f"{k}: USAM [{v['usam_ratio_range'][0]:.4g}, {v['usam_ratio_range'][1]:.4g}], "
            f"SAM [{v['sam_ratio_range_at_w0'][0]:.4g}, {v['sam_ratio_range_at_w0'][1]:.4g}]" for k, v in numbers.items()),
        "docs/theory.md section 2 (derived); stablesam.theory.renormalization.gamma_range", numbers)


def _per_seed_mean(runs: list[dict[str, Any]], value: Callable[[np.ndarray, np.ndarray], float]) -> np.ndarray:
    out = []
    for run in runs:
        gamma = np.asarray(run["gamma"], dtype=np.float64)
        grad = np.asarray(run["grad_norm"], dtype=np.float64)
        ok = np.isfinite(gamma) & (gamma > 0) & np.isfinite(grad) & (grad > 0)
        out.append(value(gamma[ok], grad[ok]) if ok.any() else math.nan)
    return np.asarray(out)


def c1_evaluate(scale: Scale, results, generator: np.random.Generator) -> ClaimResult:
    cases, curves = [], {}
    for (dataset, model, method, lr, rho), runs in _trajectory_grid(scale, ("sam", "usam")):
        data = [results.data(e) for e in runs]
        per_seed = _per_seed_mean(data, lambda gamma, grad: float(np.mean(1.0 / gamma)))
        finite = per_seed[np.isfinite(per_seed)]
        interval = _interval(lambda idx: finite[idx].mean(), len(finite), C1_RULE, scale, generator) if len(finite) else None
        verdict = C1_RULE.decide(interval) if interval else INCONCLUSIVE
        diverged = sum(bool(d["diverged"]) for d in data)
        setting = {"dataset": dataset, "model": model, "method": method, "lr": lr, "rho": rho}
        cases.append(_case(setting, interval, verdict, diverged_runs=diverged, runs=len(data)))
        curves[f"{method} lr={lr:g} rho={rho:g}"] = {
            "method": method, "ratio": np.nanmedian([_pad(1.0 / np.asarray(d["gamma"]), data) for d in data], axis=0).tolist()}
    return ClaimResult(combine_cases([c["verdict"] for c in cases], require_all=True), "smallest per-setting mean ratio",
                       _weakest(cases, "greater"), cases, figure_data={"curves": curves})


def _pad(values: np.ndarray, runs: list[dict[str, Any]]) -> np.ndarray:
    """``values`` padded with NaN to the longest run (a diverged run stops early)."""
    length = max(len(r["gamma"]) for r in runs)
    return np.concatenate([values, np.full(length - len(values), np.nan)])


# ---------------------------------------------------------------------------------------------------------------
# Twin-run helpers (C2, C3, C4, C5)
# ---------------------------------------------------------------------------------------------------------------


def _pair_ratio(results, scale: Scale, rule: DecisionRule, generator, method_exp: Experiment,
                base_exp: Experiment) -> dict[str, Any]:
    """Paired ratios ``method / base`` of the stability estimate, ``loss_diff_max`` and the twin distance.

    Resampling unit: the seed (both arms share it). An arm diverged in at least half its seeds is "diverged".
    """
    from stablesam.analysis.experiments.twin_stability import loss_diff_max, stability_estimate

    arms = [results.test_losses(method_exp), results.test_losses(base_exp)]
    tables = [results.twin_table(method_exp), results.twin_table(base_exp)]
    distances = [tables[0]["distance"], tables[1]["distance"]]
    n = len(scale.seeds)
    diverged = [n - len(arm.finite_seeds) for arm in arms]
    # A model that stopped learning (chance accuracy) is "stable" trivially: the accuracies let a reader see it.
    out: dict[str, Any] = {"diverged_seeds": {"method": diverged[0], "base": diverged[1]}, "seeds": n,
                           "train_accuracy": {"method": float(np.nanmean(tables[0]["train_accuracy"])),
                                              "base": float(np.nanmean(tables[1]["train_accuracy"]))}}
    heavy = [d >= n / 2 for d in diverged]
    if heavy[0] and heavy[1]:
        out.update(verdict=INCONCLUSIVE, status="both diverged", interval=None)
        return out
    if heavy[0] or heavy[1]:
        out.update(verdict=NOT_SUPPORTED if heavy[0] else SUPPORTED,
                   status="method diverged" if heavy[0] else "baseline diverged", interval=None)
        return out
    seeds = np.intersect1d(arms[0].finite_seeds, arms[1].finite_seeds)

    def ratio(estimate):
        return lambda idx: estimate(arms[0], seeds[idx]) / estimate(arms[1], seeds[idx])

    interval = _interval(ratio(stability_estimate), len(seeds), rule, scale, generator)
    upper = _interval(ratio(loss_diff_max), len(seeds), rule, scale, generator)
    d_method, d_base = np.asarray(distances[0])[seeds], np.asarray(distances[1])[seeds]
    dist = _interval(lambda idx: d_method[idx].mean() / d_base[idx].mean(), len(seeds), rule, scale, generator)
    out.update(verdict=rule.decide(interval), status="ran", interval=interval.to_dict(),
               loss_diff_max_ratio=upper.to_dict(), distance_ratio=dist.to_dict(),
               distance_verdict=rule.decide(dist))
    return out


# ---------------------------------------------------------------------------------------------------------------
# C2: SAM's stability advantage over SGD holds only at small learning rates
# ---------------------------------------------------------------------------------------------------------------

C2_RULE = DecisionRule("stability_estimate(method) / stability_estimate(SGD) at one eta", claimed="less",
                       boundary=1 / 1.1, null=1.0)


def c2_experiments(scale: Scale) -> list[Experiment]:
    return [twin_experiment(scale, d, m, o, lr) for d, m in scale.stability_models
            for o in ("sgd", "sam", "usam") for lr in scale.lrs] + [exact_experiment(scale)]


# Constants of the derived convex bounds compared in C2/C4 (generic: L = beta = 1, n = 1000, T = 100).
_BOUND_CONSTANTS = dict(L=1.0, n=1000, T=100)
_BOUND_RANGE = (1e-3, 2.0)
# Relative margin for comparing two exact twin distances: stablesam.theory.twin_moments states a relative rounding error of
# 1e-9 or better on standardised digits, so a difference above 1e-6 is not rounding.
_EXACT_RTOL = 1e-6


def _compare_bounds(method: str, reference: str, rho: float, **options) -> dict[str, list]:
    """:func:`stablesam.theory.excess_risk.compare_bounds` of the convex stability bounds of ``method`` and ``reference``
    (``reference`` without StableSAM options) on ``_BOUND_RANGE``: intervals ``better / not_better / a_silent /
    b_silent``."""
    from stablesam.theory.excess_risk import bound_function, compare_bounds

    a = bound_function(method, "convex", beta=1.0, rho=rho, **options, **_BOUND_CONSTANTS)
    b = bound_function(reference, "convex", beta=1.0, rho=rho, **_BOUND_CONSTANTS)
    return compare_bounds(a, b, *_BOUND_RANGE, num=100)._asdict()


def _exact_curves(scale: Scale, results) -> dict[str, Any]:
    """The cached exact twin distances: ``lrs`` and ``rms[(method, rho)]`` = ``sqrt(E||w_T - w'_T||^2)`` per eta."""
    data = results.data(exact_experiment(scale))
    return {"lrs": np.asarray(data["lrs"], dtype=np.float64), "beta": data["beta"],
            "rms": {(c["method"], float(c["rho"])): np.asarray(c["rms"], dtype=np.float64) for c in data["curves"]}}


def _more_stable(rms_a: np.ndarray, rms_b: np.ndarray) -> list[str]:
    """Per eta: ``supported`` where a's exact rms twin distance is below b's by more than ``_EXACT_RTOL``,
    ``not supported`` where above, ``inconclusive`` at a tie or where both diverged (``inf``)."""
    out = []
    for a, b in zip(rms_a, rms_b):
        if not (math.isfinite(a) or math.isfinite(b)):
            out.append(INCONCLUSIVE)
        elif a < b * (1 - _EXACT_RTOL):
            out.append(SUPPORTED)
        elif a > b * (1 + _EXACT_RTOL):
            out.append(NOT_SUPPORTED)
        else:
            out.append(INCONCLUSIVE)
    return out


def _theory_status(verdict: str) -> str:
    return {SUPPORTED: "consistent", NOT_SUPPORTED: "contradicts"}.get(verdict, "no prediction")


def _fmt_grid(lrs: np.ndarray, flags: list[str]) -> str:
    chosen = [float(x) for x, f in zip(lrs, flags) if f == SUPPORTED]
    return "none of the grid" if not chosen else f"eta in [{chosen[0]:.3g}, {chosen[-1]:.3g}] ({len(chosen)} of {len(lrs)} grid points)"


def c2_theory(scale: Scale, results) -> TheoryCheck:
    from stablesam.theory.uniform_stability import stablesam_gamma_range

    rho = scale.rho
    lowest = stablesam_gamma_range("stablesam-u", "convex", rho=rho, beta=1.0).lowest
    compared = {"usam": _compare_bounds("usam", "sgd", rho), "sam": _compare_bounds("sam", "sgd", rho),
                "stablesam-u, shared-gamma, gamma = 1": _compare_bounds(
                    "stablesam-u", "sgd", rho, assumption="shared-gamma", gamma=1.0),
                f"stablesam-u, shared-gamma, gamma = {lowest:.4g} (assumed along the trajectory)": _compare_bounds(
                    "stablesam-u", "sgd", rho, assumption="shared-gamma", gamma=lowest),
                "stablesam-u, lipschitz-step": _compare_bounds("stablesam-u", "sgd", rho, assumption="lipschitz-step")}
    exact = _exact_curves(scale, results)
    lrs, sgd = exact["lrs"], exact["rms"][("sgd", 0.0)]
    per_rho = {}
    for (method, r), rms in exact["rms"].items():
        if method == "usam":
            flags = _more_stable(rms, sgd)
            per_rho[r] = {"per_eta": flags, "pattern": only_below(lrs, flags),
                          "usam_more_stable_lrs": [float(x) for x, f in zip(lrs, flags) if f == SUPPORTED]}
    exact_verdict = combine_cases([p["pattern"] for p in per_rho.values()], require_all=False)
    s = scale
    summary = (
        f"(a) Derived convex stability bounds (L = beta = 1, n = {_BOUND_CONSTANTS['n']}, T = {_BOUND_CONSTANTS['T']}, "
        f"rho = {rho:g}; stablesam.theory.excess_risk.compare_bounds on eta in [{_BOUND_RANGE[0]:g}, {_BOUND_RANGE[1]:g}]; 'better' "
        "only where both theorems apply): bound below SGD's for "
        + "; ".join(f"{k}: {_fmt_intervals(v['better'])}" for k, v in compared.items())
        + ". gamma = 1 is the shared factor every convex trajectory meets (gamma_t in [1/(1 + rho beta), 1]); a smaller "
        "one is an assumption about the trajectory; "
        "an upper bound is no proof of a stability gap, so the bounds are consistent with the claim only if SAM's or "
        "USAM's is below SGD's at small eta, and otherwise make no prediction. "
        f"(b) Exact sqrt(E||w_T - w'_T||^2) on standardised digits least squares (first {s.exact_n} examples, example 0 "
        f"replaced, w_0 = 0, one example per step uniformly with replacement, T = {s.exact_steps}; eta grid "
        f"[{lrs[0]:.3g}, {lrs[-1]:.3g}], {len(lrs)} points; SGD's 2/max||x_i||^2 = {2 / exact['beta']:.3g}): USAM more "
        "stable than SGD for " + "; ".join(f"rho = {r:g}: {_fmt_grid(lrs, p['per_eta'])} (pattern over eta: "
                                            f"{p['pattern']})" for r, p in per_rho.items())
        + ". Theory status: (b)'s pattern where it makes a prediction (it is exact), else (a)'s.")
    bounds_consistent = any(v["better"] and v["better"][0][0] == _BOUND_RANGE[0] and v["better"][-1][1] < _BOUND_RANGE[1]
                            for k, v in compared.items() if k in ("usam", "sam"))
    status = _theory_status(exact_verdict)
    if status == "no prediction" and bounds_consistent:
        status = "consistent"
    return TheoryCheck(
        status, summary,
        "stablesam.theory.excess_risk.compare_bounds, stablesam.theory.uniform_stability.stability_bound (derived); "
        "stablesam.theory.twin_moments.expected_twin_distance via stablesam.analysis.experiments.exact_stability.exact_stability_table (derived, exact)",
        {"bounds_vs_sgd": compared, "exact": {"lrs": lrs.tolist(), "rms": {f"{m} rho={r:g}": v.tolist()
                                                                            for (m, r), v in exact["rms"].items()},
                                              "usam_vs_sgd": {f"rho={r:g}": p for r, p in per_rho.items()},
                                              "pattern": exact_verdict}})


def _fmt_intervals(intervals) -> str:
    return "none" if not intervals else ", ".join(f"[{a:.3g}, {b:.3g}]" for a, b in intervals)


def c2_evaluate(scale: Scale, results, generator: np.random.Generator) -> ClaimResult:
    cases, per_method, curves = [], [], {}
    for dataset, model in scale.stability_models:
        for method in ("sam", "usam"):
            verdicts, ratios = [], []
            for lr in scale.lrs:
                r = _pair_ratio(results, scale, C2_RULE, generator, twin_experiment(scale, dataset, model, method, lr),
                                twin_experiment(scale, dataset, model, "sgd", lr))
                raw = r.pop("interval")
                interval = Interval(**raw) if raw else None
                cases.append(_case({"dataset": dataset, "model": model, "method": method, "lr": lr}, interval,
                                   r.pop("verdict"), **r))
                verdicts.append(cases[-1]["verdict"])
                ratios.append(interval.estimate if interval else math.nan)
            pattern = only_below(scale.lrs, verdicts)
            eta_x = crossover(scale.lrs, ratios)
            per_method.append({"dataset": dataset, "model": model, "method": method, "verdict": pattern,
                               "crossover_lr": eta_x})
            curves[f"{dataset}/{model} {method}"] = {"method": method, "lr": list(scale.lrs), "cases": cases[-len(scale.lrs):]}
    verdict = combine_cases([p["verdict"] for p in per_method], require_all=False)
    notes = [f"{p['dataset']}/{p['model']} {p['method']}: pattern over eta {p['verdict']}; crossover eta "
             f"{'none on the grid' if p['crossover_lr'] is None else format(p['crossover_lr'], '.3g')}" for p in per_method]
    first = cases[0]["interval"]  # SAM over SGD at the smallest eta of the first model
    return ClaimResult(verdict, "stability ratio SAM/SGD at the smallest eta", first and Interval(**first), cases, notes,
                       {"curves": curves, "patterns": per_method})


# ---------------------------------------------------------------------------------------------------------------
# C3: StableSAM allows larger learning rates than SAM
# ---------------------------------------------------------------------------------------------------------------

C3_RULE = DecisionRule("log2 eta_max(StableSAM) - log2 eta_max(base), mean over seeds", claimed="greater",
                       boundary=0.0, null=0.0)


def c3_experiments(scale: Scale) -> list[Experiment]:
    from stablesam.analysis.verify.claims_eos import eos_experiments

    return [twin_experiment(scale, d, m, o, lr) for d, m in scale.edge_models for pair in PAIRS for o in pair
            for lr in scale.lrs] + eos_experiments(scale)


def c3_theory(scale: Scale, results=None) -> TheoryCheck:
    from stablesam.theory.stability_edge import max_stable_lr

    eigenvalues, grad_norm = _least_squares_spectrum()
    lam = float(eigenvalues[-1])
    edges = {m: float(max_stable_lr(m, lam, rho=scale.rho, grad_norm=grad_norm if m == "sam" else None))
             for m in ("gd", "usam", "sam", "stablesam-u", "stablesam-n")}
    larger = all(edges[s] >= max(edges["sam"], edges["usam"]) for s in ("stablesam-u", "stablesam-n"))
    limits, conditions = _bound_lr_limits(scale.rho)
    return TheoryCheck(
        "consistent" if larger else "no prediction",
        f"Edges of the local quadratic model (digits least squares, lambda_max = {lam:.4g}, ||g|| = {grad_norm:.3g} at "
        f"w = 0, rho = {scale.rho:g}): " + ", ".join(f"{k} {v:.4g}" for k, v in edges.items()) +
        ". StableSAM keeps GD's edge 2/lambda, above USAM's and SAM's for every rho > 0. " + conditions,
        "docs/theory.md section 3; stablesam.theory.stability_edge.max_stable_lr; stablesam.theory.excess_risk.lr_limit",
        {"lambda_max": lam, "grad_norm": grad_norm, "edges": edges, "bound_lr_limits_beta_1": limits})


def _bound_lr_limits(rho: float) -> tuple[dict[str, float], str]:
    """Learning-rate conditions of the derived convex stability bounds (beta = 1) with feasible StableSAM constants."""
    from stablesam.theory.excess_risk import lr_limit
    from stablesam.theory.uniform_stability import stablesam_gamma_range

    lowest = stablesam_gamma_range("stablesam-u", "convex", rho=rho, beta=1.0).lowest
    limits = {"sgd": lr_limit("sgd", "convex", beta=1.0), "usam": lr_limit("usam", "convex", beta=1.0, rho=rho),
              "stablesam-u shared-gamma gamma=1": lr_limit("stablesam-u", "convex", beta=1.0, rho=rho,
                                                           assumption="shared-gamma", gamma=1.0),
              f"stablesam-u shared-gamma gamma={lowest:.4g}": lr_limit("stablesam-u", "convex", beta=1.0, rho=rho,
                                                                      assumption="shared-gamma", gamma=lowest),
              "stablesam-u lipschitz-step": lr_limit("stablesam-u", "convex", beta=1.0, rho=rho,
                                                     assumption="lipschitz-step")}
    text = ("The convex stability bounds' conditions (beta = 1): " + ", ".join(f"{k} eta <= {v:.4g}" for k, v in limits.items())
            + f". With gamma = 1, the factor every convex trajectory meets, StableSAM's condition is SGD's and USAM's; "
            f"a larger one needs the assumption gamma_t <= gamma < 1 along the trajectory (feasible down to "
            f"1/(1 + rho beta) = {lowest:.4g}); 'lipschitz-step' has no condition but a larger expansiveness constant.")
    return limits, text


def c3_evaluate(scale: Scale, results, generator: np.random.Generator) -> ClaimResult:
    from stablesam.analysis.verify.claims_eos import PLATEAU_RULE_TEXT, plateau_cases

    log_lrs = np.log2(np.asarray(scale.lrs))
    step = float(np.min(np.diff(log_lrs))) if len(log_lrs) > 1 else 1.0
    cases, points = [], []
    for dataset, model in scale.edge_models:
        for base, stable in PAIRS:
            best = {}
            for method in (base, stable):
                reached = np.zeros((len(scale.lrs), len(scale.seeds)), dtype=bool)
                for k, lr in enumerate(scale.lrs):
                    table = results.twin_table(twin_experiment(scale, dataset, model, method, lr))
                    reached[k] = (np.asarray(table["train_accuracy"]) >= scale.target_accuracy) & ~np.asarray(table["diverged"])
                # largest eta that reached the target; one grid step below the grid when none did
                best[method] = np.array([log_lrs[np.flatnonzero(reached[:, s])[-1]] if reached[:, s].any()
                                         else log_lrs[0] - step for s in range(len(scale.seeds))])
                points += [{"dataset": dataset, "model": model, "method": method, "seed": s, "lr_max": float(2 ** v)}
                           for s, v in zip(scale.seeds, best[method])]
            diff = best[stable] - best[base]
            interval = _interval(lambda idx: diff[idx].mean(), len(diff), C3_RULE, scale, generator)
            cases.append(_case({"part": "trainability", "dataset": dataset, "model": model, "method": stable,
                                "base": base}, interval,
                               C3_RULE.decide(interval),
                               median_lr_max={base: float(2 ** np.median(best[base])),
                                              stable: float(2 ** np.median(best[stable]))}))
    key = max((Interval(**c["interval"]) for c in cases), key=lambda i: i.low, default=None)
    plateau, plateau_notes, plateau_figure = plateau_cases(scale, results, generator, scale.bootstrap_resamples)
    return ClaimResult(combine_cases([c["verdict"] for c in cases + plateau], require_all=False),
                       "log2 eta_max gain of StableSAM (largest case)", key, cases + plateau,
                       [f"trainability: target train accuracy {scale.target_accuracy:g} after {scale.epochs} epochs, "
                        f"without divergence; 'none reached' counts as one grid step below {min(scale.lrs):g}",
                        f"plateau: {PLATEAU_RULE_TEXT}", *plateau_notes], {"points": points, **plateau_figure})


# ---------------------------------------------------------------------------------------------------------------
# C4: StableSAM is more stable than SAM at matched eta and rho
# ---------------------------------------------------------------------------------------------------------------

C4_RULE = DecisionRule("stability_estimate(StableSAM) / stability_estimate(base) at one eta", claimed="less",
                       boundary=1 / 1.1, null=1.0)


def c4_experiments(scale: Scale) -> list[Experiment]:
    return [twin_experiment(scale, d, m, o, lr) for d, m in scale.stability_models for pair in PAIRS for o in pair
            for lr in scale.lrs] + [exact_experiment(scale)]


def c4_theory(scale: Scale, results) -> TheoryCheck:
    from stablesam.theory.uniform_stability import assumption_detail, stablesam_gamma_range

    rho = scale.rho
    convex = stablesam_gamma_range("stablesam-u", "convex", rho=rho, beta=1.0)
    nonconvex = stablesam_gamma_range("stablesam-u", "nonconvex", rho=rho, beta=1.0)
    detail = assumption_detail("stablesam-u", "convex", beta=1.0, rho=rho, gamma=1.0, assumption="shared-gamma")
    compared = {"shared-gamma, gamma = 1": _compare_bounds("stablesam-u", "usam", rho, assumption="shared-gamma", gamma=1.0),
                f"shared-gamma, gamma = {convex.lowest:.4g} (lowest feasible)": _compare_bounds(
                    "stablesam-u", "usam", rho, assumption="shared-gamma", gamma=convex.lowest),
                "lipschitz-step": _compare_bounds("stablesam-u", "usam", rho, assumption="lipschitz-step")}
    exact = _exact_curves(scale, results)
    lrs = exact["lrs"]
    usam = exact["rms"].get(("usam", float(rho)))
    numbers: dict[str, Any] = {"gamma_range_convex": list(convex), "gamma_range_nonconvex": list(nonconvex),
                               "bounds_vs_usam": compared}
    if usam is None:  # the exact grid does not hold the claim's rho
        flags, exact_text, status = [], f"(b) not computed at rho = {rho:g}.", "no prediction"
    else:
        flags = _more_stable(exact["rms"][("sgd", 0.0)], usam)
        status = _theory_status(combine_cases(flags, require_all=False))
        exact_text = (f"(b) Exact, one example per step on standardised digits least squares (C2's setting): "
                      "StableSAM-U and -N are exactly SGD there (gamma g~ = g for a rank-one step), so StableSAM-U is "
                      f"more stable than USAM at rho = {rho:g} for {_fmt_grid(lrs, flags)}; less stable at "
                      f"{flags.count(NOT_SUPPORTED)} grid points. StableSAM-N vs SAM has no exact form (SAM's step is "
                      "not affine).")
        numbers["exact_stablesam_u_vs_usam"] = {"lrs": lrs.tolist(), "per_eta": flags}
    summary = (
        f"(a) StableSAM's bound needs an assumption. Feasible factors (beta-smooth, rho beta = {rho:g}): gamma_t in "
        f"[{convex.lowest:.4g}, {convex.highest:.4g}] for convex losses, [{nonconvex.lowest:.4g}, {nonconvex.highest:.4g}] "
        f"otherwise. Under 'shared-gamma' with gamma = 1 ({detail}) the derived convex bound is USAM's; a smaller "
        "gamma is an assumption about the trajectory; 'lipschitz-step' assumes nothing about gamma_t. Intervals of eta "
        f"in [{_BOUND_RANGE[0]:g}, {_BOUND_RANGE[1]:g}] where StableSAM-U's bound is below USAM's: "
        + "; ".join(f"{k}: {_fmt_intervals(v['better'])}" for k, v in compared.items())
        + ". A smaller upper bound is no proof of more stability: the bounds alone make no prediction. " + exact_text
        + " Theory status: (b)'s, combined over eta as the claim's cases are (some eta supports, none contradicts).")
    return TheoryCheck(
        status, summary,
        "stablesam.theory.uniform_stability.stablesam_gamma_range, assumption_detail, stablesam.theory.excess_risk.compare_bounds (derived); "
        "stablesam.theory.twin_moments.expected_twin_distance (derived, exact)", numbers)


def c4_evaluate(scale: Scale, results, generator: np.random.Generator) -> ClaimResult:
    cases = []
    for dataset, model in scale.stability_models:
        for base, stable in PAIRS:
            for lr in scale.lrs:
                r = _pair_ratio(results, scale, C4_RULE, generator, twin_experiment(scale, dataset, model, stable, lr),
                                twin_experiment(scale, dataset, model, base, lr))
                raw = r.pop("interval")
                interval = Interval(**raw) if raw else None
                cases.append(_case({"dataset": dataset, "model": model, "method": stable, "base": base, "lr": lr},
                                   interval, r.pop("verdict"), **r))
    key = min((Interval(**c["interval"]) for c in cases if c["interval"]), key=lambda i: i.high, default=None)
    return ClaimResult(combine_cases([c["verdict"] for c in cases], require_all=False),
                       "stability ratio StableSAM/base (strongest case)", key, cases, figure_data={"cases": cases})


# ---------------------------------------------------------------------------------------------------------------
# C5: StableSAM matches or beats SAM's test accuracy, above all under label noise
# ---------------------------------------------------------------------------------------------------------------

C5_RULE = DecisionRule("test accuracy StableSAM - base, points, paired over seeds", claimed="greater", boundary=0.0,
                       null=0.0, min_units=5, equivalence=1.0)


def c5_experiments(scale: Scale) -> list[Experiment]:
    dataset, model = scale.noise_model
    return [twin_experiment(scale, dataset, model, o, scale.noise_lr, label_noise=p, epochs=scale.noise_epochs)
            for p in scale.label_noises for pair in PAIRS for o in pair]


def c5_theory(scale: Scale, results=None) -> TheoryCheck:
    return TheoryCheck("not applicable", "An empirical claim: theory/ makes no prediction of test accuracy.", "")


def c5_evaluate(scale: Scale, results, generator: np.random.Generator) -> ClaimResult:
    dataset, model = scale.noise_model
    cases = []
    for noise in scale.label_noises:
        for base, stable in PAIRS:
            tables = [results.twin_table(twin_experiment(scale, dataset, model, m, scale.noise_lr, label_noise=noise,
                                                         epochs=scale.noise_epochs)) for m in (stable, base)]
            diff = 100.0 * (np.asarray(tables[0]["test_accuracy"]) - np.asarray(tables[1]["test_accuracy"]))
            interval = _interval(lambda idx: diff[idx].mean(), len(diff), C5_RULE, scale, generator)
            verdict = C5_RULE.decide(interval)
            outcome = ("beats" if interval.low > 0 else "matches" if C5_RULE.matches(interval) else
                       "worse by more than 1 point" if verdict == NOT_SUPPORTED else "unclear")
            cases.append(_case({"dataset": dataset, "model": model, "method": stable, "base": base,
                                "label_noise": noise}, interval, verdict, outcome=outcome,
                               mean_accuracy={stable: float(np.mean(tables[0]["test_accuracy"])),
                                              base: float(np.mean(tables[1]["test_accuracy"]))}))
    return ClaimResult(combine_cases([c["verdict"] for c in cases], require_all=True),
                       "accuracy difference StableSAM - base, points (weakest case)", _weakest(cases, "greater"), cases,
                       ["'matches' = the whole interval within +-1 point; 'beats' = the whole interval above 0"])


# ---------------------------------------------------------------------------------------------------------------
# C6: the renormalization adds negligible cost
# ---------------------------------------------------------------------------------------------------------------

C6_RULE = DecisionRule("median over interleaved blocks of step time StableSAM / base", claimed="less", boundary=1.05,
                       null=1.0, min_units=5)


def c6_experiments(scale: Scale) -> list[Experiment]:
    return [timing_experiment(scale, base, stable) for base, stable in PAIRS]


def c6_theory(scale: Scale, results=None) -> TheoryCheck:
    return TheoryCheck("not applicable", "A cost claim: per step StableSAM adds two global norms and one scaling "
                       "(O(d)) to SAM's two forward-backward passes; theory/ holds no cost model.", "")


def c6_evaluate(scale: Scale, results, generator: np.random.Generator) -> ClaimResult:
    cases = []
    for base, stable in PAIRS:
        timing = results.data(timing_experiment(scale, base, stable))
        ratio = np.asarray(timing["seconds_b"]) / np.asarray(timing["seconds_a"])
        interval = _interval(lambda idx: float(np.median(ratio[idx])), len(ratio), C6_RULE, scale, generator)
        q1, q3 = np.percentile(ratio, [25, 75])
        cases.append(_case({"method": stable, "base": base, "model": "/".join(scale.timing_model),
                            "device": timing["device"], "threads": timing["threads"], "steps_per_block": timing["steps"]},
                           interval, C6_RULE.decide(interval), iqr=[float(q1), float(q3)], ratios=ratio.tolist()))
    return ClaimResult(combine_cases([c["verdict"] for c in cases], require_all=True),
                       "step-time ratio StableSAM/base (weakest case)", _weakest(cases, "less"), cases,
                       ["timed in this process while the verification ran; on a shared machine the ratio is noisy"])


# ---------------------------------------------------------------------------------------------------------------
# C7: renormalization only shortens the step (gamma <= 1)
# ---------------------------------------------------------------------------------------------------------------

C7_RULE = DecisionRule("fraction of steps with gamma > 1, mean over seeds", claimed="less", boundary=0.01, null=0.0)


def c7_experiments(scale: Scale) -> list[Experiment]:
    return [e for _, runs in _trajectory_grid(scale, ("stablesam-n", "stablesam-u")) for e in runs]


def c7_theory(scale: Scale, results=None) -> TheoryCheck:
    from stablesam.theory.renormalization import gamma, gamma_range

    generator = np.random.default_rng(0)
    spectra = generator.exponential(size=(2000, 6))
    points = generator.standard_normal((2000, 6))
    worst = {m: float(np.max(gamma(m, spectra, points, scale.rho))) for m in ("stablesam-u", "stablesam-n")}
    upper = float(gamma_range("stablesam-u", [0.0, 1.0], scale.rho)[1])
    saddle = float(gamma("stablesam-u", [-1.0], [1.0], scale.rho))
    return TheoryCheck(
        "proved",
        "On PSD quadratics gamma <= 1 (gamma_range's upper end is 1/(1 + rho lambda_min) <= 1, "
        f"{upper:g} with a flat direction). Largest gamma over 2000 random PSD spectra and points: "
        + ", ".join(f"{k} {v:.6f}" for k, v in worst.items()) +
        f". With negative curvature it fails: gamma = {saddle:.4g} at lambda = -1, rho = {scale.rho:g} (so on "
        "non-convex networks the claim is an empirical frequency).",
        "docs/theory.md section 2 (derived); stablesam.theory.renormalization.gamma, gamma_range",
        {"max_gamma_psd": worst, "gamma_negative_curvature": saddle})


def c7_evaluate(scale: Scale, results, generator: np.random.Generator) -> ClaimResult:
    cases, gammas = [], {}
    for (dataset, model, method, lr, rho), runs in _trajectory_grid(scale, ("stablesam-n", "stablesam-u")):
        data = [results.data(e) for e in runs]
        fractions = _per_seed_mean(data, lambda gamma, grad: float(np.mean(gamma > 1.0)))
        finite = fractions[np.isfinite(fractions)]
        interval = _interval(lambda idx: finite[idx].mean(), len(finite), C7_RULE, scale, generator) if len(finite) else None
        all_gamma = np.concatenate([np.asarray(d["gamma"], dtype=np.float64) for d in data])
        all_gamma = all_gamma[np.isfinite(all_gamma)]
        cases.append(_case({"dataset": dataset, "model": model, "method": method, "lr": lr, "rho": rho}, interval,
                           C7_RULE.decide(interval) if interval else INCONCLUSIVE,
                           max_gamma=float(all_gamma.max()) if all_gamma.size else math.nan, steps=int(all_gamma.size)))
        gammas.setdefault(method, []).extend(all_gamma.tolist())
    return ClaimResult(combine_cases([c["verdict"] for c in cases], require_all=True),
                       "fraction of steps with gamma > 1 (weakest case)", _weakest(cases, "less"), cases,
                       figure_data={"gammas": gammas})


# ---------------------------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------------------------

_UNIVERSAL, _EXISTENTIAL = "every setting", "some setting, none contradicting"

CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("C1", "The surrogate gradient is longer than the true gradient",
          "The norm of the surrogate gradient is often much larger than that of the true gradient (Figure 1).",
          f"Figure 1 of the paper; {_SUMMARY}", C1_RULE, _UNIVERSAL, "||g~|| / ||g|| = 1/gamma at every step (SAM, USAM)",
          "The paper says 'often much larger'; the rule asks for a mean ratio above 1.05 in every setting run.",
          "A setting whose ratio interval reaches below 1.05 makes it inconclusive; below 1, not supported.",
          (), c1_experiments, c1_theory, c1_evaluate),
    Claim("C2", "SAM is more stable than SGD only at small learning rates",
          "Provides stability analysis of SAM using the lens of uniform stability and shows SAM's superiority over SGD "
          "only holds for small learning rates.", f"Main contributions; {_SUMMARY}", C2_RULE, _EXISTENTIAL,
          "stability_estimate = sup_z |E_A[l(A(S);z) - l(A(S');z)]| (decides); loss_diff_max and twin distance "
          "reported. Resampling unit: the seed (one pair per seed, replaced index 0, S' fixed by a pool of one)",
          "The paper proves it for its bounds; here it is an empirical pattern on a finite eta grid: an advantage "
          "(ratio CI below 1/1.1) at some eta and its reversal (CI above 1) at a larger one.",
          "A finer or wider eta grid, or more seeds narrowing the per-eta intervals, can move it either way.",
          (), c2_experiments, c2_theory, c2_evaluate,
          "The verdict is the twin experiment's on networks (the rule above, over the eta grid). The theory parts do "
          "not enter it: (a) the bounds are upper bounds (a smaller bound proves no stability gap) and (b) the exact "
          "least-squares distance is another model (linear, one example per step, USAM only). The theory status is "
          "(b)'s pattern over eta where it makes a prediction, else (a)'s; where it disagrees with the verdict "
          "(contradicts a supported verdict, or is consistent with a not-supported one) the notes say so."),
    Claim("C3", "StableSAM allows larger learning rates than SAM",
          "Presents convergence analysis for both SAM and StableSAM and derives generalization error bounds. Shows "
          "StableSAM allows larger learning rates.", f"Main contributions; {_SUMMARY}", C3_RULE, _EXISTENTIAL,
          "two parts, each case decided alone: (trainability, the rule above) the largest grid eta reaching the "
          "target training accuracy without diverging, per seed; (plateau, analysis/claims_eos.py) at a fixed eta, "
          "full batch, the median over the last half of training of StableSAM's sharpness over its base's edge at "
          "(eta, rho, ||g||): the edges predict that StableSAM trains stably above its base's edge, where the base "
          "at that eta is not (ratio CI above 1: supported; StableSAM diverging where its base does not: not "
          "supported; a plateau below the base's edge is no evidence either way: inconclusive)",
          "The paper's statement is about its bounds' learning-rate conditions; here: trainability on a coarse grid "
          "after few epochs, and where the sharpness settles on one small network at one or two eta.",
          "A finer grid, longer training or another target accuracy; for the plateau, another eta or network where "
          "StableSAM's sharpness stays below its base's edge (inconclusive) or it diverges (not supported).",
          (), c3_experiments, c3_theory, c3_evaluate),
    Claim("C4", "StableSAM is more stable than SAM at matched eta and rho",
          "Empirically demonstrates on problems like image classification that StableSAM stabilizes training without "
          "sacrificing accuracy.", f"Main contributions; {_SUMMARY}", C4_RULE, _EXISTENTIAL,
          "stability_estimate = sup_z |E_A[l(A(S);z) - l(A(S');z)]| (decides); loss_diff_max and twin distance "
          "reported. Resampling unit: the seed (one pair per seed, replaced index 0, S' fixed by a pool of one)",
          "'Stabilizes training' is read as algorithmic stability (the paper's lens), at each eta of the grid.",
          "More seeds or another eta grid; a setting where StableSAM is less stable (CI above 1) contradicts it.",
          (), c4_experiments, c4_theory, c4_evaluate,
          "The verdict is the twin experiment's on networks (the rule above). The theory does not enter it: the bounds "
          "make no prediction of a gap (upper bounds), and the exact least-squares distance (StableSAM-U = SGD with one "
          "example per step, against USAM at the claim's rho) is another model; its status is reported beside the "
          "verdict and a disagreement with the verdict is noted."),
    Claim("C5", "StableSAM matches or beats SAM's test accuracy, above all under label noise",
          "In fact, it matches or exceeds baseline SAM's performance. [...] StableSAM can further boost the performance "
          "of SAM and its variants like ASAM, especially in the presence of label noise.",
          f"Main contributions; {_SUMMARY}", C5_RULE, _UNIVERSAL,
          "test accuracy of the S-twin after training, paired over seeds",
          "The paper reports CIFAR and ImageNet with long schedules; here small models and short training. 'Especially "
          "under label noise' (a larger gain with noise) is reported per noise level, not decided.",
          "An interval neither within +-1 point nor wholly above 0 makes it inconclusive; wholly below -1, not "
          "supported.",
          (), c5_experiments, c5_theory, c5_evaluate),
    Claim("C6", "The renormalization adds negligible cost",
          "It is easy to implement and adds negligible computational overhead.", f"Main contributions; {_SUMMARY}",
          C6_RULE, _UNIVERSAL, "median step-time ratio StableSAM/base over interleaved blocks",
          "'Negligible' is read as at most 5% per step.", "Another device or model size; a quieter machine.",
          (), c6_experiments, c6_theory, c6_evaluate),
    Claim("C7", "Renormalization only shortens the step (gamma <= 1)",
          "StableSAM [...] simply renormalizes the norm of the surrogate gradient to match the norm of the true "
          "gradient. This helps control the step size taken during SAM updates.",
          f"Proposed solution; {_SUMMARY}; docs/theory.md section 2", C7_RULE, _UNIVERSAL,
          "fraction of steps with gamma = ||g||/||g~|| > 1 in StableSAM training",
          "Proved on convex quadratics only; on networks it is measured (at most 1% of steps allowed).",
          "A setting where more than 1% of steps have gamma > 1.",
          (), c7_experiments, c7_theory, c7_evaluate),
)}


def claim_ids(text: str | None) -> tuple[str, ...]:
    """Parse ``"C1,C3"`` (case-insensitive; ``None``: every claim) into registry ids, in registry order."""
    if text is None:
        return tuple(CLAIMS)
    wanted = [t.strip().upper() for t in str(text).split(",") if t.strip()]
    if not wanted:
        from stablesam.core.validation import UsageError

        raise UsageError(f"--claims needs at least one of {', '.join(CLAIMS)}; got {text!r}")
    for claim in wanted:
        check_choice("claim", claim, CLAIMS)
    return tuple(c for c in CLAIMS if c in wanted)
