"""C5: StableSAM matches or beats SAM's test accuracy, above all under label noise.

Two readings of "matches or exceeds", each a sign-test interval of the median paired difference in test
accuracy (points, StableSAM minus its base, over seeds):

- **matches** (non-inferiority, decides): the interval's lower end above -1 point (:data:`RULE`);
- **beats** (superiority, reported): the lower end above 0 (:data:`BEATS`).

A case whose arms failed in most seeds is "not comparable". Training runs long enough for the label noise to be
memorised: the report gives the final train accuracy on the (noisy) training labels and the first epoch at which
its median over seeds reached 0.99.
"""

from __future__ import annotations

__all__ = []  # the registry (claims/__init__.py) reads CLAIM; nothing else is public

import numpy as np

from stablesam.analysis.verify.claim import SOURCE, UNIVERSAL, Claim, ClaimResult, TheoryCheck, case, weakest
from stablesam.analysis.verify.compare import difference_comparison
from stablesam.analysis.verify.experiments import PAIRS, twin_experiment
from stablesam.analysis.verify.verdicts import DecisionRule, combine_universal, median_interval

RULE = DecisionRule("test accuracy StableSAM - base, points (matches: above -1)", claimed="greater", boundary=-1.0,
                    null=0.0, min_units=10)
BEATS = DecisionRule("test accuracy StableSAM - base, points (beats: above 0)", claimed="greater", boundary=0.0,
                     null=0.0, min_units=10)


def reading(interval) -> str:
    """``beats`` (whole interval above 0), ``matches`` (above -1), ``worse by more than 1 point`` (wholly below
    -1) or ``unclear``."""
    if interval is None or interval.low is None or not np.isfinite(interval.low):
        return "unclear"
    if interval.low > 0:
        return "beats"
    if interval.low > -1:
        return "matches"
    return "worse by more than 1 point" if interval.high < -1 else "unclear"


def _experiment(scale, method, noise):
    dataset, model = scale.noise_model
    return twin_experiment(scale, dataset, model, method, scale.noise_lr, label_noise=noise,
                           epochs=scale.noise_epochs, seeds=scale.noise_seeds)


def experiments(scale, results=None):
    return [_experiment(scale, o, p) for p in scale.label_noises for pair in PAIRS for o in pair]


def theory(scale, results=None) -> TheoryCheck:
    return TheoryCheck("not applicable", "An empirical claim: theory/ makes no prediction of test accuracy.", "")


def evaluate(scale, results, generator) -> ClaimResult:
    dataset, model = scale.noise_model
    raw = []
    for noise in scale.label_noises:
        for base, stable in PAIRS:
            s, b = results[_experiment(scale, stable, noise)], results[_experiment(scale, base, noise)]
            fields = difference_comparison(s.table["test_accuracy"], b.table["test_accuracy"], s.failures, b.failures,
                                           RULE, scale=100.0)
            values = fields.pop("values", None)
            beats = median_interval(values, BEATS) if values is not None else None
            raw.append(({"dataset": dataset, "model": model, "method": stable, "base": base, "label_noise": noise},
                        fields, values, beats,
                        {"train_accuracy_noisy_labels": {m: float(np.median(o.table["train_accuracy"]))
                                                         for m, o in ((stable, s), (base, b))},
                         "memorised_at_epoch": {stable: s.memorised_epoch, base: b.memorised_epoch},
                         "mean_test_accuracy": {stable: float(np.mean(s.table["test_accuracy"])),
                                                base: float(np.mean(b.table["test_accuracy"]))}}))
    verdict, per_case = combine_universal([r[1]["interval"] for r in raw], RULE)
    cases = []
    for (setting, fields, values, beats, extra), v in zip(raw, per_case):
        fields = dict(fields)
        interval = fields.pop("interval")
        cases.append(case(setting, interval, v, values=values, rule=RULE, family=1, reading=reading(interval),
                          beats=None if beats is None else {"interval": beats.to_dict(), "verdict": BEATS.decide(beats)},
                          **fields, **extra))
    readings = ", ".join(f"noise {c['setting']['label_noise']:g} {c['setting']['method']}: {c['reading']}" for c in cases)
    reading_line = f"decided by non-inferiority (lower end above -1 point) in every case; {readings}"
    return ClaimResult(verdict, reading_line, "accuracy difference StableSAM - base, points (weakest case)",
                       weakest(cases, "greater"), cases,
                       ["'matches' = the interval's lower end above -1 point (non-inferiority); 'beats' = above 0 "
                        "(superiority), reported per case; 'especially under label noise' is read from the cases"])


def plot(claim, figure_data):
    from stablesam.analysis.plots.claims import claim_figure, errorbar
    from stablesam.analysis.plots.style import METHOD_COLORS, label

    fig, ax = claim_figure(claim)
    cases = claim["cases"]
    for k, c in enumerate(cases):
        s = c["setting"]
        errorbar(ax, s["label_noise"] + 0.02 * (k % 2), c["interval"], METHOD_COLORS[s["method"]],
                 label=label(s["method"]) if s["label_noise"] == cases[0]["setting"]["label_noise"] else None)
    ax.axhline(-1, color="0.2", lw=0.8, ls="--", label="-1 point (matches)")
    ax.axhline(0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel("label noise")
    ax.set_ylabel("test accuracy StableSAM - base (points)")
    ax.legend(frameon=False, fontsize=6)
    return fig


CLAIM = Claim(
    id="C5", title="StableSAM matches or beats SAM's test accuracy, above all under label noise",
    statement="In fact, it matches or exceeds baseline SAM's performance. [...] StableSAM can further boost the "
              "performance of SAM and its variants like ASAM, especially in the presence of label noise.",
    source=f"Main contributions; {SOURCE}", rule=RULE, combine=UNIVERSAL,
    quantity="test accuracy of the S-twin after training (noise memorised), paired over seeds: non-inferiority "
             "(matches) decides, superiority (beats) reported",
    stronger="The paper reports CIFAR and ImageNet with long schedules; here small models. 'Especially under label "
             "noise' is read per noise level, not decided.",
    would_change="An interval reaching below -1 point makes it inconclusive; wholly below -1, not supported.",
    experiments=experiments, theory=theory, evaluate=evaluate, plot=plot)
