"""Figures for the stability bounds and the exact least-squares excess risk.

- :func:`plot_bounds_vs_lr`: a stability or excess-risk bound against the learning rate, one curve per
  method (y axis clipped), and each bound's ratio to the reference's below; the learning-rate intervals
  where a method's bound beats the reference's shaded, and each theorem's learning-rate limit as a
  reference line.
- :func:`plot_least_squares_excess_risk`: the exact excess risk ``R(w_T) - R(w*)`` of full-batch GD, USAM,
  SAM and StableSAM on a linear-regression model, with the range where USAM beats GD shaded.

Derived bounds (every method but SGD) are labelled "derived" in the legend.
"""

from __future__ import annotations

import numpy as np

from stablesam.analysis.plots.style import COLUMN_WIDTH, METHOD_COLORS, label

__all__ = ["plot_bounds_vs_lr", "plot_least_squares_excess_risk"]

CLIP = 100.0  # plot_bounds_vs_lr's y axis ends at this multiple of the reference bound's largest value


def plot_bounds_vs_lr(
    *,
    quantity: str = "stability",
    methods=("sgd", "usam", "stablesam-u"),
    reference: str = "sgd",
    L: float = 1.0,
    beta: float = 1.0,
    n: int = 1000,
    T: int = 1000,
    D: float = 1.0,
    rho: float = 0.05,
    gamma: float | None = None,
    g_min: float | None = None,
    lr_min: float = 1e-4,
    num: int = 200,
):
    """Convex ``eps_stab`` (``quantity="stability"``) or excess-risk bound (``"excess-risk"``) against ``eta``.

    StableSAM is drawn under ``assumption="shared-gamma"`` with ``gamma``, by default the smallest value a
    trajectory can meet: ``1/(1 + rho beta)`` for StableSAM-U, ``g_min/(g_min + rho beta)`` for StableSAM-N given
    ``g_min`` (without ``g_min`` StableSAM-N's ``gamma_t`` can be anything in ``(0, 1]``, and ``gamma = 1``, which
    every convex trajectory meets, is drawn). Below 1 the curve is the best case of an *assumption about the
    trajectory*; the legend says so. Shaded: where a method's bound beats ``reference``'s, both within their theorems
    (:func:`stablesam.theory.excess_risk.compare_bounds`, relative tolerance 1e-9); where only one theorem applies
    nothing is shaded (beyond a theorem's limit, dotted, its bound says nothing and is not drawn).

    Two panels: the bounds, the y axis clipped at ``CLIP`` times the reference's largest value (the SAM-family
    bounds grow without limit towards their theorems' edges, 1e37 at the defaults, which would flatten
    everything else); below, each bound over the reference's, with the line 1, where the shaded ranges
    (ratio below 1) are read.
    """
    import matplotlib.pyplot as plt

    from stablesam.core.validation import check_choice
    from stablesam.theory.excess_risk import bound_function, excess_risk_function, lr_limit, regimes
    from stablesam.theory.uniform_stability import stablesam_gamma_range

    check_choice("quantity", quantity, ("stability", "excess-risk"))
    functions, limits, labels = {}, {}, {}
    for method in methods:
        labels[method] = label(method) + ("" if method == "sgd" else " (derived)")
        options = {}
        if method.startswith("stablesam"):
            floor = g_min if method == "stablesam-n" else None
            if gamma is not None:
                value = gamma
            elif method == "stablesam-n" and floor is None:
                value = 1.0
            else:
                value = stablesam_gamma_range(method, "convex", rho=rho, beta=beta, g_min=floor).lowest
            options = {"gamma": value, "assumption": "shared-gamma", "g_min": floor}
            labels[method] = label(method) + rf" (derived; assumes $\gamma_t \leq {value:.3g}$)"
        if quantity == "stability":
            functions[method] = bound_function(method, "convex", beta=beta, L=L, n=n, T=T, rho=rho, **options)
        else:
            functions[method] = excess_risk_function(method, beta=beta, L=L, D=D, n=n, T=T, rho=rho, **options)
        limits[method] = lr_limit(method, "convex", beta=beta, rho=rho, **options)
    lr_max = 1.2 * max(limits.values())
    lrs = np.geomspace(lr_min, lr_max, num)
    values = {method: np.array([functions[method](x) for x in lrs]) for method in methods}
    values = {method: np.where(np.isfinite(v), v, np.nan) for method, v in values.items()}
    fig, (ax, below) = plt.subplots(2, 1, figsize=(COLUMN_WIDTH, 1.05 * COLUMN_WIDTH), sharex=True,
                                    height_ratios=(3, 2), layout="constrained")
    for method in methods:
        ax.plot(lrs, values[method], color=METHOD_COLORS[method], label=labels[method])
        for panel in (ax, below):
            panel.axvline(limits[method], color=METHOD_COLORS[method], linestyle=":", linewidth=0.8)
        if method != reference and reference in functions:
            below.plot(lrs, values[method] / values[reference], color=METHOD_COLORS[method])
            for lo, hi in regimes(functions[method], functions[reference], lr_min, lr_max, num=num):
                for panel in (ax, below):
                    panel.axvspan(lo, hi, color=METHOD_COLORS[method], alpha=0.12, linewidth=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    # The SAM-family bounds grow without limit towards their theorems' edges (1e37 here and there): clipped at
    # CLIP x the reference's largest value, so the range where the bounds compete keeps most of the axis.
    if reference in values and np.isfinite(values[reference]).any():
        finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
        ax.set_ylim(0.5 * finite.min(), CLIP * np.nanmax(values[reference]))
    below.axhline(1.0, color=METHOD_COLORS.get(reference, "0.2"), linewidth=0.8)
    ratios = np.concatenate([values[m] / values[reference] for m in methods if m != reference and reference in values])
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size:  # the part below 1 (where a bound wins) takes about a quarter of the panel
        low = min(float(ratios.min()), 0.99)
        below.set_ylim(low - 0.2 * (1 - low), 1 + max(3 * (1 - low), 0.25))
    below.set_xlabel(r"learning rate $\eta$")
    ax.set_ylabel(r"$\epsilon_{\mathrm{stab}}$ bound" if quantity == "stability" else "excess-risk bound")
    below.set_ylabel(f"bound / {label(reference)}'s")
    ax.set_title(rf"convex, $n = {n}$, $T = {T}$, $\rho = {rho:g}$; shaded: below {label(reference)}, both theorems holding",
                 fontsize=7)
    ax.legend(frameon=False, fontsize=6)
    return fig


def plot_least_squares_excess_risk(
    *,
    dim: int = 3,
    n: int = 30,
    noise_std: float = 0.5,
    rho: float = 0.3,
    T: int = 100,
    num: int = 200,
    seed: int = 0,
    methods=("gd", "usam", "sam", "stablesam-u", "stablesam-n"),
):
    """Exact excess risk after ``T`` full-batch steps against ``eta``; bands along the bottom mark the
    learning-rate ranges where USAM (lower band) and StableSAM-U (upper band) beat GD by more than one part in
    a million (smaller differences are ties). SAM and StableSAM-N are computed in certified high precision
    (:func:`stablesam.theory.least_squares.certified_excess_risk`); a value no precision certifies is not drawn.

    Data: ``Sigma`` with eigenvalues ``1, 1/3, 1/9, ...``, ``w* = (1, -1, 1, ...)``, Gaussian noise; the
    training set is drawn with ``numpy.random.default_rng(seed)``.
    """
    import matplotlib.pyplot as plt

    from stablesam.theory.least_squares import LinearModel, excess_risk_curves, lr_ranges_beating

    model = LinearModel(np.diag(3.0 ** -np.arange(dim)), (-1.0) ** np.arange(dim), noise_std=noise_std)
    X, y = model.sample(n, np.random.default_rng(seed))
    lam = np.linalg.eigvalsh(X.T @ X / n)[-1]
    lr_min, lr_max = 1e-3 / lam, 2.2 / lam
    lrs = np.geomspace(lr_min, lr_max, num)
    curves = excess_risk_curves(model, X, y, methods, lrs, rho=rho, T=T)
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 0.75 * COLUMN_WIDTH))
    for method, risk in curves.items():
        ax.plot(lrs, np.where(np.isfinite(risk), risk, np.nan), color=METHOD_COLORS[method], label=label(method))
    for row, method in enumerate(("usam", "stablesam-u")):  # one band per method along the bottom
        ranges = lr_ranges_beating(model, X, y, method, rho=rho, T=T, lr_min=lr_min, lr_max=lr_max, num=num)
        for k, (lo, hi) in enumerate(ranges):
            ax.axvspan(lo, hi, ymin=0.05 * row, ymax=0.05 * (row + 1), color=METHOD_COLORS[method], alpha=0.6,
                       linewidth=0, label=f"{label(method)} beats GD (> 1e-6 rel.)" if k == 0 else None)
    ax.axvline(2 / lam, color=METHOD_COLORS["gd"], linestyle=":", linewidth=0.8)
    ax.axvline(2 / (lam * (1 + rho * lam)), color=METHOD_COLORS["usam"], linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    finite = np.concatenate([r[np.isfinite(r)] for r in curves.values()])
    ax.set_ylim(finite.min() * 0.5, min(finite.max(), 1e3 * np.median(finite)) * 2)
    ax.set_xlabel(r"learning rate $\eta$")
    ax.set_ylabel(r"excess risk $R(w_T) - R(w^*)$")
    ax.set_title(rf"least squares, $d = {dim}$, $n = {n}$, $T = {T}$, $\rho = {rho:g}$; dotted: $2/\lambda$, USAM's limit",
                 fontsize=7)
    ax.legend(frameon=False, fontsize=6)
    return fig
