"""Closed forms, exact dynamics and symbolic derivations (float64 numpy; sympy in :mod:`stablesam.theory.symbolic`).

Quadratic models (docs/theory.md section 2) and edge-of-stability formulas (section 3):

- :mod:`stablesam.theory.quadratic`: the five update maps on ``f(w) = 1/2 w^T H w``.
- :mod:`stablesam.theory.simulate`: vectorised simulation over grids of configurations; observed thresholds.
- :mod:`stablesam.theory.quadratic_divergence`: exact divergence thresholds, linear rates, USAM-vs-GD crossover.
- :mod:`stablesam.theory.sam_cycle`: SAM's 2-cycle (amplitude, gradient norm, transverse multipliers).
- :mod:`stablesam.theory.renormalization`: StableSAM's gamma, coordinate multipliers, 2-D regimes.
- :mod:`stablesam.theory.saddle`: multipliers at negative curvature; escape, fixed points and trap radii (section 7).
- :mod:`stablesam.theory.hallucination`: SAM's hallucinated minimizer on a double well (section 7).
- :mod:`stablesam.theory.stability_edge`: maximal stable sharpness / learning rate (GD, USAM-edge, SAM-edge).
- :mod:`stablesam.theory.symbolic`: sympy derivations of every closed form above (imported on demand).

Uniform stability (section 4) and excess risk (section 5):

- :mod:`stablesam.theory.growth_recursion`: the growth recursion of Hardt, Recht and Singer (2016) for any
  per-step expansiveness and boundedness.
- :mod:`stablesam.theory.schedules`: learning-rate schedules as arrays.
- :mod:`stablesam.theory.uniform_stability`: SGD's theorems and the (derived) SAM-family constants and bounds.
- :mod:`stablesam.theory.excess_risk`: generalization + optimization terms, optimal and maximal learning rates.
- :mod:`stablesam.theory.least_squares`: exact full-batch dynamics and risks on linear regression.
- :mod:`stablesam.theory.twin_moments`: exact expected twin distance of SGD/USAM on least squares (one example per step).
"""

from stablesam.theory.excess_risk import convex_sgd_excess_risk, convex_sgd_optimal_lr, max_lr_for_target, optimal_lr, regimes
from stablesam.theory.growth_recursion import expected_distance
from stablesam.theory.least_squares import LinearModel, excess_risk_curves
from stablesam.theory.stability_edge import EDGE_METHODS, max_stable_lr, max_stable_sharpness
from stablesam.theory.quadratic import METHODS, Quadratic, step
from stablesam.theory.renormalization import (
    flat_dominated_multiplier,
    gamma,
    gamma_range,
    stablesam_2d_boundaries,
    stablesam_2d_rate,
    stablesam_2d_regime,
    stablesam_coordinate_multipliers,
)
from stablesam.theory.hallucination import sam_hallucinated_minimizer
from stablesam.theory.saddle import escape_steps, saddle_fixed_points, saddle_multiplier, saddle_step, trap_radius
from stablesam.theory.sam_cycle import sam_cycle_amplitude, sam_cycle_grad_norm, sam_transverse_multipliers
from stablesam.theory.simulate import SimulationResult, observed_lr_max, simulate
from stablesam.theory.quadratic_divergence import (
    convergence_rate,
    divergence_threshold,
    quadratic_map_diverges,
    usam_gd_crossover,
)
from stablesam.theory.twin_moments import expected_twin_distance
from stablesam.theory.uniform_stability import max_nonexpansive_lr, sgd_convex, sgd_nonconvex, sgd_strongly_convex, stability_bound

__all__ = [
    "expected_twin_distance",
    "EDGE_METHODS",
    "LinearModel",
    "METHODS",
    "Quadratic",
    "SimulationResult",
    "convergence_rate",
    "convex_sgd_excess_risk",
    "convex_sgd_optimal_lr",
    "divergence_threshold",
    "quadratic_map_diverges",
    "excess_risk_curves",
    "expected_distance",
    "flat_dominated_multiplier",
    "gamma",
    "gamma_range",
    "max_lr_for_target",
    "max_nonexpansive_lr",
    "max_stable_lr",
    "max_stable_sharpness",
    "observed_lr_max",
    "optimal_lr",
    "regimes",
    "escape_steps",
    "sam_hallucinated_minimizer",
    "saddle_fixed_points",
    "saddle_multiplier",
    "saddle_step",
    "trap_radius",
    "sam_cycle_amplitude",
    "sam_cycle_grad_norm",
    "sam_transverse_multipliers",
    "sgd_convex",
    "sgd_nonconvex",
    "sgd_strongly_convex",
    "simulate",
    "stability_bound",
    "stablesam_2d_boundaries",
    "stablesam_2d_rate",
    "stablesam_2d_regime",
    "stablesam_coordinate_multipliers",
    "step",
    "usam_gd_crossover",
]
