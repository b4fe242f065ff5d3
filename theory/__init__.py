"""Closed forms, exact dynamics and symbolic derivations (float64 numpy; sympy in :mod:`theory.symbolic`).

Quadratic models (THEORY.md section 2) and edge-of-stability formulas (section 3):

- :mod:`theory.quadratic`: the five update maps on ``f(w) = 1/2 w^T H w``.
- :mod:`theory.simulate`: vectorised simulation over grids of configurations; observed thresholds.
- :mod:`theory.thresholds`: exact divergence thresholds, linear rates, USAM-vs-GD crossover.
- :mod:`theory.sam_cycle`: SAM's 2-cycle (amplitude, gradient norm, transverse multipliers).
- :mod:`theory.renormalization`: StableSAM's gamma, coordinate multipliers, 2-D regimes.
- :mod:`theory.saddle`: multipliers at negative curvature.
- :mod:`theory.edge`: maximal stable sharpness / learning rate (GD, USAM-edge, SAM-edge).
- :mod:`theory.symbolic`: sympy derivations of every closed form above (imported on demand).
"""

from theory.edge import EDGE_METHODS, max_stable_lr, max_stable_sharpness
from theory.quadratic import METHODS, Quadratic, step
from theory.renormalization import (
    flat_dominated_multiplier,
    gamma,
    gamma_range,
    stablesam_2d_boundaries,
    stablesam_2d_rate,
    stablesam_2d_regime,
    stablesam_coordinate_multipliers,
)
from theory.saddle import saddle_multiplier
from theory.sam_cycle import sam_cycle_amplitude, sam_cycle_grad_norm, sam_transverse_multipliers
from theory.simulate import SimulationResult, observed_lr_max, simulate
from theory.thresholds import convergence_rate, divergence_threshold, diverges, usam_gd_crossover

__all__ = [
    "EDGE_METHODS",
    "METHODS",
    "Quadratic",
    "SimulationResult",
    "convergence_rate",
    "divergence_threshold",
    "diverges",
    "flat_dominated_multiplier",
    "gamma",
    "gamma_range",
    "max_stable_lr",
    "max_stable_sharpness",
    "observed_lr_max",
    "saddle_multiplier",
    "sam_cycle_amplitude",
    "sam_cycle_grad_norm",
    "sam_transverse_multipliers",
    "simulate",
    "stablesam_2d_boundaries",
    "stablesam_2d_rate",
    "stablesam_2d_regime",
    "stablesam_coordinate_multipliers",
    "step",
    "usam_gd_crossover",
]
