"""Exact expected stability of SGD and USAM on least squares with standardised digits, beside Hardt et al.'s bound.

:func:`digits_twins` builds the neighbouring datasets; :func:`exact_stability_table` evaluates
:func:`stablesam.theory.twin_moments.expected_twin_distance` (one example per step, uniform with replacement; StableSAM
equals SGD there) on a grid of learning rates as a tidy table; :func:`plot_exact_stability` draws
``sqrt(E||w_T - w'_T||^2)`` (an upper bound on ``E||w_T - w'_T||``) and ``||E[w_T - w'_T]||`` (a lower bound), both
exact, against ``eta``, with the distance form of Hardt et al. 2016, Thm 3.8 (``E delta_T <= 2 eta L T / n`` for
``eta <= 2/beta``; here ``beta = max_i ||x_i||^2`` and ``L`` the largest per-example gradient norm on the ball
``||w - w_hat|| <= ||w_0 - w_hat||``, an assumption about the iterates, stated in the legend).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stablesam.analysis.plots.style import COLUMN_WIDTH, METHOD_COLORS, METHOD_MARKERS, label

__all__ = ["digits_twins", "exact_stability_table", "monte_carlo_twin_distance", "plot_exact_stability"]

MC_METHODS = ("sgd", "usam", "stablesam-u", "stablesam-n")


def digits_twins(*, replaced_index: int = 0, n: int | None = None):
    """``(X, y, X', y')`` on the standardised digits least-squares data
    (:func:`stablesam.analysis.experiments.least_squares_digits.standardised_digits`): ``S`` is the first ``n`` examples (default: all but
    the last), ``S'`` is ``S`` with example ``replaced_index`` replaced by the last."""
    from stablesam.analysis.experiments.least_squares_digits import standardised_digits

    design, target = standardised_digits()
    n = len(design) - 1 if n is None else n
    X, y = design[:n].copy(), target[:n].copy()
    X2, y2 = X.copy(), y.copy()
    X2[replaced_index], y2[replaced_index] = design[-1], target[-1]
    return X, y, X2, y2


def _hrs_constants(X, y, w0):
    """``beta = max ||x_i||^2`` and ``L`` = max per-example gradient norm on ``||w - w_hat|| <= ||w0 - w_hat||``."""
    w_hat = np.linalg.lstsq(X, y, rcond=None)[0]
    radius = np.linalg.norm(w0 - w_hat)
    norms = np.linalg.norm(X, axis=1)
    L = float(np.max(norms * (np.abs(X @ w_hat - y) + norms * radius)))
    return float(np.max(norms**2)), L


def monte_carlo_twin_distance(X, y, X2, y2, lr: float, *, method: str, rho: float, steps: int, batch_size: int,
                              pairs: int, generator: np.random.Generator):
    """Monte Carlo ``(mean, half-width of the 99% CI)`` of ``||w_T - w'_T||`` over ``pairs`` twin pairs from ``w_0 = 0``
    with mini-batches of ``batch_size`` indices drawn uniformly with replacement (shared by the twins), for the
    methods whose mini-batch step is not affine (StableSAM) and, for comparison, SGD and USAM. Float64, numpy."""
    from stablesam.core.validation import check_choice, check_integer

    check_choice("method", method, MC_METHODS)
    steps, batch_size = check_integer("steps", steps, minimum=0), check_integer("batch_size", batch_size, minimum=1)
    pairs = check_integer("pairs", pairs, minimum=2)
    n, d = X.shape
    w = np.zeros((2, pairs, d))
    data = np.stack([X, X2]), np.stack([y, y2])

    def batch_grad(v, xb, yb):  # mean over the batch of x (x.v - y); v (2, pairs, d), xb (2, pairs, B, d)
        residual = np.einsum("zpbd,zpd->zpb", xb, v) - yb
        return np.einsum("zpb,zpbd->zpd", residual, xb) / batch_size

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(steps):
            idx = generator.integers(n, size=(pairs, batch_size))
            xb, yb = data[0][:, idx], data[1][:, idx]
            g = batch_grad(w, xb, yb)
            if method == "sgd":
                w = w - lr * g
                continue
            g_norm = np.linalg.norm(g, axis=-1, keepdims=True)
            ascent = g if method in ("usam", "stablesam-u") else np.divide(g, g_norm, out=np.zeros_like(g), where=g_norm > 0)
            surrogate = batch_grad(w + rho * ascent, xb, yb)
            if method == "usam":
                w = w - lr * surrogate
            else:
                s_norm = np.linalg.norm(surrogate, axis=-1, keepdims=True)
                w = w - lr * np.divide(g_norm, s_norm, out=np.zeros_like(s_norm), where=s_norm > 0) * surrogate
    distance = np.linalg.norm(w[0] - w[1], axis=-1)
    return float(distance.mean()), float(2.576 * distance.std(ddof=1) / np.sqrt(pairs))


