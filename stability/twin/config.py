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

from stablesam.core.constraints import Boolean, Interval, NoneValue, Options, Satisfies, validate_parameters
from stablesam.core.methods import method_keys
from stablesam.core.validation import UsageError
from stablesam.stability.optimizers import BASE_OPTIMIZERS, DEFAULT_RHO, effective_rho

__all__ = [
    "BASE_OPTIMIZERS",
    "DEVICES",
    "DTYPES",
    "MAX_EPOCHS",
    "METHODS",
    "MOMENTUM",
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
MOMENTUM = 0.9
"""The momentum of ``base_optimizer="momentum"`` when ``momentum`` is not given."""
MAX_EPOCHS = 10**6
"""The most epochs a run may ask for (a larger value is a typo, not an experiment)."""


def _integers(minimum: int):
    """A predicate: an integer >= ``minimum``, or a non-empty list of distinct ones (seeds, replaced indices)."""
    integer = Interval(int, minimum, None)

    def predicate(value: Any) -> bool:
        items = [value] if not isinstance(value, (list, tuple)) else list(value)
        return bool(items) and all(integer.accepts(v) for v in items) and len(set(items)) == len(items)

    return predicate


def _name(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


# What each setting may be (scikit-learn's ``_parameter_constraints``): validated at construction.
_PARAMETER_CONSTRAINTS = {
    "dataset": [Satisfies(_name, "a data set name", "")],
    "model": [Satisfies(_name, "a model name", "")],
    "optimizer": [Options(frozenset(METHODS))],
    "base_optimizer": [Options(frozenset(BASE_OPTIMIZERS))],
    "lr": [Interval(float, 0, None, closed="neither")],
    "momentum": [Interval(float, 0, 1), NoneValue()],
    "betas": [Satisfies(lambda v: isinstance(v, (list, tuple)) and len(v) == 2
                        and all(Interval(float, 0, 1, closed="left").accepts(b) for b in v),
                        "two numbers in [0, 1)", [0.9, 1.0])],
    "adam_eps": [Interval(float, 0, None, closed="neither")],
    "weight_decay": [Interval(float, 0, None)],
    "schedule": [Options(frozenset(SCHEDULES))],
    "rho": [Interval(float, 0, None)],
    "adaptive_eta": [Interval(float, 0, None)],
    "gamma_cap": [Interval(float, 0, None, closed="neither"), NoneValue()],
    "epochs": [Interval(int, 1, MAX_EPOCHS)],
    "batch_size": [Interval(int, 1, None)],
    "sampling": [Options(frozenset(SAMPLINGS))],
    "seeds": [Satisfies(_integers(0), "an integer >= 0 or a non-empty list of distinct ones", [0, 0])],
    "replaced_indices": [Satisfies(_integers(0), "an integer >= 0 or a non-empty list of distinct ones", [-1])],
    "label_noise": [Interval(float, 0, 1)],
    "shuffled_labels": [Boolean()],
    "control": [Boolean()],
    "data_dir": [Satisfies(lambda v: isinstance(v, (str, Path)) and bool(str(v)), "a directory path", 3),
                 NoneValue()],
    "data_seed": [Interval(int, 0, None)],
    "n_train": [Interval(int, 1, None), NoneValue()],
    "n_test": [Interval(int, 1, None), NoneValue()],
    "n_pool": [Interval(int, 1, None), NoneValue()],
    "device": [Options(frozenset(DEVICES))],
    "dtype": [Options(frozenset(DTYPES))],
    "vectorize": [Boolean()],
    "log_every_steps": [Interval(int, 0, None)],
    "checkpoint_every": [Interval(int, 1, None)],
    "keep_checkpoints": [Interval(int, 0, None)],
    "divergence_threshold": [Interval(float, 0, None, closed="neither")],
    "eval_batch_size": [Interval(int, 1, None)],
    "sharpness_every": [Interval(int, 0, None)],
    "name": [Satisfies(lambda v: isinstance(v, str), "a string", 3)],
}


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

    ``momentum`` belongs to ``base_optimizer="momentum"`` (default :data:`MOMENTUM`); the other bases have none,
    so it is recorded as 0 there and a non-zero value is refused.

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
    momentum: float | None = None  # None: MOMENTUM for base_optimizer "momentum", 0 for the bases without one
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

    _parameter_constraints = _PARAMETER_CONSTRAINTS

    def __post_init__(self) -> None:
        validate_parameters(self._parameter_constraints,
                            {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, owner="TwinConfig")
        if self.shuffled_labels and self.label_noise > 0:
            raise UsageError("TwinConfig: label_noise must be 0 when shuffled_labels is set (shuffled labels are "
                             "pure noise)")

        def put(key: str, value: Any) -> None:  # one canonical form: plain floats, ints and tuples
            object.__setattr__(self, key, value)

        if self.momentum is None:
            put("momentum", MOMENTUM if self.base_optimizer == "momentum" else 0.0)
        elif self.momentum != 0 and self.base_optimizer != "momentum":
            raise UsageError(f"TwinConfig: momentum={self.momentum!r} applies only to base_optimizer='momentum' "
                             f"(got base_optimizer={self.base_optimizer!r}); leave it unset or 0")

        for key in ("lr", "momentum", "adam_eps", "weight_decay", "rho", "adaptive_eta", "label_noise",
                    "divergence_threshold"):
            put(key, float(getattr(self, key)))
        if self.gamma_cap is not None:
            put("gamma_cap", float(self.gamma_cap))
        put("betas", tuple(float(b) for b in self.betas))
        for key in ("seeds", "replaced_indices"):
            value = getattr(self, key)
            put(key, tuple(int(v) for v in (value if isinstance(value, (list, tuple)) else [value])))
        for key in ("epochs", "batch_size", "data_seed", "log_every_steps", "checkpoint_every", "keep_checkpoints",
                    "eval_batch_size", "sharpness_every", "n_train", "n_test", "n_pool"):
            if getattr(self, key) is not None:
                put(key, int(getattr(self, key)))
        if self.data_dir is not None:
            put("data_dir", str(self.data_dir))

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

    def matches(self, record: Any) -> bool:
        """Whether ``record`` (a ``config`` stored in a run directory or checkpoint) is this config; see
        :meth:`from_record`."""
        try:
            return isinstance(record, dict) and TwinConfig.from_record(record) == self
        except (UsageError, TypeError):
            return False

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TwinConfig:
        """A config stored by this or an earlier version: records before ``momentum`` defaulted by base optimizer
        hold 0.9 for the bases without momentum, which never applied there, and read as 0."""
        if isinstance(record, dict) and record.get("base_optimizer", "sgd") != "momentum":
            record = {**record, "momentum": 0.0}
        return cls.from_dict(record)

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
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:  # TOML is UTF-8 (a UTF-16 file, say, is not TOML)
        raise UsageError(f"config file {str(path)!r} is not UTF-8 text (TOML files are UTF-8): byte "
                         f"{error.start} is {error.object[error.start:error.start + 1]!r}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"config file {str(path)!r} is not valid TOML: {str(error).splitlines()[0]}") from None
