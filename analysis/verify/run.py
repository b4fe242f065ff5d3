"""Running the claims of :mod:`stablesam.analysis.verify.claims`: experiments (cached), theory checks, verdicts, provenance.

:func:`verify` collects the experiments of the requested claims (equal settings are run once), runs the ones not
already finished in ``OUT/cache/`` and evaluates every claim; a claim may ask for experiments that depend on
finished ones (C4's step-length-matched runs), so collection repeats until nothing new is needed. Twin runs go
through the sweep engine (:mod:`stablesam.stability.sweeps.executors`: in this process by default, on a Dask
cluster with ``engine="dask"``); every other kind runs in this process through its row of
:data:`~stablesam.analysis.verify.experiments.KINDS`. Cache access is the one small class :class:`Cache`; a claim
reads finished experiments through :class:`Results`, the mapping ``{experiment: result}`` its ``evaluate``
receives. The returned document is what :mod:`stablesam.analysis.verify.report` writes as ``verdicts.json``.
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from stablesam.analysis.verify.claim import ClaimResult, ExperimentFailed, TheoryCheck
from stablesam.analysis.verify.claims import CLAIMS
from stablesam.analysis.verify.experiments import KINDS, Experiment, Scale
from stablesam.analysis.verify.verdicts import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from stablesam.core.progress import progress_mode
from stablesam.core.store import DAMAGED, Store, notice
from stablesam.core.validation import check_choice
from stablesam.stability.sweeps.trial import TwinTrial
from stablesam.stability.threads import cpu_cores

__all__ = ["Cache", "ExperimentFailed", "Results", "SCHEMA_VERSION", "evaluate_claims", "provenance",
           "run_experiments", "verify"]

SCHEMA_VERSION = 3
CACHE = "cache"


class Cache:
    """Where finished experiments live: the verified store ``cache_dir`` (:class:`~stablesam.core.store.Store`),
    entry ``<kind>/<key>.json`` per experiment, or for a twin run the run directory ``<kind>/<key>/`` (a store of
    its own, written by the twin harness). The one place that touches the cache's files.

    Every load is verified: an entry whose checksum is unrecorded or differs, or whose content is not what its
    kind holds, is set aside as ``*.damaged`` (one line on stderr) and counts as not run, so it is recomputed. A
    twin run whose ``config.json``, ``summary.json``, ``metrics.csv`` or final checkpoint is damaged or missing is
    handed back to the twin harness, which quarantines the damaged files under its own lock and completes the run
    from its newest intact checkpoint; a twin directory without an intact ``config.json`` is set aside whole.
    """

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)
        self.store = Store(self.cache_dir, what="stablesam verify")
        self._loaded: dict[str, Any] = {}

    def name(self, experiment: Experiment) -> str:
        suffix = "" if KINDS[experiment.kind].directory else ".json"
        return f"{experiment.kind}/{experiment.key}{suffix}"

    def path(self, experiment: Experiment) -> Path:
        return self.cache_dir / self.name(experiment)

    def _twin_fault(self, experiment: Experiment) -> str | None:
        """Why the twin run of ``experiment`` is not a finished, intact run (``None``: it is)."""
        run = Store(self.path(experiment))
        for name in _TWIN_FILES:
            why = run.fault(name)
            if why is not None:
                return f"{name}: {why}"
        try:
            summary = json.loads(run.path("summary.json").read_bytes())
            config = json.loads(run.path("config.json").read_bytes())
        except ValueError as error:  # intact bytes that are not JSON: not written by the harness
            return f"does not load: {error}"
        if not isinstance(summary, dict) or summary.get("status") != "finished":
            return "summary.json: the run has not finished"
        if not isinstance(config, dict) or any(config.get(k) != _jsonable(v) for k, v in experiment.settings.items()):
            return "config.json: the run has other settings than this experiment"
        final = max(summary.get("checkpoints") or {}, default=None)
        if final is None:
            return "summary.json: no checkpoint recorded"
        why = run.fault(f"checkpoints/{final}")
        return None if why is None else f"checkpoints/{final}: {why}"

    def finished(self, experiment: Experiment) -> bool:
        """Whether ``experiment`` has an intact result in the cache (a damaged one is set aside, see the class)."""
        if experiment.key in self._loaded:
            return True
        kind = KINDS[experiment.kind]
        path = self.path(experiment)
        if kind.directory:
            if not path.exists():
                return False
            why = self._twin_fault(experiment)
            if why is None:
                self._loaded[experiment.key] = kind.read(path)
                return True
            if why.startswith(_WHOLE) and self.store.locked:
                self._set_aside(path, why)
            else:
                notice(f"cache entry {str(path)!r} is incomplete ({why}); the twin harness completes it")
            return False
        document = self.store.get_json(self.name(experiment), valid=kind.valid)
        if document is None:
            return False
        self._loaded[experiment.key] = kind.read(document)
        return True

    def _set_aside(self, path: Path, why: str) -> None:
        aside = path.with_name(path.name + DAMAGED)
        k = 1
        while aside.exists():
            k += 1
            aside = path.with_name(f"{path.name}{DAMAGED}.{k}")
        path.replace(aside)
        notice(f"cache entry {str(path)!r} is damaged ({why}); renamed to {aside.name!r}, recomputing it")

    def load(self, experiment: Experiment) -> Any:
        """What ``experiment``'s kind reads from its finished entry (``KeyError`` if it has none)."""
        if not self.finished(experiment):
            raise KeyError(experiment.key)
        return self._loaded[experiment.key]

    def write(self, experiment: Experiment, document: dict[str, Any]) -> None:
        self.store.put_json(self.name(experiment), document)


