"""Predicted vs observed maximal stable learning rates: figure functions returning matplotlib Figures.

- :func:`plot_threshold_comparison`: one marker per method at (predicted, observed), the bracket as an error
  bar, the diagonal ``observed = predicted`` and a +-2% band (least squares: exact prediction).
- :func:`plot_thresholds_along_training`: predicted thresholds and the outcome of each scanned learning rate
  at checkpoints of a network's training, log scale.

This module draws only; :mod:`stablesam.analysis.experiments.threshold_experiments` runs the scans (the catalogue entries).
"""

from __future__ import annotations

import numpy as np

from stablesam.analysis.plots.style import COLUMN_WIDTH, FULL_WIDTH, METHOD_COLORS, METHOD_MARKERS, label

__all__ = ["plot_threshold_comparison", "plot_thresholds_along_training"]


def plot_threshold_comparison(table, *, title: str | None = None, band: float = 0.02):
    """``table``: rows with ``method, predicted_lr, observed_lr, observed_low, observed_high`` (as returned by
    :func:`stablesam.analysis.experiments.least_squares_digits.least_squares_thresholds`)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, COLUMN_WIDTH))
    predicted = table["predicted_lr"].to_numpy(dtype=float)
    lo, hi = predicted.min() * 0.85, predicted.max() * 1.15
    grid = np.array([lo, hi])
    ax.plot(grid, grid, color="0.3", lw=0.8, label="observed = predicted")
    ax.fill_between(grid, grid * (1 - band), grid * (1 + band), color="0.85", lw=0, label=f"$\\pm${band:.0%}")
    for offset, (_, row) in enumerate(table.iterrows()):
        m = row["method"]
        # Methods sharing a prediction are nudged apart horizontally so each marker stays visible.
        x = row["predicted_lr"] * (1 + 0.006 * (offset - len(table) / 2))
        err = [[row["observed_lr"] - row["observed_low"]], [row["observed_high"] - row["observed_lr"]]]
        ax.errorbar([x], [row["observed_lr"]], yerr=err, fmt=METHOD_MARKERS.get(m, "o"), color=METHOD_COLORS.get(m),
                    label=f"{label(m)} ({row['observed_lr'] / row['predicted_lr'] - 1:+.2%})", ms=5)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(r"predicted maximal stable learning rate $\eta^*$")
    ax.set_ylabel(r"observed divergence threshold")
    ax.legend(frameon=False, loc="upper left")
    if title:
        ax.set_title(title)
    return fig


def plot_thresholds_along_training(tidy, *, title: str | None = None):
    """``tidy``: the table of :func:`stablesam.analysis.experiments.lr_scan.thresholds_along_training`.

    One column per checkpoint, one slot per method: the outcome of every scanned learning rate (open circle:
    trained, cross: collapsed to chance, filled square: diverged), the predicted maximal stable rate (black
    dash) and the smallest failing rate (large marker; hollow and flagged "non-monotone" where a larger rate
    trained again, so that no single threshold exists). Methods with the same prediction (GD and both
    StableSAM variants: ``2 / lambda``) sit in separate slots, so no line hides another.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from stablesam.stability.training.loop import OUTCOMES

    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 0.45 * FULL_WIDTH))
    methods = list(dict.fromkeys(tidy.loc[tidy["method"] != "", "method"]))
    checkpoints = sorted(tidy["checkpoint"].unique())
    summary = tidy[(tidy["method"] != "") & (tidy["metric"] != "outcome")].pivot_table(
        index=["method", "checkpoint"], columns="metric", values="value")
    outcomes = tidy[tidy["metric"] == "outcome"]
    style = {"trained": dict(marker="o", mfc="none"), "collapsed": dict(marker="x"), "diverged": dict(marker="s")}
    width = 0.8 / len(methods)
    non_monotone = False
    for c, checkpoint in enumerate(checkpoints):
        for k, method in enumerate(methods):
            x = c - 0.4 + width * (k + 0.5)
            color = METHOD_COLORS.get(method)
            runs = outcomes[(outcomes["method"] == method) & (outcomes["checkpoint"] == checkpoint)]
            for code, name in enumerate(OUTCOMES):
                lrs = runs.loc[runs["value"] == code, "lr"].to_numpy(dtype=float)
                ax.plot(np.full(lrs.shape, x), lrs, ls="none", ms=2.5, mew=0.6, color=color, **style[name])
            row = summary.loc[(method, checkpoint)]
            ax.plot([x - width / 2, x + width / 2], [row["predicted_lr"]] * 2, color="black", lw=1.0)
            monotone = bool(row["monotone"])
            non_monotone |= not monotone
            ax.plot([x], [row["smallest_failing_lr"]], marker=METHOD_MARKERS.get(method, "o"), ms=6, color=color,
                    mfc=color if monotone else "none", mew=1.0)
    ax.set_yscale("log")
    ax.set_xticks(range(len(checkpoints)), [f"step {int(c)}" for c in checkpoints])
    ax.set_xlabel("checkpoint of the GD trajectory")
    ax.set_ylabel("learning rate")
    handles = [Line2D([], [], ls="none", marker=METHOD_MARKERS.get(m, "o"), color=METHOD_COLORS.get(m), label=label(m))
               for m in methods]
    handles += [Line2D([], [], ls="none", color="0.4", ms=4, label=name, **style[name]) for name in OUTCOMES]
    handles += [Line2D([], [], color="black", lw=1.0, label="predicted")]
    handles += [Line2D([], [], ls="none", marker="o", ms=6, color="0.4", mfc="none",
                       label="smallest failing, non-monotone" if non_monotone else "smallest failing")]
    ax.legend(handles=handles, frameon=False, fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    return fig
