"""Optimizers of the SAM family (with StableSAM renormalization) and the twin-model harness."""

from stability.batchnorm import freeze_running_stats
from stability.data import DATASETS, Dataset, NeighbouringPair, flip_labels, load_dataset, neighbouring, shuffle_labels
from stability.functional import (
    ASCENTS,
    ascent_direction,
    global_norm,
    renormalization_factor,
    surrogate_norm,
    weighted_global_norm,
)
from stability.models import MODELS, build_model
from stability.sam import SAM, StableSAM

__all__ = [
    "ASCENTS",
    "DATASETS",
    "Dataset",
    "MODELS",
    "NeighbouringPair",
    "SAM",
    "StableSAM",
    "ascent_direction",
    "build_model",
    "flip_labels",
    "freeze_running_stats",
    "global_norm",
    "load_dataset",
    "neighbouring",
    "renormalization_factor",
    "shuffle_labels",
    "surrogate_norm",
    "weighted_global_norm",
]
