"""What a claim reads from one finished twin run: per-seed final numbers, failure kinds, loss differences.

Read lazily from the run directory, each file through its store's checksum (``summary.json``, ``metrics.csv``,
``config.json``: a file damaged after the cache verified the run raises :class:`ExperimentFailed` instead of being
read); the per-test-point losses rebuild the population from the final checkpoint, so only the claims that need
them pay for them.
"""

from __future__ import annotations

import json
import math
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from stablesam.analysis.verify.claim import ExperimentFailed
from stablesam.analysis.verify.twin_evidence import failure_kinds
from stablesam.core.store import Store

__all__ = ["TwinOutcome"]

_DATA_KEYS = ("dataset", "data_seed", "data_dir", "n_train", "n_test", "n_pool", "dtype")


@lru_cache(maxsize=None)
def _classes(data_settings: str) -> int | None:
    """Number of classes of a twin run's data set (loaded once per data settings, not once per run)."""
    from stablesam.stability.twin import TwinConfig
    from stablesam.stability.twin.run import load_twin_dataset

    settings = {k: v for k, v in json.loads(data_settings).items() if v is not None}
    return load_twin_dataset(TwinConfig(**settings, optimizer="sgd", lr=0.1)).num_classes


class TwinOutcome:
    """The finished twin run in ``path``: :attr:`table` (per seed, the ``S`` twin), :attr:`failures`,
    :attr:`losses` and :attr:`memorised_epoch`."""

    def __init__(self, path) -> None:
        self.path = Path(path)

    def _verified(self, name: str) -> bytes:
        """The bytes of ``name`` whose checksum matches the run's record (else :class:`ExperimentFailed`)."""
        data = Store(self.path).get_bytes(name)
        if data is None:
            raise ExperimentFailed(f"twin run {str(self.path)!r}: {name} is missing or damaged")
        return data

    @cached_property
    def _metrics(self):
        import io

        import pandas as pd

        return pd.read_csv(io.BytesIO(self._verified("metrics.csv")))

    def _per_seed(self, metric: str, *, first: bool = False) -> np.ndarray:
        rows = self._metrics[(self._metrics["metric"] == metric) & (self._metrics["twin"] == "S")]
        if rows.empty:
            return np.full(len(self.table_seeds), math.nan)
        at = rows["step"].min() if first else rows["step"].max()
        return rows[rows["step"] == at].sort_values("pair")["value"].to_numpy(dtype=np.float64)

    @cached_property
    def _summary(self) -> dict:
        return json.loads(self._verified("summary.json"))

    @cached_property
    def table_seeds(self) -> np.ndarray:
        return np.array([p["seed"] for p in sorted(self._summary["pairs"], key=lambda p: p["pair"])])

    @cached_property
    def table(self) -> dict[str, np.ndarray]:
        """Per seed: ``distance``, ``diverged`` (either twin), ``train_accuracy``, ``train_loss``,
        ``initial_train_loss``, ``test_loss``, ``test_accuracy``, ``gen_gap``, ``gamma`` and ``cap_active`` (means
        over the run of the logged per-epoch means: gamma, and the fraction of steps on which a ``gamma_cap`` acted;
        NaN for a run without them) of the ``S`` twin."""
        pairs = sorted(self._summary["pairs"], key=lambda p: p["pair"])
        diverged = {d["pair"] for d in self._summary["divergences"]}

        def run_mean(metric: str) -> np.ndarray:
            rows = self._metrics[(self._metrics["metric"] == metric) & (self._metrics["twin"] == "S")]
            by_pair = rows.groupby("pair")["value"].mean() if not rows.empty else {}
            return np.array([by_pair.get(p["pair"], math.nan) for p in pairs], dtype=np.float64)

        out = {
            "seed": self.table_seeds,
            "distance": np.array([p.get("distance", math.nan) for p in pairs], dtype=np.float64),
            "diverged": np.array([p["pair"] in diverged for p in pairs]),
            "train_accuracy": self._per_seed("train_accuracy"),
            "train_loss": self._per_seed("train_loss"),
            "initial_train_loss": self._per_seed("train_loss", first=True),
            "test_loss": self._per_seed("test_loss"),
            "test_accuracy": np.array([p.get("test_accuracy", math.nan) for p in pairs], dtype=np.float64),
            "gamma": run_mean("gamma_mean"),
            "cap_active": run_mean("cap_active_mean"),
        }
        out["gen_gap"] = out["test_loss"] - out["train_loss"]
        return out

    @cached_property
    def classes(self) -> int | None:
        config = json.loads(self._verified("config.json"))
        return _classes(json.dumps({k: config.get(k) for k in _DATA_KEYS}, sort_keys=True))

    @cached_property
    def failures(self) -> list[str]:
        t = self.table
        return failure_kinds(diverged=t["diverged"], final_accuracy=t["train_accuracy"],
                             initial_loss=t["initial_train_loss"], final_loss=t["train_loss"], classes=self.classes)

    @cached_property
    def losses(self):
        from stablesam.analysis.experiments.twin_stability import test_losses

        return test_losses(self.path)

    @cached_property
    def memorised_epoch(self) -> float | None:
        """First logged epoch at which the median over seeds of the train accuracy (on the labels trained on,
        noisy ones included) reached 0.99; ``None`` if never."""
        rows = self._metrics[(self._metrics["metric"] == "train_accuracy") & (self._metrics["twin"] == "S")]
        medians = rows.groupby("epoch")["value"].median().sort_index()
        reached = medians[medians >= 0.99]
        return float(reached.index[0]) if len(reached) else None
