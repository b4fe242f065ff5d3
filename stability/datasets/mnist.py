"""MNIST from its IDX files in a local directory (LeCun et al., 1998; http://yann.lecun.com/exdb/mnist/).

The IDX format: two zero bytes, a type code (0x08 unsigned byte, 0x09 signed byte, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions ``d``, then ``d`` big-endian
uint32 sizes and the data, big-endian, in row-major order. MNIST images are ``0x00000803``
(unsigned bytes, 3 dimensions: count, rows, columns) and labels ``0x00000801``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from stablesam.core.validation import UsageError
from stablesam.stability.datasets.dataset import Dataset, split_official, standardised_dataset
from stablesam.stability.datasets.files import locate_files, read_bytes

__all__ = ["MNIST_FILES", "load_mnist", "read_idx"]

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array stored in an IDX file (plain or gzip), in native byte order.

    Raises ``ValueError`` naming the file when the magic number is wrong or the size of the data
    disagrees with the header.
    """
    path = Path(path)
    raw = read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise UsageError(f"{path} is not an IDX file: magic number {raw[:4].hex() or 'missing'}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UsageError(f"{path}: IDX header of {ndim} dimensions is cut short ({len(raw)} bytes)")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + math.prod(shape) * dtype.itemsize  # Python integers: a huge header must not wrap around
    if len(raw) != expected:
        raise UsageError(
            f"{path}: the header promises shape {shape} ({expected} bytes) but the file has {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _read_mnist_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    for path, array, kind, ndim, magic in ((images_path, images, "images", 3, "0x00000803"),
                                           (labels_path, labels, "labels", 1, "0x00000801")):
        if array.dtype != np.uint8 or array.ndim != ndim:
            raise UsageError(
                f"{path}: expected MNIST {kind} (magic {magic}: unsigned bytes, {ndim} dimensions), "
                f"got {array.dtype} with {array.ndim} dimensions"
            )
    if len(images) != len(labels):
        raise UsageError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise UsageError(f"{labels_path}: labels must lie in 0..9, found {int(labels.max())}")
    return images[:, None], labels.astype(np.int64)


def load_mnist(
    data_dir: str | os.PathLike[str] | None,
    *,
    generator: np.random.Generator,
    n_train: int | None = None,
    n_test: int | None = None,
    n_pool: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """MNIST from ``data_dir`` (or its ``MNIST/raw`` subfolder, torchvision's layout).

    Expects the four files of ``MNIST_FILES``, each plain or gzip-compressed (``.gz``). The test set
    is drawn from the t10k files, train and pool (1000 examples by default) from the train files.
    Images have shape ``(1, rows, cols)`` and are standardised with the train set's mean and
    standard deviation.
    """
    paths = locate_files("mnist", data_dir, MNIST_FILES, subdirs=("MNIST/raw",), suffixes=("", ".gz"))
    train = _read_mnist_pair(paths[0], paths[1])
    test = _read_mnist_pair(paths[2], paths[3])
    if train[0].shape[1:] != test[0].shape[1:]:
        raise UsageError(f"MNIST train images {train[0].shape[2:]} and test images {test[0].shape[2:]} differ in size")
    splits = split_official(
        "mnist", train, test, generator=generator, n_train=n_train, n_test=n_test, n_pool=n_pool, default_pool=1000
    )
    return standardised_dataset("mnist", **splits, num_classes=10, dtype=dtype)
