"""Optimizers of the SAM family (with StableSAM renormalization) and the twin-model harness.

The names below load on first use (PEP 562), so light submodules such as :mod:`stablesam.stability.optimizers`
and :mod:`stablesam.stability.twin.config` import without torch, and ``stablesam --help`` stays fast.
"""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so a light
# path (``stablesam --help``, reading a config) does not import torch.
_EXPORTS = {
    "freeze_running_stats": "stablesam.stability.batchnorm",
    **dict.fromkeys(
        (
            "CIFAR10_FILES", "DATASETS", "Dataset", "MNIST_FILES", "NeighbouringPair", "flip_labels", "load_dataset",
            "neighbouring", "read_cifar10_batch", "read_idx", "shuffle_labels",
        ),
        "stablesam.stability.data",
    ),
    **dict.fromkeys(
        ("ASCENTS", "Ascent", "ascent_direction", "get_ascent", "surrogate_norm"), "stablesam.stability.ascents"
    ),
    **dict.fromkeys(
        ("capped_gamma", "global_norm", "per_model", "renormalization_factor", "safe_divisor", "sam_ascent_",
         "sam_descent_", "weighted_global_norm"),
        "stablesam.stability.functional",
    ),
    **dict.fromkeys(("MODELS", "MODEL_OPTIONS", "build_model", "count_parameters"), "stablesam.stability.models"),
    **dict.fromkeys(
        ("BASE_OPTIMIZERS", "DEFAULT_RHO", "effective_rho", "make_optimizer"),
        "stablesam.stability.optimizers",
    ),
    **dict.fromkeys(("SAM", "StableSAM"), "stablesam.stability.sam"),
    **dict.fromkeys(("cpu_cores", "torch_threads"), "stablesam.stability.threads"),
    **dict.fromkeys(("TensorLists", "default_foreach"), "stablesam.stability.functional"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
