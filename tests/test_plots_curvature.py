"""Curvature figures: coinciding predicted thresholds are said to coincide and drawn distinguishably."""

import matplotlib.pyplot as plt
import pandas as pd

from analysis.plots_curvature import plot_thresholds_along_training


def test_coinciding_predicted_lines_are_labelled_and_dashed_differently():
    # Issue 14, defect 8: GD, StableSAM-U and StableSAM-N all predict 2/lambda; USAM predicts less.
    rows = []
    for method, factor in (("gd", 1.0), ("usam", 0.8), ("stablesam-u", 1.0), ("stablesam-n", 1.0)):
        for checkpoint, lam in ((0, 10.0), (100, 20.0)):
            value = 2 / lam * factor
            for metric, v in (("predicted_lr", value), ("observed_lr", value * 1.01), ("observed_low", value), ("observed_high", value * 1.02)):
                rows.append({"method": method, "checkpoint": checkpoint, "metric": metric, "value": v})
    fig = plot_thresholds_along_training(pd.DataFrame(rows))
    (ax,) = fig.axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "predicted: GD = StableSAM-U = StableSAM-N (coincide)" in legend
    dashed = [line for line in ax.lines if line.get_linestyle() not in ("None", "-")]
    patterns = {tuple(line._dash_pattern[1]) for line in dashed if line.get_color() != "none"}
    assert len(dashed) == 4 and len(patterns) >= 3  # the three coinciding lines differ in dash pattern
    plt.close(fig)
