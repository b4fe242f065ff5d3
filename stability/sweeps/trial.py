"""Running one trial: the runner that trains it, error capture, and its state on disk.

A *trial runner* is a picklable object with three methods:

- ``validate(config)`` raises ``ValueError``/``TypeError`` for a bad config (called for every
  trial before anything is written);
- ``runner(config, out_dir)`` (a call) runs the trial into ``out_dir``, writing ``summary.json`` last;
- ``resources(config)`` gives the Dask worker resources the trial needs (``{"GPU": 1}`` for a
  CUDA trial).

:class:`TwinTrial`, a twin run of :mod:`stablesam.stability.twin`, is the default. The state of a trial is
read from its directory, so that it survives any interruption of the sweep: a ``summary.json``
whose ``status`` is ``"finished"`` (or absent) marks a finished trial; ``error.json`` (exception,
message, traceback) a failed one; anything else is pending, and a rerun resumes it.
"""

from __future__ import annotations

import json
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from stablesam.core.io import DiskFull, atomic_write_json
from stablesam.core.store import MANIFEST, Store
from stablesam.core.validation import UsageError

__all__ = ["TrialRunner", "TwinTrial", "execute_trial", "read_error", "record_error", "trial_state"]

FINISHED, FAILED, PENDING = "finished", "failed", "pending"


class TrialRunner(Protocol):
    def validate(self, config: Mapping[str, Any]) -> object: ...

    def __call__(self, config: Mapping[str, Any], out_dir: Path) -> object: ...

    def resources(self, config: Mapping[str, Any]) -> dict[str, float]: ...


@dataclass(frozen=True)
class TwinTrial:
    """A twin run (:func:`stablesam.stability.twin.run_twin`) per trial; the config holds ``TwinConfig`` keys.

    ``threads`` fixes torch's intra-op threads in the worker: one thread per trial keeps several
    trials on one machine from oversubscribing its cores, and makes a trial's floating-point
    reductions, hence its results, the same whichever executor runs it. ``lock_timeout``: seconds to
    wait for the trial directory's lock, held a moment longer by a worker of a killed sweep that is
    exiting; a trial that worker finished meanwhile is then found finished, not run again.
    """

    threads: int = 1
    sharpness: Callable[..., float] | None = None  # the measurer for sharpness_every (see run_twin); picklable
    lock_timeout: float = 60.0
    # Training-set size per data and model setting, found once per runner (not per process: no module state).
    _sizes: dict[tuple, int] = field(default_factory=dict, compare=False, repr=False)

    def config(self, config: Mapping[str, Any]):
        from stablesam.stability.twin import TwinConfig

        return TwinConfig.from_dict(dict(config))

    def validate(self, config: Mapping[str, Any]) -> object:
        """Check the config, and its data and model (once per setting), as ``prepare_twin`` would."""
        twin = self.config(config)
        size = _training_set_size(twin, self._sizes)
        for index in twin.replaced_indices:
            if index >= size:
                raise UsageError(
                    f"replaced index {index} is out of range: the training set of {twin.dataset!r} "
                    f"has {size} examples (allowed 0..{size - 1})"
                )
        return twin

    def __call__(self, config: Mapping[str, Any], out_dir: Path) -> object:
        from stablesam.stability.threads import torch_threads
        from stablesam.stability.twin import run_twin

        if trial_state(Path(out_dir)) == FINISHED:  # finished by a worker of a killed sweep since it was planned
            return out_dir
        with torch_threads(self.threads):  # restored afterwards: the worker process may run other work
            return run_twin(self.config(config), out_dir, overwrite=False, resume=True, progress=False,
                            sharpness=self.sharpness, lock_timeout=self.lock_timeout)

    def resources(self, config: Mapping[str, Any]) -> dict[str, float]:
        return {"GPU": 1} if config.get("device") == "cuda" else {}


# The settings that ``prepare_twin`` checks beyond the config itself (data, model, label noise).
_DATA_FIELDS = ("dataset", "data_dir", "data_seed", "n_train", "n_test", "n_pool", "dtype", "model")


