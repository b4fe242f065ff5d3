"""The training sets of every twin, stored once: shared inputs plus one replacement row per pair.

Pair ``p`` trains model ``2p`` on ``S`` and model ``2p + 1`` on ``S'``. Rather than stacking
``2P`` copies of the training set, the inputs are stored once with the ``P`` replacement examples
appended (``x`` has ``n + P`` rows) and ``rows[m, k]`` names the row of ``x`` that is model ``m``'s
``k``-th training example (``k`` itself except at a pair's replaced index). Labels are stored per
model, ``y[m, k]``, because label noise is drawn per seed. A mini-batch of indices ``idx`` (shape
``(M, B)``, identical within a pair) is then ``x[rows.gather(1, idx)]``, ``y.gather(1, idx)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["TwinData", "build_twin_data", "stream_seed"]

# Independent random streams derived from a pair's seed.
STREAM_INIT, STREAM_BATCHES, STREAM_LABEL_NOISE, STREAM_REPLACEMENT = range(4)


def stream_seed(seed: int, stream: int, *extra: int) -> int:
    """A 63-bit seed for ``stream`` of ``seed`` (``numpy.random.SeedSequence``), stable across versions."""
    state = np.random.SeedSequence([seed, stream, *extra]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


@dataclass
class TwinData:
    """Device tensors of a population's data (see the module docstring)."""

    x: torch.Tensor
    rows: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    task: str
    num_classes: int
    input_shape: tuple[int, ...]

    @property
    def n_train(self) -> int:
        return self.rows.shape[1]

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs ``(M, B, *input_shape)`` and labels ``(M, B)`` of the per-model indices ``idx``."""
        return self.x[self.rows.gather(1, idx)], self.y.gather(1, idx)


def _noisy_labels(dataset, config, seed: int):
    """Training and pool labels after the configured label noise (drawn from ``seed``)."""
    from stability.data import flip_labels, shuffle_labels

    if config.shuffled_labels:
        return (shuffle_labels(dataset.y_train, generator=np.random.default_rng(stream_seed(seed, STREAM_LABEL_NOISE, 0))),
                shuffle_labels(dataset.y_pool, generator=np.random.default_rng(stream_seed(seed, STREAM_LABEL_NOISE, 1))))
    if config.label_noise > 0:
        return (flip_labels(dataset.y_train, config.label_noise, dataset.num_classes,
                            generator=np.random.default_rng(stream_seed(seed, STREAM_LABEL_NOISE, 0))),
                flip_labels(dataset.y_pool, config.label_noise, dataset.num_classes,
                            generator=np.random.default_rng(stream_seed(seed, STREAM_LABEL_NOISE, 1))))
    return dataset.y_train, dataset.y_pool


def build_twin_data(dataset, config, *, device: torch.device, dtype: torch.dtype) -> TwinData:
    """Place the neighbouring training sets of every pair of ``config`` on ``device``.

    Label noise (``config.label_noise`` flips, or ``shuffled_labels``) is drawn once per seed and
    applied to ``S`` and to the pool, so ``S`` and ``S'`` share it except at the replaced index,
    whose fresh example comes from the (equally noisy) pool.
    """
    from stability.data import neighbouring

    n = len(dataset.y_train)
    if dataset.task != "classification" and (config.label_noise > 0 or config.shuffled_labels):
        raise ValueError(f"label noise applies to classification only; dataset {dataset.name!r} is {dataset.task}")
    for index in config.replaced_indices:
        if index >= n:
            raise ValueError(f"replaced index {index} is out of range: the training set of {dataset.name!r} "
                             f"has {n} examples (allowed 0..{n - 1})")
    label_dtype = torch.long if dataset.task == "classification" else dtype
    replacement_x, labels, rows = [], [], []
    noisy_by_seed = {}
    for seed, index in config.pairs:
        if seed not in noisy_by_seed:
            y_train, y_pool = _noisy_labels(dataset, config, seed)
            noisy_by_seed[seed] = dataclasses.replace(dataset, y_train=y_train, y_pool=y_pool)
        noisy = noisy_by_seed[seed]
        (x_a, y_a), (x_b, y_b) = neighbouring(
            noisy, index, generator=np.random.default_rng(stream_seed(seed, STREAM_REPLACEMENT, index)),
            control=config.control)
        row_b = np.arange(n)
        if not config.control:
            row_b[index] = n + len(replacement_x)
            replacement_x.append(np.asarray(x_b[index]))
        rows += [np.arange(n), row_b]
        labels += [np.asarray(y_a), np.asarray(y_b)]
    x = np.asarray(dataset.x_train)
    if replacement_x:
        x = np.concatenate([x, np.stack(replacement_x).astype(x.dtype, copy=False)])
    as_x = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype).to(device)  # noqa: E731
    return TwinData(
        x=as_x(x),
        rows=torch.as_tensor(np.stack(rows), dtype=torch.long).to(device),
        y=torch.as_tensor(np.stack(labels)).to(device=device, dtype=label_dtype),
        x_test=as_x(dataset.x_test),
        y_test=torch.as_tensor(np.asarray(dataset.y_test)).to(device=device, dtype=label_dtype),
        task=dataset.task,
        num_classes=int(dataset.num_classes),
        input_shape=tuple(dataset.input_shape),
    )
