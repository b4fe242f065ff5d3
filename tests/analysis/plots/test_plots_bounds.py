"""Bound and least-squares figures: labelled log axes, one curve per method, shaded regimes."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from stablesam.analysis.plots.bounds import plot_bounds_vs_lr, plot_least_squares_excess_risk
from stablesam.analysis.plots.style import label


@pytest.mark.parametrize("quantity", ["stability", "excess-risk"])
def test_bound_figure(quantity):
    methods = ("sgd", "usam", "stablesam-u")
    fig = plot_bounds_vs_lr(quantity=quantity, methods=methods, n=100, T=100, num=30)
    ax, ratio = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "learning rate" in ratio.get_xlabel() and ax.get_ylabel()  # the panels share the x axis
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["SGD", "USAM (derived)"]
    # StableSAM-U at the smallest feasible gamma 1/(1 + rho beta) = 1/1.05: labelled as an assumption.
    assert legend[2] == r"StableSAM-U (derived; assumes $\gamma_t \leq 0.952$)"
    # Regression (issue 14, defects 2 and 4): nothing is shaded beyond SGD's 2/beta, where its theorem is silent.
    for patch in ax.patches:
        assert patch.get_x() + patch.get_width() <= 2.0 * (1 + 1e-9)
    plt.close(fig)


def test_least_squares_figure():
    fig = plot_least_squares_excess_risk(num=30, T=50)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and "excess risk" in ax.get_ylabel() and "learning rate" in ax.get_xlabel()
    lines = [l for l in ax.lines if l.get_label() in {label(m) for m in ("gd", "usam", "sam", "stablesam-u", "stablesam-n")}]
    assert len(lines) == 5 and all(np.any(np.isfinite(l.get_ydata())) for l in lines)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "USAM beats GD (> 1e-6 rel.)" in legend
    plt.close(fig)


def test_the_bound_axis_is_clipped_so_the_shaded_range_stays_readable():
    """Issue 26: the derived bounds reach 1e37 at their limits and flattened the range where they compete. The
    axis ends at CLIP x SGD's largest value; the panel below holds each bound over SGD's, below 1 in the band."""
    from stablesam.analysis.plots.bounds import CLIP

    fig = plot_bounds_vs_lr(quantity="stability", num=60)
    ax, ratio = fig.axes
    sgd = ax.get_lines()[0].get_ydata()
    assert len(sgd) == 60
    assert ax.get_ylim()[1] == pytest.approx(CLIP * np.nanmax(sgd), rel=1e-12)
    assert max(np.nanmax(line.get_ydata()) for line in ax.get_lines()) > 1e30  # clipped, not dropped
    assert ratio.get_ylabel() == "bound / SGD's" and ratio.patches  # the shaded band is in both panels
    (lo, hi) = ratio.get_ylim()
    usam, stablesam_u = [line.get_ydata() for line in ratio.get_lines() if len(line.get_xdata()) == 60]
    assert np.nanmin(usam) > 1  # USAM's bound never beats SGD's
    assert lo < np.nanmin(stablesam_u) < 1 < hi  # the winning range lies inside the panel
    plt.close(fig)
