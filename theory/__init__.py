"""Closed forms, exact dynamics and symbolic derivations (float64 numpy; sympy in :mod:`stablesam.theory.symbolic`).

Quadratic models (docs/theory.md section 2) and edge-of-stability formulas (section 3):

- :mod:`stablesam.theory.quadratic`: the five update maps on ``f(w) = 1/2 w^T H w``.
- :mod:`stablesam.theory.simulate`: vectorised simulation over grids of configurations; observed thresholds.
- :mod:`stablesam.theory.quadratic_divergence`: exact divergence thresholds, linear rates, USAM-vs-GD crossover.
- :mod:`stablesam.theory.sam_cycle`: SAM's 2-cycle (amplitude, gradient norm, transverse multipliers).
- :mod:`stablesam.theory.renormalization`: StableSAM's gamma, coordinate multipliers, 2-D regimes.
- :mod:`stablesam.theory.saddle`: multipliers, fixed points and escape conditions at a strict saddle (claim C8).
- :mod:`stablesam.theory.hallucination`: SAM's hallucinated minimizers on a double well (claim C8).
- :mod:`stablesam.theory.stability_edge`: maximal stable sharpness / learning rate (GD, USAM-edge, SAM-edge).
- :mod:`stablesam.theory.symbolic`: sympy derivations of every closed form above (imported on demand).

Uniform stability (section 4) and excess risk (section 5):

- :mod:`stablesam.theory.growth_recursion`: the growth recursion of Hardt, Recht and Singer (2016) for any
  per-step expansiveness and boundedness.
- :mod:`stablesam.theory.schedules`: learning-rate schedules as arrays.
- :mod:`stablesam.theory.method_constants`: every method's per-step constants, in one place (chosen by the row's fields).
- :mod:`stablesam.theory.uniform_stability`: SGD's theorems and the (derived) SAM-family constants and bounds.
- :mod:`stablesam.theory.capped`: capped StableSAM's bounds against its base's (claim C9).
- :mod:`stablesam.theory.excess_risk`: generalization + optimization terms, optimal and maximal learning rates.
- :mod:`stablesam.theory.least_squares`: exact full-batch dynamics and risks on linear regression.
- :mod:`stablesam.theory.twin_moments`: exact expected twin distance of SGD/USAM on least squares (one example
  per step).
"""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so
# importing the package pulls in neither sympy nor the modules a caller does not use. Two modules define ``step``
# and ``METHODS``: the package's are the quadratic model's (least_squares.step, uniform_stability.METHODS stay
# qualified). A function named as its module (``excess_risk``) stays qualified too; ``simulate`` is bound below,
# before any import of its module could bind the package's name to the module instead.
_EXPORTS = {
    **dict.fromkeys(
        (
            "BoundComparison", "ExcessRisk", "MaxLr", "bound_function", "compare_bounds", "convex_sgd_excess_risk",
            "convex_sgd_optimal_lr", "excess_risk_function", "lr_limit", "max_lr_for_target",
            "optimal_lr", "optimization_error", "regimes",
        ),
        "stablesam.theory.excess_risk",
    ),
    **dict.fromkeys(
        ("NonconvexStability", "expected_distance", "nonconvex_stability", "stability_from_start", "step_coefficients"),
        "stablesam.theory.growth_recursion",
    ),
    **dict.fromkeys(
        (
            "LS_METHODS", "LinearModel", "NORMALISED_ASCENT", "certified_excess_risk", "excess_risk_curves",
            "final_iterates", "lr_ranges_beating", "training_error", "trajectory",
        ),
        "stablesam.theory.least_squares",
    ),
    **dict.fromkeys(
        ("METHODS", "Quadratic", "gd_step", "sam_step", "stablesam_n_step", "stablesam_u_step", "step", "usam_step"),
        "stablesam.theory.quadratic",
    ),
    **dict.fromkeys(
        ("convergence_rate", "divergence_threshold", "quadratic_map_diverges", "threshold_source", "usam_gd_crossover"),
        "stablesam.theory.quadratic_divergence",
    ),
    **dict.fromkeys(
        (
            "flat_dominated_multiplier", "gamma", "gamma_range", "stablesam_2d_boundaries", "stablesam_2d_rate",
            "stablesam_2d_regime", "stablesam_coordinate_multipliers",
        ),
        "stablesam.theory.renormalization",
    ),
    **dict.fromkeys(
        (
            "ESCAPE_CONDITIONS", "SADDLE_METHODS", "escape_steps", "escapes_linearised", "saddle_fixed_points",
            "saddle_multiplier", "saddle_step", "stablesam_n_local_step", "trap_radius",
        ),
        "stablesam.theory.saddle",
    ),
    **dict.fromkeys(
        (
            "double_well", "double_well_grad", "double_well_hessian", "sam_hallucinated_minimizer",
            "sam_hallucination_attracts", "stablesam_hover_width", "usam_hallucinated_minimizers",
        ),
        "stablesam.theory.hallucination",
    ),
    **dict.fromkeys(
        ("sam_cycle_amplitude", "sam_cycle_grad_norm", "sam_transverse_multipliers"),
        "stablesam.theory.sam_cycle",
    ),
    **dict.fromkeys(
        ("MAX_STEPS", "SCHEDULES", "as_schedule", "constant", "cosine", "inverse_time", "make_schedule", "step_decay"),
        "stablesam.theory.schedules",
    ),
    **dict.fromkeys(("SimulationResult", "observed_lr_max", "simulate"), "stablesam.theory.simulate"),
    **dict.fromkeys(
        ("EDGE_METHODS", "edge_source", "max_stable_lr", "max_stable_sharpness"),
        "stablesam.theory.stability_edge",
    ),
    **dict.fromkeys(("DERIVATIONS", "Derivation", "derive", "symbols"), "stablesam.theory.symbolic"),
    **dict.fromkeys(
        ("SAMPLINGS", "TWIN_METHODS", "TwinDistance", "expected_twin_distance", "per_example_rates"),
        "stablesam.theory.twin_moments",
    ),
    **dict.fromkeys(
        (
            "ASSUMPTIONS", "CURVATURES", "SETTINGS", "StabilityBound", "StepConstants", "assumption_detail",
            "max_nonexpansive_lr", "sam_convex", "sgd_convex", "sgd_nonconvex", "sgd_strongly_convex",
            "stability_bound", "stablesam_expansiveness", "stablesam_gamma_range", "step_constants", "usam_convex",
            "usam_nonconvex",
        ),
        "stablesam.theory.uniform_stability",
    ),
    **dict.fromkeys(
        (
            "C9_THEORY", "CappedComparison", "capped_excess_risk_comparison", "capped_stability_comparison"
        ),
        "stablesam.theory.capped",
    ),
    **dict.fromkeys(
        (
            "BASES", "C7_THEORY", "GammaRange", "RenormalizationTheory", "SAM_CONVEX_OFFSET", "base_of",
            "base_step_constants", "bound_row", "lipschitz_step_constant", "lr_condition", "optimization_extra",
            "renormalization_theory", "usam_convex_growth", "usam_smoothness"
        ),
        "stablesam.theory.method_constants",
    ),
    **dict.fromkeys(("canonical_method", "map_of", "quadratic_row"), "stablesam.theory.quadratic"),
    "edge_row": "stablesam.theory.stability_edge",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

from stablesam.theory.simulate import simulate  # noqa: E402  (numpy only)
