"""The figures of ``figures/``: name, caption, drawing function and parameters (full and quick)."""

from stablesam.analysis.figures.spec import FigureSpec

__all__ = ["FIGURES"]

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        name="stability-bound-vs-lr",
        caption="Convex uniform-stability bounds against the learning rate (SGD: Hardt et al. 2016, Thm 3.8; "
        "USAM and StableSAM-U: derived; StableSAM-U under shared-gamma at the smallest feasible gamma 1/(1 + rho beta), "
        "an assumption about the trajectory); shaded where a bound beats SGD's with both theorems holding. Top: the "
        "bounds, y axis clipped at 100x SGD's largest value (the derived bounds reach 1e37 at their limits, dotted); "
        "bottom: each bound over SGD's, below 1 where it wins.",
        function="stablesam.analysis.plots.bounds:plot_bounds_vs_lr",
        params={"quantity": "stability", "num": 200},
        quick_params={"num": 40},
    ),
    FigureSpec(
        name="excess-risk-bound-vs-lr",
        caption="Convex excess-risk bounds (optimization + stability terms) against the learning rate; SAM-family "
        "terms derived, StableSAM under shared-gamma at the smallest feasible gamma (an assumption about the "
        "trajectory); shaded where a bound beats SGD's with both theorems holding. Top: the bounds, y axis clipped at "
        "100x SGD's largest value; bottom: each bound over SGD's, below 1 where it wins.",
        function="stablesam.analysis.plots.bounds:plot_bounds_vs_lr",
        params={"quantity": "excess-risk", "methods": ["sgd", "usam", "stablesam-u", "stablesam-n"], "n": 100, "T": 100, "num": 200},
        quick_params={"num": 40},
    ),
    FigureSpec(
        name="least-squares-excess-risk",
        caption="Exact excess risk of full-batch GD, USAM, SAM and StableSAM on linear regression against the "
        "learning rate (SAM and StableSAM-N in certified high precision: float64 is rounding noise where ||g|| "
        "passes near 0); bands: where USAM and StableSAM-U beat GD by more than 1e-6 relative.",
        function="stablesam.analysis.plots.bounds:plot_least_squares_excess_risk",
        params={"num": 200},
        quick_params={"num": 40},
    ),
    FigureSpec(
        name="exact-twin-stability",
        caption="Exact expected distance E||w_T - w'_T|| of twins on least squares (standardised digits, one example "
        "per step drawn uniformly with replacement; derived moment recursions, stablesam.theory.twin_moments): band between "
        "||E[w_T - w'_T]|| and sqrt(E||w_T - w'_T||^2) for SGD (= StableSAM-U/-N here) and USAM at two rho, beside "
        "Hardt et al.'s Thm 3.8 distance bound; vertical marks where USAM is certainly more stable (none on this grid); "
        "markers: Monte Carlo (200 pairs, 99% CI) with mini-batches of 32 for SGD, USAM and StableSAM-U/-N (observed).",
        function="stablesam.analysis.experiments.exact_stability:plot_exact_stability",
        params={"num": 12, "steps": 200},
        quick_params={"num": 4, "steps": 10, "n": 300, "pairs": 20, "mc_lrs": [1e-4]},
    ),
    FigureSpec(
        name="quadratic-phase-diagram",
        caption="Quadratic with spectrum (lambda, 0.1 lambda): each (learning rate, sharpness) cell classified by "
        "simulating the exact map (converges / cycles / diverges); dashed: the exact edge (2/eta; USAM: "
        "Agarwala and Dauphin 2023).",
        function="stablesam.analysis.plots.quadratic:plot_stability_phase_diagram",
        params={"rho": 0.1, "n_lr": 60, "n_sharpness": 60, "steps": 5000},
        quick_params={"n_lr": 12, "n_sharpness": 12, "steps": 200},
    ),
    FigureSpec(
        name="quadratic-gamma-vs-grad-norm",
        caption="StableSAM's factor gamma = ||g||/||g~|| against the gradient norm: exact ranges (bands, derived) "
        "and gamma along simulated trajectories (dots); StableSAM-N's gamma tends to 0 near a minimum.",
        function="stablesam.analysis.plots.quadratic:plot_gamma_vs_grad_norm",
        params={"eigenvalues": [4.0, 1.0, 0.25], "rho": 0.1, "lr": 0.3, "steps": 300, "n_starts": 8},
        quick_params={"steps": 40, "n_starts": 2},
    ),
    FigureSpec(
        name="quadratic-thresholds",
        caption="Divergence thresholds on 2-D quadratics: exact (docs/theory.md section 2) against observed by "
        "bisection on the simulated map (2000 steps, blow-up 1e8: bias about ln(1e8)/2000 = 0.9%).",
        function="stablesam.analysis.plots.quadratic:figure_thresholds",
        params={"spectra": [[2.0, 1.0], [5.0, 0.5], [10.0, 1.0], [50.0, 5.0], [1.0, 0.1]], "rhos": [0.05, 0.2],
                "steps": 2000},
        quick_params={"spectra": [[2.0, 1.0], [10.0, 1.0]], "rhos": [0.1], "steps": 300},
    ),
    FigureSpec(
        name="quadratic-sam-cycle",
        caption="SAM's attracting 2-cycle w = +-c v_1, c = eta rho lambda_1/(2 - eta lambda_1): a trajectory "
        "(left) and the amplitude against eta lambda_1, exact (line) and simulated (markers).",
        function="stablesam.analysis.plots.dynamics:plot_sam_cycle",
        params={"eigenvalues": [4.0, 1.0], "lr": 0.3, "rho": 0.1, "steps": 80, "lr_grid_size": 12, "horizon": 3000},
        quick_params={"steps": 30, "lr_grid_size": 4, "horizon": 300},
    ),
    FigureSpec(
        name="quadratic-stablesam-2d-rates",
        caption="Asymptotic per-step factor in 2-D against the learning rate: StableSAM-U's three regimes "
        "(flat, bouncing, sharp) and StableSAM-N's near-minimum limit, proved in 2-D (derived), vs the "
        "simulated map; GD and USAM exact.",
        function="stablesam.analysis.plots.dynamics:plot_stablesam_2d_rates",
        params={"lambda1": 2.0, "lambda2": 1.0, "rho": 0.5, "n_lr": 120, "steps": 4000},
        quick_params={"n_lr": 30, "steps": 400},
    ),
    FigureSpec(
        name="quadratic-saddle-multipliers",
        caption="One-step multiplier x'/x at a 1-D saddle (curvature -a): USAM and StableSAM-U are attracted "
        "once rho a > 1, SAM and StableSAM-N once |x| < rho (derived; markers: one step of the map).",
        function="stablesam.analysis.plots.dynamics:plot_saddle_multipliers",
        params={"curvature": -2.0, "lr": 0.1, "n": 200},
        quick_params={"n": 40},
    ),
    FigureSpec(
        name="max-stable-lr",
        caption="Maximal stable learning rates from the edge formulas: eta* against the sharpness (GD and "
        "StableSAM 2/lambda; USAM: Agarwala and Dauphin 2023; SAM: Long and Bartlett 2023) and SAM's "
        "eta* relative to GD's against the gradient norm.",
        function="stablesam.analysis.plots.dynamics:plot_max_stable_lr",
        params={"rhos": [0.01, 0.05, 0.2], "grad_norms": [0.01, 0.1, 10.0], "sharpness": 50.0, "rho": 0.05,
                "n": 200},
        quick_params={"n": 40},
    ),
    FigureSpec(
        name="curvature-least-squares-thresholds",
        caption="Least squares on standardised digits (exact Hessian X^T X / n): observed divergence thresholds "
        "(bisection with the optimizers) vs 2/lambda_max (GD, StableSAM-U/-N) and 2/(lambda_max (1 + rho lambda_max)) (USAM).",
        function="stablesam.analysis.experiments.threshold_experiments:figure_least_squares_thresholds",
        params={"steps": 2000, "rel_tol": 1e-3},
        quick_params={"methods": ["gd", "usam"], "steps": 100, "rel_tol": 2e-2},
    ),
    FigureSpec(
        name="curvature-network-thresholds",
        caption="Digits MLP: thresholds predicted from the measured top Hessian eigenvalue and gradient norm vs "
        "the outcome of each learning rate of a grid (diverged: loss x10 within 200 steps; collapsed: chance "
        "accuracy; trained), along a GD trajectory; hollow large markers: the outcomes are not monotone in eta.",
        function="stablesam.analysis.experiments.threshold_experiments:figure_network_thresholds",
        params={},
        quick_params={"methods": ["gd", "usam"], "n_train": 100, "checkpoints": [0], "steps": 20, "grid": [0.5, 2.0, 4],
                      "hidden": [16]},
    ),
    FigureSpec(
        name="edge-of-stability",
        caption="Digits tanh MLP (64-64, square loss, full batch, eta 0.1, rho 0.05): top Hessian eigenvalue along "
        "training against each method's edge (dashed: 2/eta for GD and StableSAM-U/-N, Agarwala and Dauphin 2023 for "
        "USAM, Long and Bartlett 2023 for SAM at the measured ||g||) and their ratio (observed).",
        function="stablesam.analysis.experiments.edge_of_stability:figure_edge_of_stability",
        params={"lrs": [0.1], "rhos": [0.05], "hidden": [64, 64], "steps": 1000, "measure_every": 20},
        quick_params={"methods": ["gd", "stablesam-u"], "n_train": 100, "hidden": [16], "steps": 20,
                      "measure_every": 10},
    ),
    FigureSpec(
        name="twin-sgd-sam-stablesam",
        caption="Twin runs on digits (MLP; S and S' differ in one example, same initialisation and batch order): "
        "parameter distance, generalization gap, loss-difference stability estimate and StableSAM's gamma over "
        "epochs for SGD, SAM and StableSAM-U (observed; mean over pairs, band: min..max).",
        function="stablesam.analysis.experiments.twin_experiments:figure_twin_comparison",
        params={"optimizers": ["sgd", "sam", "stablesam-u"], "lr": 0.1, "rho": 0.05, "epochs": 12, "n_train": 400,
                "n_test": 200, "replaced_indices": [0, 1, 2]},
        quick_params={"epochs": 2, "n_train": 100, "n_test": 100, "replaced_indices": [0, 1]},
    ),
    FigureSpec(
        name="twin-label-noise",
        caption="Twin runs with clean (solid) and 30%-noisy (dashed) training labels: distance, stability estimate, "
        "train loss on the labels trained on and on the clean labels, and the two gaps (test loss minus each; the "
        "first is negative under noise because the model fits labels the test set does not have) over epochs for "
        "SGD, SAM and StableSAM-U (observed).",
        function="stablesam.analysis.experiments.twin_experiments:figure_label_noise",
        params={"optimizers": ["sgd", "sam", "stablesam-u"], "label_noises": [0.0, 0.3], "lr": 0.1, "rho": 0.05,
                "epochs": 12, "n_train": 400, "n_test": 200, "replaced_indices": [0, 1, 2]},
        quick_params={"optimizers": ["sgd", "stablesam-u"], "epochs": 2, "n_train": 100, "n_test": 100,
                      "replaced_indices": [0, 1]},
    ),
    FigureSpec(
        name="saddle-escape-trajectories",
        caption="Distance to a 1-D saddle (curvature -1, eta 0.1, rho 0.05, x_0 = 0.02 < rho) for every method (exact "
        "maps): GD, USAM, ASAM, StableSAM-U/-A escape; SAM bounces inside |x| < rho and StableSAM-N converges onto the "
        "saddle; markers: the closed-form escape steps (derived, stablesam.theory.saddle).",
        function="stablesam.analysis.plots.saddles:plot_saddle_trajectories",
        params={"steps": 120},
        quick_params={"steps": 60},
    ),
    FigureSpec(
        name="saddle-toy-escapes",
        caption="Toy saddles b x^2/2 - a y^2/2 + y^4/4 ((b, a) = (1, 1), (10, 1), (1, 4)), eta 0.1: fraction of runs "
        "never escaping within the budget and median escape step per method and rho, pooled over 7 starts and "
        "gradient noise 0, 1e-3, 1e-2 (10 draws each; observed).",
        function="stablesam.analysis.experiments.saddle_figures:figure_toy_escapes",
        params={"steps": 1000, "repeats": 10},
        quick_params={"steps": 100, "repeats": 2, "noises": [0.0, 0.01]},
    ),
    FigureSpec(
        name="hallucinated-minimizer",
        caption="SAM's hallucinated minimizer on the double well (x^2 - 1)^2/4 at rho 1.5: x_h = rho - 1 with "
        "f'(x_h) = -0.375 (derived, stablesam.theory.hallucination); SAM converges to it, StableSAM-N hovers within "
        "eta |f'(x_h)| with gamma growing without bound, GD reaches a minimum.",
        function="stablesam.analysis.plots.saddles:plot_hallucination",
        params={"steps": 80},
        quick_params={"steps": 30},
    ),
    FigureSpec(
        name="saddle-network-escapes",
        caption="Digits tanh MLP without biases from a small initialisation (weights of std 1e-3): the origin is a "
        "strict saddle with lambda_min = -sigma_max(E[y x^T]) (derived); training loss per method and seed from the "
        "origin (solid) and after the SGD warm start (dashed), at rho 0.05 and 2 (observed).",
        function="stablesam.analysis.experiments.saddle_figures:figure_network_escapes",
        params={"methods": ["gd", "usam", "sam", "asam", "stablesam-u", "stablesam-n", "stablesam-a"],
                "rhos": [0.05, 2.0], "steps": 600, "seeds": [0, 1, 2, 3, 4], "n_train": 500, "window": 100},
        quick_params={"methods": ["gd", "sam", "stablesam-n"], "rhos": [0.05], "n_train": 100, "steps": 60,
                      "seeds": [0, 1], "window": 10},
    ),
    FigureSpec(
        name="flatness-equal-loss",
        caption="Digits tanh MLP (16 hidden, square loss, full batch, eta 0.1, rho 0.05): top Hessian eigenvalue "
        "(Lanczos; residuals below 1e-4) and Hutchinson trace (+-2 SE) per method and seed at the first step reaching "
        "each stated training loss and at the end (observed).",
        function="stablesam.analysis.experiments.saddle_figures:figure_flatness",
        params={"methods": ["gd", "sam", "stablesam-n", "stablesam-u"], "steps": 600, "seeds": [0, 1, 2, 3, 4],
                "target_losses": [0.2, 0.15], "n_train": 500, "hidden": [16], "probes": 30},
        quick_params={"methods": ["gd", "sam"], "n_train": 100, "steps": 30, "seeds": [0], "target_losses": [0.3],
                      "hidden": [8], "probes": 4},
    ),
)
