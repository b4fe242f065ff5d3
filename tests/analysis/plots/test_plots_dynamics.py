"""stablesam.analysis.plots.dynamics: the figures build with their axes, and the simulated markers sit on the exact lines."""

import matplotlib.pyplot as plt
import numpy as np

from stablesam.analysis.plots.dynamics import plot_max_stable_lr, plot_saddle_multipliers, plot_sam_cycle, plot_stablesam_2d_rates


def _scatter_points(ax):
    return [c.get_offsets() for c in ax.collections if len(c.get_offsets())]


def test_sam_cycle_amplitude_markers_match_the_closed_form():
    fig = plot_sam_cycle([4.0, 1.0], lr=0.3, rho=0.1, steps=20, lr_grid_size=5, horizon=2000)
    ax_path, ax_amp = fig.axes
    assert ax_path.get_xlabel() == r"step $t$" and ax_amp.get_yscale() == "log"
    (points,) = _scatter_points(ax_amp)
    eta_lambda, observed = points[:, 0], points[:, 1]
    # c = eta rho lambda / (2 - eta lambda) (Foret et al.'s map; docs/theory.md section 2), lambda = 4, rho = 0.1.
    np.testing.assert_allclose(observed, 0.1 * eta_lambda / (2.0 - eta_lambda), rtol=1e-6)
    plt.close(fig)


def test_stablesam_rates_markers_match_the_2d_regimes():
    fig = plot_stablesam_2d_rates(2.0, 1.0, rho=0.5, n_lr=48, steps=3000)
    (ax,) = fig.axes
    u_points, n_points = _scatter_points(ax)
    # StableSAM-U on (2, 1), rho = 0.5: p = (4, 1.5), c = (2, 1.5); bouncing factor 5/11 on [6/11, 8/11].
    lr, rate = u_points[:, 0], u_points[:, 1]
    bouncing = (lr > 6 / 11 + 0.02) & (lr < 8 / 11 - 0.02)
    assert bouncing.any()
    np.testing.assert_allclose(rate[bouncing], 5 / 11, rtol=1e-3)
    flat = lr < 6 / 11 - 0.05
    np.testing.assert_allclose(rate[flat], 1.0 - lr[flat], rtol=1e-3)
    assert ax.get_xlabel() == r"learning rate $\eta$"
    plt.close(fig)


def test_saddle_markers_match_the_multipliers():
    fig = plot_saddle_multipliers(-2.0, lr=0.1, n=30)
    ax_u, ax_n = fig.axes
    for ax in (ax_u, ax_n):
        for line, points in zip([ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2], _scatter_points(ax)):
            np.testing.assert_allclose(np.interp(points[:, 0], *line.get_data()), points[:, 1], atol=1e-9)
    assert ax_n.get_xscale() == "log" and ax_u.get_ylabel()
    plt.close(fig)


def test_max_stable_lr_is_log_log_and_labelled():
    fig = plot_max_stable_lr(n=20)
    for ax in fig.axes:
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and ax.get_xlabel() and ax.get_ylabel()
    # GD's line is 2 / lambda exactly (docs/theory.md section 3).
    lam, eta = fig.axes[0].get_lines()[0].get_data()
    np.testing.assert_allclose(eta, 2.0 / lam)
    plt.close(fig)
