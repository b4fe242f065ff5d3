"""The training sets of every twin, stored once: shared inputs plus one replacement row per pair.

Pair ``p`` trains model ``2p`` on ``S`` and model ``2p + 1`` on ``S'``. Rather than stacking
``2P`` copies of the training set, the inputs are stored once with the ``P`` replacement examples
appended (``x`` has ``n + P`` rows) and ``rows[m, k]`` names the row of ``x`` that is model ``m``'s
``k``-th training example (``k`` itself except at a pair's replaced index). Labels are stored per
model, ``y[m, k]``, because label noise is drawn per seed. A mini-batch of indices ``idx`` (shape
``(M, B)``, identical within a pair) is then ``x[rows.gather(1, idx)]``, ``y.gather(1, idx)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from stablesam.core.validation import UsageError

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
    y_clean: torch.Tensor | None = None  # uncorrupted labels of every model's training set (with label noise only)

    @property
    def n_train(self) -> int:
        return self.rows.shape[1]

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs ``(M, B, *input_shape)`` and labels ``(M, B)`` of the per-model indices ``idx``."""
        return self.x[self.rows.gather(1, idx)], self.y.gather(1, idx)


def build_twin_data(dataset, config, *, device: torch.device, dtype: torch.dtype) -> TwinData:
    """Place the neighbouring training sets of every pair of ``config`` on ``device``.

    Pair ``(seed, i)``: the replacement is pool example ``u``, drawn uniformly from a generator of
    ``(seed, i)``; label noise (``config.label_noise`` flips, or ``shuffled_labels``) comes from a
    generator of ``seed`` alone, so every pair of a seed shares the same noisy ``S``, and ``S'``
    carries the same noise except at ``i`` (``stablesam.stability.data.neighbouring``).
    """
    from stablesam.stability.data import neighbouring

    n = dataset.n_train
    if dataset.task != "classification" and (config.label_noise > 0 or config.shuffled_labels):
        raise UsageError(f"label noise applies to classification only; dataset {dataset.name!r} is {dataset.task}")
    for index in config.replaced_indices:
        if index >= n:
            raise UsageError(f"replaced index {index} is out of range: the training set of {dataset.name!r} "
                             f"has {n} examples (allowed 0..{n - 1})")
    replacement_x, labels, rows, clean = [], [], [], []
    for seed, index in config.pairs:
        replacement = int(np.random.default_rng(stream_seed(seed, STREAM_REPLACEMENT, index)).integers(dataset.n_pool))
        pair = neighbouring(dataset, index, generator=np.random.default_rng(stream_seed(seed, STREAM_LABEL_NOISE)),
                            control=config.control, label_noise=config.label_noise, shuffle=config.shuffled_labels,
                            replacement=replacement)
        row_b = torch.arange(n)
        if not config.control:
            row_b[index] = n + len(replacement_x)
            replacement_x.append(pair.x_b[index])
        rows += [torch.arange(n), row_b]
        labels += [pair.y_a, pair.y_b]
        clean_b = dataset.y_train.clone()
        if not config.control:
            clean_b[index] = dataset.y_pool[replacement]
        clean += [dataset.y_train, clean_b]
    x = dataset.x_train
    if replacement_x:
        x = torch.cat([x, torch.stack(replacement_x)])
    label_dtype = torch.long if dataset.task == "classification" else dtype
    return TwinData(
        x=x.to(device=device, dtype=dtype),
        rows=torch.stack(rows).to(device),
        y=torch.stack(labels).to(device=device, dtype=label_dtype),
        x_test=dataset.x_test.to(device=device, dtype=dtype),
        y_test=dataset.y_test.to(device=device, dtype=label_dtype),
        task=dataset.task,
        num_classes=dataset.num_classes or 0,
        input_shape=tuple(dataset.input_shape),
        y_clean=(torch.stack(clean).to(device=device, dtype=label_dtype)
                 if config.label_noise > 0 or config.shuffled_labels else None),
    )
