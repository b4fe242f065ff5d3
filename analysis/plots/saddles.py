"""Figures of C8 (saddle points, hallucinated minimizers) and C10 (sharpness at equal training loss).

Each ``plot_*`` runs its (small) experiment from :mod:`stablesam.analysis.experiments.saddles` or
:mod:`~stablesam.analysis.experiments.flatness` and returns a Figure; the catalogue
(:mod:`stablesam.analysis.figures.catalog`) and ``notebooks/saddles.ipynb`` call the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stablesam.analysis.plots.style import FULL_WIDTH, METHOD_COLORS, METHOD_MARKERS, figure_style, label

__all__ = ["plot_flatness", "plot_hallucination", "plot_network_escapes", "plot_saddle_trajectories", "plot_toy_escapes"]


def plot_saddle_trajectories(curvature: float = -1.0, *, lr: float = 0.1, rho: float = 0.05, x0: float = 0.02,
                             radius: float = 0.5, steps: int = 120,
                             methods: Sequence[str] = ("gd", "usam", "sam", "asam", "stablesam-u", "stablesam-n", "stablesam-a")):
    r"""``|x_t|`` of every method on the 1-D saddle ``f = -a x^2/2`` from ``x_0`` (lines: the exact map,
    :func:`stablesam.theory.saddle.saddle_step`); markers: the closed-form escape step (:func:`~stablesam.theory.saddle.escape_steps`,
    derived) at ``|x| = radius``; dotted: the fixed point ``|x| = rho`` of SAM and StableSAM-N."""
    import matplotlib.pyplot as plt

    from stablesam.theory.saddle import escape_steps, saddle_step

    with figure_style():
        fig, ax = plt.subplots(figsize=(FULL_WIDTH / 2, 2.6), constrained_layout=True)
        for key in methods:
            x = np.empty(steps + 1)
            x[0] = x0
            for t in range(steps):
                x[t + 1] = saddle_step(key, x[t], curvature, lr, rho)
            ax.plot(np.arange(steps + 1), np.maximum(np.abs(x), 1e-12), color=METHOD_COLORS[key], label=label(key))
            t_star = escape_steps(key, curvature, lr, rho, x0, radius)
            if np.isfinite(t_star) and t_star <= steps:
                ax.scatter([t_star], [radius], color=METHOD_COLORS[key], marker=METHOD_MARKERS[key], s=14, zorder=3)
        ax.axhline(rho, color="#999999", ls=":", lw=0.8, label=r"$|x| = \rho$")
        ax.set(yscale="log", ylim=(1e-6, 10 * radius), xlabel="step $t$", ylabel=r"$|x_t|$ (distance to the saddle)",
               title=rf"$f=-a x^2/2$, $a={-curvature:g}$, $\eta={lr:g}$, $\rho={rho:g}$, $x_0={x0:g}$")
        ax.legend(ncol=2, frameon=False, fontsize=6)
    return fig


def plot_toy_escapes(summary, *, saddles: Sequence[str], rhos: Sequence[float], steps: int):
    """Toy saddles: fraction of runs never escaping within ``steps`` (top) and median escape step of those that
    escape (bottom), per method, saddle and ``rho`` (all noise levels and starts pooled; observed). ``summary``:
    :func:`stablesam.analysis.experiments.saddles.summarise_escapes` by method, rho and saddle (the run:
    :func:`stablesam.analysis.experiments.saddle_figures.figure_toy_escapes`)."""
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(summary["method"]))
    cases = [(name, r) for name in saddles for r in rhos]
    width = 0.8 / len(methods)
    with figure_style():
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(FULL_WIDTH, 4.0), sharex=True, constrained_layout=True)
        for i, key in enumerate(methods):
            rows = summary[summary["method"] == key]
            never, median = [], []
            for name, rho in cases:
                match = rows[(rows["saddle"] == name) & ((rows["rho"] == rho) | (rows["rho"] == 0.0))]
                never.append(float(match["never_escaped"].iloc[0]))
                median.append(float(match["median_escape_step"].iloc[0]))
            xs = np.arange(len(cases)) + (i - (len(methods) - 1) / 2) * width
            top.bar(xs, never, width=width, color=METHOD_COLORS[key], label=label(key))
            bottom.scatter(xs, median, color=METHOD_COLORS[key], marker=METHOD_MARKERS[key], s=12)
        top.set(ylabel="fraction never escaping", ylim=(0, 1.05),
                title=f"toy saddles $b x^2/2 - a y^2/2 + y^4/4$, $\\eta = 0.1$, {steps} steps (observed)")
        bottom.set(ylabel="median escape step", yscale="log",
                   xlabel=r"saddle ($b$, $a$) and $\rho$ (GD: $\rho = 0$)")
        bottom.set_xticks(np.arange(len(cases)), [f"{n}\n$\\rho$={r:g}" for n, r in cases])
        top.legend(ncol=4, frameon=False, fontsize=6)
    return fig


def plot_hallucination(*, s: float = 1.0, rho: float = 1.5, lr: float = 0.1, x0: float = 0.3, steps: int = 80):
    r"""The double well ``(x^2 - s^2)^2 / 4`` and SAM's hallucinated minimizer ``x_h = rho - s``
    (:mod:`stablesam.theory.hallucination`, derived): ``f`` and ``f'`` with ``x_h`` marked (left); distance to
    ``x_h`` of SAM (converges), StableSAM-N (hovers within ``eta |f'(x_h)|``, dashed) and GD (goes to a minimum) (middle);
    StableSAM-N's ``gamma = |f'(x)| / |f'(x~)|`` (right)."""
    import matplotlib.pyplot as plt

    from stablesam.theory.hallucination import double_well, double_well_grad, sam_hallucinated_minimizer, stablesam_hover_width

    x_h, slope = sam_hallucinated_minimizer(s, rho)
    width = stablesam_hover_width(s, rho, lr)
    grid = np.linspace(-1.6 * s, 1.6 * s, 400)
    traj, gammas = {}, []
    for key in ("gd", "sam", "stablesam-n"):
        x = np.empty(steps + 1)
        x[0] = x0
        for t in range(steps):
            g = double_well_grad(x[t], s)
            gt = double_well_grad(x[t] + rho * np.sign(g), s)
            if key == "gd":
                x[t + 1] = x[t] - lr * g
            elif key == "sam":
                x[t + 1] = x[t] - lr * gt
            else:
                gamma = abs(g) / abs(gt) if gt != 0 else 0.0
                gammas.append(gamma)
                x[t + 1] = x[t] - lr * gamma * gt
        traj[key] = x
    with figure_style():
        fig, (ax_f, ax_d, ax_g) = plt.subplots(1, 3, figsize=(FULL_WIDTH, 2.3), constrained_layout=True)
        ax_f.plot(grid, double_well(grid, s), color="#000000", label="$f$")
        ax_f.plot(grid, double_well_grad(grid, s), color="#999999", ls="--", label="$f'$")
        ax_f.scatter([x_h, -x_h], [double_well(x_h, s)] * 2, color=METHOD_COLORS["sam"], marker="s", s=14, zorder=3,
                     label=rf"$\pm x_h$, $f'(x_h) = {slope:.3g}$")
        ax_f.set(xlabel="$x$", ylabel="$f$, $f'$", title=rf"double well, $s={s:g}$, $\rho={rho:g}$ (derived)")
        ax_f.legend(frameon=False, fontsize=6)
        for key, x in traj.items():
            ax_d.plot(np.arange(steps + 1), np.maximum(np.abs(x - x_h), 1e-17), color=METHOD_COLORS[key], label=label(key))
        ax_d.axhline(width, color=METHOD_COLORS["stablesam-n"], ls="--", lw=0.8, label=r"$\eta |f'(x_h)|$")
        ax_d.set(yscale="log", xlabel="step $t$", ylabel=r"$|x_t - x_h|$", title=rf"from $x_0 = {x0:g}$, $\eta = {lr:g}$")
        ax_d.legend(frameon=False, fontsize=6)
        ax_g.plot(np.arange(len(gammas)), gammas, color=METHOD_COLORS["stablesam-n"])
        ax_g.set(yscale="log", xlabel="step $t$", ylabel=r"StableSAM-N $\gamma_t$", title=r"$\gamma \to \infty$ at $x_h$")
    return fig


def plot_network_escapes(table, curves, config):
    """Small-initialisation digits MLP (``table, curves`` of
    :func:`stablesam.analysis.experiments.saddles.network_escape_table` run with ``config``): the training loss of
    every seed from the origin (solid) and after the SGD warm start (dashed), one panel per ``rho`` (observed;
    losses above 1 clipped); dotted: the escape threshold (``escape_fraction`` of the origin's loss 1/2); the title
    gives ``lambda_min`` at the origin (derived)."""
    import matplotlib.pyplot as plt

    lam = float(table["lambda_min"].iloc[0])
    with figure_style():
        fig, axes = plt.subplots(1, len(config.rhos), figsize=(FULL_WIDTH, 2.5), sharey=True, constrained_layout=True,
                                 squeeze=False)
        for ax, rho in zip(axes[0], config.rhos):
            for (key, r, seed, start), run in curves.groupby(["method", "rho", "seed", "start"], sort=False):
                if r not in (rho, 0.0):
                    continue
                offset = 0 if start == "origin" else config.steps - len(run) * 10
                ax.plot(run["step"] + max(offset, 0), run["loss"], color=METHOD_COLORS[key], lw=0.7,
                        ls="-" if start == "origin" else "--", label=label(key) if (seed == config.seeds[0] and start == "origin") else None)
            ax.axhline(config.escape_fraction * 0.5, color="#999999", ls=":", lw=0.8)  # the escape threshold
            ax.set(yscale="log", ylim=(0.05, 1.0), xlabel="step",
                   title=rf"$\rho = {rho:g}$ ($\rho|\lambda_{{min}}| = {rho * abs(lam):.2g}$)")
        axes[0][0].set_ylabel("training loss")
        axes[0][0].legend(frameon=False, fontsize=6, ncol=2)
        fig.suptitle(rf"digits MLP from init scale {config.init_scale:g}: origin a strict saddle, $\lambda_{{min}} = {lam:.3g}$",
                     fontsize=8)
    return fig


def plot_flatness(table, config):
    """C10 (``table`` of :func:`stablesam.analysis.experiments.flatness.flatness_table` run with ``config``): top
    Hessian eigenvalue (left) and Hutchinson trace (right, bars: 2 standard errors) per method and seed, at the
    first step reaching each stated loss and at the end (observed)."""
    import matplotlib.pyplot as plt

    points = [f"loss<={t:g}" for t in config.target_losses] + ["final"]
    width = 0.8 / len(config.methods)
    with figure_style():
        fig, (ax_l, ax_t) = plt.subplots(1, 2, figsize=(FULL_WIDTH, 2.5), constrained_layout=True)
        for i, key in enumerate(config.methods):
            rows = table[table["method"] == key]
            for j, point in enumerate(points):
                sel = rows[rows["point"] == point]
                xs = np.full(len(sel), j + (i - (len(config.methods) - 1) / 2) * width)
                ax_l.scatter(xs, sel["lambda_max"], color=METHOD_COLORS[key], marker=METHOD_MARKERS[key], s=10,
                             label=label(key) if j == 0 else None)
                ax_t.errorbar(xs, sel["trace"], yerr=2 * sel["trace_se"], color=METHOD_COLORS[key], fmt=METHOD_MARKERS[key],
                              ms=3, lw=0.7)
        for ax, name in ((ax_l, r"$\lambda_{max}$ (Lanczos)"), (ax_t, r"trace $H$ (Hutchinson $\pm 2$ SE)")):
            ax.set_xticks(np.arange(len(points)), points)
            ax.set(xlabel="first step reaching the training loss / end", ylabel=name)
        ax_l.legend(frameon=False, fontsize=6)
        ax_l.set_title(rf"digits tanh MLP, $\eta = {config.lr:g}$, $\rho = {config.rho:g}$ (observed)")
    return fig
