"""Data sets, file loaders (on small files written here in the real formats), neighbours and label noise."""

from __future__ import annotations

import gzip
import importlib.util
import random
import struct
import sys

import numpy as np
import pytest
import torch

from stablesam.stability.data import (
    CIFAR10_FILES,
    DATASETS,
    MNIST_FILES,
    flip_labels,
    load_dataset,
    neighbouring,
    read_cifar10_batch,
    read_idx,
    shuffle_labels,
)
from stablesam.stability.datasets.dataset import split_examples
from stablesam.stability.datasets.embedded import _generate_mnist1d

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B, np.dtype(np.int32): 0x0C,
             np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def write_idx(path, array: np.ndarray, *, compress: bool = False) -> None:
    """An IDX file as specified on yann.lecun.com/exdb/mnist: 0, 0, type code, ndim, big-endian sizes and data."""
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)


def marked_images(labels: np.ndarray, ids: np.ndarray, shape=(28, 28)) -> np.ndarray:
    """Images whose label is the row of a 255 pixel in column 0 and whose identity is pixel (-1, -1)."""
    images = np.zeros((len(labels), *shape), dtype=np.uint8)
    images[np.arange(len(labels)), labels, 0] = 255
    images[:, -1, -1] = ids
    return images


def write_mnist(folder, n_train: int, n_test: int, *, compress_train: bool) -> None:
    labels = np.arange(n_train + n_test) % 10
    ids = np.arange(1, n_train + n_test + 1, dtype=np.uint8)
    images = marked_images(labels, ids)
    for stem, array, compress in (
        ("train-images-idx3-ubyte", images[:n_train], compress_train),
        ("train-labels-idx1-ubyte", labels[:n_train].astype(np.uint8), compress_train),
        ("t10k-images-idx3-ubyte", images[n_train:], False),
        ("t10k-labels-idx1-ubyte", labels[n_train:].astype(np.uint8), False),
    ):
        write_idx(folder / (stem + (".gz" if compress else "")), array, compress=compress)


def write_cifar_batch(path, labels: np.ndarray, ids: np.ndarray) -> None:
    """Records of a label byte and 3x32x32 pixel bytes: red marks row ``label``, green column ``label``,
    blue pixel (31, 31) holds the identity."""
    pixels = np.zeros((len(labels), 3, 32, 32), dtype=np.uint8)
    pixels[np.arange(len(labels)), 0, labels, 0] = 255
    pixels[np.arange(len(labels)), 1, 0, labels] = 255
    pixels[:, 2, 31, 31] = ids
    records = np.concatenate([labels.astype(np.uint8)[:, None], pixels.reshape(len(labels), -1)], axis=1)
    path.write_bytes(records.tobytes())


def write_cifar(folder, per_batch: int = 4, n_test: int = 6) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for b, name in enumerate(CIFAR10_FILES):
        n = n_test if name == "test_batch.bin" else per_batch
        ids = np.arange(n) + 1 + 10 * b
        write_cifar_batch(folder / name, (ids * 7) % 10, ids.astype(np.uint8))


def identities(x: torch.Tensor, pixel: tuple[int, ...]) -> set[float]:
    return set(x[(slice(None), *pixel)].tolist())


# ---------------------------------------------------------------- IDX and MNIST


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_every_type(tmp_path, dtype, compress):
    array = (np.arange(2 * 3 * 5).reshape(2, 3, 5) - 7).astype(dtype)
    write_idx(tmp_path / "a.idx", array, compress=compress)
    read = read_idx(tmp_path / "a.idx")
    assert read.dtype == np.dtype(dtype) and read.dtype.isnative
    np.testing.assert_array_equal(read, array)


def test_read_idx_rejects_bad_magic_and_sizes(tmp_path):
    path = tmp_path / "bad"
    for content, match in [
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "magic number 01000801"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "magic number 00000701"),
        (b"\x00\x00\x08\x02\x00\x00", "cut short"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 3) + b"\x00\x01", r"shape \(3,\) \(11 bytes\) but the file has 10"),
    ]:
        path.write_bytes(content)
        with pytest.raises(ValueError, match=match) as error:
            read_idx(path)
        assert str(path) in str(error.value)


