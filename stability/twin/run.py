"""``run_twin``: one twin experiment in its own directory, resumable, written atomically.

Layout of ``out_dir``::

    config.json               the full TwinConfig (written first)
    metrics.csv               tidy metrics (and metrics.parquet when pyarrow is installed)
    summary.json              status ("running" / "finished"), final values per pair, divergences
    checkpoints/epoch_XXXX.pt every ``checkpoint_every`` epochs and at the end (torch.save of
                              plain tensors and dicts: load with ``torch.load(..., weights_only=True)``)

Everything is validated (config, dataset, data directory, replaced indices, the directory's state)
by :func:`prepare_twin` before anything is written. A run that stops is continued by calling
``run_twin`` again with the same config: it loads the last checkpoint and, on CPU, produces the
same metrics and parameters bit for bit as an uninterrupted run. A finished run is not overwritten
unless ``overwrite=True``.

Example::

    >>> from stability.twin import TwinConfig, run_twin
    >>> run_twin(TwinConfig(optimizer="stablesam-u", lr=0.5, epochs=2), "runs/example")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.validation import UsageError
from stability.twin.config import TwinConfig
from core.io import atomic_path, atomic_write_json, atomic_write_text

__all__ = ["PreparedRun", "RunModel", "TwinResult", "load_run_model", "prepare_twin", "run_twin", "load_checkpoint", "run_name"]

OWN_FILES = ("config.json", "metrics.csv", "metrics.parquet", "summary.json")
CHECKPOINTS = "checkpoints"


def run_name(config: TwinConfig) -> str:
    """``config.name`` or ``<optimizer>_lr<lr>_rho<rho>`` (the ``run`` column)."""
    return config.name or f"{config.optimizer}_lr{config.lr:g}_rho{config.effective_rho:g}"


def _load_dataset(config: TwinConfig):
    from stability.data import load_dataset

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
    if not any(out_dir.iterdir()):
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
    loads the latest checkpoint (``weights_only=True``) and extracts the model from the stacked (or
    sequential) state. ``data`` is the model's own training set; ``loss_fn`` the harness's mean loss.
    """
    from stability.twin.trainer import TWINS, TwinTrainer
    from core.validation import check_integer

    out_dir = Path(out_dir)
    if not (out_dir / "config.json").is_file():
        raise UsageError(f"run directory {str(out_dir)!r} has no config.json (not a twin run directory)")
    try:
        config = TwinConfig.from_dict(json.loads((out_dir / "config.json").read_text()))
    except (ValueError, TypeError) as error:
        raise UsageError(f"{str(out_dir / 'config.json')!r} is not a valid twin config: {error}") from None
    checkpoint = latest_checkpoint(out_dir)
    if checkpoint is None:
        raise UsageError(f"run directory {str(out_dir)!r} has no checkpoint (checkpoints/epoch_*.pt)")
    n_models = 2 * len(config.pairs)
    model_index = check_integer("model index", model_index, minimum=0)
    if model_index >= n_models:
        raise UsageError(f"model index {model_index} is out of range: the run has {n_models} models "
                         f"(allowed 0..{n_models - 1}; 2p is pair p on S, 2p+1 on S')")
    try:
        state = load_checkpoint(checkpoint)
    except Exception as error:  # unpickling errors come in many types
        raise UsageError(f"checkpoint {str(checkpoint)!r} is not a weights-only torch file: "
                         f"{str(error).splitlines()[0]}") from None
    trainer = TwinTrainer(config.replace(device="cpu"), _load_dataset(config), run_name=run_name(config))
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