_TWIN_FILES = ("config.json", "summary.json", "metrics.csv")
# Faults the harness cannot repair from the run's own files: the directory is set aside and the run made afresh.
_WHOLE = ("config.json", "checkpoints/", "summary.json: no checkpoint", "does not load")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


class Results(Mapping):
    """``{experiment: what its kind reads}`` over the finished experiments of a :class:`Cache` (read once each);
    a failed or missing experiment raises :class:`ExperimentFailed`."""

    def __init__(self, cache: Cache, failures: dict[str, str] | None = None) -> None:
        self.cache = cache
        self.failures = dict(failures or {})
        self._memo: dict[str, Any] = {}

    def path(self, experiment: Experiment) -> Path:
        return self.cache.path(experiment)

    def __getitem__(self, experiment: Experiment) -> Any:
        if experiment.key not in self._memo:
            if experiment.key in self.failures:
                raise ExperimentFailed(f"{experiment.label} failed: {self.failures[experiment.key]}")
            if not self.cache.finished(experiment):
                raise ExperimentFailed(f"{experiment.label} has not run")
            self._memo[experiment.key] = self.cache.load(experiment)
        return self._memo[experiment.key]

    def __iter__(self) -> Iterator[Experiment]:
        return iter(())  # a view onto the cache: look experiments up, do not list them

    def __len__(self) -> int:
        return len(self._memo)


def local_workers(workers: int | None, twins: Sequence[Experiment]) -> int:
    """The worker processes of the local engine: ``workers`` as given, else one per CPU core (at most one per twin
    run) on CPU, and 0 (this process) when the runs are on CUDA, which one process drives. Every twin trial runs
    on one torch thread whichever process runs it, so the results do not depend on this choice. Measured, the
    standard scale from empty: 21 minutes with both cores of a quiet 2-core machine, 44 in one process (loaded)."""
    if workers is not None:
        return workers
    if any(e.settings.get("device") == "cuda" for e in twins):
        return 0
    return max(1, min(cpu_cores(), len(twins)))



def run_experiments(experiments: Sequence[Experiment], cache: Cache, *, engine: str = "local",
                    workers: int | None = None, progress: bool | None = None) -> dict[str, str]:
    """Run every experiment not finished in ``cache``; return ``{key: error}`` of those that failed.

    ``progress``: see :func:`stablesam.core.progress.progress_mode` (a bar on a terminal, else one line per
    finished experiment on stderr).

    """
    from tqdm.auto import tqdm

    from stablesam.stability.sweeps.executors import run_dask, run_local
    from stablesam.stability.sweeps.trial import FINISHED

    check_choice("engine", engine, ("local", "dask"))
    todo = [e for e in experiments if not cache.finished(e)]
    mode = progress_mode(progress)
    total, done = len(experiments), len(experiments) - len(todo)
    failures: dict[str, str] = {}
    by_key = {e.key: e for e in todo}
    bar = tqdm(total=total, initial=done, desc="experiments", unit="exp", disable=not mode.bar)

    def finished(experiment: Experiment, seconds: float, error: str | None) -> None:
        nonlocal done
        done += 1
        if error is not None:
            failures[experiment.key] = error
        bar.update()
        state = "failed: " + error if error else f"{seconds:.1f} s"
        mode.line(f"[{done}/{total}] {experiment.label} ({state})")

    try:
        twins = [e for e in todo if KINDS[e.kind].directory]
        if twins:
            runner = TwinTrial()  # one torch thread, as in every sweep: the same results on every executor
            jobs = [(e.key, dict(e.settings), cache.path(e)) for e in twins]
            if engine == "local":
                stream = run_local(runner, jobs, workers=local_workers(workers, twins))
            else:
                stream = run_dask(runner, jobs, workers=workers)
            try:
                for record in stream:
                    ok = record["status"] == FINISHED
                    finished(by_key[record["name"]], record["seconds"] or 0.0, None if ok else record["error"])
            finally:
                stream.close()
        for experiment in (e for e in todo if not KINDS[e.kind].directory):
            start = time.perf_counter()
            cache.write(experiment, KINDS[experiment.kind].run(**experiment.settings))
            finished(experiment, time.perf_counter() - start, None)
    finally:
        bar.close()
    return failures


