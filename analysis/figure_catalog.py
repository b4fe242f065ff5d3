"""The figures of ``figures/``: name, caption, drawing function and parameters (full and quick)."""

from analysis.figures import FigureSpec

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        name="curvature-least-squares-thresholds",
        caption="Least squares on standardised digits (exact Hessian X^T X / n): observed divergence thresholds "
        "(bisection with the optimizers) vs 2/lambda_max (GD, StableSAM-U/-N) and 2/(lambda_max (1 + rho lambda_max)) (USAM).",
        function="analysis.plots_curvature:figure_least_squares_thresholds",
        params={"steps": 2000, "rel_tol": 1e-3},
        quick_params={"methods": ["gd", "usam"], "steps": 150, "rel_tol": 2e-2},
    ),
    FigureSpec(
        name="curvature-network-thresholds",
        caption="Digits MLP: thresholds predicted from the measured top Hessian eigenvalue and gradient norm vs "
        "observed divergence thresholds (loss x10 within 200 steps), along a GD trajectory.",
        function="analysis.plots_curvature:figure_network_thresholds",
        params={},
        quick_params={"methods": ["gd", "usam"], "n_train": 100, "checkpoints": [0], "steps": 20, "rel_tol": 0.2, "hidden": [16]},
    ),
)
