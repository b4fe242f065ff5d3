r"""Figures of the quadratic-model theory (docs/theory.md sections 2 and 3).

- :func:`plot_stability_phase_diagram`: learning rate x sharpness, one panel per method, each cell
  classified by simulating the map (diverges / converges / cycles), with the exact edge as a line.
- :func:`plot_gamma_vs_grad_norm`: StableSAM's renormalization factor against the gradient norm: the exact
  ranges of both variants and gamma measured along simulated trajectories.
- :func:`threshold_table` and :func:`plot_thresholds`: predicted (exact) vs observed (bisection on the
  simulated map) divergence thresholds.

Every function returns a :class:`matplotlib.figure.Figure`; saving is the caller's business.

Example
-------
>>> from stablesam.analysis.plots.quadratic import plot_stability_phase_diagram
>>> fig = plot_stability_phase_diagram(rho=0.1, n_lr=20, n_sharpness=20, steps=200)  # doctest: +SKIP
>>> fig.savefig("phase.pdf")  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from stablesam.analysis.plots.style import COLUMN_WIDTH, FULL_WIDTH, METHOD_COLORS, METHOD_MARKERS, figure_style, label
from stablesam.core.methods import method_keys
from stablesam.core.validation import UsageError

__all__ = ["OUTCOMES", "classify_outcomes", "figure_thresholds", "plot_gamma_vs_grad_norm",
           "plot_stability_phase_diagram", "plot_thresholds", "threshold_table"]

PHASE_METHODS = method_keys(quadratic=True, full_batch=True)
OUTCOMES = ("converges", "cycles", "diverges")
_OUTCOME_COLORS = ("#56B4E9", "#E69F00", "#D55E00")  # Okabe-Ito sky blue, orange, vermillion
_LR_LABEL = r"learning rate $\eta$"
_SHARPNESS_LABEL = r"sharpness $\lambda_{\max}$"


def classify_outcomes(method: str, lr, sharpness, *, rho: float, ratio: float = 0.1, steps: int = 5000,
                      cycle_tol: float = 1e-6) -> np.ndarray:
    r"""Outcome index (into :data:`OUTCOMES`) of ``method`` on the spectrum ``(lambda, ratio * lambda)``.

    One vectorised simulation over the broadcast of ``lr`` and ``sharpness``: *diverges* if it blew up,
    *cycles* if its asymptotic factor is ``>= 1 - cycle_tol`` without blowing up (SAM's 2-cycle, or growth too
    slow for the horizon), *converges* otherwise. Start: all ones in the eigenbasis.

    A finite horizon cannot separate a slow approach from convergence: SAM reaches its 2-cycle (amplitude
    ``c = eta rho lambda/(2 - eta lambda)``) only after about ``ln(||w_0||/c)/(eta lambda)`` steps, so cells with
    ``eta lambda`` below roughly ``ln(||w_0||/c)/steps`` are reported as *converges*.
    """
    from stablesam.theory.simulate import simulate

    lr, sharpness = np.broadcast_arrays(np.asarray(lr, dtype=np.float64), np.asarray(sharpness, dtype=np.float64))
    spectrum = np.stack([sharpness, ratio * sharpness], axis=-1)
    run = simulate(method, spectrum, lr=lr, rho=rho, steps=steps)
    return np.where(run.diverged, 2, np.where(run.rate >= 1.0 - cycle_tol, 1, 0))


def plot_stability_phase_diagram(*, rho: float = 0.1, lr_range=(2e-2, 1.0), sharpness_range=(1.0, 100.0),
                                 n_lr: int = 60, n_sharpness: int = 60, ratio: float = 0.1, steps: int = 5000,
                                 methods=PHASE_METHODS):
    r"""Stability phase diagram: learning rate x sharpness, one panel per method (simulated), exact edges overlaid.

    The quadratic has spectrum ``(lambda, ratio * lambda)``. Lines: the exact threshold of each method,
    ``lambda = 2/eta`` (GD, SAM, StableSAM) and the USAM edge ``(sqrt(1 + 8 rho/eta) - 1)/(2 rho)``
    (Agarwala and Dauphin 2023). Both axes are logarithmic. Cells are classified by
    :func:`classify_outcomes` (see its note on the finite horizon).
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    from stablesam.theory.stability_edge import max_stable_sharpness

    lrs = np.geomspace(*lr_range, n_lr)
    sharps = np.geomspace(*sharpness_range, n_sharpness)
    grid_lr, grid_sharp = np.meshgrid(lrs, sharps)
    cmap = ListedColormap(_OUTCOME_COLORS)
    norm = BoundaryNorm([-0.5, 0.5, 1.5, 2.5], cmap.N)
    with figure_style():
        fig, axes = plt.subplots(1, len(methods), figsize=(FULL_WIDTH, 1.9), sharey=True, constrained_layout=True)
        axes = np.atleast_1d(axes)
        for ax, method in zip(axes, methods):
            outcome = classify_outcomes(method, grid_lr, grid_sharp, rho=rho, ratio=ratio, steps=steps)
            ax.pcolormesh(lrs, sharps, outcome, cmap=cmap, norm=norm, shading="nearest", rasterized=True)
            edge_method = "usam" if method == "usam" else "gd"
            ax.plot(lrs, max_stable_sharpness(edge_method, lrs, rho=rho), color="black", lw=1.0, ls="--",
                    label="exact edge")
            derived = method in ("sam", "stablesam-u", "stablesam-n")  # their edges are derived (quadratic model)
            ax.set(xscale="log", yscale="log", xlim=lr_range, ylim=sharpness_range,
                   title=label(method) + ("*" if derived else ""), xlabel=_LR_LABEL)
        axes[0].set_ylabel(_SHARPNESS_LABEL)
        handles = [Patch(color=c, label=o) for c, o in zip(_OUTCOME_COLORS, OUTCOMES)]
        handles.append(plt.Line2D([], [], color="black", ls="--", label="exact edge (*: derived, quadratic model)"))
        fig.legend(handles=handles, loc="outside lower center", ncol=4, frameon=False)
        fig.suptitle(rf"quadratic with spectrum $(\lambda, {ratio:g}\lambda)$, $\rho = {rho:g}$, {steps} steps")
    return fig


