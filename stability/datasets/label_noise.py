"""Label corruption: symmetric flips at a rate and fully shuffled labels (Zhang et al., 2017, arXiv:1611.03530)."""

from __future__ import annotations

import numpy as np
import torch

from stablesam.stability.datasets.dataset import check_numpy_generator
from stablesam.core.validation import UsageError, check_integer, check_probability

__all__ = ["flip_labels", "shuffle_labels"]


def _check_labels(y: torch.Tensor, num_classes: int | None = None) -> np.ndarray:
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or y.ndim != 1:
        kind = f"{type(y).__name__} {getattr(y, 'dtype', '')}".strip()
        raise UsageError(f"y must be a 1-D int64 tensor of class labels, got {kind}")
    labels = y.cpu().numpy()
    if num_classes is not None and labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise UsageError(f"labels must lie in [0, {num_classes}), found {labels.min()}..{labels.max()}")
    return labels


def flip_labels(y: torch.Tensor, rate: float, *, generator: np.random.Generator, num_classes: int) -> torch.Tensor:
    """Symmetric label noise: each label is flipped, independently with probability ``rate``, to a
    class drawn uniformly from the ``num_classes - 1`` *other* classes.

    ``P(y~ = k | y) = (1 - rate) [k = y] + rate / (K - 1) [k != y]``. The generator is advanced by the
    same amount whatever the rate (one uniform and one offset per label), so the draws that follow
    do not depend on it.

    Example:
        >>> import numpy as np, torch
        >>> y = torch.zeros(6, dtype=torch.int64)
        >>> flip_labels(y, 1.0, generator=np.random.default_rng(0), num_classes=3).ne(0).all().item()
        True
    """
    rate = check_probability("rate", rate)
    num_classes = check_integer("num_classes", num_classes, minimum=2)
    labels = _check_labels(y, num_classes)
    generator = check_numpy_generator(generator)
    flip = generator.random(labels.size) < rate
    offset = generator.integers(1, num_classes, size=labels.size)
    flipped = np.where(flip, (labels + offset) % num_classes, labels)
    return torch.from_numpy(flipped).to(y.device)


def shuffle_labels(y: torch.Tensor, *, generator: np.random.Generator) -> torch.Tensor:
    """Fully shuffled labels: ``y[pi]`` for a uniformly random permutation ``pi``, so the labels keep
    their class counts but carry no information about the inputs."""
    _check_labels(y)
    order = check_numpy_generator(generator).permutation(y.shape[0])
    return y[torch.from_numpy(order).to(y.device)]