def test_mnist_loader_reads_plain_and_gzip_idx(tmp_path):
    write_mnist(tmp_path, n_train=40, n_test=12, compress_train=True)
    data = load_dataset("mnist", generator=rng(), data_dir=tmp_path, n_train=30, n_pool=8, n_test=10)
    assert (data.name, data.task, data.num_classes, data.input_shape) == ("mnist", "classification", 10, (1, 28, 28))
    assert [len(t) for t in (data.x_train, data.x_test, data.x_pool)] == [30, 10, 8]
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test), (data.x_pool, data.y_pool)):
        # Standardising is increasing, so the 255 pixel stays the maximum of column 0: its row is the label.
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        torch.testing.assert_close(x[:, 0, :, 0].argmax(dim=1), y, rtol=0, atol=0)
    train_ids, pool_ids, test_ids = (identities(x, (0, -1, -1)) for x in (data.x_train, data.x_pool, data.x_test))
    assert len(train_ids) == 30 and len(pool_ids) == 8 and not train_ids & pool_ids
    # train statistics standardise the train split
    assert abs(data.x_train.double().mean().item()) < 1e-6
    assert abs(data.x_train.double().std(unbiased=False).item() - 1) < 1e-5
    # the test split comes from the t10k files: its identities (41..52) exceed every train identity
    assert min(test_ids) > max(train_ids | pool_ids)


def test_mnist_loader_finds_torchvision_layout_and_names_missing_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_mnist(raw, n_train=20, n_test=5, compress_train=False)
    assert load_dataset("mnist", generator=rng(), data_dir=tmp_path, n_pool=4).n_train == 16
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte not found") as error:
        load_dataset("mnist", generator=rng(), data_dir=tmp_path)
    assert str(tmp_path) in str(error.value) and all(name in str(error.value) for name in MNIST_FILES)


def test_mnist_loader_rejects_inconsistent_files(tmp_path):
    write_mnist(tmp_path, n_train=20, n_test=5, compress_train=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(19, dtype=np.uint8))
    with pytest.raises(ValueError, match="holds 20 images but .* holds 19 labels"):
        load_dataset("mnist", generator=rng(), data_dir=tmp_path, n_pool=2)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(20, 10, dtype=np.uint8))
    with pytest.raises(ValueError, match="labels must lie in 0..9, found 10"):
        load_dataset("mnist", generator=rng(), data_dir=tmp_path, n_pool=2)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((20, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match="0x00000801"):
        load_dataset("mnist", generator=rng(), data_dir=tmp_path, n_pool=2)


# ---------------------------------------------------------------- CIFAR-10 binary


def test_cifar10_batch_parsing_follows_the_binary_layout(tmp_path):
    labels, ids = np.array([3, 0, 9]), np.array([5, 6, 7], dtype=np.uint8)
    write_cifar_batch(tmp_path / "b.bin", labels, ids)
    images, read_labels = read_cifar10_batch(tmp_path / "b.bin")
    assert images.shape == (3, 3, 32, 32) and images.dtype == np.uint8
    np.testing.assert_array_equal(read_labels, labels)
    np.testing.assert_array_equal(images[:, 0, :, 0].argmax(axis=1), labels)  # red: row
    np.testing.assert_array_equal(images[:, 1, 0, :].argmax(axis=1), labels)  # green: column
    np.testing.assert_array_equal(images[:, 2, 31, 31], ids)


def test_cifar10_loader_splits_batches_and_standardises_per_channel(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-bin")
    data = load_dataset("cifar10", generator=rng(1), data_dir=tmp_path, n_pool=5, dtype=torch.float64)
    assert data.input_shape == (3, 32, 32) and [len(data.x_train), len(data.x_pool), len(data.x_test)] == [15, 5, 6]
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test), (data.x_pool, data.y_pool)):
        torch.testing.assert_close(x[:, 0, :, 0].argmax(dim=1), y, rtol=0, atol=0)
        torch.testing.assert_close(x[:, 1, 0, :].argmax(dim=1), y, rtol=0, atol=0)
    zeros = torch.zeros(3, dtype=torch.float64)
    torch.testing.assert_close(data.x_train.mean(dim=(0, 2, 3)), zeros, rtol=0, atol=1e-12)
    torch.testing.assert_close(data.x_train.std(dim=(0, 2, 3), unbiased=False), torch.ones(3, dtype=torch.float64))
    train_ids, pool_ids, test_ids = (identities(x, (2, 31, 31)) for x in (data.x_train, data.x_pool, data.x_test))
    assert len(train_ids | pool_ids) == 20 and min(test_ids) > max(train_ids | pool_ids)


