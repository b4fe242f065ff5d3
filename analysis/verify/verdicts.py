r"""Decision rules and statistics of ``stablesam verify``: confidence intervals and the three verdicts.

Every claim is decided by a :class:`DecisionRule` fixed in code before anything runs: the claimed direction
of an effect, the boundary the effect must clear (the effect size), the confidence level and the minimum
number of independent units (seeds). The rule reads a :class:`Interval` (point estimate and a two-sided
bootstrap confidence interval) and returns

- ``"supported"``: the whole interval lies beyond the boundary in the claimed direction (or, for a rule with an
  ``equivalence`` margin, "matches or beats", also when it lies wholly within ``null +- equivalence``);
- ``"not supported"``: the whole interval lies on the other side of ``min(boundary, null)`` (for a claimed
  increase; ``max`` for a claimed decrease): the data show the effect reversed; with an equivalence margin, on
  the other side of ``null - equivalence`` (a deficit larger than the margin);
- ``"inconclusive"``: anything else, and whenever there are fewer units than the rule needs.

Intervals come from :func:`scipy.stats.bootstrap` (BCa; Efron and Tibshirani 1993, ch. 14) over *units*: the
statistic is a function of the indices of the units in a resample, so a paired design (two methods run with
the same seeds, sharing initialisation and batch order) is resampled jointly by passing both arms' values
through the same indices, and a statistic of a whole table (``sup_z`` of a mean over seeds) is resampled over
its seeds. When BCa cannot be computed (a degenerate jackknife, e.g. every resample gives the same value) the
percentile interval is used.

Example
-------
>>> import numpy as np
>>> rule = DecisionRule("mean difference > 0", claimed="greater", boundary=0.0)
>>> a = np.array([1.2, 0.9, 1.1, 1.3, 1.0])
>>> interval = bootstrap_interval(lambda idx: a[idx].mean(), len(a), generator=np.random.default_rng(0))
>>> rule.decide(interval)
'supported'
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from stablesam.core.validation import UsageError, check_choice, check_finite, check_in_range, check_integer

__all__ = [
    "INCONCLUSIVE",
    "NOT_SUPPORTED",
    "SUPPORTED",
    "VERDICTS",
    "DecisionRule",
    "Interval",
    "bootstrap_interval",
    "combine_cases",
    "crossover",
    "only_below",
]

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its two-sided confidence interval, from ``n`` units (``low = high = nan`` if n < 2)."""

    estimate: float
    low: float
    high: float
    n: int
    confidence: float
    method: str  # "BCa", "percentile" (BCa undefined) or "none" (fewer than 2 units, or no finite interval)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        level = f"{100 * self.confidence:g}%"
        return f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}] ({level} CI, n={self.n})"


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n_units: int,
    *,
    generator: np.random.Generator,
    confidence: float = 0.95,
    n_resamples: int = 2000,
) -> Interval:
    """Bootstrap confidence interval of ``statistic(indices)`` over ``n_units`` independent units.

    ``statistic`` receives an integer array of unit indices (a resample, with repetitions) and returns a float;
    :func:`scipy.stats.bootstrap` does the resampling (``method="BCa"``) from ``generator``.
    """
    from scipy.stats import bootstrap

    n_units = check_integer("n_units", n_units, minimum=1)
    confidence = check_in_range("confidence", confidence, 0.0, 1.0, low_open=True, high_open=True)
    n_resamples = check_integer("n_resamples", n_resamples, minimum=10)
    if not isinstance(generator, np.random.Generator):
        raise UsageError(f"generator must be a numpy.random.Generator, got {type(generator).__name__}")
    units = np.arange(n_units)
    estimate = float(statistic(units))
    if n_units < 2 or not math.isfinite(estimate):
        return Interval(estimate, math.nan, math.nan, n_units, confidence, "none")

    def on_indices(idx: np.ndarray) -> float:
        return float(statistic(np.asarray(idx, dtype=np.intp)))

    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate-data and instability warnings: handled below
            result = bootstrap((units,), on_indices, vectorized=False, confidence_level=confidence,
                               n_resamples=n_resamples, method=method, random_state=generator)
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return Interval(estimate, low, high, n_units, confidence, method)
    return Interval(estimate, math.nan, math.nan, n_units, confidence, "none")


