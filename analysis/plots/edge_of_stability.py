"""Edge-of-stability figures: the sharpness along training against each method's edge (no training here).

- :func:`plot_edge_of_stability`: top row, the sharpness ``lambda_max`` over the steps, one panel per method
  (rows share their y axis, so the methods compare at a glance),
  with the method's edge ``lambda*`` as a dashed reference line (SAM's moves with the measured ``||g||``);
  bottom row, the ratio ``lambda_max / lambda*`` with the reference ``1``.

The input is the tidy table of :func:`stablesam.analysis.experiments.edge_of_stability.run_edge_of_stability`;
:func:`stablesam.analysis.experiments.edge_of_stability.figure_edge_of_stability` runs an experiment and draws it (the catalogue
entry of ``stablesam figures``).
"""

from __future__ import annotations

from stablesam.analysis.plots.style import FULL_WIDTH, METHOD_COLORS, label

__all__ = ["plot_edge_of_stability"]

_LINESTYLES = ("-", "--", ":", "-.")


def plot_edge_of_stability(table, *, title: str | None = None):
    """``table``: tidy rows (``run, seed, optimizer, rho, lr, step, metric, value, ...``) with the metrics
    ``sharpness``, ``edge`` and ``sharpness_ratio``. One column of panels per optimizer, in table order;
    within a panel one line per run, the line style naming ``(eta, rho)``; a diverged run ends early and the panel
    says by which step."""
    import matplotlib.pyplot as plt

    needed = {"sharpness", "edge", "sharpness_ratio"}
    if not needed <= set(table["metric"].unique()):
        raise ValueError(f"table must hold the metrics {', '.join(sorted(needed))}")
    optimizers = list(dict.fromkeys(table["optimizer"]))
    fig, axes = plt.subplots(2, len(optimizers), figsize=(FULL_WIDTH, 3.6), sharex=True, sharey="row", squeeze=False)
    for column, optimizer in enumerate(optimizers):
        top, bottom = axes[0, column], axes[1, column]
        rows = table[table["optimizer"] == optimizer]
        settings = list(dict.fromkeys(zip(rows["lr"], rows["rho"])))
        for (lr, rho), style in zip(settings, _LINESTYLES * len(settings)):
            setting = rows[(rows["lr"] == lr) & (rows["rho"] == rho)]
            name = f"$\\eta$={lr:g}" + (f", $\\rho$={rho:g}" if rho else "")
            for index, (_, run) in enumerate(setting.groupby("run", sort=False)):
                wide = run.pivot_table(index="step", columns="metric", values="value").sort_index()
                if "diverged" in wide.columns and (wide["diverged"] == 1).any():
                    step = int(wide.index[wide["diverged"] == 1][0])
                    # Two short lines inside the panel: one long line ran into the next panel.
                    top.text(0.5, 0.5 - 0.2 * index, f"{name}\ndiverged by step {step}", transform=top.transAxes,
                             ha="center", va="center", fontsize=6, color=METHOD_COLORS.get(optimizer))
                wide = wide.dropna(subset=["sharpness"])
                first = index == 0
                top.plot(wide.index, wide["sharpness"], color=METHOD_COLORS.get(optimizer), ls=style, lw=0.9,
                         marker="o" if len(wide) == 1 else None, ms=3, alpha=0.8, label=name if first else None)
                top.plot(wide.index, wide["edge"], color="0.2", ls=(0, (3, 2)), lw=0.8,
                         label="edge $\\lambda^*$" if first and style == "-" else None)
                bottom.plot(wide.index, wide["sharpness_ratio"], color=METHOD_COLORS.get(optimizer), ls=style, lw=0.9,
                            alpha=0.8)
        bottom.axhline(1.0, color="0.2", ls=(0, (3, 2)), lw=0.8)
        top.set_title(label(optimizer))
        bottom.set_xlabel("step")
        top.legend(frameon=False, fontsize=6, loc="best")
    axes[0, 0].set_ylabel("sharpness $\\lambda_{max}$")
    axes[1, 0].set_ylabel("$\\lambda_{max} / \\lambda^*$")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
