"""Data sets generated or shipped with the installed packages: scikit-learn's digits and MNIST-1D."""

from __future__ import annotations

import random
from functools import lru_cache
from types import ModuleType

import numpy as np
import torch

from stablesam.core.validation import UsageError
from stablesam.stability.datasets.dataset import Dataset, split_examples, split_official, standardised_dataset

__all__ = ["load_digits", "load_mnist1d"]


def load_digits(
    *,
    generator: np.random.Generator,
    n_train: int | None = None,
    n_test: int | None = None,
    n_pool: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """The 1797 8x8 handwritten digits bundled with scikit-learn (the UCI optical digits test set).

    One random permutation splits them into test (360 by default), pool (200 by default) and train
    (the remaining 1237 by default). Images have shape ``(1, 8, 8)`` (pixel values 0..16) and are
    standardised with the train set's mean and standard deviation. scikit-learn's file is parsed once per process.
    """
    x, y = _digits_arrays()
    splits = split_examples(
        "digits", x, y, generator=generator, n_train=n_train, n_test=n_test, n_pool=n_pool,
        default_test=360, default_pool=200,
    )
    return standardised_dataset("digits", **splits, num_classes=10, dtype=dtype)


def load_mnist1d(
    *,
    generator: np.random.Generator,
    n_train: int | None = None,
    n_test: int | None = None,
    n_pool: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """MNIST-1D (Greydanus & Kobak, 2024, arXiv:2011.14439), generated locally.

    Calls the ``mnist1d`` package's ``make_dataset`` with its default arguments (5000 signals of
    length 40, 10 classes, its own seed 42: 4000 train and 1000 test), never its downloading
    loader; the signals are generated once per process and cached. ``make_dataset`` reseeds NumPy's
    and ``random``'s global generators; both global states are saved and restored around the call.
    The test set is drawn from the 1000 test signals, train and pool (400 by default) from the 4000
    training signals. Signals have shape ``(1, 40)`` and are standardised with the train set's mean
    and standard deviation.
    """
    try:
        import mnist1d.data
    except ImportError:
        raise UsageError(
            "dataset 'mnist1d' needs the mnist1d package: pip install mnist1d (or pip install 'stablesam[mnist1d]')"
        ) from None
    generated = _generate_mnist1d(mnist1d.data)
    splits = split_official(
        "mnist1d",
        (generated["x"][:, None], generated["y"]),
        (generated["x_test"][:, None], generated["y_test"]),
        generator=generator, n_train=n_train, n_test=n_test, n_pool=n_pool, default_pool=400,
    )
    return standardised_dataset("mnist1d", **splits, num_classes=10, dtype=dtype)


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as read-only ``(1797, 1, 8, 8)`` float64 images and labels: parsing its CSV costs
    about 20 ms, paid once per process rather than once per run (splits index them, which copies)."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x, y = bunch.images[:, None].astype(np.float64), bunch.target.copy()
    x.flags.writeable = y.flags.writeable = False
    return x, y


@lru_cache(maxsize=1)
def _generate_mnist1d(package: ModuleType) -> dict[str, np.ndarray]:
    """``make_dataset`` with the default arguments (deterministic: cached), global RNG states restored."""
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        generated = package.make_dataset(package.get_dataset_args())
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    arrays = {key: np.asarray(generated[key]) for key in ("x", "y", "x_test", "y_test")}
    for array in arrays.values():
        array.flags.writeable = False
    return arrays
