"""Data for the twin-model harness: the data sets, neighbouring training sets and label noise.

One entry point, :func:`load_dataset`, returns a :class:`Dataset` (train, test and a held-out pool
of the same source) from an explicit ``numpy.random.Generator``; :func:`neighbouring` builds the
pair ``S, S'`` of docs/theory.md §6. The sources live in ``stablesam.stability.datasets``, one per module. Nothing
downloads: MNIST and CIFAR-10 are read from files in a directory the caller names.

Example:
    >>> import numpy as np
    >>> from stablesam.stability.data import load_dataset, neighbouring
    >>> data = load_dataset("gaussian-mixture", generator=np.random.default_rng(0), n_train=64)
    >>> pair = neighbouring(data, 5, generator=np.random.default_rng(1), label_noise=0.1)
    >>> pair.x_a.shape, data.num_classes
    (torch.Size([64, 20]), 4)
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch

from stablesam.stability.datasets.cifar10 import CIFAR10_FILES, load_cifar10, read_cifar10_batch
from stablesam.stability.datasets.dataset import Dataset, check_numpy_generator
from stablesam.stability.datasets.embedded import load_digits, load_mnist1d
from stablesam.stability.datasets.label_noise import flip_labels, shuffle_labels
from stablesam.stability.datasets.mnist import MNIST_FILES, load_mnist, read_idx
from stablesam.stability.datasets.neighbours import NeighbouringPair, neighbouring
from stablesam.stability.datasets.synthetic import (
    SYNTHETIC_OPTIONS,
    load_gaussian_mixture,
    load_linear_regression,
    load_logistic_regression,
)
from stablesam.core.validation import UsageError, check_choice

__all__ = [
    "CIFAR10_FILES",
    "DATASETS",
    "MNIST_FILES",
    "Dataset",
    "NeighbouringPair",
    "flip_labels",
    "load_dataset",
    "neighbouring",
    "read_cifar10_batch",
    "read_idx",
    "shuffle_labels",
]

_LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "mnist1d": load_mnist1d,
    "linear-regression": load_linear_regression,
    "logistic-regression": load_logistic_regression,
    "gaussian-mixture": load_gaussian_mixture,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
}
_FILE_DATASETS = ("mnist", "cifar10")

DATASETS: tuple[str, ...] = tuple(_LOADERS)
"""Names accepted by :func:`load_dataset`; ``digits`` is the embedded default."""

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def load_dataset(
    name: str,
    *,
    generator: np.random.Generator,
    data_dir: str | os.PathLike[str] | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    n_pool: int | None = None,
    dtype: torch.dtype = torch.float32,
    **options: float | int,
) -> Dataset:
    """Load data set ``name`` (one of :data:`DATASETS`), split into train, test and pool by ``generator``.

    * ``digits``: scikit-learn's 1797 8x8 digits, images ``(1, 8, 8)``; test 360, pool 200, train the rest.
    * ``mnist1d``: MNIST-1D generated locally (``pip install mnist1d``), signals ``(1, 40)``;
      test 1000, pool 400, train the rest (3600).
    * ``linear-regression``, ``logistic-regression``, ``gaussian-mixture``: synthetic, features ``(dim,)``;
      train 500, test 1000, pool 100; ``options`` set their parameters (``SYNTHETIC_OPTIONS``, documented
      in ``stablesam.stability.datasets.synthetic``).
    * ``mnist``: IDX files ``MNIST_FILES`` (plain or ``.gz``) in ``data_dir``, images ``(1, 28, 28)``;
      test 10000, pool 1000, train the rest.
    * ``cifar10``: the binary batches ``CIFAR10_FILES`` in ``data_dir``, images ``(3, 32, 32)``;
      test 10000, pool 1000, train the rest.

    Image and signal features are standardised per channel with the train split's mean and standard
    deviation; synthetic features are left as drawn. ``data_dir`` is read by ``mnist`` and ``cifar10``
    only. Same generator state, same arguments: the same tensors, bit for bit. With the generator
    state and the other sizes fixed, test and pool do not depend on ``n_train``, and a larger
    ``n_train`` extends the smaller train set (so learning curves share test set and pool).
    """
    check_choice("dataset", name, DATASETS)
    generator = check_numpy_generator(generator)
    if dtype not in _FLOAT_DTYPES:
        raise UsageError(f"dtype must be a floating dtype ({', '.join(map(str, _FLOAT_DTYPES))}), got {dtype!r}")
    allowed = SYNTHETIC_OPTIONS.get(name, {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        known = f"; it takes {', '.join(allowed)}" if allowed else "; it takes none"
        raise UsageError(f"unknown option(s) {', '.join(map(repr, unknown))} for dataset {name!r}{known}")
    sizes = {"n_train": n_train, "n_test": n_test, "n_pool": n_pool}
    if name in _FILE_DATASETS:
        return _LOADERS[name](data_dir, generator=generator, dtype=dtype, **sizes)
    return _LOADERS[name](generator=generator, dtype=dtype, **sizes, **options)
