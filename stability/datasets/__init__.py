"""The data sources of the twin harness, one per module; the public entry point is :mod:`stablesam.stability.data`."""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so a light
# path (``stablesam --help``, reading a config) does not import torch.
_EXPORTS = {
    **dict.fromkeys(("CIFAR10_FILES", "load_cifar10", "read_cifar10_batch"), "stablesam.stability.datasets.cifar10"),
    **dict.fromkeys(("Dataset", "TASKS", "check_numpy_generator"), "stablesam.stability.datasets.dataset"),
    **dict.fromkeys(("load_digits", "load_mnist1d"), "stablesam.stability.datasets.embedded"),
    **dict.fromkeys(("locate_files", "read_bytes"), "stablesam.stability.datasets.files"),
    **dict.fromkeys(("flip_labels", "shuffle_labels"), "stablesam.stability.datasets.label_noise"),
    **dict.fromkeys(("MNIST_FILES", "load_mnist", "read_idx"), "stablesam.stability.datasets.mnist"),
    **dict.fromkeys(("NeighbouringPair", "neighbouring"), "stablesam.stability.datasets.neighbours"),
    **dict.fromkeys(
        ("SYNTHETIC_OPTIONS", "load_gaussian_mixture", "load_linear_regression", "load_logistic_regression"),
        "stablesam.stability.datasets.synthetic",
    ),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
