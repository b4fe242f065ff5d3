"""Experiments that train or scan models: edge of stability, step statistics, learning-rate scans, blow-up runs,
measured thresholds, exact least squares, twin experiments and their stability estimates."""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so a light
# path (``stablesam --help``, reading a config) does not import torch.
_EXPORTS = {
    **dict.fromkeys(("figure_flatness", "figure_network_escapes", "figure_toy_escapes"), "stablesam.analysis.experiments.saddle_figures"),
    **dict.fromkeys(
        ("TIDY_COLUMNS", "find_run_dirs", "load_runs", "load_summaries", "summarize_over_seeds"),
        "stablesam.analysis.experiments.aggregate",
    ),
    **dict.fromkeys(("SCAN_METHODS", "run_until_blowup"), "stablesam.analysis.experiments.blowup_run"),
    **dict.fromkeys(
        (
            "COLUMNS", "EOS_METHODS", "EosConfig", "EosResult", "edge_for", "figure_edge_of_stability",
            "plateau_ratios", "plateau_summary", "run_edge_of_stability",
        ),
        "stablesam.analysis.experiments.edge_of_stability",
    ),
    **dict.fromkeys(
        ("digits_twins", "exact_stability_table", "monte_carlo_twin_distance", "plot_exact_stability"),
        "stablesam.analysis.experiments.exact_stability",
    ),
    **dict.fromkeys(
        ("LeastSquaresProblem", "least_squares_problem", "least_squares_thresholds", "standardised_digits"),
        "stablesam.analysis.experiments.least_squares_digits",
    ),
    **dict.fromkeys(
        ("Threshold", "bisect_threshold", "observed_thresholds"),
        "stablesam.analysis.experiments.lr_bisection",
    ),
    **dict.fromkeys(
        ("DEFAULT_GRID", "LearningRateScan", "OUTCOMES", "scan_learning_rates", "thresholds_along_training"),
        "stablesam.analysis.experiments.lr_scan",
    ),
    **dict.fromkeys(
        ("CurvatureReport", "THRESHOLD_METHODS", "max_stable_learning_rates", "measure_curvature"),
        "stablesam.analysis.experiments.measured_thresholds",
    ),
    **dict.fromkeys(
        ("StepTimes", "gradient_norm_trajectory", "step_times"),
        "stablesam.analysis.experiments.step_statistics",
    ),
    **dict.fromkeys(
        ("figure_least_squares_thresholds", "figure_network_thresholds"),
        "stablesam.analysis.experiments.threshold_experiments",
    ),
    **dict.fromkeys(
        ("figure_label_noise", "figure_twin_comparison", "twin_metrics"),
        "stablesam.analysis.experiments.twin_experiments",
    ),
    **dict.fromkeys(
        ("LossDifferences", "loss_diff_max", "stability_estimate", "test_losses"),
        "stablesam.analysis.experiments.twin_stability",
    ),
    **dict.fromkeys(
        (
            "C10_THEORY", "FlatnessConfig", "equal_loss_comparison",
            "first_step_reaching", "flatness_table"
        ),
        "stablesam.analysis.experiments.flatness",
    ),
    **dict.fromkeys(
        (
            "C8_THEORY", "NetworkSaddleConfig", "TOY_SADDLES", "ToySaddle",
            "escape_step", "hallucinated", "network_escape_table", "network_predictions",
            "network_saddle_curvature", "plateau_length", "summarise_escapes", "toy_escape_table", "toy_step"
        ),
        "stablesam.analysis.experiments.saddles",
    ),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
