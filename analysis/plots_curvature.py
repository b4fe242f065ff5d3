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

from analysis.style import COLUMN_WIDTH, METHOD_COLORS, METHOD_MARKERS, label

__all__ = [
    "figure_least_squares_thresholds",
    "figure_network_thresholds",
    "plot_threshold_comparison",
    "plot_thresholds_along_training",
]


def plot_threshold_comparison(table, *, title: str | None = None, band: float = 0.02):
    """``table``: rows with ``method, predicted_lr, observed_lr, observed_low, observed_high`` (as returned by
    :func:`analysis.lr_scan.least_squares_thresholds`)."""
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

    Predicted lines that coincide (GD and both StableSAM variants share ``2/lambda``) get distinct dash patterns
    and the legend says they coincide.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 0.8 * COLUMN_WIDTH))
    wide = tidy[tidy["method"] != ""].pivot_table(index=["method", "checkpoint"], columns="metric", values="value")
    methods = list(dict.fromkeys(tidy.loc[tidy["method"] != "", "method"]))
    predicted = {m: wide.loc[m].sort_index()["predicted_lr"].to_numpy(dtype=float) for m in methods}
    groups: list[list[str]] = []
    for m in methods:
        for group in groups:
            if predicted[group[0]].shape == predicted[m].shape and np.allclose(predicted[group[0]], predicted[m], rtol=1e-12, atol=0):
                group.append(m)
                break
        else:
            groups.append([m])
    dashes = [(4, 2), (1, 1.5), (6, 2, 1, 2), (2, 3)]
    for group in groups:
        for k, method in enumerate(group):
            rows = wide.loc[method].sort_index()
            steps = rows.index.to_numpy(dtype=float)
            line_label = None
            if k == 0 and len(group) > 1:
                line_label = "predicted: " + " = ".join(label(m) for m in group) + " (coincide)"
            ax.plot(steps, rows["predicted_lr"], color=METHOD_COLORS.get(method), dashes=dashes[k % len(dashes)], lw=1.0,
                    label=line_label)
    for method in methods:
        rows = wide.loc[method].sort_index()
        steps = rows.index.to_numpy(dtype=float)
        err = [rows["observed_lr"] - rows["observed_low"], rows["observed_high"] - rows["observed_lr"]]
        ax.errorbar(steps, rows["observed_lr"], yerr=err, color=METHOD_COLORS.get(method), fmt=METHOD_MARKERS.get(method, "o"),
                    ls="-", ms=4, label=label(method))
    ax.set_yscale("log")
    ax.set_xlabel("GD step of the trajectory (checkpoint)")
    ax.set_ylabel("learning rate (dashed: predicted, markers: observed)")
    ax.legend(frameon=False, fontsize=6)
    if title:
        ax.set_title(title)
    return fig


def figure_least_squares_thresholds(
    *, methods: Sequence[str] = ("gd", "usam", "stablesam-u", "stablesam-n"), rho: float = 0.05, steps: int = 2000,
    rel_tol: float = 1e-3, seed: int = 0,
):
    """Digits least squares: observed divergence thresholds vs the exact ones."""
    from analysis.lr_scan import least_squares_thresholds

    table = least_squares_thresholds(list(methods), rho=rho, steps=steps, rel_tol=rel_tol, lr_low=0.05,
                                     generator=np.random.default_rng(seed))
    return plot_threshold_comparison(table, title=f"least squares on digits, $\\rho$={rho}, T={steps}")


def figure_network_thresholds(
    *, model: str = "mlp", methods: Sequence[str] = ("gd", "usam", "sam", "stablesam-u", "stablesam-n"),
    rho: float = 0.05, n_train: int | None = None, train_lr: float = 0.02, checkpoints: Sequence[int] = (0, 100, 300),
    steps: int = 200, blowup: float = 10.0, rel_tol: float = 2e-2, seed: int = 0, hidden: Sequence[int] = (64,),
):
    """Digits network (float64): predicted (curvature) vs observed thresholds along a GD trajectory."""
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
                                     rel_tol=rel_tol, generator=np.random.default_rng(seed))
    return plot_thresholds_along_training(tidy, title=f"{model} on digits, $\\rho$={rho}, blow-up x{blowup:g} in {steps} steps")
