"""Drawing only: figure functions ``plot_*(...) -> Figure`` and the one visual language (:mod:`stablesam.analysis.plots.style`)."""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so a light
# path (``stablesam --help``, reading a config) does not import torch.
_EXPORTS = {
    **dict.fromkeys(("plot_bounds_vs_lr", "plot_least_squares_excess_risk"), "stablesam.analysis.plots.bounds"),
    **dict.fromkeys(("boundaries", "claim_figure", "errorbar", "ratio_over_lr"), "stablesam.analysis.plots.claims"),
    **dict.fromkeys(
        (
            "plot_threshold_comparison", "plot_thresholds_along_training"
        ),
        "stablesam.analysis.plots.curvature",
    ),
    **dict.fromkeys(
        (
            "plot_max_stable_lr", "plot_saddle_multipliers", "plot_sam_cycle", "plot_stablesam_2d_rates"
        ),
        "stablesam.analysis.plots.dynamics",
    ),
    "plot_edge_of_stability": "stablesam.analysis.plots.edge_of_stability",
    **dict.fromkeys(
        (
            "OUTCOMES", "classify_outcomes", "figure_thresholds", "plot_gamma_vs_grad_norm",
            "plot_stability_phase_diagram", "plot_thresholds", "threshold_table"
        ),
        "stablesam.analysis.plots.quadratic",
    ),
    **dict.fromkeys(
        (
            "plot_flatness", "plot_hallucination", "plot_network_escapes", "plot_saddle_trajectories",
            "plot_toy_escapes"
        ),
        "stablesam.analysis.plots.saddles",
    ),
    **dict.fromkeys(
        (
            "COLUMN_WIDTH", "FULL_WIDTH", "METHOD_COLORS", "METHOD_LABELS", "METHOD_MARKERS", "figure_style",
            "label"
        ),
        "stablesam.analysis.plots.style",
    ),
    **dict.fromkeys(("METRIC_LABELS", "plot_twin_metrics"), "stablesam.analysis.plots.twin"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
