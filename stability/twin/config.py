"""``TwinConfig``: every setting of one twin experiment, validated at construction.

A config is a frozen, picklable dataclass of plain values (so a sweep can ship it to a worker
process), built from keyword arguments, a dict (:meth:`TwinConfig.from_dict`, unknown keys rejected)
or a TOML file (:meth:`TwinConfig.from_toml`, parsed with the standard library's safe ``tomllib``).

Example::

    >>> from stablesam.stability.twin import TwinConfig
    >>> config = TwinConfig(optimizer="stablesam-u", lr=0.5, rho=0.05, epochs=3, seeds=(0, 1))
    >>> config.pairs
    ((0, 0), (1, 0))
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stablesam.core.methods import method_keys
from stablesam.core.validation import (
    UsageError,
    check_choice,
    check_integer,
    check_nonnegative,
    check_positive,
    check_probability,
)
from stablesam.stability.optimizers import BASE_OPTIMIZERS, DEFAULT_RHO, effective_rho

__all__ = [
    "BASE_OPTIMIZERS",
    "DEVICES",
    "DTYPES",
    "METHODS",
    "SAMPLINGS",
    "SCHEDULES",
    "TwinConfig",
]

# The harness trains with mini-batches: every method of the table but full-batch GD.
METHODS = method_keys(full_batch=False)
SCHEDULES = ("constant", "cosine", "step", "linear")
SAMPLINGS = ("permutation", "with-replacement")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float64")


def _int_tuple(name: str, values: Any, *, minimum: int) -> tuple[int, ...]:
    if isinstance(values, (int, bool)) or not hasattr(values, "__iter__") or isinstance(values, str):
        values = (values,)
    out = tuple(check_integer(name, v, minimum=minimum) for v in values)
    if not out:
        raise UsageError(f"{name} must hold at least one integer, got an empty list")
    if len(set(out)) != len(out):
        raise UsageError(f"{name} must not repeat a value, got {list(out)!r}")
    return out


@dataclass(frozen=True)
class TwinConfig:
    """One twin experiment: a pair of runs on neighbouring datasets for every (seed, replaced index).

    Every pair ``(seed, i)`` trains two models from the same initialisation (drawn from ``seed``)
    with the same sequence of mini-batch indices (drawn from ``seed``): one on ``S``, one on ``S'``,
    ``S`` with training example ``i`` replaced by a fresh example from the held-out pool (``S' = S``
    when ``control``). All pairs train together as one stacked model (``vectorize``).

    Learning-rate schedules, as a factor on ``lr`` at update ``t`` of ``T``: ``constant`` 1;
    ``cosine`` ``(1 + cos(pi t / T)) / 2``; ``step`` 0.1 from 50 % and 0.01 from 75 % of ``T``;
    ``linear`` ``1 - t / T``.

    ``sampling``: ``permutation`` (a fresh permutation of the training set per epoch, consecutive mini-batches)
    or ``with-replacement`` (every index of every mini-batch drawn uniformly and independently, the setting of
    Hardt et al. 2016 and of :mod:`stablesam.theory.twin_moments`); an epoch is ``ceil(n / batch_size)`` updates either way.

    Sharpness tracking (off when ``sharpness_every`` is 0): at epoch 0 and every ``sharpness_every``
    epochs, the top Hessian eigenvalue of every model's mean loss on its own full training set (measured by
    the injected ``sharpness`` measurer of :func:`stablesam.stability.twin.run_twin`, e.g. Lanczos,
    :func:`stablesam.analysis.curvature.sharpness.top_hessian_eigenvalue`) is logged as metric ``sharpness``, with ``lr_max_gd`` =
    ``2 / sharpness``.
    """

    dataset: str = "digits"
    model: str = "mlp"
    optimizer: str = "sgd"
    base_optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: str = "constant"
    rho: float = DEFAULT_RHO
    adaptive_eta: float = 0.01
    gamma_cap: float | None = None
    epochs: int = 10
    batch_size: int = 64
    sampling: str = "permutation"
    seeds: tuple[int, ...] = (0,)
    replaced_indices: tuple[int, ...] = (0,)
    label_noise: float = 0.0
    shuffled_labels: bool = False
    control: bool = False
    data_dir: str | None = None
    data_seed: int = 0
    n_train: int | None = None
    n_test: int | None = None
    n_pool: int | None = None
    device: str = "auto"
    dtype: str = "float32"
    vectorize: bool = True
    log_every_steps: int = 0
    checkpoint_every: int = 1
    keep_checkpoints: int = 2  # the newest checkpoints kept (0: all); two, so a damaged newest one has a fallback
    divergence_threshold: float = 1e6
    eval_batch_size: int = 1024
    sharpness_every: int = 0
    name: str = field(default="")

    def __post_init__(self) -> None:
        def put(key: str, value: Any) -> None:
            object.__setattr__(self, key, value)

        for key in ("dataset", "model", "name"):
            if not isinstance(getattr(self, key), str):
                raise UsageError(f"{key} must be a string, got {getattr(self, key)!r}")
        if not self.dataset:
            raise UsageError("dataset must be a non-empty name")
        if not self.model:
            raise UsageError("model must be a non-empty name")
        check_choice("optimizer", self.optimizer, METHODS)
        check_choice("base_optimizer", self.base_optimizer, BASE_OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("sampling", self.sampling, SAMPLINGS)
        check_choice("device", self.device, DEVICES)
        check_choice("dtype", self.dtype, DTYPES)
        put("lr", check_positive("lr", self.lr))
        put("momentum", check_probability("momentum", self.momentum))
        if isinstance(self.betas, (str, bytes)) or len(tuple(self.betas)) != 2:
            raise UsageError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        betas = tuple(check_probability("betas", b) for b in self.betas)
        if any(b >= 1 for b in betas):
            raise UsageError(f"betas must lie in [0, 1), got {self.betas!r}")
        put("betas", betas)
        put("adam_eps", check_positive("adam_eps", self.adam_eps))
        put("weight_decay", check_nonnegative("weight_decay", self.weight_decay))
        put("rho", check_nonnegative("rho", self.rho))
        put("adaptive_eta", check_nonnegative("adaptive_eta", self.adaptive_eta))
        if self.gamma_cap is not None:
            put("gamma_cap", check_positive("gamma_cap", self.gamma_cap))
        put("epochs", check_integer("epochs", self.epochs, minimum=1))
        put("batch_size", check_integer("batch_size", self.batch_size, minimum=1))
        put("seeds", _int_tuple("seeds", self.seeds, minimum=0))
        put("replaced_indices", _int_tuple("replaced_indices", self.replaced_indices, minimum=0))
        put("label_noise", check_probability("label_noise", self.label_noise))
        for key in ("shuffled_labels", "control", "vectorize"):
            if not isinstance(getattr(self, key), bool):
                raise UsageError(f"{key} must be true or false, got {getattr(self, key)!r}")
        if self.shuffled_labels and self.label_noise > 0:
            raise UsageError("label_noise must be 0 when shuffled_labels is set (shuffled labels are pure noise)")
        if self.data_dir is not None:
            if not isinstance(self.data_dir, (str, Path)):
                raise UsageError(f"data_dir must be a path, got {self.data_dir!r}")
            put("data_dir", str(self.data_dir))
        put("data_seed", check_integer("data_seed", self.data_seed, minimum=0))
        for key in ("n_train", "n_test", "n_pool"):
            if getattr(self, key) is not None:
                put(key, check_integer(key, getattr(self, key), minimum=1))
        put("log_every_steps", check_integer("log_every_steps", self.log_every_steps, minimum=0))
        put("checkpoint_every", check_integer("checkpoint_every", self.checkpoint_every, minimum=1))
        put("keep_checkpoints", check_integer("keep_checkpoints", self.keep_checkpoints, minimum=0))
        put("divergence_threshold", check_positive("divergence_threshold", self.divergence_threshold))
        put("eval_batch_size", check_integer("eval_batch_size", self.eval_batch_size, minimum=1))
        put("sharpness_every", check_integer("sharpness_every", self.sharpness_every, minimum=0))

    # ------------------------------------------------------------------ derived views
    @property
    def pairs(self) -> tuple[tuple[int, int], ...]:
        """The ``(seed, replaced index)`` of every pair, seeds outermost; pair ``p`` is models ``2p, 2p+1``."""
        return tuple((s, i) for s in self.seeds for i in self.replaced_indices)

    @property
    def effective_rho(self) -> float:
        """The radius actually used: 0 for ``sgd``, which has no ascent step."""
        return effective_rho(self.optimizer, self.rho)

    def lr_at(self, step: int, total_steps: int) -> float:
        """Learning rate of update ``step`` (0-based) out of ``total_steps`` (see the class docstring)."""
        import math

        frac = step / total_steps
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * frac))
        if self.schedule == "step":
            return self.lr * (1.0 if frac < 0.5 else 0.1 if frac < 0.75 else 0.01)
        if self.schedule == "linear":
            return self.lr * (1.0 - frac)
        return self.lr

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; ``TwinConfig.from_dict(c.to_dict()) == c``."""
        out = dataclasses.asdict(self)
        for key in ("betas", "seeds", "replaced_indices"):
            out[key] = list(out[key])
        return out

    def replace(self, **changes: Any) -> TwinConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TwinConfig:
        """Build from a mapping; a key that is not a field is an error naming the allowed keys."""
        if not isinstance(values, dict):
            raise UsageError(f"a twin config must be a table of settings, got {type(values).__name__}")
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise UsageError(f"unknown twin config key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path) -> TwinConfig:
        """Read a TOML file of top-level ``key = value`` settings (see :meth:`from_dict`)."""
        return cls.from_dict(read_toml(path))


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML config file; a missing or malformed file is a ``ValueError`` naming it."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"config file {str(path)!r} is a directory; give a TOML file")
    if not path.is_file():
        raise UsageError(f"config file {str(path)!r} does not exist")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"config file {str(path)!r} is not valid TOML: {error}") from None
