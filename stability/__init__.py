"""Optimizers of the SAM family (with StableSAM renormalization) and the twin-model harness.

The names below load on first use (PEP 562), so light submodules such as :mod:`stablesam.stability.optimizers`
and :mod:`stablesam.stability.twin.config` import without torch, and ``stablesam --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module that defines it.
_EXPORTS = {
    "freeze_running_stats": "stablesam.stability.batchnorm",
    **dict.fromkeys(
        ("DATASETS", "Dataset", "NeighbouringPair", "flip_labels", "load_dataset", "neighbouring", "shuffle_labels"),
        "stablesam.stability.data",
    ),
    **dict.fromkeys(
        ("ASCENTS", "Ascent", "ascent_direction", "get_ascent", "surrogate_norm"), "stablesam.stability.ascents"
    ),
    **dict.fromkeys(
        ("global_norm", "renormalization_factor", "sam_ascent_", "sam_descent_", "weighted_global_norm"),
        "stablesam.stability.functional",
    ),
    **dict.fromkeys(("BASE_OPTIMIZERS", "DEFAULT_RHO", "effective_rho", "make_optimizer"), "stablesam.stability.optimizers"),
    **dict.fromkeys(("MODELS", "build_model"), "stablesam.stability.models"),
    **dict.fromkeys(("SAM", "StableSAM"), "stablesam.stability.sam"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
