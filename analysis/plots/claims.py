"""One figure per claim of ``stablesam verify`` (:mod:`stablesam.analysis.verify.claims`), from the claim's evaluated cases.

Every function takes the claim's document (``verdicts.json`` entry: cases with intervals) and its figure data
and returns a :class:`matplotlib.figure.Figure` in the toolkit's style (:mod:`stablesam.analysis.plots.style`); reference
lines mark the decision rule's boundary and the value of "no effect".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stablesam.analysis.plots.style import COLUMN_WIDTH, FULL_WIDTH, METHOD_COLORS, figure_style, label

__all__ = ["plot_claim"]


def _boundaries(ax, rule: dict[str, Any], *, horizontal: bool = True) -> None:
    line = ax.axhline if horizontal else ax.axvline
    line(rule["null"], color="0.5", lw=0.8, ls=":", label="no effect")
    line(rule["boundary"], color="0.2", lw=0.8, ls="--", label="rule boundary")


def _errorbar(ax, x: float, interval: dict[str, Any] | None, color: str, **kwargs) -> None:
    if interval is None or not math.isfinite(interval["estimate"]):
        return
    low, high = interval["low"], interval["high"]
    err = None
    if math.isfinite(low) and math.isfinite(high):
        err = [[max(interval["estimate"] - low, 0.0)], [max(high - interval["estimate"], 0.0)]]
    ax.errorbar([x], [interval["estimate"]], yerr=err, color=color, fmt="o", ms=3, capsize=2, **kwargs)


def _ratio_over_lr(ax, cases: list[dict[str, Any]], rule: dict[str, Any], *, offset_by: str) -> None:
    methods = sorted({c["setting"][offset_by] for c in cases})
    for k, method in enumerate(methods):
        mine = [c for c in cases if c["setting"][offset_by] == method]
        for c in mine:
            shift = 1.0 + 0.04 * (k - (len(methods) - 1) / 2)
            x = c["setting"]["lr"] * shift
            if c["interval"] is None:
                ax.annotate(c.get("status", "n/a"), (x, rule["null"]), fontsize=5, rotation=90, ha="center",
                            color=METHOD_COLORS.get(method, "0.3"))
                continue
            _errorbar(ax, x, c["interval"], METHOD_COLORS.get(method, "0.3"),
                      label=label(method) if c is mine[0] else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate eta")
    _boundaries(ax, rule)
    ax.legend(frameon=False)


_DIVERGED = 1e6  # an rms twin distance above this (standardised data, w_0 = 0) is a diverged pair


def _exact_ratio(ax, exact: dict[str, Any]) -> None:
    """C2's theory panel: exact ``sqrt(E||w_T - w'_T||^2)`` of USAM over SGD's against eta, one line per rho
    (where neither diverged: both below ``_DIVERGED``); below 1 USAM is more stable."""
    lrs = np.asarray(exact["lrs"])
    rms = {name: np.asarray(values, dtype=np.float64) for name, values in exact["rms"].items()}
    sgd = next(v for name, v in rms.items() if name.startswith("sgd"))
    styles = ["-", "--", "-.", ":"]
    for k, (name, values) in enumerate((n, v) for n, v in rms.items() if n.startswith("usam")):
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = values / sgd
        shown = (values < _DIVERGED) & (sgd < _DIVERGED) & (ratio > 0)
        ax.plot(lrs[shown], ratio[shown], color=METHOD_COLORS["usam"], ls=styles[k % 4], marker="o", ms=2,
                label=name.replace("usam ", "USAM, "))
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":", label="equal")
    ax.set(xscale="log", yscale="log", xlabel="learning rate eta", ylabel="exact rms twin distance, USAM / SGD")
    ax.set_title("theory: digits least squares, one example per step (diverged etas omitted)", fontsize=6)
    ax.legend(frameon=False, fontsize=5)


def _plateau_panel(ax, figure_data: dict[str, Any]) -> None:
    """C3's edge-of-stability part: per setting, method and seed, the plateau sharpness over the method's own edge
    (filled) and, for StableSAM, over its base's edge (open: above 1 is where the base at that eta is unstable)."""
    runs, cross = figure_data["plateau_runs"], figure_data.get("plateau_cross", [])
    where = lambda r: (r["dataset"], r["model"], r["lr"])  # noqa: E731
    slots = list(dict.fromkeys((where(r), r["optimizer"]) for r in runs))
    several = len({s[0] for s in slots}) > 1
    for k, (setting, method) in enumerate(slots):
        own = [r["plateau_ratio"] for r in runs if (where(r), r["optimizer"]) == (setting, method)]
        ax.scatter(k + np.linspace(-0.12, 0.12, len(own)), own, s=8, color=METHOD_COLORS[method])
        over_base = [c["ratio"] for c in cross if (where(c), c["method"]) == (setting, method)]
        if over_base:
            ax.scatter(k + 0.3 + np.linspace(-0.08, 0.08, len(over_base)), over_base, s=10, facecolors="none",
                       edgecolors=METHOD_COLORS[method], label="over base's edge" if k == len(slots) - 1 else None)
    ax.axhline(1.0, color="0.2", lw=0.8, ls="--")
    ax.set_xticks(range(len(slots)), [label(m) + (f"\n{s[0]} {s[2]:g}" if several else "") for s, m in slots],
                  rotation=30, fontsize=5 if several else 6)
    ax.set_yscale("log")
    ax.set_ylabel("plateau sharpness / edge")
    if not several:
        ax.set_title(f"edge of stability, {slots[0][0][0]}/{slots[0][0][1]}, eta = {slots[0][0][2]:g}", fontsize=7)
    ax.legend(frameon=False, fontsize=6)