def plot_gamma_vs_grad_norm(eigenvalues=(4.0, 1.0, 0.25), *, rho: float = 0.1, lr: float = 0.3,
                            grad_norm_range=(1e-4, 1e2), steps: int = 300, n_starts: int = 8,
                            rng: np.random.Generator | None = None):
    r"""gamma = ||g||/||g~|| against ||g||: exact ranges (bands) and gamma along simulated trajectories (dots).

    StableSAM-U: ``[1/(1 + rho lambda_max), 1/(1 + rho lambda_min)]``, independent of ``||g||``; StableSAM-N:
    ``[||g||/(||g|| + rho lambda_max), ||g||/(||g|| + rho lambda_min)]``, tending to 0 near a minimum. The dots
    follow ``n_starts`` random starts (``rng``; default ``numpy.random.default_rng(0)``).
    """
    import matplotlib.pyplot as plt

    from stablesam.theory.quadratic import Quadratic, step
    from stablesam.theory.renormalization import gamma, gamma_range

    rng = np.random.default_rng(0) if rng is None else rng
    lam = np.asarray(eigenvalues, dtype=np.float64)
    model = Quadratic.from_spectrum(lam)
    grid = np.geomspace(*grad_norm_range, 200)
    with figure_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.4), constrained_layout=True)
        for method in ("stablesam-u", "stablesam-n"):
            low, high = gamma_range(method, lam, rho, grad_norm=grid if method == "stablesam-n" else None)
            low, high = np.broadcast_to(low, grid.shape), np.broadcast_to(high, grid.shape)
            ax.fill_between(grid, low, high, color=METHOD_COLORS[method], alpha=0.25, lw=0,
                            label=f"{label(method)} exact range (derived)")
            w = rng.standard_normal((n_starts, lam.size)) * 10.0
            g_norms, gammas = [], []
            for _ in range(steps):
                g_norms.append(np.linalg.norm(lam * w, axis=-1))
                gammas.append(gamma(method, lam, w, rho))
                w = step(method, model, w, lr, rho)
            g_norms, gammas = np.concatenate(g_norms), np.concatenate(gammas)
            shown = (g_norms >= grad_norm_range[0]) & (g_norms <= grad_norm_range[1])
            ax.scatter(g_norms[shown], gammas[shown], s=2, color=METHOD_COLORS[method], marker=METHOD_MARKERS[method],
                       label=f"{label(method)} along trajectories", rasterized=True)
        ax.axhline(1.0, color="black", lw=0.8, ls=":", label=r"$\gamma = 1$ (SGD)")
        ax.set(xscale="log", ylim=(0, 1.05), xlabel=r"gradient norm $\|g\|$",
               ylabel=r"$\gamma = \|g\| / \|\tilde g\|$",
               title=rf"$\lambda = ({', '.join(f'{v:g}' for v in lam)})$, $\rho = {rho:g}$, $\eta = {lr:g}$")
        ax.legend(frameon=False, loc="lower right")
    return fig


