"""Running the claims of :mod:`stablesam.analysis.verify.claims`: experiments (cached), theory checks, verdicts, provenance.

:func:`verify` collects the experiments of the requested claims (equal settings are run once), runs the ones
not already finished in ``OUT/cache/`` and evaluates every claim. Twin runs go through the sweep engine
(:mod:`stablesam.stability.sweeps.executors`: in this process by default, on a Dask cluster with ``engine="dask"``);
per-step statistics and timings run in this process. A theory computation of kind ``exact`` runs here too. A cached experiment is keyed by its settings
(:attr:`stablesam.analysis.verify.claims.Experiment.key`), so a rerun reuses every finished one and an interrupted twin run
resumes from its checkpoint. The returned document is what :mod:`stablesam.analysis.verify.report` writes as ``verdicts.json``.
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from stablesam.analysis.verify.claims import CLAIMS, ClaimResult, Experiment, Scale, TheoryCheck
from stablesam.analysis.verify.verdicts import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from stablesam.core.io import atomic_write_json
from stablesam.core.validation import check_choice

__all__ = ["ExperimentFailed", "Results", "SCHEMA_VERSION", "evaluate_claims", "provenance", "run_experiments", "verify"]

SCHEMA_VERSION = 2
CACHE = "cache"


class ExperimentFailed(RuntimeError):
    """An experiment a claim needs did not finish (its error is recorded in the cache)."""


class Results:
    """Read access to the finished experiments in ``cache_dir`` (memoised per experiment)."""

    def __init__(self, cache_dir: Path, failures: dict[str, str] | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.failures = dict(failures or {})
        self._memo: dict[tuple[str, str], Any] = {}

    def path(self, experiment: Experiment) -> Path:
        suffix = "" if experiment.kind == "twin" else ".json"
        return self.cache_dir / experiment.kind / f"{experiment.key}{suffix}"

    def finished(self, experiment: Experiment) -> bool:
        if experiment.kind == "twin":
            from stablesam.stability.sweeps.trial import FINISHED, trial_state

            return trial_state(self.path(experiment)) == FINISHED
        return self.path(experiment).is_file()

    def _check(self, experiment: Experiment) -> None:
        if experiment.key in self.failures:
            raise ExperimentFailed(f"{experiment.label} failed: {self.failures[experiment.key]}")
        if not self.finished(experiment):
            raise ExperimentFailed(f"{experiment.label} has not run")

    def _memoised(self, kind: str, experiment: Experiment, compute):
        key = (kind, experiment.key)
        if key not in self._memo:
            self._check(experiment)
            self._memo[key] = compute()
        return self._memo[key]

    def data(self, experiment: Experiment) -> dict[str, Any]:
        """The JSON result of a ``trajectory`` or ``timing`` experiment."""
        return self._memoised("data", experiment, lambda: json.loads(self.path(experiment).read_text()))

    def twin_table(self, experiment: Experiment) -> dict[str, np.ndarray]:
        """Per seed (one replaced index): final ``distance``, ``diverged`` (either twin), ``train_accuracy`` and
        ``test_accuracy`` of the ``S`` twin."""
        def compute():
            import pandas as pd

            directory = self.path(experiment)
            summary = json.loads((directory / "summary.json").read_text())
            pairs = sorted(summary["pairs"], key=lambda p: p["pair"])
            metrics = pd.read_csv(directory / "metrics.csv")
            train = metrics[(metrics["metric"] == "train_accuracy") & (metrics["twin"] == "S")]
            train = train[train["step"] == train["step"].max()].sort_values("pair")["value"].to_numpy()
            diverged = {d["pair"] for d in summary["divergences"]}
            return {
                "seed": np.array([p["seed"] for p in pairs]),
                "distance": np.array([p.get("distance", math.nan) for p in pairs], dtype=np.float64),
                "diverged": np.array([p["pair"] in diverged for p in pairs]),
                "train_accuracy": np.asarray(train, dtype=np.float64),
                "test_accuracy": np.array([p.get("test_accuracy", math.nan) for p in pairs], dtype=np.float64),
            }

        return self._memoised("table", experiment, compute)

    def test_losses(self, experiment: Experiment):
        """Per-test-point loss differences of a twin experiment (:func:`stablesam.analysis.experiments.twin_stability.test_losses`)."""
        from stablesam.analysis.experiments.twin_stability import test_losses

        return self._memoised("losses", experiment, lambda: test_losses(self.path(experiment)))


def _exact_twin_distances(*, lrs, methods, steps: int, n: int, replaced_index: int) -> dict[str, Any]:
    """The ``exact`` experiment: :func:`stablesam.analysis.experiments.exact_stability.exact_stability_table` as JSON (one curve of
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


def _run_in_process(experiment: Experiment) -> dict[str, Any]:
    from stablesam.analysis.experiments.step_statistics import gradient_norm_trajectory, step_times

    if experiment.kind == "trajectory":
        return gradient_norm_trajectory(**experiment.settings)
    if experiment.kind == "timing":
        return asdict(step_times(**experiment.settings))
    if experiment.kind == "exact":
        return _exact_twin_distances(**experiment.settings)
    if experiment.kind == "eos":
        from stablesam.analysis.verify.claims_eos import run_eos_experiment

        return run_eos_experiment(**experiment.settings)
    raise ValueError(f"unknown experiment kind {experiment.kind!r}")


def run_experiments(experiments: Sequence[Experiment], results: Results, *, engine: str = "local",
                    workers: int | None = None, progress: bool | None = None) -> dict[str, str]:
    """Run every experiment not finished in the cache; return ``{key: error}`` of those that failed.

    ``progress``: a tqdm bar (default: when stderr is a terminal); without one, one line per finished
    experiment on stderr.
    """
    from tqdm.auto import tqdm

    from stablesam.stability.sweeps.executors import run_dask, run_local
    from stablesam.stability.sweeps.trial import FINISHED, TwinTrial

    check_choice("engine", engine, ("local", "dask"))
    todo = [e for e in experiments if not results.finished(e)]
    show = sys.stderr.isatty() if progress is None else progress
    total, done = len(experiments), len(experiments) - len(todo)
    failures: dict[str, str] = {}
    by_key = {e.key: e for e in todo}
    bar = tqdm(total=total, initial=done, desc="experiments", unit="exp", disable=not show)

    def finished(experiment: Experiment, seconds: float, error: str | None) -> None:
        nonlocal done
        done += 1
        if error is not None:
            failures[experiment.key] = error
        bar.update()
        if not show:
            state = "failed: " + error if error else f"{seconds:.1f} s"
            print(f"[{done}/{total}] {experiment.label} ({state})", file=sys.stderr, flush=True)

    try:
        twins = [e for e in todo if e.kind == "twin"]
        if twins:
            runner = TwinTrial()  # one torch thread, as in every sweep: the same results on every executor
            jobs = [(e.key, dict(e.settings), results.path(e)) for e in twins]
            if engine == "local":
                stream = run_local(runner, jobs, workers=0 if workers is None else workers)
            else:
                stream = run_dask(runner, jobs, workers=workers)
            try:
                for record in stream:
                    ok = record["status"] == FINISHED
                    finished(by_key[record["name"]], record["seconds"] or 0.0, None if ok else record["error"])
            finally:
                stream.close()
        for experiment in (e for e in todo if e.kind != "twin"):
            start = time.perf_counter()
            atomic_write_json(results.path(experiment), _run_in_process(experiment))
            finished(experiment, time.perf_counter() - start, None)
    finally:
        bar.close()
    return failures


def _git_commit() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]  # the checkout: analysis/verify/run.py
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def provenance(scale: Scale, *, seconds: float, command: str) -> dict[str, Any]:
    """Git commit, package versions, device, threads, seeds and wall time of a verification."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    packages = {}
    for name in ("stablesam", "torch", "numpy", "scipy", "pandas", "matplotlib"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    device = scale.device
    if device == "cuda" and torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    return {
        **_git_commit(),
        "command": command,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "seeds": {"twin": list(scale.seeds), "steps": list(scale.trajectory_seeds), "bootstrap": "numpy default_rng([0, claim number])"},
        "wall_seconds": seconds,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _claim_document(claim, result: ClaimResult, theory, experiments: list[Experiment], results: Results) -> dict[str, Any]:
    key = None if result.key is None else result.key.to_dict()
    return {
        "id": claim.id,
        "title": claim.title,
        "statement": claim.statement,
        "source": claim.source,
        "verdict": result.verdict,
        "key": {"label": result.key_label, "interval": key},
        "rule": {**claim.rule.to_dict(), "text": str(claim.rule), "combine": claim.combine},
        "quantity": claim.quantity,
        "theory": asdict(theory),
        "decided_by": claim.decided_by,
        "pending": list(claim.pending),
        "stronger_than_checked": claim.stronger,
        "would_change": claim.would_change,
        "cases": result.cases,
        "notes": result.notes,
        "experiments": [{"key": e.key, "label": e.label, "kind": e.kind, "settings": dict(e.settings),
                         "path": str(results.path(e))} for e in experiments],
    }


def evaluate_claims(claim_ids: Sequence[str], scale: Scale, results: Results) -> tuple[list[dict], dict]:
    """Theory check and verdict of every claim from finished ``results``: the claims' entries of the verdicts
    document and each claim's figure data. A claim whose experiment failed is ``inconclusive``, with the failure
    in its notes. Each claim's bootstrap draws from its own generator, so its intervals do not depend on which
    other claims run."""
    documents, figure_data = [], {}
    for claim in (CLAIMS[i] for i in claim_ids):
        try:
            theory = claim.theory(scale, results)
        except ExperimentFailed as error:
            theory = TheoryCheck("no prediction", f"not computed: {error}", "")
        generator = np.random.default_rng([0, int(claim.id[1:])])
        try:
            result = claim.evaluate(scale, results, generator)
        except ExperimentFailed as error:
            result = ClaimResult(INCONCLUSIVE, "no result", None, [], [f"not evaluated: {error}"])
        disagreement = {("contradicts", SUPPORTED): "predicts the opposite of", ("consistent", NOT_SUPPORTED):
                        "predicts the claim, against"}.get((theory.status, result.verdict))
        if disagreement:
            result.notes.append(f"theory and experiment disagree: the theory check {disagreement} the verdict "
                                f"'{result.verdict}' (see decided_by: the experiment decides)")
        documents.append(_claim_document(claim, result, theory, claim.experiments(scale), results))
        figure_data[claim.id] = result.figure_data
    return documents, figure_data


def verify(claim_ids: Sequence[str], scale: Scale, out_dir: str | Path, *, engine: str = "local",
           workers: int | None = None, progress: bool | None = None, command: str = "") -> tuple[dict[str, Any], dict]:
    """Run and evaluate the claims ``claim_ids`` at ``scale``; return the verdicts document and the figure data.

    Experiments are cached in ``out_dir/cache`` (see the module docstring).
    """
    started = time.perf_counter()
    experiments = [e for i in claim_ids for e in CLAIMS[i].experiments(scale)]
    unique = list({e.key: e for e in experiments}.values())
    results = Results(Path(out_dir) / CACHE)
    results.failures = run_experiments(unique, results, engine=engine, workers=workers, progress=progress)
    documents, figure_data = evaluate_claims(claim_ids, scale, results)
    document = {
        "schema_version": SCHEMA_VERSION,
        "scale": scale.name,
        "settings": scale.to_dict(),
        "claims": documents,
        "provenance": provenance(scale, seconds=time.perf_counter() - started, command=command),
    }
    return document, figure_data