def plot_claim(claim: dict[str, Any], figure_data: dict[str, Any]):
    """The figure of ``claim`` (a ``verdicts.json`` claim entry) with its evaluation's ``figure_data``; C2 has a
    second panel with its theory's exact least-squares twin distances."""
    import matplotlib.pyplot as plt

    cid, cases, rule = claim["id"], claim["cases"], claim["rule"]
    exact = claim["theory"]["numbers"].get("exact") if cid == "C2" else None
    with figure_style():
        fig, axes = plt.subplots(1, 2 if exact else 1, figsize=(COLUMN_WIDTH * 1.3 * (2 if exact else 1), 2.4),
                                 squeeze=False)
        ax = axes[0, 0]
        if cid == "C1":
            for name, curve in figure_data.get("curves", {}).items():
                ax.plot(curve["ratio"], color=METHOD_COLORS[curve["method"]], alpha=0.8, lw=0.8, label=name)
            ax.set_yscale("log")
            ax.set_xlabel("step")
            ax.set_ylabel("||g~|| / ||g|| (median over seeds)")
            _boundaries(ax, rule)
            ax.legend(frameon=False, fontsize=5, ncol=2)
        elif cid == "C2":
            _ratio_over_lr(ax, cases, rule, offset_by="method")
            ax.set_ylabel("stability estimate, method / SGD")
            if exact:
                _exact_ratio(axes[0, 1], exact)
        elif cid == "C4":
            _ratio_over_lr(ax, cases, rule, offset_by="method")
            ax.set_ylabel("stability estimate, StableSAM / base")
        elif cid == "C3":
            points = figure_data.get("points", [])
            groups = sorted({(p["dataset"], p["model"]) for p in points})
            methods = list(dict.fromkeys(p["method"] for p in points))
            for g, group in enumerate(groups):
                for k, method in enumerate(methods):
                    values = [p["lr_max"] for p in points if (p["dataset"], p["model"]) == group and p["method"] == method]
                    x = g + 0.8 * (k + 0.5) / len(methods) - 0.4 + np.linspace(-0.06, 0.06, len(values))  # seeds
                    ax.scatter(x, values, s=8, color=METHOD_COLORS[method],
                               label=label(method) if g == 0 else None, alpha=0.7)
            ax.set_xticks(range(len(groups)), ["/".join(g) for g in groups])
            ax.set_yscale("log", base=2)
            ax.set_ylabel("largest eta reaching the target")
            ax.legend(frameon=False, fontsize=6)
            if figure_data.get("plateau_runs"):
                fig.set_size_inches(FULL_WIDTH * 0.8, 2.4)
                _plateau_panel(ax.inset_axes([1.25, 0.0, 0.9, 1.0]), figure_data)
        elif cid == "C5":
            for k, case in enumerate(cases):
                s = case["setting"]
                _errorbar(ax, s["label_noise"] + 0.02 * (k % 2), case["interval"], METHOD_COLORS[s["method"]],
                          label=label(s["method"]) if s["label_noise"] == cases[0]["setting"]["label_noise"] else None)
            ax.axhspan(-1, 1, color="0.9", zorder=0, label="+-1 point")
            ax.axhline(0, color="0.5", lw=0.8, ls=":")
            ax.set_xlabel("label noise")
            ax.set_ylabel("test accuracy StableSAM - base (points)")
            ax.legend(frameon=False, fontsize=6)
        elif cid == "C6":
            for k, case in enumerate(cases):
                ratios = case.get("ratios", [])
                ax.scatter(np.full(len(ratios), k) + np.linspace(-0.15, 0.15, len(ratios)), ratios, s=6,
                           color=METHOD_COLORS[case["setting"]["method"]])
                _errorbar(ax, k + 0.3, case["interval"], "0.1")
            ax.set_xticks(range(len(cases)), [f"{label(c['setting']['method'])}/{label(c['setting']['base'])}"
                                              for c in cases])
            ax.set_ylabel("step time ratio per block")
            _boundaries(ax, rule)
            ax.legend(frameon=False, fontsize=6)
        elif cid == "C7":
            for method, values in figure_data.get("gammas", {}).items():
                ax.hist(values, bins=60, histtype="step", color=METHOD_COLORS[method], label=label(method))
            ax.axvline(1.0, color="0.2", lw=0.8, ls="--", label="gamma = 1")
            ax.set_xlabel("gamma = ||g|| / ||g~|| per step")
            ax.set_ylabel("steps")
            ax.legend(frameon=False, fontsize=6)
        ax.set_title(f"{cid}: {claim['verdict']}")
        if cid == "C1":
            fig.set_size_inches(FULL_WIDTH * 0.6, 2.6)
    return fig