def exact_stability_table(lrs, *, methods: Sequence[tuple[str, float]] = (("sgd", 0.0), ("usam", 0.01), ("usam", 0.001)),
                          steps: int = 200, n: int | None = None, replaced_index: int = 0):
    """Tidy table (``method, rho, lr, step, metric, value``): ``rms_distance`` and ``mean_difference_norm`` at
    ``t = steps`` for every ``(method, rho)`` and learning rate, plus ``hrs_bound`` for SGD where its condition holds."""
    import pandas as pd

    from stablesam.theory.twin_moments import expected_twin_distance

    X, y, X2, y2 = digits_twins(replaced_index=replaced_index, n=n)
    lrs = np.asarray(lrs, dtype=np.float64)
    beta, L = _hrs_constants(X, y, np.zeros(X.shape[1]))
    rows = []
    for method, rho in methods:
        result = expected_twin_distance(X, y, X2, y2, lrs, method=method, rho=rho, steps=steps)
        for lr, rms, low in zip(lrs, result.rms[:, -1], result.mean_difference_norm[:, -1]):
            rows += [{"method": method, "rho": rho, "lr": lr, "step": steps, "metric": "rms_distance", "value": rms},
                     {"method": method, "rho": rho, "lr": lr, "step": steps, "metric": "mean_difference_norm", "value": low}]
    for lr in lrs[lrs <= 2.0 / beta]:
        rows.append({"method": "sgd", "rho": 0.0, "lr": lr, "step": steps, "metric": "hrs_bound", "value": 2 * lr * L * steps / len(X)})
    table = pd.DataFrame(rows)
    table.attrs.update(beta=beta, L=L, n=len(X))
    return table


def plot_exact_stability(*, lr_min: float = 1e-6, lr_max: float = 3e-3, num: int = 12, steps: int = 200,
                         rhos: Sequence[float] = (0.001, 0.01), n: int | None = None, batch_size: int = 32,
                         mc_lrs: Sequence[float] = (1e-5, 1e-4, 1e-3), pairs: int = 200, seed: int = 0, table=None):
    """Exact ``E||w_T - w'_T||`` bracket of SGD and USAM (several ``rho``) against ``eta`` on standardised digits,
    beside Hardt et al.'s bound; vertical marks where USAM's upper end is below SGD's lower end (USAM certainly more
    stable). One example per step, uniform with replacement; StableSAM-U and -N coincide with SGD there.
    Markers: Monte Carlo means of ``||w_T - w'_T||`` with 99% confidence intervals (``pairs`` pairs) for mini-batches
    of ``batch_size`` (not affine for StableSAM, so no exact value) for SGD, USAM (largest ``rho``) and StableSAM-U/-N.
    ``table``: the :func:`exact_stability_table` of these settings, when already computed (its learning rates and
    methods are drawn; otherwise it is computed here)."""
    import matplotlib.pyplot as plt

    methods = [("sgd", 0.0)] + [("usam", r) for r in rhos]
    if table is None:
        table = exact_stability_table(np.geomspace(lr_min, lr_max, num), methods=methods, steps=steps, n=n)
    else:
        methods = list(dict.fromkeys((m, float(r)) for m, r in zip(table["method"], table["rho"])))
    lrs = np.sort(table["lr"].unique())
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 0.8 * COLUMN_WIDTH))
    styles = ["-", "--", "-.", ":"]
    curves = {}
    for k, (method, rho) in enumerate(methods):
        part = table[(table["method"] == method) & (table["rho"] == rho)]
        high = part[part["metric"] == "rms_distance"]["value"].to_numpy()
        low = part[part["metric"] == "mean_difference_norm"]["value"].to_numpy()
        curves[(method, rho)] = (low, high)
        name = label(method) + ("" if method == "sgd" else rf", $\rho = {rho:g}$") + " (exact, derived)"
        color = METHOD_COLORS[method]
        finite = np.isfinite(high) & (high < 1e6)
        ax.fill_between(lrs[finite], low[finite], high[finite], color=color, alpha=0.15, lw=0)
        ax.plot(lrs[finite], high[finite], color=color, ls=styles[k % 4], label=name)
    sgd_low, _ = curves[("sgd", 0.0)]
    for method, rho in methods[1:]:
        _, high = curves[(method, rho)]
        better = high < sgd_low
        for lr in lrs[better]:
            ax.axvline(lr, color=METHOD_COLORS[method], alpha=0.3, lw=3)
    bound = table[table["metric"] == "hrs_bound"]
    ax.plot(bound["lr"], bound["value"], color="black", lw=0.8, ls=":",
            label=r"Hardt et al. Thm 3.8: $2\eta L T/n$ ($L$ on a ball, assumed)")
    ax.axvline(2.0 / table.attrs["beta"], color="black", lw=0.6, ls="--", label=r"$2/\beta$, $\beta = \max\|x_i\|^2$")
    if pairs and mc_lrs:
        X, y, X2, y2 = digits_twins(n=n)
        rng = np.random.default_rng(seed)
        rho = max(rhos) if rhos else 0.0
        for k, method in enumerate(("sgd", "usam", "stablesam-u", "stablesam-n")):
            points = [monte_carlo_twin_distance(X, y, X2, y2, lr, method=method, rho=rho, steps=steps,
                                                batch_size=batch_size, pairs=pairs, generator=rng) for lr in mc_lrs]
            mean, half = np.array(points).T
            shown = np.isfinite(mean) & (mean < 1e6)
            xs = np.asarray(mc_lrs)[shown] * (1 + 0.08 * (k - 1.5))  # nudged apart so every marker stays visible
            ax.errorbar(xs, mean[shown], yerr=half[shown], fmt=METHOD_MARKERS[method], ms=3, lw=0.8, color=METHOD_COLORS[method],
                        label=f"{label(method)}, batch {batch_size} (Monte Carlo, 99% CI)")
    ax.set(xscale="log", yscale="log", xlabel=r"learning rate $\eta$", ylabel=r"$E\|w_T - w'_T\|$ (band: exact bracket)")
    ax.set_title(rf"least squares, standardised digits, $T = {steps}$; lines: one example per step (StableSAM = SGD)", fontsize=6)
    ax.legend(frameon=False, fontsize=5)
    return fig