@dataclass
class PreparedRun:
    """A validated run: ``execute()`` trains and writes; nothing has been written yet."""

    config: TwinConfig
    out_dir: Path
    dataset: object
    resume_from: Path | None
    overwrite: bool
    sharpness: Callable[..., float] | None = None

    def execute(self, *, progress: bool | None = None) -> TwinResult:
        import torch

        from stability.twin.trainer import TwinTrainer

        config, out_dir = self.config, self.out_dir
        trainer = TwinTrainer(config, self.dataset, run_name=run_name(config), sharpness=self.sharpness)
        if self.overwrite:
            for name in OWN_FILES:
                (out_dir / name).unlink(missing_ok=True)
            shutil.rmtree(out_dir / CHECKPOINTS, ignore_errors=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.resume_from is not None:
            trainer.load_state_dict(load_checkpoint(self.resume_from))
        else:
            atomic_write_json(out_dir / "config.json", config.to_dict())
            trainer.log()
        started = time.perf_counter()
        self._write_summary(trainer, "running", 0.0)
        if progress is None:
            progress = sys.stderr.isatty()
        from tqdm.auto import tqdm

        with tqdm(total=trainer.total_steps, initial=trainer.step, disable=not progress, unit="step",
                  desc=run_name(config), leave=False) as bar:
            while trainer.epoch < config.epochs:
                trainer.train_epoch(on_step=lambda: bar.update(1))
                if trainer.epoch % config.checkpoint_every == 0 or trainer.epoch == config.epochs:
                    self._checkpoint(trainer, torch)
                    self._write_metrics(trainer)
        metrics = self._write_metrics(trainer)
        summary = self._write_summary(trainer, "finished", time.perf_counter() - started)
        return TwinResult(out_dir, metrics, summary)

    def _checkpoint(self, trainer, torch) -> None:
        directory = self.out_dir / CHECKPOINTS
        with atomic_path(directory / f"epoch_{trainer.epoch:04d}.pt") as tmp:
            torch.save(trainer.state_dict(), tmp)
        keep = self.config.keep_checkpoints
        if keep:
            for old in sorted(directory.glob("epoch_*.pt"))[:-keep]:
                old.unlink()

    def _write_metrics(self, trainer):
        """Write the tidy metrics (CSV, and parquet with pyarrow) and return them as a DataFrame."""
        import pandas as pd

        frame = pd.DataFrame(trainer.rows)
        atomic_write_text(self.out_dir / "metrics.csv", frame.to_csv(index=False))
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            return frame
        with atomic_path(self.out_dir / "metrics.parquet") as tmp:
            frame.to_parquet(tmp, index=False)
        return frame

    def _write_summary(self, trainer, status: str, seconds: float) -> dict:
        import torch

        summary = {
            "status": status,
            "run": run_name(self.config),
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
            "pairs": final_values(trainer.rows),
            "divergences": trainer.divergences(),
        }
        atomic_write_json(self.out_dir / "summary.json", summary)
        return summary


def final_values(rows: dict[str, list]) -> list[dict]:
    """Per pair, the last logged distance, gap (of the ``S`` run), stability estimate, mean gamma, divergence."""
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
    return [out[p] for p in sorted(out)]


def _check_model(config: TwinConfig, dataset) -> None:
    """Build the model once on the CPU, so that an unknown name fails before anything is written."""
    import torch

    from stability.models import build_model

    outputs = dataset.num_classes if dataset.task == "classification" else 1
    build_model(config.model, tuple(dataset.input_shape), outputs, generator=torch.Generator().manual_seed(0),
                dtype=getattr(torch, config.dtype))


def prepare_twin(config: TwinConfig, out_dir: str | Path, *, overwrite: bool = False, resume: bool = True,
                 sharpness: Callable[..., float] | None = None) -> PreparedRun:
    """Validate everything about a run before anything is written (see the module docstring).

    ``sharpness``: the measurer of ``lambda_max`` that ``config.sharpness_every > 0`` needs (this layer does not
    import curvature code; pass :func:`analysis.sharpness.top_hessian_eigenvalue`).
    """
    from stability.twin.trainer import resolve_device

    if not isinstance(config, TwinConfig):
        raise UsageError(f"config must be a TwinConfig, got {type(config).__name__}")
    out_dir = Path(out_dir)
    resolve_device(config.device)
    dataset = _load_dataset(config)
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
                         "sharpness=analysis.sharpness.top_hessian_eigenvalue (or the CLI's --sharpness-every)")
    status = _status(out_dir)
    resume_from = None
    if status == "foreign":
        raise UsageError(f"output directory {str(out_dir)!r} exists and is not a twin run directory; choose another")
    if status == "finished" and not overwrite:
        raise UsageError(f"output directory {str(out_dir)!r} holds a finished run; pass --overwrite to replace it")
    if status == "running" and not overwrite:
        previous = json.loads((out_dir / "config.json").read_text())
        if previous != config.to_dict():
            raise UsageError(f"output directory {str(out_dir)!r} holds an unfinished run of a different config; "
                             "pass --overwrite to replace it")
        if not resume:
            raise UsageError(f"output directory {str(out_dir)!r} holds an unfinished run; resume it or pass --overwrite")
        resume_from = latest_checkpoint(out_dir)
    return PreparedRun(config, out_dir, dataset, resume_from, overwrite=overwrite and status in ("finished", "running"),
                       sharpness=sharpness)


def run_twin(config: TwinConfig, out_dir: str | Path, *, overwrite: bool = False, resume: bool = True,
             progress: bool | None = None, sharpness: Callable[..., float] | None = None) -> TwinResult:
    """Train every pair of ``config`` and write the run directory ``out_dir``; returns the :class:`TwinResult`
    (run directory, tidy metrics, summary).

    ``progress``: a tqdm bar (None: only when stderr is a terminal). ``sharpness``: see :func:`prepare_twin`.
    """
    return prepare_twin(config, out_dir, overwrite=overwrite, resume=resume, sharpness=sharpness).execute(progress=progress)
