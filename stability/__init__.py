"""Optimizers of the SAM family (with StableSAM renormalization) and, later, the twin-model harness."""

from stability.functional import (
    ASCENTS,
    ascent_direction,
    global_norm,
    renormalization_factor,
    surrogate_norm,
    weighted_global_norm,
)
from stability.sam import SAM, StableSAM

__all__ = [
    "ASCENTS",
    "SAM",
    "StableSAM",
    "ascent_direction",
    "global_norm",
    "renormalization_factor",
    "surrogate_norm",
    "weighted_global_norm",
]
