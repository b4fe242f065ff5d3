"""Curvature figures: coinciding predicted thresholds are drawn distinguishably (one slot per method)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from stablesam.analysis.experiments.lr_scan import OUTCOMES
from stablesam.analysis.plots.curvature import plot_thresholds_along_training


def test_coinciding_predicted_lines_sit_in_separate_slots():
    # Issue 14, defect 8: GD, StableSAM-U and StableSAM-N all predict 2/lambda; USAM predicts less. Each method's
    # predicted line must occupy its own x-slot at a checkpoint, so that no line hides another.
    rows = []
    methods = (("gd", 1.0), ("usam", 0.8), ("stablesam-u", 1.0), ("stablesam-n", 1.0))
    for method, factor in methods:
        for checkpoint, lam in ((0, 10.0), (100, 20.0)):
            predicted = 2 / lam * factor
            for metric, v in (("predicted_lr", predicted), ("smallest_failing_lr", 4 * predicted), ("monotone", 1.0)):
                rows.append({"method": method, "checkpoint": checkpoint, "metric": metric, "value": v, "lr": np.nan})
            for lr, outcome in ((predicted, "trained"), (4 * predicted, "diverged")):
                rows.append({"method": method, "checkpoint": checkpoint, "metric": "outcome",
                             "value": OUTCOMES.index(outcome), "lr": lr})
    fig = plot_thresholds_along_training(pd.DataFrame(rows))
    (ax,) = fig.axes
    segments = [line for line in ax.lines if len(line.get_xdata()) == 2 and line.get_color() == "black"]
    assert len(segments) == len(methods) * 2
    for checkpoint in (0, 1):  # x positions are the checkpoint index +- 0.4
        spans = sorted((min(s.get_xdata()), max(s.get_xdata())) for s in segments
                       if abs(np.mean(s.get_xdata()) - checkpoint) < 0.5)
        assert len(spans) == len(methods)
        assert all(a[1] <= b[0] + 1e-12 for a, b in zip(spans, spans[1:]))  # disjoint slots
    plt.close(fig)
