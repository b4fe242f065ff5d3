"""C9 (capped StableSAM against its base): the decision rule on planted inputs, its false "supported" rate with no
true effect, and the experiments it asks for (capped runs carry ``gamma_cap``; the base and uncapped arms are the
runs C4 and C5 already make, so the quick scale adds only the capped ones).

Why: the rule ("every case not worse, some case better; any case worse by more than its margin contradicts") is
fixed in code before any run, so it is tested on inputs whose answer is known by construction, at the quick
scale's family size and seed count.
"""

import numpy as np
import pytest

from stablesam.analysis.verify.claims import CLAIMS
from stablesam.analysis.verify.claims import c9_capped as c9
from stablesam.analysis.verify.experiments import make_scale
from stablesam.analysis.verify.twin_evidence import ratio_interval
from stablesam.analysis.verify.verdicts import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, median_interval

SEEDS = 10


def _family(scale):
    """The quick scale's case layout: (aspect, count)."""
    stability = len(scale.stability_models) * len(scale.lrs) * len(c9.pairs(scale))
    return {"stability": stability, "accuracy": len(scale.label_noises) * len(c9.pairs(scale)),
            "trainability": len(scale.stability_models) * len(c9.pairs(scale))}


def _entry(aspect, effect, g, spread=0.1):
    """One planted case: per-seed effects around ``effect`` (a ratio for stability, else a difference)."""
    if aspect == "stability":
        b = 1.0 + 0.05 * g.random(SEEDS)
        a = b * effect * np.exp(spread * g.standard_normal(SEEDS))
        return {"aspect": aspect, "interval": ratio_interval(a, b, c9.RULES[aspect]),
                "beats": ratio_interval(a, b, c9.BEATS[aspect])}
    x = effect + spread * g.standard_normal(SEEDS)
    return {"aspect": aspect, "interval": median_interval(x, c9.RULES[aspect]),
            "beats": median_interval(x, c9.BEATS[aspect])}


def _planted(effects, g, **spread):
    scale = make_scale("quick")
    return [_entry(a, effects[a], g, spread.get(a, 0.1)) for a, n in _family(scale).items() for _ in range(n)]


def test_not_worse_everywhere_and_better_somewhere_is_supported():
    g = np.random.default_rng(0)
    entries = _planted({"stability": 0.5, "accuracy": 0.0, "trainability": 0.0}, g)  # stability better, rest equal
    verdict, ni, sup = c9.combine(entries)
    assert verdict == SUPPORTED and set(ni) == {SUPPORTED}
    assert all(s == SUPPORTED for s, e in zip(sup, entries) if e["aspect"] == "stability")
    assert not any(s == SUPPORTED for s, e in zip(sup, entries) if e["aspect"] != "stability")


def test_equal_everywhere_is_not_supported_as_beating():
    """Never worse but better nowhere: inconclusive ("beats" needs a gain somewhere)."""
    verdict, ni, sup = c9.combine(_planted({"stability": 1.0, "accuracy": 0.0, "trainability": 0.0},
                                           np.random.default_rng(1), stability=0.02))
    assert verdict == INCONCLUSIVE and set(ni) == {SUPPORTED} and SUPPORTED not in sup


def test_one_case_clearly_worse_is_not_supported():
    g = np.random.default_rng(2)
    entries = _planted({"stability": 0.5, "accuracy": 0.0, "trainability": 0.0}, g)
    entries[-1] = _entry("accuracy", -3.0, g)  # one noise level three points worse
    verdict, ni, _ = c9.combine(entries)
    assert verdict == NOT_SUPPORTED and ni[-1] == NOT_SUPPORTED and ni.count(NOT_SUPPORTED) == 1


def test_unclear_case_or_missing_aspect_is_inconclusive():
    g = np.random.default_rng(3)
    entries = _planted({"stability": 0.5, "accuracy": 0.0, "trainability": 0.0}, g)
    unclear = [dict(e) for e in entries]
    unclear[-1] = _entry("accuracy", -1.0, g, spread=1.0)  # straddles the -1 point margin
    assert c9.combine(unclear)[0] == INCONCLUSIVE
    below_floor = [dict(e) for e in entries]
    below_floor[0] = {"aspect": "stability", "interval": None, "beats": None}  # measured nothing: p = 1
    assert c9.combine(below_floor)[0] == INCONCLUSIVE
    # every stability case not comparable (left to trainability): the aspect is missing, nothing is supported
    excluded = [dict(e, excluded=True) if e["aspect"] == "stability" else e for e in entries]
    verdict, ni, _ = c9.combine(excluded)
    assert verdict == INCONCLUSIVE and ni[0] == INCONCLUSIVE


def test_false_supported_rate_with_no_true_effect():
    """Every non-inferiority case on its margin (and so no case better): "supported" at most 5% of draws."""
    g = np.random.default_rng(23)
    margins = {a: c9.RULES[a].boundary for a in c9.ASPECTS}
    rate = np.mean([c9.combine(_planted(margins, g, stability=0.3, accuracy=1.0, trainability=1.0))[0] == SUPPORTED
                    for _ in range(300)])
    assert rate <= 0.05


@pytest.mark.parametrize("name", ["quick", "standard", "full"])
def test_capped_runs_and_shared_arms(name):
    scale = make_scale(name)
    ours = CLAIMS["C9"].experiments(scale)
    capped = [e for e in ours if e.settings.get("gamma_cap") is not None]
    assert capped and all(e.settings["gamma_cap"] == c9.CAP and e.settings["optimizer"].startswith("stablesam")
                          for e in capped)
    shared = {e.key for c in ("C3", "C4", "C5") for e in CLAIMS[c].experiments(scale)}
    assert {e.key for e in ours} - shared == {e.key for e in capped}  # only the capped runs are new
    cases = sum(_family(scale).values())
    from stablesam.analysis.verify.verdicts import min_seeds

    assert len(scale.seeds) >= max(min_seeds(family=cases), c9.RULES["stability"].min_units)
    assert len(scale.noise_seeds) >= min_seeds(family=cases)
    if name == "quick":
        assert c9.pairs(scale) == (("sam", "stablesam-n"),) and len(capped) == len(scale.lrs) + len(scale.label_noises)
