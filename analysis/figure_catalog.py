"""The figures of ``figures/``: name, caption, drawing function and parameters (full and quick)."""

from analysis.figures import FigureSpec

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        name="stability-bound-vs-lr",
        caption="Convex uniform-stability bounds against the learning rate (SGD: Hardt et al. 2016, Thm 3.8; "
        "USAM and StableSAM-U under shared-gamma: derived); shaded where a bound is below SGD's.",
        function="analysis.plots_bounds:plot_bounds_vs_lr",
        params={"quantity": "stability", "num": 200},
        quick_params={"num": 40},
    ),
    FigureSpec(
        name="excess-risk-bound-vs-lr",
        caption="Convex excess-risk bounds (optimization + stability terms) against the learning rate; SAM-family "
        "terms derived, StableSAM under shared-gamma; shaded where a bound is below SGD's.",
        function="analysis.plots_bounds:plot_bounds_vs_lr",
        params={"quantity": "excess-risk", "methods": ["sgd", "usam", "stablesam-u", "stablesam-n"], "n": 100, "T": 100, "num": 200},
        quick_params={"num": 40},
    ),
    FigureSpec(
        name="least-squares-excess-risk",
        caption="Exact excess risk of full-batch GD, USAM, SAM and StableSAM on linear regression against the "
        "learning rate; bands: where USAM and StableSAM-U beat GD.",
        function="analysis.plots_bounds:plot_least_squares_excess_risk",
        params={"num": 200},
        quick_params={"num": 40},
    ),
    FigureSpec(
        name="curvature-least-squares-thresholds",
        caption="Least squares on standardised digits (exact Hessian X^T X / n): observed divergence thresholds "
        "(bisection with the optimizers) vs 2/lambda_max (GD, StableSAM-U/-N) and 2/(lambda_max (1 + rho lambda_max)) (USAM).",
        function="analysis.plots_curvature:figure_least_squares_thresholds",
        params={"steps": 2000, "rel_tol": 1e-3},
        quick_params={"methods": ["gd", "usam"], "steps": 100, "rel_tol": 2e-2},
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
