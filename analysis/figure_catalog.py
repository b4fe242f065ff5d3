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
)
