"""Decision rules of ``stablesam verify`` on synthetic inputs: a planted effect is supported, none is
inconclusive, a reversed one is not supported; the bootstrap comes from scipy and resamples units jointly."""

import math

import numpy as np
import pytest

from stablesam.analysis.verify.verdicts import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    DecisionRule,
    Interval,
    bootstrap_interval,
    combine_cases,
    crossover,
    only_below,
)
from stablesam.core.validation import UsageError

RNG_SEED = 20240114


def _paired_interval(a, b, seed=0):
    """Mean of the paired differences a - b, resampled over the shared units."""
    return bootstrap_interval(lambda idx: float(np.mean(a[idx] - b[idx])), len(a), generator=np.random.default_rng(seed))


@pytest.mark.parametrize("effect, expected", [(1.0, SUPPORTED), (0.0, INCONCLUSIVE), (-1.0, NOT_SUPPORTED)])
def test_superiority_rule_on_planted_effects(effect, expected):
    # 10 seeds, noise sd 0.5: the 95% interval of the mean half-width is about 1.96 * 0.5 / sqrt(10) = 0.31,
    # so a planted effect of 1 clears 0 by three half-widths and a zero effect straddles 0.
    g = np.random.default_rng(RNG_SEED)
    base = g.normal(10.0, 1.0, size=10)
    method = base + effect + g.normal(0.0, 0.5, size=10)
    interval = _paired_interval(method, base)
    rule = DecisionRule("difference > 0", claimed="greater", boundary=0.0)
    assert rule.decide(interval) == expected, interval


@pytest.mark.parametrize("ratio, expected", [(0.5, SUPPORTED), (1.0, INCONCLUSIVE), (2.0, NOT_SUPPORTED)])
def test_ratio_rule_claimed_less(ratio, expected):
    # Log-normal noise of sd 0.1 around the planted ratio, 8 seeds: interval half-width about 0.07 in log.
    g = np.random.default_rng(RNG_SEED + 1)
    base = g.lognormal(0.0, 1.0, size=8)
    method = base * ratio * g.lognormal(0.0, 0.1, size=8)
    interval = bootstrap_interval(lambda idx: float(method[idx].mean() / base[idx].mean()), 8,
                                  generator=np.random.default_rng(1))
    rule = DecisionRule("ratio < 1/1.1", claimed="less", boundary=1 / 1.1, null=1.0)
    assert rule.decide(interval) == expected, interval


MATCHES_OR_BEATS = DecisionRule("accuracy difference", claimed="greater", boundary=0.0, min_units=5, equivalence=1.0)


@pytest.mark.parametrize("shift, expected", [(0.0, SUPPORTED), (3.0, SUPPORTED), (-3.0, NOT_SUPPORTED)])
def test_matches_or_beats_rule(shift, expected):
    # A zero difference matches (interval within +-1: half-width about 1.96 * 0.3 / sqrt(10) = 0.19), a gain of 3
    # beats, a deficit of 3 is worse by more than the margin.
    g = np.random.default_rng(RNG_SEED + 2)
    diff = shift + g.normal(0.0, 0.3, size=10)
    interval = bootstrap_interval(lambda idx: float(diff[idx].mean()), 10, generator=np.random.default_rng(2))
    assert MATCHES_OR_BEATS.decide(interval) == expected, interval


@pytest.mark.parametrize("low, high", [(-2.5, 1.5), (-0.9, 2.3), (-1.5, -0.2)])
def test_matches_or_beats_neither_is_inconclusive(low, high):
    # Wider than the +-1 band and not wholly above 0; or worse, but not surely by more than 1 point.
    assert MATCHES_OR_BEATS.decide(Interval(0.5 * (low + high), low, high, 10, 0.95, "BCa")) == INCONCLUSIVE


