"""C6: the renormalization adds negligible cost ("negligible": at most 5% per step).

Two measurements, both able to decide a 5% margin:

- **operation count** (decides the cost in principle): StableSAM adds, per step, two global norms (``||g||`` and
  ``||g~||``: ``2d`` flops each over ``d`` parameters) and one scaling (``d``) to SAM's two forward-backward
  passes, whose flops are counted on the timing model and batch by :class:`torch.utils.flop_counter.FlopCounterMode`;
- **interleaved timing** on a model whose step costs at least 20 ms
  (:func:`stablesam.analysis.experiments.step_statistics.step_times`; rounds alternate which method goes first),
  the sign-test interval of the median per-round time ratio. A timing interval wider than 5%, or a base step
  shorter than 20 ms (where the step's fixed per-call work, not the renormalization, sets the ratio), cannot
  decide the margin and makes the case inconclusive, whatever its estimate.

Verdict: supported when the count is below 5% and the timing interval lies below 1.05; not supported when either
exceeds it (the count, or the whole timing interval above 1.05).
"""

from __future__ import annotations

__all__ = []  # the registry (claims/__init__.py) reads CLAIM; nothing else is public

import numpy as np

from stablesam.analysis.verify.claim import SOURCE, UNIVERSAL, Claim, ClaimResult, TheoryCheck, case, weakest
from stablesam.analysis.verify.experiments import PAIRS, timing_experiment
from stablesam.analysis.verify.verdicts import INCONCLUSIVE, NOT_SUPPORTED, DecisionRule, combine_universal, median_interval

MARGIN = 0.05
MIN_STEP_MS = 20.0  # the shortest base step the timing may decide on (issue 22)
RULE = DecisionRule("per-round step time StableSAM / base, median over interleaved rounds", claimed="less",
                    boundary=1.0 + MARGIN, null=1.0)


def experiments(scale, results=None):
    return [timing_experiment(scale, base, stable) for base, stable in PAIRS]


def operation_count(dataset: str, model: str, batch_size: int) -> dict[str, float]:
    """Flops of one forward-backward pass of ``model`` on a batch (counted), and StableSAM's extra ``5d``."""
    import torch
    from torch.nn import functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from stablesam.stability.data import load_dataset
    from stablesam.stability.models import build_model

    data = load_dataset(dataset, generator=np.random.default_rng(0))
    net = build_model(model, tuple(data.input_shape), data.num_classes, generator=torch.Generator().manual_seed(0))
    x, y = data.x_train[:batch_size], data.y_train[:batch_size]
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(x), y).backward()
    d = sum(p.numel() for p in net.parameters())
    passes = float(counter.get_total_flops())
    return {"parameters": d, "flops_forward_backward": passes, "extra_flops": 5.0 * d,
            "extra_fraction": 5.0 * d / (2.0 * passes), "batch_size": int(len(y))}


def theory(scale, results=None) -> TheoryCheck:
    return TheoryCheck("not applicable", "A cost claim: the operation count is part of the evaluation.", "")


def evaluate(scale, results, generator) -> ClaimResult:
    dataset, model = scale.timing_model
    count = operation_count(dataset, model, scale.timing_batch)
    intervals, raw = [], []
    for base, stable in PAIRS:
        timing = results[timing_experiment(scale, base, stable)]
        ratio = np.asarray(timing["seconds_b"]) / np.asarray(timing["seconds_a"])
        interval = median_interval(ratio, RULE)
        width = (interval.high - interval.low) / interval.estimate if interval.low == interval.low else np.inf
        step_ms = 1000.0 * float(np.median(timing["seconds_a"])) / timing["steps"]
        intervals.append(None if _undecided(width, step_ms) else interval)
        raw.append(({"method": stable, "base": base, "model": f"{dataset}/{model}", "device": timing["device"],
                     "threads": timing["threads"], "steps_per_round": timing["steps"]}, interval,
                    {"relative_width": float(width), "base_step_ms": step_ms, "ratios": ratio.tolist()}))
    verdict, per_case = combine_universal(intervals, RULE)
    cases = [case(s, i, v, **extra) for (s, i, extra), v in zip(raw, per_case)]
    if count["extra_fraction"] >= MARGIN:
        verdict = NOT_SUPPORTED
    for c in cases:
        why = _undecided(c["relative_width"], c["base_step_ms"])
        if why:
            c["status"], c["verdict"] = f"{why[0]}: cannot decide the margin", INCONCLUSIVE
    reading = (f"operation count: StableSAM adds {100 * count['extra_fraction']:.3g}% of SAM's flops; timing "
               "(interleaved, median ratio): " + ", ".join(
                   f"{c['setting']['method']} {c['interval']['estimate']:.3g} [{c['interval']['low']:.3g}, "
                   f"{c['interval']['high']:.3g}] at {c['base_step_ms']:.0f} ms/step" + _reading_suffix(c)
                   for c in cases))
    return ClaimResult(verdict, reading, "step-time ratio StableSAM/base (weakest case)", weakest(cases, "less"),
                       cases, [f"operation count: {count}"], {"count": count})


def _undecided(width: float, step_ms: float) -> tuple[str, str] | None:
    """Why a timing cannot decide the margin, as (the case's status, the reading's words); ``None`` when it can."""
    if width >= MARGIN:
        return f"interval width {100 * width:.1f}% >= 5%", f"width {100 * width:.0f}%"
    if step_ms < MIN_STEP_MS:
        return f"base step {step_ms:.1f} ms < {MIN_STEP_MS:g} ms", f"step below {MIN_STEP_MS:g} ms"
    return None


def _reading_suffix(case_: dict) -> str:
    why = _undecided(case_["relative_width"], case_["base_step_ms"])
    return "" if why is None else f" ({why[1]}: cannot decide the 5% margin)"


def plot(claim, figure_data):
    from stablesam.analysis.plots.claims import boundaries, claim_figure, errorbar
    from stablesam.analysis.plots.style import METHOD_COLORS, label

    fig, ax = claim_figure(claim)
    cases = claim["cases"]
    for k, c in enumerate(cases):
        ratios = c.get("ratios", [])
        ax.scatter(np.full(len(ratios), k) + np.linspace(-0.15, 0.15, len(ratios)), ratios, s=6,
                   color=METHOD_COLORS[c["setting"]["method"]])
        errorbar(ax, k + 0.3, c["interval"], "0.1")
    ax.set_xticks(range(len(cases)), [f"{label(c['setting']['method'])}/{label(c['setting']['base'])}" for c in cases])
    ax.set_ylabel("step time ratio per round")
    boundaries(ax, claim["rule"])
    ax.legend(frameon=False, fontsize=6)
    return fig


CLAIM = Claim(
    id="C6", title="The renormalization adds negligible cost",
    statement="It is easy to implement and adds negligible computational overhead.", source=f"Main contributions; {SOURCE}",
    rule=RULE, combine=UNIVERSAL,
    quantity="extra flops (two norms, one scale) over two forward-backward passes, counted; and the median per-round "
             "step-time ratio of interleaved rounds on a model of at least 20 ms a step",
    stronger="'Negligible' is read as at most 5% per step.", would_change="Another device or model size.",
    experiments=experiments, theory=theory, evaluate=evaluate, plot=plot)
