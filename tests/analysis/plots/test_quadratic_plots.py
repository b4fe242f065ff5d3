"""Figures of the quadratic-model theory (stablesam.analysis.plots.quadratic): they build, with the expected axes."""

import inspect

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from stablesam.analysis.plots.quadratic import (
    classify_outcomes,
    plot_gamma_vs_grad_norm,
    plot_stability_phase_diagram,
    plot_thresholds,
    threshold_table,
)


def test_classify_outcomes_matches_exact_regions():
    # GD and SAM on (lambda, 0.1 lambda), lambda = 1: GD converges below 2, SAM cycles below 2; both diverge above.
    lr = np.array([0.5, 1.5, 2.5])
    np.testing.assert_array_equal(classify_outcomes("gd", lr, 1.0, rho=0.1, steps=300), [0, 0, 2])
    np.testing.assert_array_equal(classify_outcomes("sam", lr, 1.0, rho=0.1, steps=300), [1, 1, 2])
    np.testing.assert_array_equal(classify_outcomes("stablesam-n", lr, 1.0, rho=0.1, steps=300), [0, 0, 2])


def test_catalogued_phase_diagram_never_shows_sam_converging():
    # SAM never converges from a generic start (docs/theory.md section 2): at the catalogue's grid and horizon
    # every stable cell must have reached its 2-cycle, including the slowest corner (small eta lambda).
    from stablesam.analysis.figures.catalog import FIGURES

    params = next(spec.params for spec in FIGURES if spec.name == "quadratic-phase-diagram")
    defaults = {k: v.default for k, v in inspect.signature(plot_stability_phase_diagram).parameters.items()}
    lrs = np.geomspace(*params.get("lr_range", defaults["lr_range"]), params["n_lr"])
    sharpness = np.geomspace(*params.get("sharpness_range", defaults["sharpness_range"]), params["n_sharpness"])
    outcome = classify_outcomes("sam", *np.meshgrid(lrs, sharpness), rho=params["rho"], steps=params["steps"])
    assert not np.any(outcome == 0)


def test_phase_diagram_figure():
    fig = plot_stability_phase_diagram(rho=0.1, n_lr=8, n_sharpness=8, steps=100)
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["GD", "USAM", "SAM*", "StableSAM-U*", "StableSAM-N*"]
    assert all(ax.get_xlabel() == r"learning rate $\eta$" for ax in axes)
    assert axes[0].get_ylabel() == r"sharpness $\lambda_{\max}$"
    plt.close(fig)


def test_gamma_figure():
    fig = plot_gamma_vs_grad_norm(steps=30, n_starts=2, rng=np.random.default_rng(1))
    ax = fig.axes[0]
    assert ax.get_xlabel() == r"gradient norm $\|g\|$" and ax.get_ylabel() == r"$\gamma = \|g\| / \|\tilde g\|$"
    assert ax.get_xscale() == "log"
    plt.close(fig)


def test_threshold_table_and_figure():
    table = threshold_table([[2.0, 1.0], [5.0, 0.5]], methods=("gd", "usam"), rhos=(0.1,), steps=500)
    assert list(table.columns[:2]) == ["method", "rho"] and len(table) == 4
    assert (table["observed_max_stable_lr"] >= table["predicted_max_stable_lr"] * (1 - 1e-4)).all()
    assert (table["relative_gap"] <= table["expected_bias"]).all()
    fig = plot_thresholds(table)
    ax = fig.axes[0]
    assert ax.get_xlabel() == r"predicted threshold $\eta^*$ (exact)"
    assert ax.get_ylabel() == r"observed threshold $\eta^*$ (simulation)"
    plt.close(fig)