def threshold_table(spectra, *, methods=PHASE_METHODS, rhos=(0.05, 0.2), steps: int = 2000, blowup: float = 1e8):
    """Tidy table of exact vs observed divergence thresholds: one row per (method, spectrum, rho).

    Columns ``method, rho, spectrum, lambda_max, predicted_max_stable_lr, observed_max_stable_lr, relative_gap,
    expected_bias`` (``ln(blowup)/steps``). ``spectra`` is a sequence of eigenvalue lists of equal length.
    """
    import pandas as pd

    from stablesam.theory.simulate import observed_lr_max
    from stablesam.theory.quadratic_divergence import divergence_threshold

    lam = np.asarray(spectra, dtype=np.float64)
    if lam.ndim != 2:
        raise UsageError(f"spectra must be a sequence of equal-length eigenvalue lists, got shape {lam.shape}")
    rho = np.asarray(rhos, dtype=np.float64)[:, None]
    rows = []
    for method in methods:
        predicted = divergence_threshold(method, lam, rho=rho)
        observed = observed_lr_max(method, lam, rho=rho, steps=steps, blowup=blowup)
        for (i, r), value in np.ndenumerate(observed):
            rows.append({"method": method, "rho": float(rho[i, 0]), "spectrum": ",".join(f"{v:g}" for v in lam[r]),
                         "lambda_max": float(lam[r].max()), "predicted_max_stable_lr": float(predicted[i, r]),
                         "observed_max_stable_lr": float(value), "relative_gap": float(value / predicted[i, r] - 1),
                         "expected_bias": float(np.log(blowup) / steps)})
    return pd.DataFrame(rows)


def plot_thresholds(table):
    """Observed vs predicted thresholds (log-log), one colour/marker per method, with the identity line."""
    import matplotlib.pyplot as plt

    with figure_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, COLUMN_WIDTH), constrained_layout=True)
        for method, group in table.groupby("method", sort=False):
            ax.scatter(group["predicted_max_stable_lr"], group["observed_max_stable_lr"], color=METHOD_COLORS.get(method),
                       marker=METHOD_MARKERS.get(method, "o"), s=18, label=label(method), alpha=0.8)
        limits = [table[["predicted_max_stable_lr", "observed_max_stable_lr"]].min().min() / 1.2,
                  table[["predicted_max_stable_lr", "observed_max_stable_lr"]].max().max() * 1.2]
        ax.plot(limits, limits, color="black", lw=0.8, ls="--", label="observed = predicted")
        ax.set(xscale="log", yscale="log", xlim=limits, ylim=limits, aspect="equal",
               xlabel=r"predicted threshold $\eta^*$ (exact)", ylabel=r"observed threshold $\eta^*$ (simulation)")
        ax.legend(frameon=False, loc="upper left")
    return fig


def figure_thresholds(spectra=((2.0, 1.0), (5.0, 0.5), (10.0, 1.0), (50.0, 5.0), (1.0, 0.1)), *,
                      methods=PHASE_METHODS, rhos=(0.05, 0.2), steps: int = 2000):
    """:func:`plot_thresholds` of :func:`threshold_table` (the figure of the catalogue: parameters in, figure out)."""
    return plot_thresholds(threshold_table(spectra, methods=methods, rhos=rhos, steps=steps))
