"""Figures of twin experiments (``stability.twin``): parameter distance and generalization gap over epochs.

Input is the tidy metrics table of one or more runs (``metrics.csv``: columns ``run, optimizer, lr,
seed, pair, twin, epoch, metric, value, ...``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.style import FULL_WIDTH, METHOD_COLORS, METHOD_MARKERS, figure_style, label

__all__ = ["plot_twin_curves"]

_LINESTYLES = ("-", "--", ":", "-.")


def plot_twin_curves(metrics: pd.DataFrame, *, metrics_to_plot: tuple[str, ...] = ("distance", "gen_gap")):
    """One panel per metric: its mean over pairs against epoch, one line per (optimizer, lr).

    ``distance`` (``||w - w'||``, log scale) is a pair metric; ``gen_gap`` (test minus train loss of
    the run on ``S``) is read from the ``S`` twin. Line colour is the method, line style the
    learning rate; the band spans the pairs' min..max. Epochs with a diverged twin are dropped from
    the mean (their values are not finite).
    """
    import matplotlib.pyplot as plt

    frame = metrics[(metrics["layer"].fillna("") == "") & metrics["metric"].isin(metrics_to_plot)]
    frame = frame[frame["twin"].isin(["pair", "S"])]
    frame = frame.replace([np.inf, -np.inf], np.nan)
    lrs = sorted(frame["lr"].unique())
    with figure_style():
        fig, axes = plt.subplots(1, len(metrics_to_plot), figsize=(FULL_WIDTH, 2.6 + 0.2 * -(-frame.groupby(["optimizer", "lr"]).ngroups // 5)), squeeze=False)
        for ax, metric in zip(axes[0], metrics_to_plot):
            sub = frame[frame["metric"] == metric]
            for (optimizer, lr), group in sub.groupby(["optimizer", "lr"], sort=False):
                stats = group.groupby("epoch")["value"].agg(["mean", "min", "max"]).dropna()
                if metric == "distance":
                    stats = stats[stats["mean"] > 0]
                if stats.empty:
                    continue
                style = _LINESTYLES[lrs.index(lr) % len(_LINESTYLES)]
                color = METHOD_COLORS.get(optimizer, "#777777")
                ax.plot(stats.index, stats["mean"], style, color=color, marker=METHOD_MARKERS.get(optimizer),
                        markersize=2.5, markevery=max(1, len(stats) // 8), label=f"{label(optimizer)}, lr={lr:g}")
                ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.12, linewidth=0)
            ax.set_xlabel("epoch")
            if metric == "distance":
                ax.set_yscale("log")
                ax.set_ylabel(r"$\|w - w'\|$")
                ax.set_title("distance between twins")
            elif metric == "gen_gap":
                ax.axhline(0.0, color="#999999", linewidth=0.6)
                ax.set_ylabel("test loss $-$ train loss")
                ax.set_title("generalization gap")
            else:
                ax.set_ylabel(metric)
        handles, labels = axes[0][0].get_legend_handles_labels()
        rows = -(-len(handles) // 5)
        if handles:  # inside the canvas, so that any savefig keeps it
            fig.legend(handles, labels, loc="lower center", ncol=min(5, len(handles)), frameon=False)
        fig.tight_layout(rect=(0, 0.07 * rows, 1, 1))
    return fig
