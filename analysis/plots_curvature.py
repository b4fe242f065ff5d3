"""Predicted vs observed maximal stable learning rates: figure functions returning matplotlib Figures.

- :func:`plot_threshold_comparison`: one marker per method at (predicted, observed), the bracket as an error
  bar, the diagonal ``observed = predicted`` and a +-2% band (least squares: exact prediction).
- :func:`plot_thresholds_along_training`: predicted (lines) and observed (markers with brackets) thresholds
  against the training step of a network, log scale.
- :func:`figure_least_squares_thresholds` and :func:`figure_network_thresholds` compute and draw (the
  catalogue entries of ``stablesam figures``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis.style import COLUMN_WIDTH, FULL_WIDTH, METHOD_COLORS, METHOD_MARKERS, label

__all__ = [
    "figure_least_squares_thresholds",
    "figure_network_thresholds",
    "plot_threshold_comparison",
    "plot_thresholds_along_training",
]


def plot_threshold_comparison(table, *, title: str | None = None, band: float = 0.02):
    """``table``: rows with ``method, predicted_lr, observed_lr, observed_low, observed_high`` (as returned by
    :func:`analysis.least_squares_digits.least_squares_thresholds`)."""
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
    """``tidy``: the table of :func:`analysis.lr_scan.thresholds_along_training`.

    One column per checkpoint, one slot per method: the outcome of every scanned learning rate (open circle:
    trained, cross: collapsed to chance, filled square: diverged), the predicted maximal stable rate (black
    dash) and the smallest failing rate (large marker; hollow and flagged "non-monotone" where a larger rate
    trained again, so that no single threshold exists). Methods with the same prediction (GD and both
    StableSAM variants: ``2 / lambda``) sit in separate slots, so no line hides another.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from analysis.lr_scan import OUTCOMES

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


def figure_least_squares_thresholds(
    *, methods: Sequence[str] = ("gd", "usam", "stablesam-u", "stablesam-n"), rho: float = 0.05, steps: int = 2000,
    rel_tol: float = 1e-3, seed: int = 0,
):
    """Digits least squares: observed divergence thresholds vs the exact ones."""
    from analysis.least_squares_digits import least_squares_thresholds

    table = least_squares_thresholds(list(methods), rho=rho, steps=steps, rel_tol=rel_tol, lr_low=0.05,
                                     generator=np.random.default_rng(seed))
    return plot_threshold_comparison(table, title=f"least squares on digits, $\\rho$={rho}, T={steps}")


def figure_network_thresholds(
    *, model: str = "mlp", methods: Sequence[str] = ("gd", "usam", "sam", "stablesam-u", "stablesam-n"),
    rho: float = 0.05, n_train: int | None = None, train_lr: float = 0.02, checkpoints: Sequence[int] = (0, 100, 300),
    steps: int = 200, blowup: float = 10.0, grid: Sequence[float] = (0.25, 4.0, 25), seed: int = 0,
    hidden: Sequence[int] = (64,),
):
    """Digits network (float64): predicted (curvature) thresholds vs the outcome of each learning rate of a grid,
    along a GD trajectory."""
    import torch
    import torch.nn.functional as F

    from analysis.lr_scan import thresholds_along_training
    from stability.data import load_dataset
    from stability.models import build_model

    data = load_dataset("digits", generator=np.random.default_rng(seed), n_train=n_train, dtype=torch.float64)
    options = {"hidden": tuple(hidden)} if model == "mlp" else {}
    net = build_model(model, data.input_shape, data.num_outputs, generator=torch.Generator().manual_seed(seed),
                      dtype=torch.float64, **options)
    tidy = thresholds_along_training(net, F.cross_entropy, (data.x_train, data.y_train), list(methods), rho=rho,
                                     train_lr=train_lr, checkpoints=checkpoints, steps=steps, blowup=blowup,
                                     grid=tuple(grid), generator=np.random.default_rng(seed))
    return plot_thresholds_along_training(tidy, title=f"{model} on digits, $\\rho$={rho}, blow-up x{blowup:g} in {steps} steps")
