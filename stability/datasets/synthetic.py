"""Synthetic problems drawn from an explicit generator, with known data models.

Every problem draws its parameters first, then ``n = n_test + n_pool + n_train`` i.i.d. examples,
each a function of its own ``d + 1`` standard normals ``(x, z)``; the examples are split in that
order into test, pool and train. So test and pool do not depend on ``n_train``, and a larger
``n_train`` extends the smaller train set. ``u`` below is a direction uniform on the unit sphere of
R^d (a standard normal vector divided by its norm) and ``U = Phi(z)``, uniform on (0, 1).

* ``linear-regression``: ``y = <w*, x> + noise * z`` with ``w* = u`` (so ``||w*|| = 1`` and the
  signal-to-noise ratio is ``1 / noise^2``).
* ``logistic-regression``: ``y = [U < sigmoid(<w*, x>)]``, i.e. ``y ~ Bernoulli(sigmoid(<w*, x>))`` in
  {0, 1}, with ``w* = scale * u``.
* ``gaussian-mixture``: ``y = floor(K U)``, uniform on ``{0, ..., K - 1}`` (``K = num_classes``), and
  features ``mu_y + x`` with class means ``mu_k = separation * u_k``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import expit, ndtr

from stablesam.stability.datasets.dataset import Dataset
from stablesam.core.validation import check_integer, check_nonnegative

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


def _examples(generator: np.random.Generator, sizes: tuple[int, int, int], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (n, dim) and ``z`` (n,): each example's own ``dim + 1`` standard normals."""
    draws = generator.standard_normal((sum(sizes), dim + 1))
    return draws[:, :dim], draws[:, dim]


def _dataset(name: str, x: np.ndarray, y: np.ndarray, sizes: tuple[int, int, int], *, task: str,
             num_classes: int | None, dtype: torch.dtype) -> Dataset:
    n_train, n_test, n_pool = sizes
    bounds = np.cumsum([0, n_test, n_pool, n_train])
    features = torch.from_numpy(np.ascontiguousarray(x)).to(dtype)
    targets = torch.from_numpy(y).to(torch.int64 if task == "classification" else dtype)
    test, pool, train = ((features[a:b], targets[a:b]) for a, b in zip(bounds, bounds[1:]))
    return Dataset(
        x_train=train[0], y_train=train[1], x_test=test[0], y_test=test[1], x_pool=pool[0], y_pool=pool[1],
        task=task, num_classes=num_classes, input_shape=(x.shape[1],), name=name,
    )


def load_linear_regression(
    *, generator: np.random.Generator, n_train: int | None = None, n_test: int | None = None,
    n_pool: int | None = None, dtype: torch.dtype = torch.float32, dim: int = 20, noise: float = 0.5,
) -> Dataset:
    """``y = <w*, x> + noise * e``, ``x ~ N(0, I_dim)``, ``||w*|| = 1`` (see the module docstring)."""
    dim, noise = check_integer("dim", dim, minimum=1), check_nonnegative("noise", noise)
    sizes = _sizes(n_train, n_test, n_pool)
    w_star = _direction(generator, dim)
    x, z = _examples(generator, sizes, dim)
    y = x @ w_star + noise * z
    return _dataset("linear-regression", x, y, sizes, task="regression", num_classes=None, dtype=dtype)


def load_logistic_regression(
    *, generator: np.random.Generator, n_train: int | None = None, n_test: int | None = None,
    n_pool: int | None = None, dtype: torch.dtype = torch.float32, dim: int = 20, scale: float = 4.0,
) -> Dataset:
    """``P(y = 1 | x) = sigmoid(<w*, x>)``, ``x ~ N(0, I_dim)``, ``||w*|| = scale`` (see the module docstring)."""
    dim, scale = check_integer("dim", dim, minimum=1), check_nonnegative("scale", scale)
    sizes = _sizes(n_train, n_test, n_pool)
    w_star = scale * _direction(generator, dim)
    x, z = _examples(generator, sizes, dim)
    y = (ndtr(z) < expit(x @ w_star)).astype(np.int64)
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
    x, z = _examples(generator, sizes, dim)
    y = np.minimum(np.floor(num_classes * ndtr(z)), num_classes - 1).astype(np.int64)
    return _dataset("gaussian-mixture", means[y] + x, y, sizes, task="classification", num_classes=num_classes, dtype=dtype)
