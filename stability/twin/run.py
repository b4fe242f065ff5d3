"""``run_twin``: one twin experiment in its own directory, resumable, written atomically.

Layout of ``out_dir``::

    config.json               the full TwinConfig (written first)
    metrics.csv               tidy metrics (and metrics.parquet when pyarrow is installed)
    summary.json              status ("running" / "finished"), epochs completed, final values per pair,
                              divergences, the run id and the sha256 of every checkpoint; rewritten at
                              every checkpoint
    checkpoints/epoch_XXXX.pt every ``checkpoint_every`` epochs and at the end (torch.save of
                              plain tensors and dicts: load with ``torch.load(..., weights_only=True)``)
    checksums.json            the sha256 of every file above, each recorded before its file appears
    .lock                     the writer's exclusive lock (``stablesam.core.lock``): a second writer is refused

The directory is a verified store (:mod:`stablesam.core.store`). Damaged checkpoints (truncated, zero
bytes, a checksum that does not match or was never recorded, a file that does not load) are renamed aside
to ``*.damaged`` and the run resumes from the newest intact one; each is reported in one line on stderr.
Temporary files of writes a kill cut short are removed when the next writer takes the lock. ``config.json``, ``summary.json`` and the checkpoints carry the same
config and run id, which readers (:func:`load_run_model`) check.

Everything is validated (config, dataset, data directory, replaced indices, the directory's state)
by :func:`prepare_twin` before anything is written. A run that stops is continued by calling
``run_twin`` again with the same config: it loads the last checkpoint and, on CPU, produces the
same metrics and parameters bit for bit as an uninterrupted run, and says so in one line. Calling it
on a finished run of the same config does nothing and says "already complete"; a finished run of another
config is not overwritten unless ``overwrite=True``.

Example::

    >>> from stablesam.stability.twin import TwinConfig, run_twin
    >>> run_twin(TwinConfig(optimizer="stablesam-u", lr=0.5, epochs=2), "runs/example")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stablesam.core.lock import LOCK_FILE
from stablesam.core.progress import progress_mode
from stablesam.core.store import MANIFEST, Store, notice, sha256_file
from stablesam.core.validation import UsageError
from stablesam.stability.twin.config import TwinConfig

__all__ = [
    "PreparedRun", "RunModel", "TwinResult", "latest_checkpoint", "load_checkpoint", "load_run_model", "load_twin_dataset",
    "prepare_twin", "run_name", "run_twin",
]

OWN_FILES = ("config.json", "metrics.csv", "metrics.parquet", "summary.json", MANIFEST)
CHECKPOINTS = "checkpoints"
sha256 = sha256_file


def run_name(config: TwinConfig) -> str:
    """``config.name`` or ``<optimizer>_lr<lr>_rho<rho>`` (the ``run`` column)."""
    return config.name or f"{config.optimizer}_lr{config.lr:g}_rho{config.effective_rho:g}"


def load_twin_dataset(config: TwinConfig):
    """The data set of ``config`` (its name, sizes, ``data_seed``, ``dtype``; files from ``data_dir`` if given)."""
    from stablesam.stability.data import load_dataset

    if config.data_dir is not None and not Path(config.data_dir).is_dir():
        raise UsageError(f"data_dir {config.data_dir!r} is not an existing directory")
    import torch

    return load_dataset(config.dataset, generator=np.random.default_rng(config.data_seed), data_dir=config.data_dir,
                        n_train=config.n_train, n_test=config.n_test, n_pool=config.n_pool,
                        dtype=getattr(torch, config.dtype))


def _status(out_dir: Path) -> str:
    """``absent`` / ``empty`` / ``foreign`` / ``running`` / ``finished``."""
    if not out_dir.exists():
        return "absent"
    if not out_dir.is_dir():
        return "foreign"
    if not any(p.name != LOCK_FILE for p in out_dir.iterdir()):
        return "empty"
    if not (out_dir / "config.json").is_file():
        return "foreign"
    try:
        summary = json.loads((out_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return "running"
    return "finished" if summary.get("status") == "finished" else "running"


def latest_checkpoint(out_dir: Path) -> Path | None:
    files = sorted((out_dir / CHECKPOINTS).glob("epoch_*.pt"))
    return files[-1] if files else None


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint of a twin run (``torch.load`` with ``weights_only=True``)."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def _read_summary(out_dir: Path) -> dict:
    try:
        summary = json.loads((out_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _checkpoint_fault(path: Path, summary: dict, store: Store) -> tuple[dict | None, str | None]:
    """``(state, None)`` for an intact checkpoint, ``(None, why)`` for a damaged one.

    Intact: it loads as a weights-only twin checkpoint and its sha256 is one the store recorded before the
    file appeared (directories written before the store recorded checksums: the one ``summary.json``
    records). A checkpoint without any recorded checksum is unverified, hence not trusted. A checkpoint of
    another run (another run id) is returned as it is, for the caller to refuse: it is foreign, not damaged.
    """
    if path.stat().st_size == 0:
        return None, "zero bytes"
    try:
        state = load_checkpoint(path)
    except Exception as error:  # truncation and corruption come as RuntimeError, EOFError, UnpicklingError, ...
        first = str(error).splitlines()[0].split(". ")[0] if str(error) else ""  # torch appends a paragraph of advice
        return None, f"does not load: {type(error).__name__}: {first}"
    if not isinstance(state, dict) or "epoch" not in state or "population" not in state:
        return None, "not a twin checkpoint"
    if state.get("run_id") and summary.get("run_id") and state["run_id"] != summary["run_id"]:
        return state, None
    accepted = store.checksums(f"{CHECKPOINTS}/{path.name}")
    if not accepted and (summary.get("checkpoints") or {}).get(path.name):
        accepted = [summary["checkpoints"][path.name]]
    if not accepted:
        return None, "no checksum was recorded for it (cut short before, or not written by this run)"
    if sha256(path) not in accepted:
        return None, "its sha256 differs from the one recorded"
    return state, None


def intact_checkpoint(out_dir: Path, *, quarantine: bool, store: Store | None = None) -> tuple[Path | None, dict | None]:
    """The newest intact checkpoint of ``out_dir`` and its state, or ``(None, None)``.

    Each damaged checkpoint newer than it is reported in one line and, with ``quarantine`` (a writer
    holding the lock of ``store``), renamed to ``*.damaged``: never deleted, and never picked up again.
    """
    store = store if store is not None else Store(out_dir)
    summary = _read_summary(out_dir)
    for path in sorted((out_dir / CHECKPOINTS).glob("epoch_*.pt"), reverse=True):
        state, why = _checkpoint_fault(path, summary, store)
        if state is not None:
            return path, state
        if quarantine and store.locked:
            store.quarantine(f"{CHECKPOINTS}/{path.name}", why)
        else:
            notice(f"checkpoint {str(path)!r} is damaged ({why}); skipped")
    return None, None


@dataclass
class RunModel:
    """One model of a run directory at its latest checkpoint, with its own training set and loss."""

    module: object
    loss_fn: object
    data: tuple
    config: TwinConfig
    info: dict


def load_run_model(out_dir: str | Path, model_index: int) -> RunModel:
    """Model ``model_index`` (``2p``: pair ``p`` on ``S``, ``2p + 1``: on ``S'``) of the run in ``out_dir``.

    Rebuilds the run's data and population from ``config.json`` exactly as the harness does (on the CPU),
    loads the newest intact checkpoint (``weights_only=True``; a damaged newer one is reported, left in
    place) and extracts the model from the stacked (or sequential) state, after checking that config,
    summary and checkpoint belong to the same run. ``data`` is the model's own training set; ``loss_fn``
    the harness's mean loss.
    """
    from stablesam.stability.twin.trainer import TWINS, TwinTrainer
    from stablesam.core.validation import check_integer

    out_dir = Path(out_dir)
    if not (out_dir / "config.json").is_file():
        raise UsageError(f"run directory {str(out_dir)!r} has no config.json (not a twin run directory)")
    config = _read_config(out_dir)
    checkpoint, state = intact_checkpoint(out_dir, quarantine=False)
    if checkpoint is None:
        raise UsageError(f"run directory {str(out_dir)!r} has no checkpoint (checkpoints/epoch_*.pt) that loads")
    _check_belongs_together(out_dir, config, checkpoint, state)
    n_models = 2 * len(config.pairs)
    model_index = check_integer("model index", model_index, minimum=0)
    if model_index >= n_models:
        raise UsageError(f"model index {model_index} is out of range: the run has {n_models} models "
                         f"(allowed 0..{n_models - 1}; 2p is pair p on S, 2p+1 on S')")
    trainer = TwinTrainer(config.replace(device="cpu"), load_twin_dataset(config), run_name=run_name(config))
    if state.get("vectorized") != trainer.population.vectorized:
        raise UsageError(f"checkpoint {str(checkpoint)!r} was written by the other (vectorised/sequential) "
                         "implementation than this machine rebuilds")
    trainer.population.load_state_dict(state["population"])
    if not bool(state["alive"][model_index]):
        raise UsageError(f"model {model_index} of {str(out_dir)!r} diverged at step "
                         f"{int(state['divergence_step'][model_index])}; its weights are not finite to measure")
    pair = model_index // 2
    seed, index = config.pairs[pair]
    info = {"run": run_name(config), "run_dir": str(out_dir), "checkpoint": str(checkpoint), "epoch": state["epoch"],
            "step": state["step"], "model_index": model_index, "pair": pair, "seed": seed, "replaced_index": index,
            "twin": TWINS[model_index % 2], "optimizer": config.optimizer, "lr": config.lr}
    return RunModel(trainer.population.module(model_index), trainer.population.loss,
                    trainer.training_set(model_index), config, info)


@dataclass(frozen=True)
class TwinResult:
    """A finished run: its directory, its tidy metrics (the table of ``metrics.csv``) and its summary (the
    object of ``summary.json``), handed to the caller so that it need not read its own files back."""

    run_dir: Path
    metrics: Any  # pandas.DataFrame, columns trainer.COLUMNS
    summary: dict


def _read_config(out_dir: Path) -> TwinConfig:
    """The run's ``config.json``; a damaged or foreign one is refused with the file's name."""
    path = out_dir / "config.json"
    try:
        return TwinConfig.from_record(json.loads(path.read_text()))
    except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
        raise UsageError(f"{str(path)!r} is not a valid twin config: {str(error).splitlines()[0]}") from None


def _check_belongs_together(out_dir: Path, config: TwinConfig, checkpoint: Path, state: dict) -> None:
    """Refuse a directory whose config, summary and checkpoint come from different runs."""
    summary = _read_summary(out_dir)
    mixed = []
    if not config.matches(state.get("config")):
        mixed.append(f"{checkpoint.name} has another config")
    if summary.get("config") is not None and not config.matches(summary["config"]):
        mixed.append("summary.json has another config")
    if summary.get("run_id") and state.get("run_id") and summary["run_id"] != state["run_id"]:
        mixed.append(f"summary.json and {checkpoint.name} have different run ids")
    if mixed:
        raise UsageError(f"run directory {str(out_dir)!r} mixes files of different runs ({'; '.join(mixed)} "
                         "than config.json); rerun it into a fresh directory")


@dataclass
class PreparedRun:
    """A validated run: ``execute()`` locks the directory, trains and writes; nothing has been written yet.

    ``status`` is the state ``prepare_twin`` found the directory in; ``execute`` checks it again under the
    lock. ``acquire()`` takes the lock ahead of ``execute`` (the CLI locks every run before training any).
    """

    config: TwinConfig
    out_dir: Path
    dataset: object
    overwrite: bool
    sharpness: Callable[..., float] | None = None
    status: str = "absent"
    run_id: str = field(default="", init=False)
    checksums: dict[str, str] = field(default_factory=dict, init=False, repr=False)  # checkpoint name -> sha256
    store: Store = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.store = Store(self.out_dir, what="twin run")

    def acquire(self, timeout: float = 0.0) -> PreparedRun:
        """Take the exclusive lock of the run directory (removing the debris of killed writes); a second writer
        gets a ``UsageError``."""
        self.store.lock(timeout)
        return self

    def release(self) -> None:
        self.store.unlock()

    def execute(self, *, progress: bool | None = None, lock_timeout: float = 0.0) -> TwinResult:
        """Train and write the run under the directory's lock (waiting up to ``lock_timeout`` seconds for it).

        ``progress``: a tqdm bar (True), nothing (False), or None: the bar on a terminal, else one line on
        stderr per finished epoch.
        """
        self.acquire(lock_timeout)
        try:
            with self.store.batched_sync():  # one flush per file at the end, not two per write
                return self._execute(progress)
        finally:
            self.release()

    def _execute(self, progress: bool | None) -> TwinResult:
        import torch

        from stablesam.stability.twin.trainer import TwinTrainer

        config, out_dir, store = self.config, self.out_dir, self.store
        name = run_name(config)
        status = _status(out_dir)
        if status == "finished" and not self.overwrite:
            if not config.matches(_read_summary(out_dir).get("config")):
                raise UsageError(f"output directory {str(out_dir)!r} holds a finished run of a different config "
                                 "(finished by another process meanwhile?); pass --overwrite to replace it")
            complete = self._complete()
            if complete is not None:
                notice(f"{name}: {str(out_dir)!r} is already complete; nothing to do")
                return complete
            status = "running"  # a damaged metrics or summary file: rewritten from the final checkpoint
        elif status != self.status and not (self.status == "absent" and status == "empty"):
            raise UsageError(f"output directory {str(out_dir)!r} changed while this run was being prepared "
                             f"(it was {self.status}, it is {status}); run the command again")
        trainer = TwinTrainer(config, self.dataset, run_name=name, sharpness=self.sharpness)
        if self.overwrite:
            for own in OWN_FILES:
                (out_dir / own).unlink(missing_ok=True)
            shutil.rmtree(out_dir / CHECKPOINTS, ignore_errors=True)
            store._manifest = None
        out_dir.mkdir(parents=True, exist_ok=True)
        self.checksums = {}
        checkpoint = state = None
        if status == "running" and not self.overwrite:
            if store.checksums("summary.json"):  # verified: a damaged one is set aside (and rewritten below)
                store.get_json("summary.json", valid=lambda summary: isinstance(summary, dict))
            checkpoint, state = intact_checkpoint(out_dir, quarantine=True, store=store)
        if state is not None:
            trainer.load_state_dict(state)
            recorded = _read_summary(out_dir).get("checkpoints") or {}  # directories from before the manifest
            self.checksums = {path.name: (store.checksums(f"{CHECKPOINTS}/{path.name}") or [recorded.get(path.name)])[0]
                              for path in sorted((out_dir / CHECKPOINTS).glob("epoch_*.pt"))}
            self.checksums = {k: v for k, v in self.checksums.items() if v is not None}
            self.run_id = state.get("run_id") or uuid.uuid4().hex
            notice(f"{name}: resumed from epoch {trainer.epoch} of {config.epochs} "
                   f"(checkpoint {str(checkpoint.relative_to(out_dir))!r})")
        else:
            if status == "running" and not self.overwrite:
                notice(f"{name}: no intact checkpoint in {str(out_dir)!r}; starting again from epoch 0")
            self.run_id = uuid.uuid4().hex
            store.put_json("config.json", config.to_dict())
            trainer.log()
        started = time.perf_counter()
        self._write_summary(trainer, "running", 0.0)
        mode = progress_mode(progress)
        from tqdm.auto import tqdm

        with tqdm(total=trainer.total_steps, initial=trainer.step, disable=not mode.bar, unit="step",
                  desc=name, leave=False) as bar:
            while trainer.epoch < config.epochs:
                trainer.train_epoch(on_step=lambda: bar.update(1))
                if trainer.epoch % config.checkpoint_every == 0 or trainer.epoch == config.epochs:
                    self._checkpoint(trainer, torch)
                    self._write_metrics(trainer)
                    self._write_summary(trainer, "running", time.perf_counter() - started)
                mode.line(f"stablesam: {name}: epoch {trainer.epoch}/{config.epochs} done "
                          f"({time.perf_counter() - started:.0f} s)")
        metrics = self._write_metrics(trainer)
        summary = self._write_summary(trainer, "finished", time.perf_counter() - started)
        return TwinResult(out_dir, metrics, summary)

    def _complete(self) -> TwinResult | None:
        """The result of a finished run whose metrics and summary are intact (verified), else None."""
        import io

        import pandas as pd

        if not self.store.path(MANIFEST).exists():  # written before run directories recorded checksums
            try:
                return TwinResult(self.out_dir, pd.read_csv(self.out_dir / "metrics.csv"), _read_summary(self.out_dir))
            except (OSError, ValueError):  # pandas' parser errors are ValueErrors
                return None
        summary = self.store.get_json("summary.json", valid=lambda s: isinstance(s, dict))
        metrics = self.store.get_bytes("metrics.csv")
        if summary is None or metrics is None:
            return None
        return TwinResult(self.out_dir, pd.read_csv(io.BytesIO(metrics)), summary)

    def _checkpoint(self, trainer, torch) -> None:
        name = f"{CHECKPOINTS}/epoch_{trainer.epoch:04d}.pt"
        self.checksums[name.split("/")[1]] = self.store.put_tensors(name, {**trainer.state_dict(),
                                                                           "run_id": self.run_id})
        keep = self.config.keep_checkpoints
        if keep:
            for old in sorted((self.out_dir / CHECKPOINTS).glob("epoch_*.pt"))[:-keep]:
                self.store.remove(f"{CHECKPOINTS}/{old.name}")
                self.checksums.pop(old.name, None)

    def _write_metrics(self, trainer):
        """Write the tidy metrics (CSV, and parquet with pyarrow) and return them as a DataFrame."""
        import pandas as pd

        frame = pd.DataFrame(trainer.rows)
        self.store.put_text("metrics.csv", frame.to_csv(index=False))
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            return frame
        with self.store.put_file("metrics.parquet") as tmp:
            frame.to_parquet(tmp, index=False)
        return frame

    def _write_summary(self, trainer, status: str, seconds: float) -> dict:
        import torch

        summary = {
            "status": status,
            "run": run_name(self.config),
            "run_id": self.run_id,
            "checkpoints": dict(sorted(self.checksums.items())),
            "config": self.config.to_dict(),
            "epochs_completed": trainer.epoch,
            "steps": trainer.step,
            "steps_per_epoch": trainer.steps_per_epoch,
            "n_models": trainer.n_models,
            "vectorized": trainer.population.vectorized,
            "vectorize_fallback": trainer.fallback_reason,
            "device": str(trainer.device),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "seconds_this_session": seconds,
            "pairs": final_values(trainer.rows, divergences := trainer.divergences()),
            "divergences": divergences,
        }
        self.store.put_json("summary.json", summary)
        return summary


_PAIR_VALUES = ("distance", "distance_normalized", "loss_diff_max", "loss_diff_mean")
_S_VALUES = ("gen_gap", "test_accuracy", "gamma_mean")


def final_values(rows: dict[str, list], divergences: list[dict] = ()) -> list[dict]:
    """Per pair, the last logged distance, gap (of the ``S`` run), stability estimate, mean gamma, divergence.

    After a twin diverged its values mean nothing (a diverged model stops moving, so the distance and
    gamma freeze at values that can read as "stable"): they are NaN, and ``diverged_step_S`` /
    ``diverged_step_S'`` (from ``divergences``) say when. The pair's values are NaN when either twin diverged, the ``S``
    values when ``S`` did.
    """
    out: dict[int, dict] = {}
    wanted = {("pair", "distance"): "distance", ("pair", "distance_normalized"): "distance_normalized",
              ("pair", "loss_diff_max"): "loss_diff_max", ("pair", "loss_diff_mean"): "loss_diff_mean",
              ("S", "gen_gap"): "gen_gap", ("S", "test_accuracy"): "test_accuracy", ("S", "gamma_mean"): "gamma_mean",
              ("S", "diverged"): "diverged_S", ("S'", "diverged"): "diverged_S'"}
    for pair, seed, index, twin, metric, value, step in zip(rows["pair"], rows["seed"], rows["replaced_index"],
                                                            rows["twin"], rows["metric"], rows["value"], rows["step"]):
        key = wanted.get((twin, metric))
        if key is not None:
            record = out.setdefault(pair, {"pair": pair, "seed": seed, "replaced_index": index})
            record[key], record["step"] = value, step
    for divergence in divergences:
        record = out.get(divergence["pair"])
        if record is None:
            continue
        record[f"diverged_step_{divergence['twin']}"] = divergence["step"]
        for key in _PAIR_VALUES + (_S_VALUES if divergence["twin"] == "S" else ()):
            record[key] = math.nan
    return [out[p] for p in sorted(out)]


def _check_model(config: TwinConfig, dataset) -> None:
    """Build the model once on the CPU, so that an unknown name fails before anything is written."""
    import torch

    from stablesam.stability.models import build_model

    outputs = dataset.num_classes if dataset.task == "classification" else 1
    build_model(config.model, tuple(dataset.input_shape), outputs, generator=torch.Generator().manual_seed(0),
                dtype=getattr(torch, config.dtype))


def prepare_twin(config: TwinConfig, out_dir: str | Path, *, overwrite: bool = False, resume: bool = True,
                 sharpness: Callable[..., float] | None = None) -> PreparedRun:
    """Validate everything about a run before anything is written (see the module docstring).

    ``sharpness``: the measurer of ``lambda_max`` that ``config.sharpness_every > 0`` needs (this layer does not
    import curvature code; pass :func:`stablesam.analysis.curvature.sharpness.top_hessian_eigenvalue`).
    """
    from stablesam.stability.training.device import resolve_device

    if not isinstance(config, TwinConfig):
        raise UsageError(f"config must be a TwinConfig, got {type(config).__name__}")
    out_dir = Path(out_dir)
    resolve_device(config.device)
    dataset = load_twin_dataset(config)
    n = dataset.n_train
    for index in config.replaced_indices:
        if index >= n:
            raise UsageError(f"replaced index {index} is out of range: the training set of {config.dataset!r} "
                             f"has {n} examples (allowed 0..{n - 1})")
    if dataset.task != "classification" and (config.label_noise > 0 or config.shuffled_labels):
        raise UsageError(f"label noise applies to classification only; dataset {config.dataset!r} is {dataset.task}")
    _check_model(config, dataset)
    if config.sharpness_every and sharpness is None:
        raise UsageError("sharpness_every > 0 needs a sharpness measurer: pass "
                         "sharpness=stablesam.analysis.curvature.sharpness.top_hessian_eigenvalue (or the CLI's --sharpness-every)")
    status = _status(out_dir)
    if status == "foreign":
        raise UsageError(f"output directory {str(out_dir)!r} exists and is not a twin run directory; choose another")
    if status == "finished" and not overwrite and not config.matches(_read_summary(out_dir).get("config")):
        raise UsageError(f"output directory {str(out_dir)!r} holds a finished run of a different config; "
                         "pass --overwrite to replace it")
    if status == "running" and not overwrite:
        if _read_config(out_dir) != config:
            raise UsageError(f"output directory {str(out_dir)!r} holds an unfinished run of a different config; "
                             "pass --overwrite to replace it")
        if not resume:
            raise UsageError(f"output directory {str(out_dir)!r} holds an unfinished run; resume it or pass --overwrite")
    return PreparedRun(config, out_dir, dataset, overwrite=overwrite and status in ("finished", "running"),
                       sharpness=sharpness, status=status)


def run_twin(config: TwinConfig, out_dir: str | Path, *, overwrite: bool = False, resume: bool = True,
             progress: bool | None = None, sharpness: Callable[..., float] | None = None,
             lock_timeout: float = 0.0) -> TwinResult:
    """Train every pair of ``config`` and write the run directory ``out_dir``; returns the :class:`TwinResult`
    (run directory, tidy metrics, summary).

    ``progress``: a tqdm bar (True), nothing (False), or None: the bar on a terminal, else one line per
    epoch. ``sharpness``: see :func:`prepare_twin`. ``lock_timeout``: seconds to wait for the directory's lock
    held by another writer (0: refuse).
    """
    return prepare_twin(config, out_dir, overwrite=overwrite, resume=resume, sharpness=sharpness).execute(
        progress=progress, lock_timeout=lock_timeout)
