"""Running a sweep: plan the trials, run the missing ones, keep a manifest, aggregate.

Layout of a sweep's output directory::

    OUT/sweep.json              manifest: the sweep, and each trial's parameters, config and status
    OUT/trials/<trial name>/    one run directory per trial (error.json when it failed)
    OUT/metrics.parquet         all trials' metrics in one tidy table (metrics.csv without pyarrow)
    OUT/summary.csv             mean and standard error across seeds

A trial's status is read from its directory (``summary.json`` written last marks it finished), so
an interrupted sweep loses no finished trial, and a rerun skips the finished trials and runs the
failed and pending ones. The manifest is rewritten atomically after every trial.

>>> from stablesam.stability.sweeps import load_sweep, run_sweep          # doctest: +SKIP
>>> result = run_sweep(load_sweep("sweeps/digits.toml"), "runs/digits", workers=2)  # doctest: +SKIP
>>> result.counts                                               # doctest: +SKIP
{'finished': 18, 'failed': 0, 'pending': 0}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stablesam.stability.sweeps.aggregate import aggregate_sweep
from stablesam.stability.sweeps.executors import ENGINES, run_dask, run_local
from stablesam.stability.sweeps.spec import SweepSpec, Trial, expand
from stablesam.stability.sweeps.trial import FAILED, FINISHED, PENDING, TrialRunner, TwinTrial, read_error, trial_state
from stablesam.core.io import atomic_write_json
from stablesam.core.progress import progress_mode
from stablesam.core.store import Store
from stablesam.core.validation import UsageError, check_choice, check_integer, check_positive

__all__ = ["SweepResult", "plan_sweep", "run_sweep"]

MANIFEST = "sweep.json"
TRIALS = "trials"
_FORMAT = 1


@dataclass
class SweepResult:
    """What a sweep did: each trial's status record, and the paths of its tables."""

    out_dir: Path
    trials: list[dict[str, Any]]
    ran: list[str] = field(default_factory=list)
    metrics: Path | None = None
    summary: Path | None = None

    @property
    def counts(self) -> dict[str, int]:
        statuses = [t["status"] for t in self.trials]
        return {status: statuses.count(status) for status in (FINISHED, FAILED, PENDING)}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _read_manifest(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise UsageError(f"{path} is not a sweep manifest (invalid JSON); choose another output directory") from None


def plan_sweep(spec: SweepSpec, out_dir: str | Path, *, runner: TrialRunner | None = None) -> list[dict[str, Any]]:
    """Expand and validate ``spec``; return each trial's record with its status in ``out_dir``.

    Raises ``ValueError``/``TypeError`` for a bad sweep, and ``ValueError`` when ``out_dir`` holds
    a sweep whose trial of the same name has a different config. Writes nothing.
    """
    runner = runner or TwinTrial()
    out_dir = Path(out_dir)
    trials = expand(spec, runner.validate)
    previous = _read_manifest(out_dir)
    known = {t["name"]: t["config"] for t in (previous or {}).get("trials", [])}
    records = []
    for trial in trials:
        if trial.name in known and known[trial.name] != json.loads(json.dumps(trial.config)):
            raise UsageError(
                f"{out_dir} already holds trial {trial.name} with a different config; use another output directory"
            )
        trial_dir = out_dir / TRIALS / trial.name
        status = trial_state(trial_dir)
        records.append(
            {
                "name": trial.name,
                "params": trial.params,
                "config": trial.config,
                "status": status,
                "seconds": None,
                "error": read_error(trial_dir) if status == FAILED else None,
            }
        )
    return records


def _write_manifest(out_dir: Path, spec: SweepSpec, records: list[dict[str, Any]], state: str, engine: str) -> None:
    statuses = [r["status"] for r in records]
    atomic_write_json(
        out_dir / MANIFEST,
        {
            "format": _FORMAT,
            "state": state,
            "engine": engine,
            "updated": _now(),
            "sweep": spec.to_dict(),
            "counts": {s: statuses.count(s) for s in (FINISHED, FAILED, PENDING)},
            "trials": records,
        },
    )


def run_sweep(
    spec: SweepSpec,
    out_dir: str | Path,
    *,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    runner: TrialRunner | None = None,
    progress: bool | None = None,
    aggregate: bool = True,
    scheduler_timeout: float = 10.0,
) -> SweepResult:
    """Run the trials of ``spec`` that are not finished in ``out_dir``; aggregate the finished ones.

    ``engine`` is ``"local"`` (a process pool of ``workers`` processes; ``workers=0``: one trial
    after another in this process) or ``"dask"`` (the cluster
    at ``scheduler``, or a LocalCluster of ``workers`` processes on loopback). ``runner`` runs one
    trial (default :class:`TwinTrial`). ``progress`` shows a tqdm bar over trials (default: when
    stderr is a terminal; otherwise one line per finished trial). ``scheduler_timeout``: seconds to
    wait for the Dask scheduler. Every trial is validated before anything is written; then the sweep
    holds the exclusive lock of ``out_dir`` (``stablesam.core.lock``) until it ends, so a second sweep into the
    same directory is refused, and each twin trial also locks its own directory.
    """
    check_choice("engine", engine, ENGINES)
    if workers is not None:
        check_integer("workers", workers, minimum=0 if engine == "local" else 1)
    if scheduler is not None and engine != "dask":
        raise UsageError(f"scheduler {scheduler!r} needs engine 'dask', got engine {engine!r}")
    if scheduler is not None and workers is not None:
        raise UsageError(f"workers={workers} does not apply to the cluster at {scheduler}: size it where it is started")
    check_positive("scheduler_timeout", scheduler_timeout)
    runner = runner or TwinTrial()
    out_dir = Path(out_dir).resolve()
    plan_sweep(spec, out_dir, runner=runner)  # validate everything before the lock creates out_dir
    with Store(out_dir, what="sweep"):  # the lock; the temporary files of writes a kill cut short are removed
        return _run_locked(spec, out_dir, engine, scheduler, workers, runner, progress, aggregate, scheduler_timeout)


def _run_locked(spec, out_dir, engine, scheduler, workers, runner, progress, aggregate, scheduler_timeout):
    records = plan_sweep(spec, out_dir, runner=runner)  # again: the states may have changed before the lock
    by_name = {r["name"]: r for r in records}
    jobs = [(r["name"], r["config"], out_dir / TRIALS / r["name"]) for r in records if r["status"] != FINISHED]

    if engine == "local":
        results = run_local(runner, jobs, workers=workers)
    else:
        results = run_dask(runner, jobs, scheduler=scheduler, workers=workers, scheduler_timeout=scheduler_timeout)

    from tqdm.auto import tqdm

    mode = progress_mode(progress)
    bar = tqdm(total=len(records), initial=len(records) - len(jobs), desc="trials", unit="trial", disable=not mode.bar)
    ran: list[str] = []
    state = "interrupted"
    try:
        _write_manifest(out_dir, spec, records, "running", engine)
        for result in results:
            record = by_name[result["name"]]
            record.update(status=result["status"], seconds=result["seconds"], error=result["error"])
            ran.append(result["name"])
            _write_manifest(out_dir, spec, records, "running", engine)
            bar.set_postfix(failed=sum(r["status"] == FAILED for r in records), refresh=False)
            bar.update()
            done = sum(r["status"] != PENDING for r in records)
            mode.line(f"stablesam: trial {result['name']} {result['status']} ({done}/{len(records)} done)")
        state = "done"
    finally:
        bar.close()
        results.close()  # on an interruption, waits for the running trials
        for record in records:  # trials that finished while the sweep was stopping
            if record["status"] == PENDING:
                record["status"] = trial_state(out_dir / TRIALS / record["name"])
        _write_manifest(out_dir, spec, records, state, engine)

    sweep = SweepResult(out_dir=out_dir, trials=records, ran=ran)
    if aggregate and any(r["status"] == FINISHED for r in records):
        trials = [Trial(r["name"], r["params"], r["config"]) for r in records]
        sweep.metrics, sweep.summary = aggregate_sweep(out_dir, trials)
    return sweep
