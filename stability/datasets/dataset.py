"""The ``Dataset`` record and the split and standardisation shared by every source.

A source yields examples; :func:`split` draws a train set, a test set and a *pool* from them with an
explicit generator. The pool is held out from the same source, disjoint from train and test, and
supplies the fresh example that replaces ``z_i`` in the neighbouring dataset ``S'`` (docs/theory.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from stablesam.core.validation import UsageError, check_integer

__all__ = ["Dataset", "TASKS", "check_numpy_generator"]

TASKS = ("classification", "regression")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train / test / pool split of one data source.

    ``x_*`` hold the features, shape ``(n, *input_shape)``, in a floating dtype. ``y_*`` hold int64
    class labels in ``[0, num_classes)`` for classification, or targets of the feature dtype, shape
    ``(n,)``, for regression (``num_classes`` is then ``None``). The three splits are disjoint draws
    from one source.

    Example:
        >>> import numpy as np
        >>> from stablesam.stability.data import load_dataset
        >>> data = load_dataset("digits", generator=np.random.default_rng(0), n_train=100)
        >>> data.x_train.shape, data.num_outputs
        (torch.Size([100, 1, 8, 8]), 10)
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    x_pool: torch.Tensor
    y_pool: torch.Tensor
    task: str
    num_classes: int | None
    input_shape: tuple[int, ...]
    name: str

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise UsageError(f"task must be one of {TASKS}, got {self.task!r}")
        if (self.task == "classification") != (self.num_classes is not None):
            raise UsageError(
                f"num_classes is set for classification and only then; got {self.num_classes!r} for {self.task}"
            )
        for split in ("train", "test", "pool"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if tuple(x.shape[1:]) != tuple(self.input_shape) or y.shape != x.shape[:1]:
                raise UsageError(
                    f"{split} split: features {tuple(x.shape)} and labels {tuple(y.shape)} do not match "
                    f"input_shape {self.input_shape}"
                )

    @property
    def num_outputs(self) -> int:
        """Width of a model's output: ``num_classes`` for classification, 1 for regression."""
        return self.num_classes if self.num_classes is not None else 1

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    @property
    def n_pool(self) -> int:
        return self.x_pool.shape[0]

    def to(self, device: torch.device | str) -> Dataset:
        """The same data set with every tensor on ``device``."""
        tensors = {f.name: getattr(self, f.name).to(device) for f in fields(self) if f.name[:2] in ("x_", "y_")}
        return replace(self, **tensors)


def check_numpy_generator(generator: object) -> np.random.Generator:
    """Return ``generator``; raise ``TypeError`` unless it is a ``numpy.random.Generator``."""
    if not isinstance(generator, np.random.Generator):
        raise UsageError(f"generator must be a numpy.random.Generator, got {type(generator).__name__}")
    return generator


def resolve_sizes(
    name: str, available: int, n_train: int | None, n_test: int | None, n_pool: int | None, *, default_test: int,
    default_pool: int,
) -> tuple[int, int, int]:
    """Sizes of a split of ``available`` examples; train takes what test and pool leave unless given."""
    n_test = default_test if n_test is None else check_integer("n_test", n_test, minimum=1)
    n_pool = default_pool if n_pool is None else check_integer("n_pool", n_pool, minimum=0)
    asked = "n_train >= 1 (the rest)" if n_train is None else f"n_train={n_train}"
    n_train = available - n_test - n_pool if n_train is None else check_integer("n_train", n_train, minimum=1)
    if n_train < 1 or n_train + n_test + n_pool > available:
        raise UsageError(
            f"dataset {name!r} is too small for the requested sizes: it has {available} examples for train + test "
            f"+ pool, and n_test={n_test}, n_pool={n_pool}, {asked} need more; ask for smaller sizes"
        )
    return n_train, n_test, n_pool


