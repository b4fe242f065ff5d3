r"""Figures of the quadratic dynamics: SAM's 2-cycle, StableSAM's 2-D regimes, saddles (docs/theory.md section 2).

Each figure sets a closed form of :mod:`theory` (lines) against the iteration of the exact map
(:func:`stablesam.theory.quadratic.step`, :func:`stablesam.theory.simulate.simulate`; markers), so that a reader sees at once
what is proved and that the simulation agrees with it.

- :func:`plot_sam_cycle`: SAM's trajectory settling on the 2-cycle ``w = +-c v_1`` with
  ``c = eta rho lambda_1 / (2 - eta lambda_1)``, and the amplitude against ``eta lambda_1``.
- :func:`plot_stablesam_2d_rates`: the asymptotic per-step factor of StableSAM-U and -N in 2-D against the
  learning rate (three regimes: flat, bouncing, sharp), with GD's and USAM's for comparison.
- :func:`plot_saddle_multipliers`: the one-step multiplier ``x'/x`` at a 1-D saddle of curvature
  ``-a`` against ``rho a`` (USAM, StableSAM-U) and against ``|x| / rho`` (SAM, StableSAM-N).
- :func:`plot_max_stable_lr`: the edge formulas of :mod:`stablesam.theory.stability_edge`, ``eta*`` against the sharpness
  for several radii, and SAM's ``eta*`` against the gradient norm.

Every function returns a :class:`matplotlib.figure.Figure`.

Example
-------
>>> from stablesam.analysis.plots.dynamics import plot_sam_cycle
>>> fig = plot_sam_cycle(steps=60)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from stablesam.analysis.plots.style import COLUMN_WIDTH, FULL_WIDTH, METHOD_COLORS, METHOD_MARKERS, figure_style, label

__all__ = ["plot_max_stable_lr", "plot_saddle_multipliers", "plot_sam_cycle", "plot_stablesam_2d_rates"]

_LR_LABEL = r"learning rate $\eta$"


def _trajectory(method: str, eigenvalues, start, *, lr, rho, steps: int) -> np.ndarray:
    """Iterates ``w_0 .. w_steps`` of the exact map, shape ``(steps + 1, d)``."""
    from stablesam.theory.quadratic import Quadratic, step

    model = Quadratic.from_spectrum(eigenvalues)
    w = np.asarray(start, dtype=np.float64)
    out = [w]
    for _ in range(steps):
        w = step(method, model, w, lr, rho)
        out.append(w)
    return np.stack(out)


def plot_sam_cycle(eigenvalues=(4.0, 1.0), *, lr: float = 0.3, rho: float = 0.1, steps: int = 80,
                   start=(1.0, 1.0), lr_grid_size: int = 12, horizon: int = 3000):
    r"""SAM's 2-cycle: (a) the trajectory's coordinates with ``+-c`` as reference lines; (b) ``c`` vs ``eta lambda_1``.

    (a) ``w_t`` in the eigenbasis of ``diag(eigenvalues)`` from ``start``: the top coordinate settles on
    ``+-c``, ``c = eta rho lambda_1 / (2 - eta lambda_1)``, and every other coordinate decays (transverse
    multiplier ``1 - eta lambda_j - (lambda_j/lambda_1)^2 (2 - eta lambda_1)``, ``|.| < 1``).
    (b) the closed-form amplitude (line) against ``eta lambda_1 in (0, 2)``, and ``|w_1|`` after ``horizon``
    steps of the simulated map at ``lr_grid_size`` learning rates (markers); log scale, ``c`` blows up as
    ``eta lambda_1 -> 2``.
    """
    import matplotlib.pyplot as plt

    from stablesam.theory.sam_cycle import sam_cycle_amplitude
    from stablesam.theory.simulate import simulate

    lam = np.asarray(eigenvalues, dtype=np.float64)
    top = float(lam.max())
    amplitude = float(sam_cycle_amplitude(lr, top, rho))
    path = _trajectory("sam", lam, start, lr=lr, rho=rho, steps=steps)
    grid = np.linspace(0.02, 1.98, 200) / top
    sim_lr = np.linspace(0.1, 1.9, lr_grid_size) / top
    run = simulate("sam", lam, lr=sim_lr, rho=rho, steps=horizon, start=np.asarray(start, dtype=np.float64))
    # The amplitude is the top coordinate's modulus on the cycle (the others have decayed).
    observed = np.abs(run.final[:, int(np.argmax(lam))])
    with figure_style():
        fig, (ax_path, ax_amp) = plt.subplots(1, 2, figsize=(FULL_WIDTH, 2.4), constrained_layout=True)
        t = np.arange(steps + 1)
        colors = ("#D55E00", "#0072B2", "#009E73", "#CC79A7")
        for j in range(lam.size):
            ax_path.plot(t, path[:, j], color=colors[j % len(colors)], marker=".", markersize=3, lw=0.8,
                         label=rf"$w_{{{j + 1}}}$ ($\lambda_{{{j + 1}}} = {lam[j]:g}$)")
        for sign in (1.0, -1.0):
            ax_path.axhline(sign * amplitude, color="black", ls="--", lw=0.8,
                            label=r"$\pm c$ (exact)" if sign > 0 else None)
        ax_path.set(xlabel=r"step $t$", ylabel=r"coordinate $w_{t,j}$ (eigenbasis)",
                    title=rf"SAM, $\eta = {lr:g}$, $\rho = {rho:g}$: $c = {amplitude:.4g}$")
        ax_path.legend(frameon=False, loc="upper right")
        ax_amp.plot(grid * top, sam_cycle_amplitude(grid, top, rho), color="black", lw=1.0,
                    label=r"$c = \eta\rho\lambda_1 / (2 - \eta\lambda_1)$")
        ax_amp.scatter(sim_lr * top, observed, color=METHOD_COLORS["sam"], marker=METHOD_MARKERS["sam"], s=14,
                       zorder=3, label=rf"$|w_1|$ after {horizon} steps (simulated)")
        ax_amp.axvline(2.0, color="#999999", ls=":", lw=0.8, label=r"threshold $\eta\lambda_1 = 2$")
        ax_amp.set(yscale="log", xlim=(0, 2.05), xlabel=r"$\eta \lambda_1$", ylabel=r"cycle amplitude $c$",
                   title=rf"amplitude of the 2-cycle, $\rho = {rho:g}$")
        ax_amp.legend(frameon=False, loc="upper left")
    return fig


def plot_stablesam_2d_rates(lambda1: float = 2.0, lambda2: float = 1.0, *, rho: float = 0.5, n_lr: int = 120,
                            steps: int = 4000):
    r"""Asymptotic per-step factor against ``eta`` in 2-D, ``H = diag(lambda_1, lambda_2)``: exact vs simulated.

    Lines: the proved 2-D rates of StableSAM-U and the near-minimum limit of StableSAM-N
    (:func:`stablesam.theory.renormalization.stablesam_2d_rate`; flat ``1 - eta lambda_2``, bouncing
    ``(p_1 - p_2)/(p_1 + p_2)``, sharp ``|1 - eta lambda_1|``), and GD's and USAM's exact rates
    (:func:`stablesam.theory.quadratic_divergence.convergence_rate`). Markers: the rate measured on the simulated map
    (:func:`stablesam.theory.simulate.simulate`, start ``(1, 1)``). Vertical lines: StableSAM-U's regime boundaries
    and the common threshold ``2 / lambda_1``.
    """
    import matplotlib.pyplot as plt

    from stablesam.theory.renormalization import stablesam_2d_boundaries, stablesam_2d_rate
    from stablesam.theory.simulate import simulate
    from stablesam.theory.quadratic_divergence import convergence_rate

    lam = np.array([lambda1, lambda2], dtype=np.float64)
    lrs = np.linspace(0.02, 1.2, n_lr) * 2.0 / lambda1
    stable = lrs < 2.0 / lambda1
    sim_lrs = lrs[:: max(1, n_lr // 24)]
    with figure_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.6), constrained_layout=True)
        for method in ("gd", "usam"):
            ax.plot(lrs, convergence_rate(method, lrs, lam, rho=rho), color=METHOD_COLORS[method], lw=1.0,
                    ls="--" if method == "usam" else "-", label=f"{label(method)} (exact)")
        for method in ("stablesam-u", "stablesam-n"):
            exact = stablesam_2d_rate(method, lrs, lambda1, lambda2, rho)
            ax.plot(lrs[stable], exact[stable], color=METHOD_COLORS[method], lw=1.4,
                    label=f"{label(method)} (derived, exact 2-D" + (", near minimum)" if method == "stablesam-n" else ")"))
            run = simulate(method, lam, lr=sim_lrs, rho=rho, steps=steps)
            ax.scatter(sim_lrs, run.rate, color=METHOD_COLORS[method], marker=METHOD_MARKERS[method], s=10,
                       zorder=3, label=f"{label(method)} (simulated)")
        low, high = stablesam_2d_boundaries("stablesam-u", lambda1, lambda2, rho)
        for x, name in ((low, "StableSAM-U regime boundaries"), (high, None)):
            ax.axvline(float(x), color=METHOD_COLORS["stablesam-u"], ls=":", lw=0.8, label=name)
        ax.axvline(2.0 / lambda1, color="#999999", ls="-.", lw=0.8, label=r"threshold $2/\lambda_1$")
        ax.axhline(1.0, color="#999999", lw=0.5)
        ax.set(xlabel=_LR_LABEL, ylabel=r"per-step factor $\|w_{t+1}\| / \|w_t\|$", ylim=(0, 1.5),
               title=rf"2-D quadratic, $\lambda = ({lambda1:g}, {lambda2:g})$, $\rho = {rho:g}$")
        fig.legend(frameon=False, loc="outside lower center", fontsize=6, ncol=2)
    return fig


def plot_saddle_multipliers(curvature: float = -2.0, *, lr: float = 0.1, n: int = 200):
    r"""One-step multiplier ``x'/x`` at a 1-D saddle ``f(x) = -a x^2 / 2`` (``a = -curvature``): exact vs the map.

    (a) against ``rho a`` at fixed ``x = 1``: GD ``1 + eta a``, USAM ``1 + eta a (1 - rho a)``,
    StableSAM-U ``1 +- eta a`` (attracted once ``rho a > 1``). (b) against ``|x| / rho`` at ``rho = 1/a``: SAM
    ``1 + eta a (1 - rho/|x|)`` and StableSAM-N ``1 +- eta a`` (attracted once ``|x| < rho``). Lines:
    :func:`stablesam.theory.saddle.saddle_multiplier`; markers: one step of :func:`stablesam.theory.quadratic.step`. Below 1
    (shaded), the saddle attracts.
    """
    import matplotlib.pyplot as plt

    from stablesam.theory.quadratic import Quadratic, step
    from stablesam.theory.saddle import saddle_multiplier

    a = -float(curvature)
    model = Quadratic.from_spectrum([curvature])
    rho_a = np.linspace(0.0, 3.0, n)
    markers_at = rho_a[:: max(1, n // 15)]
    x_over_rho = np.geomspace(0.1, 10.0, n)
    x_markers = x_over_rho[:: max(1, n // 15)]
    rho_b = 1.0 / a
    with figure_style():
        fig, (ax_u, ax_n) = plt.subplots(1, 2, figsize=(FULL_WIDTH, 2.4), sharey=True, constrained_layout=True)
        for method in ("gd", "usam", "stablesam-u"):
            ax_u.plot(rho_a, np.broadcast_to(saddle_multiplier(method, curvature, lr, rho=rho_a / a), rho_a.shape),
                      color=METHOD_COLORS[method],
                      label=f"{label(method)} (exact" + (")" if method == "gd" else ", derived)"))
            one_step = step(method, model, np.ones((markers_at.size, 1)), lr, markers_at / a)[:, 0]
            ax_u.scatter(markers_at, one_step, color=METHOD_COLORS[method], marker=METHOD_MARKERS[method], s=10,
                         zorder=3)
        ax_u.axvline(1.0, color="#999999", ls=":", lw=0.8, label=r"$\rho a = 1$")
        ax_u.set(xlabel=r"$\rho a$ (radius $\times$ negative curvature)", ylabel=r"multiplier $x_{t+1} / x_t$",
                 title=rf"unnormalized ascent, $a = {a:g}$, $\eta = {lr:g}$, $x = 1$")
        for method in ("gd", "sam", "stablesam-n"):
            x = x_over_rho * rho_b
            ax_n.plot(x_over_rho, np.broadcast_to(saddle_multiplier(method, curvature, lr, rho=rho_b, x=x), x.shape),
                      color=METHOD_COLORS[method], label=f"{label(method)} (exact" + (")" if method == "gd" else ", derived)"))
            xm = (x_markers * rho_b)[:, None]
            ax_n.scatter(x_markers, step(method, model, xm, lr, rho_b)[:, 0] / xm[:, 0], color=METHOD_COLORS[method],
                         marker=METHOD_MARKERS[method], s=10, zorder=3)
        ax_n.axvline(1.0, color="#999999", ls=":", lw=0.8, label=r"$|x| = \rho$")
        ax_n.set(xscale="log", xlabel=r"$|x| / \rho$", title=rf"normalized ascent, $\rho = 1/a = {rho_b:g}$")
        bottom, top = ax_u.get_ylim()  # shared y axis
        for ax in (ax_u, ax_n):
            ax.axhspan(bottom, 1.0, color="#56B4E9", alpha=0.12, lw=0)
            ax.axhline(1.0, color="black", lw=0.6)
            ax.scatter([], [], color="#777777", marker="o", s=10, label="markers: one step of the map")
            ax.legend(frameon=False, loc="lower left", fontsize=6)
        ax_u.set_ylim(bottom, top)
        ax_u.text(0.98, 0.04, "attracted ($<1$)", transform=ax_u.transAxes, ha="right", fontsize=6)
    return fig


def plot_max_stable_lr(*, rhos=(0.01, 0.05, 0.2), sharpness_range=(0.1, 1000.0), grad_norms=(0.01, 0.1, 10.0),
                       sharpness: float = 50.0, rho: float = 0.05, n: int = 200):
    r"""Maximal stable learning rates from the edge formulas (:func:`stablesam.theory.stability_edge.max_stable_lr`).

    (a) ``eta*`` against the sharpness ``lambda``: GD and StableSAM (``2/lambda``), USAM
    (``2/(lambda (1 + rho lambda))``) for each radius in ``rhos`` and SAM at each gradient norm in
    ``grad_norms`` (radius ``rho``); log-log. (b) ``eta* lambda / 2`` (the rate relative to GD's) against the
    gradient norm at sharpness ``sharpness``: SAM's ``1/(1 + rho lambda/||g||)`` tends to GD's as ``||g||`` grows
    and to 0 near a minimum; USAM's is flat.
    """
    import matplotlib.pyplot as plt

    from stablesam.theory.stability_edge import max_stable_lr

    lam = np.geomspace(*sharpness_range, n)
    g = np.geomspace(1e-4, 1e3, n)
    styles = ("-", "--", ":", "-.")
    with figure_style():
        fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(FULL_WIDTH, 2.6), constrained_layout=True)
        ax_l.plot(lam, max_stable_lr("gd", lam), color=METHOD_COLORS["gd"], lw=1.4,
                  label=r"GD; StableSAM (derived): $2/\lambda$")
        for i, r in enumerate(rhos):
            ax_l.plot(lam, max_stable_lr("usam", lam, rho=r), color=METHOD_COLORS["usam"], ls=styles[i % 4],
                      label=rf"USAM, $\rho = {r:g}$")
        for i, gn in enumerate(grad_norms):
            ax_l.plot(lam, max_stable_lr("sam", lam, rho=rho, grad_norm=gn), color=METHOD_COLORS["sam"],
                      ls=styles[i % 4], label=rf"SAM, $\rho = {rho:g}$, $\|g\| = {gn:g}$")
        ax_l.set(xscale="log", yscale="log", xlabel=r"sharpness $\lambda_{\max}$",
                 ylabel=r"maximal stable learning rate $\eta^*$", title="edge formulas")
        ax_l.legend(frameon=False, fontsize=6, loc="lower left")
        ref = 2.0 / sharpness
        ax_g.plot(g, max_stable_lr("sam", sharpness, rho=rho, grad_norm=g) / ref, color=METHOD_COLORS["sam"],
                  label="SAM (Long and Bartlett 2023)")
        ax_g.axhline(float(max_stable_lr("usam", sharpness, rho=rho)) / ref, color=METHOD_COLORS["usam"], ls="--",
                     label="USAM (Agarwala and Dauphin 2023)")
        ax_g.axhline(1.0, color=METHOD_COLORS["gd"], lw=1.4, label="GD; StableSAM (derived)")
        ax_g.axvline(rho * sharpness, color="#999999", ls=":", lw=0.8, label=r"$\|g\| = \rho\lambda$")
        ax_g.set(xscale="log", yscale="log", xlabel=r"gradient norm $\|g\|$",
                 ylabel=r"$\eta^* / (2/\lambda)$ (relative to GD)",
                 title=rf"$\lambda = {sharpness:g}$, $\rho = {rho:g}$")
        ax_g.legend(frameon=False, fontsize=6, loc="lower right")
    return fig
