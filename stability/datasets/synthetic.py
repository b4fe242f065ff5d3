"""Synthetic problems drawn from an explicit generator, with known data models.

Every problem draws its parameters first, then ``n = n_train + n_test + n_pool`` i.i.d. examples,
which it splits in that order into train, test and pool. ``u`` below is a direction uniform on the
unit sphere of R^d (a standard normal vector divided by its norm).

* ``linear-regression``: ``x ~ N(0, I_d)``, ``y = <w*, x> + noise * e`` with ``e ~ N(0, 1)`` and
  ``w* = u`` (so ``||w*|| = 1`` and the signal-to-noise ratio is ``1 / noise^2``).
* ``logistic-regression``: ``x ~ N(0, I_d)``, ``y ~ Bernoulli(sigmoid(<w*, x>))`` in {0, 1} with
  ``w* = scale * u``.
* ``gaussian-mixture``: ``y`` uniform on ``{0, ..., num_classes - 1}``, ``x = mu_y + N(0, I_d)`` with
  class means ``mu_k = separation * u_k``.
"""

from __future__ import annotations

import numpy as np
import torch

from stability.datasets.dataset import Dataset
from stablesam.validation import check_integer, check_nonnegative

__all__ = ["SYNTHETIC_OPTIONS", "load_gaussian_mixture", "load_linear_regression", "load_logistic_regression"]

_DEFAULT_SIZES = {"n_train": 500, "n_test": 1000, "n_pool": 100}

# The keyword options each problem takes, with their defaults.
SYNTHETIC_OPTIONS: dict[str, dict[str, float | int]] = {
    "linear-regression": {"dim": 20, "noise": 0.5},
    "logistic-regression": {"dim": 20, "scale": 4.0},
    "gaussian-mixture": {"dim": 20, "num_classes": 4, "separation": 3.0},
}


def _sizes(n_train: int | None, n_test: int | None, n_pool: int | None) -> tuple[int, int, int]:
    given = {"n_train": n_train, "n_test": n_test, "n_pool": n_pool}
    return tuple(  # type: ignore[return-value]
        _DEFAULT_SIZES[k] if v is None else check_integer(k, v, minimum=1) for k, v in given.items()
    )


def _direction(generator: np.random.Generator, *shape: int) -> np.ndarray:
    u = generator.standard_normal(shape)
    return u / np.linalg.norm(u, axis=-1, keepdims=True)


def _dataset(name: str, x: np.ndarray, y: np.ndarray, sizes: tuple[int, int, int], *, task: str,
             num_classes: int | None, dtype: torch.dtype) -> Dataset:
    bounds = np.cumsum([0, *sizes])
    features = torch.from_numpy(x).to(dtype)
    targets = torch.from_numpy(y).to(torch.int64 if task == "classification" else dtype)
    parts = [(features[a:b], targets[a:b]) for a, b in zip(bounds, bounds[1:])]
    return Dataset(
        x_train=parts[0][0], y_train=parts[0][1], x_test=parts[1][0], y_test=parts[1][1],
        x_pool=parts[2][0], y_pool=parts[2][1], task=task, num_classes=num_classes,
        input_shape=(x.shape[1],), name=name,
    )


def load_linear_regression(
    *, generator: np.random.Generator, n_train: int | None = None, n_test: int | None = None,
    n_pool: int | None = None, dtype: torch.dtype = torch.float32, dim: int = 20, noise: float = 0.5,
) -> Dataset:
    """``y = <w*, x> + noise * e``, ``x ~ N(0, I_dim)``, ``||w*|| = 1`` (see the module docstring)."""
    dim, noise = check_integer("dim", dim, minimum=1), check_nonnegative("noise", noise)
    sizes = _sizes(n_train, n_test, n_pool)
    w_star = _direction(generator, dim)
    x = generator.standard_normal((sum(sizes), dim))
    y = x @ w_star + noise * generator.standard_normal(sum(sizes))
    return _dataset("linear-regression", x, y, sizes, task="regression", num_classes=None, dtype=dtype)


def load_logistic_regression(
    *, generator: np.random.Generator, n_train: int | None = None, n_test: int | None = None,
    n_pool: int | None = None, dtype: torch.dtype = torch.float32, dim: int = 20, scale: float = 4.0,
) -> Dataset:
    """``P(y = 1 | x) = sigmoid(<w*, x>)``, ``x ~ N(0, I_dim)``, ``||w*|| = scale`` (see the module docstring)."""
    dim, scale = check_integer("dim", dim, minimum=1), check_nonnegative("scale", scale)
    sizes = _sizes(n_train, n_test, n_pool)
    w_star = scale * _direction(generator, dim)
    x = generator.standard_normal((sum(sizes), dim))
    y = (generator.random(sum(sizes)) < 1.0 / (1.0 + np.exp(-(x @ w_star)))).astype(np.int64)
    return _dataset("logistic-regression", x, y, sizes, task="classification", num_classes=2, dtype=dtype)


def load_gaussian_mixture(
    *, generator: np.random.Generator, n_train: int | None = None, n_test: int | None = None,
    n_pool: int | None = None, dtype: torch.dtype = torch.float32, dim: int = 20, num_classes: int = 4,
    separation: float = 3.0,
) -> Dataset:
    """``x = mu_y + N(0, I_dim)``, ``y`` uniform, ``||mu_k|| = separation`` (see the module docstring)."""
    dim = check_integer("dim", dim, minimum=1)
    num_classes = check_integer("num_classes", num_classes, minimum=2)
    separation = check_nonnegative("separation", separation)
    sizes = _sizes(n_train, n_test, n_pool)
    means = separation * _direction(generator, num_classes, dim)
    y = generator.integers(num_classes, size=sum(sizes))
    x = means[y] + generator.standard_normal((sum(sizes), dim))
    return _dataset("gaussian-mixture", x, y, sizes, task="classification", num_classes=num_classes, dtype=dtype)