def test_cifar10_loader_rejects_bad_files(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "data_batch_2.bin").write_bytes(b"\x00" * 3072)
    with pytest.raises(ValueError, match="records of 3073 bytes; the file has 3072 bytes"):
        load_dataset("cifar10", generator=rng(), data_dir=tmp_path)
    (tmp_path / "data_batch_2.bin").unlink()
    with pytest.raises(ValueError, match="data_batch_2.bin not found") as error:
        load_dataset("cifar10", generator=rng(), data_dir=tmp_path)
    assert "test_batch.bin" in str(error.value)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_file_datasets_need_an_existing_directory(tmp_path, name):
    with pytest.raises(ValueError, match=r"pass --data-dir \(data_dir= from Python\)"):
        load_dataset(name, generator=rng())
    with pytest.raises(ValueError, match=f"data_dir '{tmp_path / 'nowhere'}'.*is not a directory"):
        load_dataset(name, generator=rng(), data_dir=tmp_path / "nowhere")


# ---------------------------------------------------------------- embedded and synthetic sources


def test_digits_is_split_standardised_and_reproducible():
    data = load_dataset("digits", generator=rng(3))
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10 and data.num_outputs == 10
    assert len(data.x_train) + len(data.x_test) + len(data.x_pool) == 1797
    assert abs(data.x_train.double().mean().item()) < 1e-6
    assert abs(data.x_train.double().std(unbiased=False).item() - 1) < 1e-5
    again, other = load_dataset("digits", generator=rng(3)), load_dataset("digits", generator=rng(4))
    assert all(torch.equal(getattr(data, f), getattr(again, f)) for f in ("x_train", "y_train", "x_pool", "y_test"))
    assert not torch.equal(data.y_train, other.y_train)
    assert load_dataset("digits", generator=rng(3), n_train=100, dtype=torch.float64).x_train.shape == (100, 1, 8, 8)
    moved = data.to("meta")
    assert moved.x_pool.device.type == "meta" and moved.y_test.device.type == "meta" and moved.name == "digits"


def test_digits_are_parsed_once_per_process_and_a_caller_cannot_alter_them(monkeypatch):
    import sklearn.datasets

    from stablesam.stability.datasets import embedded

    calls = []
    original = sklearn.datasets.load_digits
    monkeypatch.setattr(sklearn.datasets, "load_digits", lambda *a, **k: calls.append(1) or original(*a, **k))
    embedded._digits_arrays.cache_clear()
    first = load_dataset("digits", generator=rng(0))
    loaded = first.x_train.clone()
    first.x_train.add_(1.0)  # a run's tensors are its own
    again = load_dataset("digits", generator=rng(0))
    assert len(calls) == 1 and torch.equal(loaded, again.x_train)
    with pytest.raises(ValueError, match="read-only"):
        embedded._digits_arrays()[0][0, 0, 0, 0] = 1.0
    embedded._digits_arrays.cache_clear()  # the next test parses its own copy


def test_one_permutation_splits_into_disjoint_train_test_and_pool():
    ids = np.arange(50)
    splits = split_examples(
        "ids", ids, ids, generator=rng(), n_train=None, n_test=10, n_pool=5, default_test=1, default_pool=1
    )
    sets = [set(splits[s][0].tolist()) for s in ("train", "test", "pool")]
    assert [len(s) for s in sets] == [35, 10, 5] and set().union(*sets) == set(range(50))


def affinely_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """``a = s b + t`` for some s > 0, t (correlation 1): equal up to a standardisation of one channel."""
    a, b = a.double().flatten(), b.double().flatten()
    a, b = a - a.mean(), b - b.mean()
    return bool((a @ b) / (a.norm() * b.norm()) > 1 - 1e-9)


@pytest.mark.parametrize("name", ["digits", "linear-regression", "logistic-regression", "gaussian-mixture", "mnist"])
def test_a_larger_train_set_extends_the_smaller_and_keeps_test_and_pool(tmp_path, name):
    write_mnist(tmp_path, n_train=40, n_test=12, compress_train=False)
    small, large = (
        load_dataset(name, generator=rng(8), data_dir=tmp_path, n_train=n, n_test=10, n_pool=5) for n in (20, 30)
    )
    # Image features are standardised with train statistics, which move with n_train: compare up to that map.
    same = affinely_equal if name in ("digits", "mnist") else torch.equal
    assert same(large.x_train[:20], small.x_train) and torch.equal(large.y_train[:20], small.y_train)
    for split in ("test", "pool"):
        assert same(getattr(large, f"x_{split}"), getattr(small, f"x_{split}"))
        assert torch.equal(getattr(large, f"y_{split}"), getattr(small, f"y_{split}"))


