r"""Figures of twin experiments (docs/theory.md section 6): SGD vs SAM vs StableSAM, with and without label noise.

Two runs share their initialisation and mini-batch order and are trained on neighbouring sets ``S``, ``S'``
(one example replaced). Over epochs the harness logs the parameter distance ``||w_t - w'_t||``, the
generalization gap (test minus train loss of the run on ``S``), the loss-difference estimate of uniform
stability ``max_z |l(w_t; z) - l(w'_t; z)|`` over test points, and StableSAM's ``gamma = ||g|| / ||g~||``.

:func:`plot_twin_metrics` draws chosen metrics against the epoch: colour = method, line style = label noise
(or learning rate, or rho), line = mean over pairs, band = min..max over pairs; ``stablesam twin`` draws its
figure with it too. This module draws only: the runs are made by :mod:`stablesam.analysis.experiments.twin_experiments`.

Everything here is *observed*: no bound is drawn (see :mod:`stablesam.analysis.plots.bounds` for those). Runs use the
CPU by default, where the harness is bit-reproducible, so a figure's data digest is the same on a rerun.

"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stablesam.analysis.plots.style import FULL_WIDTH, METHOD_COLORS, METHOD_MARKERS, figure_style, label
from stablesam.core.validation import UsageError

__all__ = ["METRIC_LABELS", "plot_twin_metrics"]

# metric -> (panel title, y label, log scale); y labels stay short, the title says which labels a gap is on
# (a long y label ran into the panel on its left).
METRIC_LABELS = {
    "distance": ("distance between twins", r"$\|w_t - w'_t\|$", True),
    "distance_normalized": ("normalized distance", r"$\|w_t - w'_t\| / (\|w_t\| + \|w'_t\|)$", True),
    "gen_gap": ("generalization gap", r"test $-$ train loss", False),
    "gen_gap_clean": ("gap, clean train labels", r"test $-$ train loss", False),
    "train_loss_clean": ("train loss, clean labels", "train loss on clean labels", True),
    "loss_diff_max": ("stability estimate", r"$\max_z |\ell(w_t; z) - \ell(w'_t; z)|$", True),
    "loss_diff_mean": ("mean loss difference", r"$\mathrm{mean}_z |\ell(w_t; z) - \ell(w'_t; z)|$", True),
    "gamma_mean": (r"renormalization factor", r"$\gamma = \|g\| / \|\tilde g\|$ (epoch mean)", False),
    "train_loss": ("train loss", "train loss", True),
    "test_loss": ("test loss", "test loss", True),
    "test_accuracy": ("test accuracy", "test accuracy", False),
}
# Titles that hold only when some run trains on noisy labels (without noise the labels trained on are the clean ones).
_NOISY_TITLES = {"gen_gap": "gap, labels trained on", "train_loss": "train loss, labels trained on"}
_LINESTYLES = ("-", "--", ":", "-.")
_VARIANT_NAMES = {"label_noise": "noise", "lr": r"$\eta$ =", "rho": r"$\rho$ ="}  # legend names of a line style


def plot_twin_metrics(metrics, *, metrics_to_plot: Sequence[str] = ("distance", "gen_gap", "loss_diff_max",
                                                                    "gamma_mean"),
                      linestyle_by: str = "label_noise"):
    r"""One panel per metric against the epoch: mean over pairs (line) and min..max (band).

    Colour and marker: the method; line style: the column ``linestyle_by`` (``label_noise``, ``lr`` or
    ``rho``), named in the legend when it takes more than one value. Pair metrics (``distance``,
    ``loss_diff_*``) come from the ``pair`` rows, per-model ones (``gen_gap``, ``gamma_mean``) from the run on
    ``S``. Non-finite values (a diverged twin) are left out of the mean. ``gamma`` panels draw the SGD line
    ``gamma = 1`` for reference (SGD has no surrogate gradient).
    """
    import matplotlib.pyplot as plt

    if linestyle_by not in _VARIANT_NAMES:
        raise UsageError(f"linestyle_by must be one of {', '.join(map(repr, _VARIANT_NAMES))}; got {linestyle_by!r}")
    frame = metrics[(metrics["layer"].fillna("") == "") & metrics["metric"].isin(metrics_to_plot)
                    & metrics["twin"].isin(["pair", "S"])]
    frame = frame.replace([np.inf, -np.inf], np.nan)
    variants = sorted(frame[linestyle_by].unique())
    noisy = "label_noise" in frame and bool((frame["label_noise"] > 0).any())
    ncols = min(len(metrics_to_plot), 4)
    nrows = -(-len(metrics_to_plot) // ncols)
    with figure_style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(FULL_WIDTH, 2.0 * nrows + 0.5), squeeze=False,
                                 constrained_layout=True)
        for ax, metric in zip(axes.flat, metrics_to_plot):
            title, ylabel, log = METRIC_LABELS.get(metric, (metric, metric, False))
            if noisy:
                title = _NOISY_TITLES.get(metric, title)
            sub = frame[frame["metric"] == metric]
            for (optimizer, variant), group in sub.groupby(["optimizer", linestyle_by], sort=False):
                stats = group.groupby("epoch")["value"].agg(["mean", "min", "max"]).dropna()
                if log:
                    stats = stats[stats["min"] > 0]
                if stats.empty:
                    continue
                color = METHOD_COLORS.get(optimizer, "#777777")
                name = label(optimizer) + (f", {_VARIANT_NAMES[linestyle_by]} {variant:g}" if len(variants) > 1 else "")
                ax.plot(stats.index, stats["mean"], _LINESTYLES[variants.index(variant) % 4], color=color,
                        marker=METHOD_MARKERS.get(optimizer), markersize=2.5, markevery=max(1, len(stats) // 8),
                        label=name)
                ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15, lw=0)
            if metric.startswith("gamma"):
                ax.axhline(1.0, color=METHOD_COLORS["sgd"], lw=0.8, ls=":", label=r"$\gamma = 1$ (SGD)")
            if metric.startswith("gen_gap"):
                ax.axhline(0.0, color="#999999", lw=0.6)
            ax.set(xlabel="epoch", ylabel=ylabel, title=title, yscale="log" if log else "linear")
        for ax in list(axes.flat)[len(metrics_to_plot):]:
            ax.set_visible(False)
        handles, labels = {}, []
        for ax in axes.flat:
            for handle, text in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(text, handle)
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(4, len(handles)),
                   frameon=False)
    return fig
