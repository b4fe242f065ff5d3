"""Plot helpers for the claims of ``stablesam verify``: each claim's ``plot`` (in its file under
:mod:`stablesam.analysis.verify.claims`) draws its figure from these, in the toolkit's style
(:mod:`stablesam.analysis.plots.style`); reference lines mark the decision rule's boundary and "no effect".
"""

from __future__ import annotations

import math
from typing import Any

from stablesam.analysis.plots.style import COLUMN_WIDTH, METHOD_COLORS, figure_style, label

__all__ = ["boundaries", "claim_figure", "errorbar", "ratio_over_lr"]


def claim_figure(claim: dict[str, Any], *, width: float = COLUMN_WIDTH * 1.3, height: float = 2.4, panels: int = 1):
    """A figure of ``panels`` axes titled with the claim's id and verdict: ``(figure, first axes)`` (one panel)
    or ``(figure, [axes...])``."""
    import matplotlib.pyplot as plt

    with figure_style():
        fig, axes = plt.subplots(1, panels, figsize=(width * panels, height), squeeze=False)
    axes[0, 0].set_title(f"{claim['id']}: {claim['verdict']}")
    return (fig, axes[0, 0]) if panels == 1 else (fig, list(axes[0]))


def boundaries(ax, rule: dict[str, Any], *, horizontal: bool = True) -> None:
    line = ax.axhline if horizontal else ax.axvline
    line(rule["null"], color="0.5", lw=0.8, ls=":", label="no effect")
    line(rule["boundary"], color="0.2", lw=0.8, ls="--", label="rule boundary")


def errorbar(ax, x: float, interval: dict[str, Any] | None, color: str, **kwargs) -> None:
    if interval is None or interval.get("estimate") is None or not math.isfinite(interval["estimate"]):
        return
    low, high = interval["low"], interval["high"]
    err = None
    if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
        err = [[max(interval["estimate"] - low, 0.0)], [max(high - interval["estimate"], 0.0)]]
    ax.errorbar([x], [interval["estimate"]], yerr=err, color=color, fmt="o", ms=3, capsize=2, **kwargs)


def ratio_over_lr(ax, cases: list[dict[str, Any]], rule: dict[str, Any], *, offset_by: str, log: bool = True) -> None:
    """One point with its interval per case against the case's learning rate; a case without an interval is
    annotated with its status (not comparable, below its noise floor)."""
    methods = sorted({c["setting"][offset_by] for c in cases})
    for k, method in enumerate(methods):
        mine = [c for c in cases if c["setting"][offset_by] == method]
        for c in mine:
            shift = 1.0 + 0.04 * (k - (len(methods) - 1) / 2)
            x = c["setting"]["lr"] * shift
            if c["interval"] is None:
                ax.annotate(c.get("status", "n/a")[:14], (x, rule["null"]), fontsize=4, rotation=90, ha="center",
                            color=METHOD_COLORS.get(method, "0.3"))
                continue
            errorbar(ax, x, c["interval"], METHOD_COLORS.get(method, "0.3"),
                     label=label(method) if c is mine[0] else None)
    ax.set_xscale("log")
    if log:
        ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("learning rate eta")
    boundaries(ax, rule)
    ax.legend(frameon=False, fontsize=5)