def _git_commit() -> dict[str, Any]:
    """The checkout's commit and whether it has uncommitted changes; ``commit: None`` with ``commit_note`` (git's
    first line, e.g. "detected dubious ownership" for a checkout owned by another user) when it cannot be read."""
    root = Path(__file__).resolve().parents[2]  # the checkout: analysis/verify/run.py
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            lines = [line.removeprefix("fatal: ").strip() for line in commit.stderr.splitlines() if line.strip()]
            why = lines[0] if lines else f"git rev-parse exited with status {commit.returncode}"
            return {"commit": None, "commit_note": f"git could not read the commit of {str(root)!r}: {why}",
                    "dirty": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as error:
        return {"commit": None, "commit_note": f"git could not be run in {str(root)!r}: {error}", "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip()) if dirty.returncode == 0 else None}


def provenance(scale: Scale, *, seconds: float, command: str, workers: int | None = None) -> dict[str, Any]:
    """Git commit, package versions, device, threads, worker processes, seeds and wall time of a verification."""
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
        "cpu_cores": cpu_cores(),
        "workers": "one per CPU core (CPU) or this process (CUDA)" if workers is None else workers,
        "seeds": {"twin": list(scale.seeds), "label_noise": list(scale.noise_seeds),
                  "steps": list(scale.trajectory_seeds), "noise_floor": "numpy default_rng([0, claim number])"},
        "overrides": dict(scale.overrides),
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
        "reading": result.reading,
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


def _claim_experiments(claim, scale: Scale, results) -> list[Experiment]:
    try:
        return list({e.key: e for e in claim.experiments(scale, results)}.values())
    except ExperimentFailed:
        return claim.experiments(scale, None)


def evaluate_claims(claim_ids: Sequence[str], scale: Scale, results: Results) -> tuple[list[dict], dict]:
    """Theory check and verdict of every claim from finished ``results``: the claims' entries of the verdicts
    document and each claim's figure data. A claim whose experiment failed is ``inconclusive``, with the failure
    in its notes. Each claim's noise floors draw from its own generator, so its verdict does not depend on which
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
            result = ClaimResult(INCONCLUSIVE, f"not evaluated: {error}", "no result", None, [],
                                 [f"not evaluated: {error}"])
        disagreement = {("contradicts", SUPPORTED): "predicts the opposite of", ("consistent", NOT_SUPPORTED):
                        "predicts the claim, against"}.get((theory.status, result.verdict))
        if disagreement:
            result.notes.append(f"theory and experiment disagree: the theory check {disagreement} the verdict "
                                f"'{result.verdict}' (see decided_by: the experiment decides)")
        documents.append(_claim_document(claim, result, theory, _claim_experiments(claim, scale, results), results))
        figure_data[claim.id] = result.figure_data
    return documents, figure_data


def verify(claim_ids: Sequence[str], scale: Scale, out_dir: str | Path, *, engine: str = "local",
           workers: int | None = None, progress: bool | None = None, command: str = "") -> tuple[dict[str, Any], dict]:
    """Run and evaluate the claims ``claim_ids`` at ``scale``; return the verdicts document and the figure data.

    Experiments are cached in ``out_dir/cache`` (see the module docstring), whose lock this call holds: a second
    verification into the same directory is refused with one line (a ``UsageError``).
    """
    started = time.perf_counter()
    cache = Cache(Path(out_dir) / CACHE)
    cache.store.lock()  # one writer; removes the temporary files of writes a kill cut short
    try:
        results = Results(cache)
        seen: dict[str, Experiment] = {}
        first = True
        while True:  # until no claim asks for a new experiment (staged experiments depend on finished ones)
            wanted = {e.key: e for i in claim_ids
                      for e in _claim_experiments(CLAIMS[i], scale, None if first else results)}
            new = [e for k, e in wanted.items() if k not in seen]
            if not new:
                break
            seen.update({e.key: e for e in new})
            results.failures.update(run_experiments(new, cache, engine=engine, workers=workers, progress=progress))
            first = False
        documents, figure_data = evaluate_claims(claim_ids, scale, results)
    finally:
        cache.store.unlock()
    document = {
        "schema_version": SCHEMA_VERSION,
        "scale": scale.name,
        "settings": scale.to_dict(),
        "claims": documents,
        "provenance": provenance(scale, seconds=time.perf_counter() - started, command=command, workers=workers),
    }
    return document, figure_data