def channel_statistics(x: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (axis 1) of ``x``, accumulated in float64 by chunks.

    A constant channel gets standard deviation 1 so that standardising leaves it centred, not NaN.
    """
    reduce_axes = (0, *range(2, x.ndim))
    count = x.shape[0] * int(np.prod(x.shape[2:], dtype=np.int64))
    total = sum(np.sum(x[i : i + chunk], axis=reduce_axes, dtype=np.float64) for i in range(0, len(x), chunk))
    mean = total / count
    shape = (1, -1) + (1,) * (x.ndim - 2)
    squares = sum(
        np.sum(np.square(x[i : i + chunk].astype(np.float64) - mean.reshape(shape)), axis=reduce_axes)
        for i in range(0, len(x), chunk)
    )
    std = np.sqrt(squares / count)
    return mean, np.where(std > 0, std, 1.0)


def to_features(x: np.ndarray, mean: np.ndarray, std: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """``(x - mean_c) / std_c`` per channel ``c`` (axis 1), as a tensor of ``dtype``."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    out = torch.from_numpy(np.ascontiguousarray(x)).to(dtype)
    out.sub_(torch.from_numpy(mean.reshape(shape)).to(dtype)).div_(torch.from_numpy(std.reshape(shape)).to(dtype))
    return out


def standardised_dataset(
    name: str,
    *,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    pool: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    dtype: torch.dtype,
) -> Dataset:
    """A classification ``Dataset`` whose features are standardised per channel with train statistics."""
    mean, std = channel_statistics(train[0])
    splits = {
        split: (to_features(x, mean, std, dtype), torch.from_numpy(np.asarray(y, dtype=np.int64)))
        for split, (x, y) in (("train", train), ("test", test), ("pool", pool))
    }
    return Dataset(
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["test"][0],
        y_test=splits["test"][1],
        x_pool=splits["pool"][0],
        y_pool=splits["pool"][1],
        task="classification",
        num_classes=num_classes,
        input_shape=tuple(train[0].shape[1:]),
        name=name,
    )


def split_examples(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    generator: np.random.Generator,
    n_train: int | None,
    n_test: int | None,
    n_pool: int | None,
    default_test: int,
    default_pool: int,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Split one source of examples into test, pool and train by a single random permutation.

    The permutation's first ``n_test`` entries index the test set, the next ``n_pool`` the pool and
    the next ``n_train`` the train set: test and pool do not depend on ``n_train``, and a larger
    ``n_train`` extends the smaller train set.
    """
    n_train, n_test, n_pool = resolve_sizes(
        name, len(x), n_train, n_test, n_pool, default_test=default_test, default_pool=default_pool
    )
    order = generator.permutation(len(x))
    bounds = np.cumsum([0, n_test, n_pool, n_train])
    return {split: (x[order[a:b]], y[order[a:b]]) for split, a, b in zip(("test", "pool", "train"), bounds, bounds[1:])}


def split_official(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    generator: np.random.Generator,
    n_train: int | None,
    n_test: int | None,
    n_pool: int | None,
    default_pool: int,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Split a source that comes with an official train/test split.

    The test set is drawn from the official test split (all of it by default); pool and train are
    drawn, disjoint, from the official train split by one permutation (its first ``n_pool`` entries,
    ``default_pool`` by default, then ``n_train`` entries, all the rest by default), so the pool does
    not depend on ``n_train`` and a larger ``n_train`` extends the smaller train set.
    """
    n_test = len(test[0]) if n_test is None else check_integer("n_test", n_test, minimum=1)
    if n_test > len(test[0]):
        raise UsageError(f"dataset {name!r} has {len(test[0])} test examples; got n_test={n_test}")
    test_order = generator.permutation(len(test[0]))[:n_test]
    n_pool = default_pool if n_pool is None else check_integer("n_pool", n_pool, minimum=0)
    asked = "n_train >= 1 (the rest)" if n_train is None else f"n_train={n_train}"
    n_train = len(train[0]) - n_pool if n_train is None else check_integer("n_train", n_train, minimum=1)
    if n_train < 1 or n_train + n_pool > len(train[0]):
        raise UsageError(
            f"dataset {name!r} is too small for the requested sizes: its train split has {len(train[0])} examples "
            f"for train + pool, and n_pool={n_pool}, {asked} need more; ask for smaller sizes"
        )
    order = generator.permutation(len(train[0]))
    pool, rest = order[:n_pool], order[n_pool : n_pool + n_train]
    return {
        "train": (train[0][rest], train[1][rest]),
        "test": (test[0][test_order], test[1][test_order]),
        "pool": (train[0][pool], train[1][pool]),
    }
