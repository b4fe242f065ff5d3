"""CIFAR-10 from its *binary* distribution in a local directory (Krizhevsky, 2009).

``cifar-10-binary.tar.gz`` unpacks to ``data_batch_1.bin`` ... ``data_batch_5.bin`` and
``test_batch.bin``: records of 3073 bytes, a label byte (0..9) followed by 32x32 red, then green,
then blue pixel bytes in row-major order. Reading it needs no unpickling.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from stablesam.core.validation import UsageError
from stablesam.stability.datasets.dataset import Dataset, split_official, standardised_dataset
from stablesam.stability.datasets.files import locate_files, read_bytes

__all__ = ["CIFAR10_FILES", "load_cifar10", "read_cifar10_batch"]

CIFAR10_FILES = (*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin")

_SHAPE = (3, 32, 32)
_RECORD = 1 + 3 * 32 * 32


def read_cifar10_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 3, 32, 32)`` uint8 and labels ``(n,)`` int64 of one binary CIFAR-10 batch file."""
    path = Path(path)
    raw = read_bytes(path)
    if not raw or len(raw) % _RECORD:
        raise UsageError(
            f"{path}: a CIFAR-10 binary batch holds records of {_RECORD} bytes; the file has {len(raw)} bytes"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise UsageError(f"{path}: labels must lie in 0..9, found {int(labels.max())}")
    return records[:, 1:].reshape(-1, *_SHAPE), labels


def load_cifar10(
    data_dir: str | os.PathLike[str] | None,
    *,
    generator: np.random.Generator,
    n_train: int | None = None,
    n_test: int | None = None,
    n_pool: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """CIFAR-10 from ``data_dir`` (or its ``cifar-10-batches-bin`` subfolder).

    Expects the six files of ``CIFAR10_FILES``. The test set is drawn from ``test_batch.bin``, train
    and pool (1000 examples by default) from the five training batches. Images ``(3, 32, 32)`` are
    standardised per colour channel with the train set's statistics.
    """
    paths = locate_files("cifar10", data_dir, CIFAR10_FILES, subdirs=("cifar-10-batches-bin",))
    batches = [read_cifar10_batch(p) for p in paths[:5]]
    train = (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
    test = read_cifar10_batch(paths[5])
    splits = split_official(
        "cifar10", train, test, generator=generator, n_train=n_train, n_test=n_test, n_pool=n_pool, default_pool=1000
    )
    return standardised_dataset("cifar10", **splits, num_classes=10, dtype=dtype)