def _training_set_size(twin, sizes: dict[tuple, int]) -> int:
    """The size of ``twin``'s training set, checked by ``prepare_twin`` once per data and model setting.

    ``prepare_twin`` checks the data (directory, files), the model and the label noise, and writes
    nothing; it runs on CPU, since the process that plans a sweep need not have its workers' GPU. ``sizes``
    caches the answer per setting (the runner's own dict).
    """
    import dataclasses

    from stablesam.stability.twin import prepare_twin

    noisy = twin.label_noise > 0 or twin.shuffled_labels
    key = (*(getattr(twin, name) for name in _DATA_FIELDS), noisy)
    if key not in sizes:
        probe = dataclasses.replace(twin, device="cpu", replaced_indices=(0,))
        with tempfile.TemporaryDirectory() as scratch:
            prepared = prepare_twin(probe, Path(scratch) / "absent")
        sizes[key] = prepared.dataset.n_train
    return sizes[key]


def trial_state(trial_dir: Path) -> str:
    """``"finished"``, ``"failed"`` or ``"pending"``, from the files in ``trial_dir``.

    Finished means a readable ``summary.json`` whose ``status``, if it has one, is ``"finished"``
    (a twin run rewrites its summary with ``"running"`` while it trains). A trial directory that is a verified
    store (it has the store's manifest, as every twin run has) is finished only if its summary and every
    top-level file the manifest records (config, metrics) are present and match their checksums: a damaged run is
    pending, so its runner hands it to the harness, which repairs it under the run's lock.
    """
    store = Store(trial_dir)
    summary = None
    if not store.path(MANIFEST).is_file() or all(
            store.fault(name) is None for name in {"summary.json", *(n for n in store.recorded() if "/" not in n)}):
        try:
            summary = json.loads((trial_dir / "summary.json").read_text())
        except (OSError, ValueError):
            pass
    if isinstance(summary, dict) and summary.get("status", FINISHED) == FINISHED:
        return FINISHED
    if (trial_dir / "error.json").is_file():
        return FAILED
    return PENDING


def record_error(trial_dir: Path, name: str, error: BaseException, seconds: float | None = None) -> dict[str, Any]:
    """Write ``trial_dir/error.json`` for ``error`` and return the trial's result record."""
    record = {
        "trial": name,
        "error": type(error).__name__,
        "message": str(error),
        "traceback": "".join(traceback.format_exception(error)),
        "seconds": seconds,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_json(trial_dir / "error.json", record)
    return {"name": name, "status": FAILED, "seconds": seconds, "error": f"{record['error']}: {record['message']}"}


def execute_trial(runner: TrialRunner, name: str, config: Mapping[str, Any], trial_dir: str | Path) -> dict[str, Any]:
    """Run one trial in a worker; return ``{"name", "status", "seconds", "error"}``.

    An exception of the trial is recorded in ``error.json`` and returned as a failure, so that the
    other trials go on; a previous ``error.json`` is removed when the trial is retried.
    """
    trial_dir = Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    (trial_dir / "error.json").unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        runner(config, trial_dir)
    except DiskFull:  # every later trial would fail alike: stop the sweep with the one line
        raise
    except Exception as error:  # a failing trial is data; KeyboardInterrupt still stops the sweep
        return record_error(trial_dir, name, error, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if trial_state(trial_dir) != FINISHED:
        error = RuntimeError(f"the runner returned without writing {trial_dir / 'summary.json'}")
        return record_error(trial_dir, name, error, seconds)
    return {"name": name, "status": FINISHED, "seconds": seconds, "error": None}


def read_error(trial_dir: Path) -> str | None:
    """The one-line error of a failed trial (``"Type: message"``), or ``None``."""
    try:
        record = json.loads((trial_dir / "error.json").read_text())
    except (OSError, ValueError):
        return None
    return f"{record.get('error')}: {record.get('message')}"
