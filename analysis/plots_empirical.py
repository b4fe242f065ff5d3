r"""Figures of twin experiments (THEORY.md section 6): SGD vs SAM vs StableSAM, with and without label noise.

Two runs share their initialisation and mini-batch order and are trained on neighbouring sets ``S``, ``S'``
(one example replaced). Over epochs the harness logs the parameter distance ``||w_t - w'_t||``, the
generalization gap (test minus train loss of the run on ``S``), the loss-difference estimate of uniform
stability ``max_z |l(w_t; z) - l(w'_t; z)|`` over test points, and StableSAM's ``gamma = ||g|| / ||g~||``.

- :func:`twin_metrics` runs one :class:`stability.twin.TwinConfig` per (optimizer, label noise) and returns
  the tidy metrics of all of them (columns of ``metrics.csv``).
- :func:`plot_twin_metrics` draws chosen metrics against the epoch: colour = method, line style = label noise
  (or learning rate, or rho), line = mean over pairs, band = min..max over pairs; ``stablesam twin`` draws its
  figure with it too.
- :func:`figure_twin_comparison` and :func:`figure_label_noise` run and draw (the catalogue entries).

Everything here is *observed*: no bound is drawn (see :mod:`analysis.plots_bounds` for those). Runs use the
CPU by default, where the harness is bit-reproducible, so a figure's data digest is the same on a rerun.

Example
-------
>>> from analysis.plots_empirical import figure_twin_comparison
>>> fig = figure_twin_comparison(epochs=2, n_train=100)  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analysis.style import FULL_WIDTH, METHOD_COLORS, METHOD_MARKERS, figure_style, label

__all__ = ["METRIC_LABELS", "figure_label_noise", "figure_twin_comparison", "plot_twin_metrics", "twin_metrics"]

# metric -> (panel title, y label, log scale)
METRIC_LABELS = {
    "distance": ("distance between twins", r"$\|w_t - w'_t\|$", True),
    "distance_normalized": ("normalized distance", r"$\|w_t - w'_t\| / (\|w_t\| + \|w'_t\|)$", True),
    "gen_gap": ("gap, noisy train labels", r"test loss $-$ train loss (labels trained on)", False),
    "gen_gap_clean": ("gap, clean train labels", r"test loss $-$ train loss (clean labels)", False),
    "train_loss_clean": ("train loss, clean labels", "train loss on clean labels", True),
    "loss_diff_max": ("stability estimate", r"$\max_z |\ell(w_t; z) - \ell(w'_t; z)|$", True),
    "loss_diff_mean": ("mean loss difference", r"$\mathrm{mean}_z |\ell(w_t; z) - \ell(w'_t; z)|$", True),
    "gamma_mean": (r"renormalization factor", r"$\gamma = \|g\| / \|\tilde g\|$ (epoch mean)", False),
    "train_loss": ("train loss", "train loss", True),
    "test_loss": ("test loss", "test loss", True),
    "test_accuracy": ("test accuracy", "test accuracy", False),
}
_LINESTYLES = ("-", "--", ":", "-.")
_VARIANT_NAMES = {"label_noise": "noise", "lr": r"$\eta$ =", "rho": r"$\rho$ ="}  # legend names of a line style


def twin_metrics(optimizers: Sequence[str] = ("sgd", "sam", "stablesam-u"), *, label_noises: Sequence[float] = (0.0,),
                 lr: float = 0.1, rho: float = 0.05, epochs: int = 12, n_train: int | None = 400,
                 n_test: int | None = 200, seeds: Sequence[int] = (0,), replaced_indices: Sequence[int] = (0, 1, 2),
                 model: str = "mlp", dataset: str = "digits", batch_size: int = 64, momentum: float = 0.0,
                 device: str = "cpu", out_dir: str | Path | None = None):
    """Run one twin experiment per (optimizer, label noise) and return their tidy metrics (one DataFrame).

    Each run goes to ``out_dir/<optimizer>_noise<p>`` (kept, resumable), or to a temporary directory removed
    afterwards when ``out_dir`` is None. Every other setting is :class:`stability.twin.TwinConfig`'s.
    """
    import pandas as pd

    from stability.twin import TwinConfig, run_twin

    configs = [
        TwinConfig(dataset=dataset, model=model, optimizer=optimizer, lr=lr, rho=rho, momentum=momentum,
                   epochs=epochs, batch_size=batch_size, seeds=tuple(seeds), replaced_indices=tuple(replaced_indices),
                   label_noise=noise, n_train=n_train, n_test=n_test, device=device,
                   name=f"{optimizer}_noise{noise:g}")
        for noise in label_noises for optimizer in optimizers
    ]  # built (and validated) before any run starts
    with tempfile.TemporaryDirectory(prefix="twin-") as scratch:
        root = Path(scratch if out_dir is None else out_dir)
        frames = [pd.read_csv(run_twin(config, root / config.name, progress=False) / "metrics.csv")
                  for config in configs]
    return pd.concat(frames, ignore_index=True)


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
        raise ValueError(f"linestyle_by must be one of {', '.join(map(repr, _VARIANT_NAMES))}; got {linestyle_by!r}")
    frame = metrics[(metrics["layer"].fillna("") == "") & metrics["metric"].isin(metrics_to_plot)
                    & metrics["twin"].isin(["pair", "S"])]
    frame = frame.replace([np.inf, -np.inf], np.nan)
    variants = sorted(frame[linestyle_by].unique())
    ncols = min(len(metrics_to_plot), 4)
    nrows = -(-len(metrics_to_plot) // ncols)
    with figure_style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(FULL_WIDTH, 2.0 * nrows + 0.5), squeeze=False,
                                 constrained_layout=True)
        for ax, metric in zip(axes.flat, metrics_to_plot):
            title, ylabel, log = METRIC_LABELS.get(metric, (metric, metric, False))
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


def figure_twin_comparison(optimizers: Sequence[str] = ("sgd", "sam", "stablesam-u"), *, lr: float = 0.1,
                           rho: float = 0.05, epochs: int = 12, n_train: int | None = 400, n_test: int | None = 200,
                           replaced_indices: Sequence[int] = (0, 1, 2), seeds: Sequence[int] = (0,),
                           model: str = "mlp"):
    """SGD vs SAM vs StableSAM on digits: distance, gap, stability estimate and gamma over epochs (observed)."""
    metrics = twin_metrics(optimizers, lr=lr, rho=rho, epochs=epochs, n_train=n_train, n_test=n_test,
                           replaced_indices=replaced_indices, seeds=seeds, model=model)
    fig = plot_twin_metrics(metrics)
    fig.suptitle(rf"twin runs on digits ({model}), $\eta = {lr:g}$, $\rho = {rho:g}$, "
                 rf"{len(replaced_indices) * len(seeds)} pairs", fontsize=8)
    return fig


def figure_label_noise(optimizers: Sequence[str] = ("sgd", "sam", "stablesam-u"), *,
                       label_noises: Sequence[float] = (0.0, 0.3), lr: float = 0.1, rho: float = 0.05,
                       epochs: int = 12, n_train: int | None = 400, n_test: int | None = 200,
                       replaced_indices: Sequence[int] = (0, 1, 2), seeds: Sequence[int] = (0,), model: str = "mlp"):
    """Label noise: distance, stability estimate, train loss on the labels trained on and on the clean labels, and
    both gaps, over epochs; clean (solid) vs noisy (dashed) training labels.

    ``gen_gap`` = test loss (clean labels) - train loss on the labels the model fits (noisy ones under label
    noise): negative when the model fits noise it cannot predict on test. ``gen_gap_clean`` = test loss - train loss
    on the same training inputs with their clean labels: the generalization gap in the usual sense.
    """
    import pandas as pd

    metrics = twin_metrics(optimizers, label_noises=label_noises, lr=lr, rho=rho, epochs=epochs, n_train=n_train,
                           n_test=n_test, replaced_indices=replaced_indices, seeds=seeds, model=model)
    # Without noise the labels trained on are the clean ones (the harness logs *_clean only under label noise).
    noiseless = metrics[(metrics["label_noise"] == 0) & metrics["metric"].isin(["train_loss", "gen_gap"])].copy()
    noiseless["metric"] = noiseless["metric"] + "_clean"
    metrics = pd.concat([metrics, noiseless], ignore_index=True)
    fig = plot_twin_metrics(metrics, metrics_to_plot=("distance", "loss_diff_max", "train_loss", "train_loss_clean",
                                                      "gen_gap", "gen_gap_clean"))
    fig.suptitle(rf"label noise {' vs '.join(f'{p:g}' for p in label_noises)} on digits ({model}), "
                 rf"$\eta = {lr:g}$, $\rho = {rho:g}$", fontsize=8)
    return fig