def test_synthetic_linear_regression_follows_its_data_model():
    data = load_dataset("linear-regression", generator=rng(), n_train=20000, dim=5, noise=0.5, dtype=torch.float64)
    assert data.task == "regression" and data.num_classes is None and data.y_train.dtype == torch.float64
    x, y = data.x_train.numpy(), data.y_train.numpy()
    w_hat = np.linalg.lstsq(x, y, rcond=None)[0]
    # ||w*|| = 1 and noise sd 0.5: least squares recovers both to O(1/sqrt(n)) ~ 0.007
    assert abs(np.linalg.norm(w_hat) - 1) < 0.03
    assert abs(np.std(y - x @ w_hat) - 0.5) < 0.02


def test_synthetic_classification_problems_follow_their_data_models():
    mixture = load_dataset("gaussian-mixture", generator=rng(), n_train=20000, num_classes=3, separation=2.0, dim=4)
    assert mixture.num_classes == 3 and set(mixture.y_train.tolist()) == {0, 1, 2}
    means = torch.stack([mixture.x_train[mixture.y_train == k].double().mean(0) for k in range(3)])
    torch.testing.assert_close(means.norm(dim=1), torch.full((3,), 2.0, dtype=torch.float64), rtol=0, atol=0.1)
    logistic = load_dataset("logistic-regression", generator=rng(), n_train=4000, scale=0.0)
    # scale 0: P(y = 1 | x) = 1/2 whatever x; the 4000 labels are fair coin flips (5 sd = 0.04)
    assert logistic.num_classes == 2 and abs(logistic.y_train.double().mean().item() - 0.5) < 0.04


@pytest.mark.skipif(importlib.util.find_spec("mnist1d") is None, reason="mnist1d is not installed")
def test_mnist1d_is_generated_locally_without_touching_global_random_state():
    _generate_mnist1d.cache_clear()  # generate here, not in an earlier test
    np.random.seed(123)
    random.seed(7)
    numpy_before, python_before = np.random.get_state(), random.getstate()
    data = load_dataset("mnist1d", generator=rng(), n_train=500)
    numpy_after = np.random.get_state()
    assert random.getstate() == python_before
    assert numpy_after[0] == numpy_before[0] and np.array_equal(numpy_after[1], numpy_before[1])
    assert numpy_after[2:] == numpy_before[2:]
    assert data.input_shape == (1, 40) and len(data.x_test) == 1000 and len(data.x_pool) == 400
    assert set(data.y_train.tolist()) == set(range(10))
    again = load_dataset("mnist1d", generator=rng(), n_train=500)
    torch.testing.assert_close(again.x_train, data.x_train, rtol=0, atol=0)


def test_mnist1d_without_the_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ValueError, match="pip install mnist1d"):
        load_dataset("mnist1d", generator=rng())


def test_load_dataset_rejects_bad_arguments():
    with pytest.raises(ValueError, match="'imagenet'"):
        load_dataset("imagenet", generator=rng())
    with pytest.raises(ValueError, match="n_train=2000"):
        load_dataset("digits", generator=rng(), n_train=2000)
    with pytest.raises(ValueError, match="n_pool must be an integer >= 0, got -1"):
        load_dataset("digits", generator=rng(), n_pool=-1)
    assert load_dataset("digits", generator=rng(), n_pool=0).n_pool == 0  # no pool: no neighbouring sets
    with pytest.raises(ValueError, match="unknown option.*'dim'.*'digits'"):
        load_dataset("digits", generator=rng(), dim=3)
    with pytest.raises(ValueError, match="noise must be >= 0, got -1"):
        load_dataset("linear-regression", generator=rng(), noise=-1)
    with pytest.raises(ValueError, match="dtype"):
        load_dataset("digits", generator=rng(), dtype=torch.int64)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        load_dataset("digits", generator=0)
    synthetic = {"linear-regression", "logistic-regression", "gaussian-mixture"}
    assert set(DATASETS) == {"digits", "mnist1d", "mnist", "cifar10"} | synthetic


# ---------------------------------------------------------------- neighbouring sets


@pytest.fixture(scope="module")
def mixture():
    return load_dataset("gaussian-mixture", generator=rng(0), n_train=200, n_pool=20, n_test=10)


def differing_rows(a: torch.Tensor, b: torch.Tensor) -> list[int]:
    return (a != b).reshape(len(a), -1).any(dim=1).nonzero().flatten().tolist()


def test_neighbours_differ_in_exactly_the_replaced_example(mixture):
    pair = neighbouring(mixture, 17, generator=rng(5))
    assert pair.index == 17 and 0 <= pair.replacement < 20
    assert differing_rows(pair.x_a, pair.x_b) == [17]
    assert torch.equal(pair.x_b[17], mixture.x_pool[pair.replacement])
    assert torch.equal(pair.y_b[17], mixture.y_pool[pair.replacement])
    assert torch.equal(pair.x_a, mixture.x_train) and torch.equal(pair.y_a, mixture.y_train)
    assert differing_rows(pair.y_a[:, None], pair.y_b[:, None]) in ([], [17])
    assert neighbouring(mixture, 17, generator=rng(0), replacement=3).replacement == 3