@dataclass(frozen=True)
class DecisionRule:
    """A one-sided claim about an effect: ``claimed`` ``"greater"`` (or ``"less"``) than ``boundary``.

    ``null`` is the value of "no effect" (0 for a difference, 1 for a ratio); ``boundary`` is the effect size the
    claim must clear (``boundary == null``: any effect; beyond the null: a superiority margin; on the other side
    of the null: a non-inferiority margin). See the module docstring for the three verdicts.
    """

    description: str
    claimed: Literal["greater", "less"]
    boundary: float
    null: float = 0.0
    confidence: float = 0.95
    min_units: int = 3
    equivalence: float | None = None

    def __post_init__(self) -> None:
        check_choice("claimed", self.claimed, ("greater", "less"))
        check_finite("boundary", self.boundary)
        check_finite("null", self.null)
        check_in_range("confidence", self.confidence, 0.0, 1.0, low_open=True, high_open=True)
        check_integer("min_units", self.min_units, minimum=1)
        if self.equivalence is not None and check_finite("equivalence", self.equivalence) <= 0:
            raise UsageError(f"equivalence must be > 0, got {self.equivalence!r}")

    @property
    def _against(self) -> float:
        """The value beyond which the whole interval contradicts the claim."""
        if self.equivalence is not None:
            return self.null - self.equivalence if self.claimed == "greater" else self.null + self.equivalence
        return min(self.boundary, self.null) if self.claimed == "greater" else max(self.boundary, self.null)

    def matches(self, interval: Interval) -> bool:
        """Whether the whole interval lies within ``null +- equivalence`` (false without an equivalence margin)."""
        return (self.equivalence is not None and interval.low >= self.null - self.equivalence
                and interval.high <= self.null + self.equivalence)

    def decide(self, interval: Interval) -> str:
        """The verdict of ``interval`` under this rule (see the module docstring)."""
        if interval.n < self.min_units or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
            return INCONCLUSIVE
        beyond = interval.low > self.boundary if self.claimed == "greater" else interval.high < self.boundary
        if beyond or self.matches(interval):
            return SUPPORTED
        against = interval.high < self._against if self.claimed == "greater" else interval.low > self._against
        return NOT_SUPPORTED if against else INCONCLUSIVE

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        sign = ">" if self.claimed == "greater" else "<"
        matches = (f" or within {self.null:g} +- {self.equivalence:g} (matches)" if self.equivalence is not None else "")
        return (f"{self.description}: supported when the whole {100 * self.confidence:g}% CI is {sign} "
                f"{self.boundary:g}{matches}; not supported when it lies wholly on the other side of "
                f"{self._against:g}; inconclusive otherwise or with fewer than {self.min_units} seeds")


def combine_cases(verdicts: list[str], *, require_all: bool) -> str:
    """One verdict from the verdicts of several cases (settings) of a claim.

    ``require_all=True`` (a claim about every setting): supported when every case is, not supported when any
    case is not. ``False`` (a claim that holds in some setting without being contradicted in another):
    supported when some case is and none is not, not supported when some case is not and none is supported.
    No case: inconclusive.
    """
    for verdict in verdicts:
        check_choice("verdict", verdict, VERDICTS)
    if not verdicts:
        return INCONCLUSIVE
    if require_all:
        if NOT_SUPPORTED in verdicts:
            return NOT_SUPPORTED
        return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE
    if SUPPORTED in verdicts and NOT_SUPPORTED not in verdicts:
        return SUPPORTED
    if NOT_SUPPORTED in verdicts and SUPPORTED not in verdicts:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def only_below(xs, verdicts: list[str]) -> str:
    """Verdict of "the effect holds only at small ``x``" from the per-``x`` verdicts of the effect.

    Supported: the effect is supported at some ``x_a`` and not supported at some larger ``x_b``, and never
    supported above an ``x`` where it is not supported. Not supported: the reverse order (not supported at some
    ``x_a``, supported at a larger ``x_b``), or the effect supported at every ``x`` (it did not vanish on the grid),
    or not supported at every ``x`` (it appeared nowhere). Inconclusive otherwise.
    """
    xs = [check_finite("x", x) for x in xs]
    if len(xs) != len(verdicts):
        raise UsageError(f"xs and verdicts must have the same length, got {len(xs)} and {len(verdicts)}")
    for verdict in verdicts:
        check_choice("verdict", verdict, VERDICTS)
    ordered = [v for _, v in sorted(zip(xs, verdicts), key=lambda pair: pair[0])]
    if not ordered:
        return INCONCLUSIVE
    if all(v == SUPPORTED for v in ordered) or all(v == NOT_SUPPORTED for v in ordered):
        return NOT_SUPPORTED
    first_not = next((k for k, v in enumerate(ordered) if v == NOT_SUPPORTED), None)
    last_supported = max((k for k, v in enumerate(ordered) if v == SUPPORTED), default=None)
    first_supported = next((k for k, v in enumerate(ordered) if v == SUPPORTED), None)
    last_not = max((k for k, v in enumerate(ordered) if v == NOT_SUPPORTED), default=None)
    if first_not is not None and last_supported is not None and last_supported < first_not:
        return SUPPORTED
    if last_not is not None and first_supported is not None and last_not < first_supported:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def crossover(xs, ratios) -> float | None:
    """First ``x`` at which ``ratio`` crosses 1 from below, interpolated linearly in ``(log x, log ratio)``.

    ``None`` when the ratio never crosses 1 upwards on the grid (non-finite ratios are skipped).
    """
    points = sorted((check_finite("x", x), float(r)) for x, r in zip(xs, ratios) if math.isfinite(float(r)) and r > 0)
    for (x0, r0), (x1, r1) in zip(points, points[1:]):
        if r0 < 1.0 <= r1:
            l0, l1 = math.log(r0), math.log(r1)
            t = -l0 / (l1 - l0)
            return float(math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0))))
    return None
