"""Twin-run evidence of ``stablesam verify``: the cross-fitted stability estimate against its noise floor, the
paired ratio interval, and failed runs as outcomes. Rates are counted over ``REPS`` simulated verifications (a 5%
rate has a standard error of 0.7 points at 1000)."""

import numpy as np
import pytest

from stablesam.analysis.verify.twin_evidence import (
    crossfit_pair,
    failure_kinds,
    noise_floors,
    ratio_interval,
    trained_seeds,
)
from stablesam.analysis.verify.verdicts import SUPPORTED, DecisionRule

REPS = 1000
N_TEST = 360  # the digits test set of the twin runs
MORE_STABLE = DecisionRule("stability(method) / stability(base)", claimed="less", boundary=1 / 1.1, null=1.0,
                           min_units=10)


def _profile(g: np.random.Generator) -> np.ndarray:
    """A true E_A D(z) over the test points: small everywhere, larger near a few test points (the replaced
    example's neighbours), as in a twin run; sup = 0.05."""
    mu = 0.005 * g.standard_normal(N_TEST)
    mu[:5] = [0.05, -0.04, 0.035, 0.03, -0.03]
    return mu


def _own(diff) -> float:
    """The cross-fitted estimate of one arm (compared with itself: its own candidates only)."""
    return float(np.mean(crossfit_pair(diff, diff)[0]))


def _plug_in(diff) -> float:
    return float(np.abs(diff.mean(axis=0)).max())


@pytest.mark.parametrize("n", [10, 20])
def test_equal_stability_unequal_noise_is_rarely_more_stable(n):
    """Two arms with the same true stability, one twice as noisy: ruled "more stable" at most 5% of the time
    whichever arm is the noisy one; the plug-in sup_z |mean| rules the quieter arm more stable far more often."""
    g = np.random.default_rng([22, n])
    mu = _profile(g)
    for quiet_is_method in (True, False):
        supported = plug_in_supported = 0
        for _ in range(REPS // 2):
            quiet = mu + 0.05 * g.standard_normal((n, N_TEST))
            noisy = mu + 0.10 * g.standard_normal((n, N_TEST))
            method, base = (quiet, noisy) if quiet_is_method else (noisy, quiet)
            a, b = crossfit_pair(method, base)
            supported += MORE_STABLE.decide(ratio_interval(a, b, MORE_STABLE)) == SUPPORTED
            plug_in_supported += _plug_in(method) < _plug_in(base) / 1.1
        assert supported / (REPS // 2) <= 0.05, (quiet_is_method, supported)
        if quiet_is_method:
            assert plug_in_supported / (REPS // 2) > 0.5  # today's estimator: the noise decides


def test_crossfit_is_unbiased_for_the_planted_sup_and_pure_noise_stays_below_its_floor():
    g = np.random.default_rng(7)
    mu = _profile(g)
    signal = [_own(mu + 0.01 * g.standard_normal((10, N_TEST))) for _ in range(200)]
    assert np.mean(signal) == pytest.approx(0.05, rel=0.05)  # z* found: the mean reads the planted sup
    # Pure seed noise: the plug-in estimate is far from 0, the cross-fitted one is centred at 0 and clears its
    # floor in at most about 5% of draws (level 0.95; 200 draws, sd of the rate 1.5 points).
    cleared = plug = 0
    for _ in range(200):
        diff = 0.1 * g.standard_normal((10, N_TEST))
        plug += _plug_in(diff)
        cleared += _own(diff) > noise_floors(diff, diff, g, draws=100)[0]
    assert plug / 200 > 0.08 and cleared / 200 <= 0.05 + 3 * 0.015
    # A real effect clears it.
    diff = mu + 0.01 * g.standard_normal((10, N_TEST))
    assert _own(diff) > noise_floors(diff, diff, g)[0]


@pytest.mark.parametrize("kind", ["lognormal", "gamma"])
def test_ratio_interval_coverage(kind):
    g = np.random.default_rng([3, len(kind)])
    theta, hits, false = 0.7, 0, 0
    for _ in range(REPS):
        b = g.gamma(2.0, 1.0, 10) if kind == "gamma" else g.lognormal(0.0, 1.0, 10)
        noise = g.lognormal(0.0, 0.5, 10)  # median 1: median(a - theta b) = 0
        a = theta * b * noise
        hits += (lambda i: i.low <= theta <= i.high)(ratio_interval(a, b, MORE_STABLE))
        at_boundary = ratio_interval(b * noise / 1.1, b, MORE_STABLE)
        false += MORE_STABLE.decide(at_boundary) == SUPPORTED
    assert hits / REPS >= 0.93 and false / REPS <= 0.035


def test_failed_runs_are_outcomes_and_majority_failed_is_not_comparable():
    n = 10
    ok = failure_kinds(diverged=[False] * n, final_accuracy=[0.9] * n, initial_loss=[2.3] * n, final_loss=[0.3] * n,
                       classes=10)
    chance = failure_kinds(diverged=[False] * n, final_accuracy=[0.10] * 7 + [0.9] * 3, initial_loss=[2.3] * n,
                           final_loss=[2.2] * 7 + [0.3] * 3, classes=10)
    diverged = failure_kinds(diverged=[True] * 6 + [False] * 4, final_accuracy=[0.9] * n, initial_loss=[2.3] * n,
                             final_loss=[float("inf")] * 6 + [0.3] * 4, classes=10)
    flat = failure_kinds(diverged=[False], final_accuracy=[0.5], initial_loss=[2.3], final_loss=[2.2], classes=10)
    assert set(ok) == {"ok"} and chance.count("never trained") == 7 and diverged.count("diverged") == 6
    assert flat == ["never trained"]  # the loss fell by less than 10%
    assert trained_seeds(ok, chance) is None and trained_seeds(diverged, ok) is None  # not comparable
    assert list(trained_seeds(ok, ok)) == list(range(n))
    few = ["diverged"] * 3 + ["ok"] * 7
    assert list(trained_seeds(few, ok)) == list(range(3, n))  # minority failures: decided on the others