def test_too_few_units_is_inconclusive():
    rule = DecisionRule("d", claimed="greater", boundary=0.0, min_units=5)
    assert rule.decide(Interval(5.0, 4.0, 6.0, 4, 0.95, "BCa")) == INCONCLUSIVE
    assert rule.decide(Interval(5.0, 4.0, 6.0, 5, 0.95, "BCa")) == SUPPORTED
    assert rule.decide(Interval(5.0, math.nan, math.nan, 9, 0.95, "none")) == INCONCLUSIVE


def test_bootstrap_matches_scipy_on_a_mean():
    from scipy.stats import bootstrap

    x = np.random.default_rng(3).normal(size=12)
    ours = bootstrap_interval(lambda idx: float(x[idx].mean()), 12, generator=np.random.default_rng(7), n_resamples=999)
    theirs = bootstrap((x,), np.mean, n_resamples=999, random_state=np.random.default_rng(7), method="BCa")
    # Same generator, same resampling order over indices as over values: identical intervals up to float rounding.
    assert ours.low == pytest.approx(theirs.confidence_interval.low, rel=1e-12)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, rel=1e-12)
    assert ours.method == "BCa" and ours.n == 12


def test_bootstrap_degenerate_and_single_unit():
    same = bootstrap_interval(lambda idx: 1.0, 5, generator=np.random.default_rng(0))
    assert (same.low, same.high, same.method) == (1.0, 1.0, "percentile")  # BCa's jackknife is degenerate
    one = bootstrap_interval(lambda idx: 2.0, 1, generator=np.random.default_rng(0))
    assert one.method == "none" and math.isnan(one.low)


def test_combine_cases():
    assert combine_cases([SUPPORTED, SUPPORTED], require_all=True) == SUPPORTED
    assert combine_cases([SUPPORTED, INCONCLUSIVE], require_all=True) == INCONCLUSIVE
    assert combine_cases([SUPPORTED, NOT_SUPPORTED], require_all=True) == NOT_SUPPORTED
    assert combine_cases([SUPPORTED, INCONCLUSIVE], require_all=False) == SUPPORTED
    assert combine_cases([SUPPORTED, NOT_SUPPORTED], require_all=False) == INCONCLUSIVE
    assert combine_cases([NOT_SUPPORTED, INCONCLUSIVE], require_all=False) == NOT_SUPPORTED
    assert combine_cases([], require_all=False) == INCONCLUSIVE


@pytest.mark.parametrize("pattern, expected", [
    ((SUPPORTED, INCONCLUSIVE, NOT_SUPPORTED), SUPPORTED),      # advantage at small eta, gone at large
    ((INCONCLUSIVE, INCONCLUSIVE, INCONCLUSIVE), INCONCLUSIVE),  # no effect visible
    ((NOT_SUPPORTED, INCONCLUSIVE, SUPPORTED), NOT_SUPPORTED),  # reversed: advantage only at large eta
    ((SUPPORTED, SUPPORTED, SUPPORTED), NOT_SUPPORTED),          # advantage never vanishes on the grid
    ((SUPPORTED, NOT_SUPPORTED, SUPPORTED), INCONCLUSIVE),       # not monotone
])
def test_only_below_patterns(pattern, expected):
    assert only_below([0.01, 0.1, 1.0], list(pattern)) == expected
    assert only_below([1.0, 0.1, 0.01], list(reversed(pattern))) == expected  # order of the grid does not matter


def test_crossover_interpolates_in_log_log():
    # ratio = eta / 0.1 crosses 1 at eta = 0.1 exactly; the grid brackets it by 0.03 and 0.3.
    assert crossover([0.03, 0.3, 3.0], [0.3, 3.0, 30.0]) == pytest.approx(0.1, rel=1e-12)
    assert crossover([0.1, 1.0], [0.5, 0.9]) is None
    assert crossover([0.1, 1.0, 3.0], [2.0, 0.5, float("nan")]) is None


def test_rule_validates_its_settings():
    with pytest.raises(UsageError, match="claimed"):
        DecisionRule("x", claimed="bigger", boundary=0.0)
    with pytest.raises(UsageError, match="confidence"):
        DecisionRule("x", claimed="less", boundary=0.0, confidence=1.5)
