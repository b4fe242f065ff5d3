"""Neighbouring training sets ``S`` and ``S'`` for the twin-model stability protocol (docs/theory.md §6).

``S' = S`` with example ``i`` replaced by a fresh example from the dataset's held-out pool, the
setting of uniform stability (Bousquet & Elisseeff, 2002; Hardt, Recht & Singer, 2016).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from stablesam.stability.datasets.dataset import Dataset, check_numpy_generator
from stablesam.stability.datasets.label_noise import flip_labels, shuffle_labels
from stablesam.core.validation import UsageError, check_integer, check_probability

__all__ = ["NeighbouringPair", "neighbouring"]


class NeighbouringPair(NamedTuple):
    """Two training sets that differ at most in example ``index``.

    ``x_b[index], y_b[index]`` is pool example ``replacement`` (with its label corrupted like the rest
    when label noise is on); every other example of ``S'`` equals that of ``S``. In control mode
    ``S' = S`` (``x_b is x_a``, ``y_b is y_a``) and ``replacement`` is ``None``.
    """

    x_a: torch.Tensor
    y_a: torch.Tensor
    x_b: torch.Tensor
    y_b: torch.Tensor
    index: int
    replacement: int | None


def neighbouring(
    dataset: Dataset,
    index: int,
    *,
    generator: np.random.Generator,
    control: bool = False,
    label_noise: float = 0.0,
    shuffle: bool = False,
    replacement: int | None = None,
) -> NeighbouringPair:
    """The neighbouring training sets ``S`` (the train split) and ``S'`` (``S`` with ``z_index`` replaced).

    Draws, in this order from ``generator``: the pool example that replaces ``z_index`` (uniform
    over the pool, unless ``replacement`` names it); the corruption of ``S``'s labels; the corrupted
    label of the replacement. Corruption is either symmetric flips at rate ``label_noise``
    (:func:`flip_labels`; the replacement's label is flipped at the same rate, as a fresh draw from
    the noisy source) or, with ``shuffle=True``, a random permutation of ``S``'s labels
    (:func:`shuffle_labels`; the replacement gets the label of a uniformly drawn example of the
    shuffled ``S``, which is independent of its input). So both sets carry the *same* corruption
    except at ``index``. Control mode makes the same draws, so its ``S`` equals the ``S`` of the
    non-control pair from the same generator state, and returns ``S' = S``.

    Example:
        >>> import numpy as np
        >>> from stablesam.stability.data import load_dataset
        >>> data = load_dataset("digits", generator=np.random.default_rng(0), n_train=50)
        >>> pair = neighbouring(data, 3, generator=np.random.default_rng(1))
        >>> (pair.x_a != pair.x_b).flatten(1).any(1).nonzero().flatten().tolist()
        [3]
    """
    generator = check_numpy_generator(generator)
    if not isinstance(dataset, Dataset):
        raise UsageError(f"dataset must be a stablesam.stability.data.Dataset, got {type(dataset).__name__}")
    n = dataset.n_train
    index = check_integer("index", index, minimum=0)
    if index >= n:
        raise UsageError(f"index must lie in [0, {n - 1}] (the train set has {n} examples), got {index}")
    if dataset.n_pool == 0:
        raise UsageError(f"dataset {dataset.name!r} has an empty pool; neighbouring sets need a replacement example")
    label_noise = check_probability("label_noise", label_noise)
    corrupted = label_noise > 0 or shuffle
    if corrupted and dataset.task != "classification":
        raise UsageError(f"label noise needs a classification dataset; {dataset.name!r} is {dataset.task}")
    if label_noise > 0 and shuffle:
        raise UsageError(f"choose label_noise or shuffle, not both; got label_noise={label_noise} and shuffle=True")

    if replacement is None:
        replacement = int(generator.integers(dataset.n_pool))
    else:
        replacement = check_integer("replacement", replacement, minimum=0)
        if replacement >= dataset.n_pool:
            raise UsageError(f"replacement must lie in [0, {dataset.n_pool - 1}] (the pool size), got {replacement}")

    y_a, y_new = dataset.y_train, dataset.y_pool[replacement : replacement + 1]
    if label_noise > 0:
        y_a = flip_labels(y_a, label_noise, generator=generator, num_classes=dataset.num_classes)
        y_new = flip_labels(y_new, label_noise, generator=generator, num_classes=dataset.num_classes)
    elif shuffle:
        y_a = shuffle_labels(y_a, generator=generator)
        donor = int(generator.integers(n))
        y_new = y_a[donor : donor + 1]

    x_a = dataset.x_train
    if control:
        return NeighbouringPair(x_a, y_a, x_a, y_a, index, None)
    x_b, y_b = x_a.clone(), y_a.clone()
    x_b[index] = dataset.x_pool[replacement]
    y_b[index] = y_new[0]
    return NeighbouringPair(x_a, y_a, x_b, y_b, index, replacement)
