"""The one timing method of every benchmark: interleaved blocks, rotated order, median [IQR] of paired ratios.

A *round* runs each candidate for one *block* of ``calls`` calls; the order of the candidates rotates by
one place every round, so none always runs first (cold caches) or last. A block is timed as a whole
(between two ``synchronize()`` calls on a GPU) and contributes its mean seconds per call. A ratio A/B is
formed *per round*, from two blocks that ran seconds apart under the same machine load, and is reported
as the median and the interquartile range over the rounds: ``0.446 [0.416, 0.462]``. Load that comes
and goes (other users of a shared machine) moves both blocks of a round together and cancels in the
ratio far better than in a ratio of medians taken minutes apart.

The number of torch CPU threads is set for the measurement (:func:`threads`, restored afterwards) and
stated in every report. Rounds: at least 10.

Each benchmark's ``main(argv) -> list[Ratio]`` prints its own table and returns its ratios, so that
``benchmarks/run_all.py`` (``make bench``) can print all of them against their goals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["MIN_ROUNDS", "Ratio", "Spread", "Timings", "interleave", "print_ratios", "threads"]

MIN_ROUNDS = 10


@contextmanager
def threads(count: int) -> Iterator[int]:
    """Run the block with ``count`` torch CPU threads; restore the previous count afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class Spread:
    """Median and interquartile range of per-round values."""

    median: float
    q1: float
    q3: float

    @classmethod
    def of(cls, values) -> Spread:
        values = np.asarray(values, dtype=float)
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        return cls(float(median), float(q1), float(q3))

    def format(self, digits: int = 3, scale: float = 1.0) -> str:
        m, a, b = (scale * x for x in (self.median, self.q1, self.q3))
        return f"{m:.{digits}g} [{a:.{digits}g}, {b:.{digits}g}]"

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class Ratio:
    """A measured ratio and its goal: ``met`` when the median is on the right side of ``goal``."""

    benchmark: str
    name: str
    spread: Spread
    goal: float | None = None
    at_most: bool = True  # goal is an upper bound (False: a lower bound)

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        return self.spread.median <= self.goal if self.at_most else self.spread.median >= self.goal

    def goal_text(self) -> str:
        return "-" if self.goal is None else f"{'<=' if self.at_most else '>='} {self.goal:g}"


@dataclass
class Timings:
    """Seconds per call of each candidate, one value per round (``seconds[name][r]``)."""

    seconds: dict[str, np.ndarray]
    threads: int
    calls: int

    @property
    def rounds(self) -> int:
        return len(next(iter(self.seconds.values())))

    def spread(self, name: str) -> Spread:
        return Spread.of(self.seconds[name])

    def ratio(self, numerator: str, denominator: str) -> Spread:
        """Per-round ``numerator / denominator``, summarised."""
        return Spread.of(self.seconds[numerator] / self.seconds[denominator])

    def combine(self, formula: Callable[[dict[str, np.ndarray]], np.ndarray]) -> Spread:
        """Any per-round expression of the candidates' times (e.g. overheads above a floor), summarised."""
        return Spread.of(formula(self.seconds))

    def describe(self) -> str:
        return f"{self.threads} torch thread(s), {self.rounds} interleaved rounds (rotated order) x {self.calls} call(s)"

    def table(self, unit: str = "ms") -> str:
        scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
        width = max(map(len, self.seconds))
        return "\n".join(f"  {name:<{width}}  {self.spread(name).format(4, scale)} {unit}/call" for name in self.seconds)


def interleave(
    candidates: Mapping[str, Callable[[], object]],
    *,
    rounds: int = 15,
    calls: int = 1,
    warmup: int = 1,
    num_threads: int = 1,
    synchronize: Callable[[], None] | None = None,
) -> Timings:
    """Time every candidate in ``rounds`` interleaved rounds of one block of ``calls`` calls each.

    ``warmup`` calls of each candidate come first and are not timed (allocations, lazy imports, caches).
    ``synchronize`` (e.g. ``torch.cuda.synchronize``) is called before and after each timed block.
    """
    if rounds < MIN_ROUNDS:
        raise ValueError(f"rounds must be at least {MIN_ROUNDS}, got {rounds}")
    names = list(candidates)
    sync = synchronize or (lambda: None)
    seconds = {name: np.empty(rounds) for name in names}
    with threads(num_threads) as used:
        for name in names:
            for _ in range(warmup):
                candidates[name]()
        for r in range(rounds):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                run = candidates[name]
                sync()
                start = time.perf_counter()
                for _ in range(calls):
                    run()
                sync()
                seconds[name][r] = (time.perf_counter() - start) / calls
    return Timings(seconds, used, calls)


def print_ratios(ratios: list[Ratio], title: str | None = None) -> None:
    """Print ``ratios`` as one table: benchmark, ratio, median [IQR], goal, met."""
    if title:
        print(title)
    rows = [(r.benchmark, r.name, str(r.spread), r.goal_text(), {True: "yes", False: "NO", None: "-"}[r.met])
            for r in ratios]
    header = ("benchmark", "ratio", "median [IQR]", "goal", "met")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)))