def test_control_mode_gives_identical_sets_and_the_same_s(mixture):
    control = neighbouring(mixture, 4, generator=rng(9), control=True, label_noise=0.3)
    assert control.replacement is None and control.x_b is control.x_a and control.y_b is control.y_a
    real = neighbouring(mixture, 4, generator=rng(9), label_noise=0.3)
    assert torch.equal(real.x_a, control.x_a) and torch.equal(real.y_a, control.y_a)


@pytest.mark.parametrize("corruption", [{"label_noise": 0.5}, {"shuffle": True}])
def test_label_corruption_is_shared_except_at_the_replaced_index(mixture, corruption):
    pair = neighbouring(mixture, 0, generator=rng(2), **corruption)
    assert differing_rows(pair.x_a, pair.x_b) == [0]
    assert differing_rows(pair.y_a[1:, None], pair.y_b[1:, None]) == []
    assert not torch.equal(pair.y_a, mixture.y_train)  # corrupted (P[unchanged] < 1e-20 for 200 labels)
    if "shuffle" in corruption:
        assert torch.equal(pair.y_a.sort().values, mixture.y_train.sort().values)
    again = neighbouring(mixture, 0, generator=rng(2), **corruption)
    assert all(torch.equal(u, v) for u, v in zip(pair[:4], again[:4])) and pair.replacement == again.replacement


def test_neighbouring_rejects_bad_arguments(mixture):
    with pytest.raises(ValueError, match=r"index must lie in \[0, 199\].*got 200"):
        neighbouring(mixture, 200, generator=rng())
    with pytest.raises(ValueError, match="index must be an integer >= 0, got -1"):
        neighbouring(mixture, -1, generator=rng())
    with pytest.raises(ValueError, match="replacement must lie in"):
        neighbouring(mixture, 0, generator=rng(), replacement=20)
    with pytest.raises(ValueError, match="label_noise must lie in \\[0, 1\\], got 1.5"):
        neighbouring(mixture, 0, generator=rng(), label_noise=1.5)
    with pytest.raises(ValueError, match="not both"):
        neighbouring(mixture, 0, generator=rng(), label_noise=0.1, shuffle=True)
    regression = load_dataset("linear-regression", generator=rng(), n_train=10, n_test=2, n_pool=2)
    with pytest.raises(ValueError, match="classification"):
        neighbouring(regression, 0, generator=rng(), label_noise=0.1)


# ---------------------------------------------------------------- label noise


def test_flip_labels_flips_at_the_rate_to_uniformly_chosen_other_classes():
    n, rate, classes = 40000, 0.3, 5
    y = torch.from_numpy(rng(1).integers(classes, size=n))
    noisy = flip_labels(y, rate, generator=rng(2), num_classes=classes)
    flipped = noisy != y
    # Binomial(n, rate): sd = sqrt(n rate (1 - rate)) ~ 92 flips; allow 5 sd
    assert abs(flipped.sum().item() - rate * n) < 5 * np.sqrt(n * rate * (1 - rate))
    # each flip lands on one of the K - 1 other classes uniformly: offsets 1..4 equally likely
    offsets = ((noisy - y) % classes)[flipped]
    counts = torch.bincount(offsets, minlength=classes)[1:].double()
    expected = flipped.sum().item() / (classes - 1)
    assert counts.sub(expected).abs().max().item() < 5 * np.sqrt(expected)
    assert torch.equal(flip_labels(y, 0.0, generator=rng(3), num_classes=classes), y)
    assert (flip_labels(y, 1.0, generator=rng(3), num_classes=classes) != y).all()
    assert torch.equal(noisy, flip_labels(y, rate, generator=rng(2), num_classes=classes))


def test_shuffle_labels_permutes():
    y = torch.arange(100) % 7
    shuffled = shuffle_labels(y, generator=rng())
    assert torch.equal(shuffled.sort().values, y.sort().values) and not torch.equal(shuffled, y)


def test_label_noise_rejects_bad_arguments():
    y = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match=r"rate must lie in \[0, 1\], got -0.1"):
        flip_labels(y, -0.1, generator=rng(), num_classes=3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        flip_labels(y, 0.1, generator=rng(), num_classes=2)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2, got 1"):
        flip_labels(y, 0.1, generator=rng(), num_classes=1)
    with pytest.raises(TypeError, match="int64"):
        shuffle_labels(y.float(), generator=rng())
