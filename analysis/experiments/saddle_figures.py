"""The saddle and flatness experiments behind their figures: the runs, then :mod:`stablesam.analysis.plots.saddles`
draws (plots only draw).

- :func:`figure_toy_escapes`: escape fractions and times on the toy saddles.
- :func:`figure_network_escapes`: the small-initialisation digits MLP escaping its saddle at the origin.
- :func:`figure_flatness`: C10's sharpness at equal training loss.
"""

from __future__ import annotations

from collections.abc import Sequence

from stablesam.analysis.experiments.flatness import FlatnessConfig, flatness_table
from stablesam.analysis.experiments.saddles import TOY_SADDLES, NetworkSaddleConfig, network_escape_table, \
    summarise_escapes, toy_escape_table
from stablesam.analysis.plots.saddles import plot_flatness, plot_network_escapes, plot_toy_escapes

__all__ = ["figure_flatness", "figure_network_escapes", "figure_toy_escapes"]


def _tuples(config: dict) -> dict:
    """JSON parameters (lists) as the configs' tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}


def figure_toy_escapes(*, steps: int = 1000, repeats: int = 10, rhos: Sequence[float] = (0.05, 0.5),
                       noises: Sequence[float] = (0.0, 1e-3, 1e-2), seed: int = 0):
    """Run :func:`~stablesam.analysis.experiments.saddles.toy_escape_table` on every toy saddle and draw it."""
    table = toy_escape_table(steps=steps, repeats=repeats, rhos=rhos, noises=noises, seed=seed)
    summary = summarise_escapes(table, by=("method", "rho", "saddle"))
    return plot_toy_escapes(summary, saddles=[s.name for s in TOY_SADDLES], rhos=rhos, steps=steps)


def figure_network_escapes(**config):
    """Run :func:`~stablesam.analysis.experiments.saddles.network_escape_table` and draw its loss curves."""
    config = NetworkSaddleConfig(**_tuples(config))
    table, curves = network_escape_table(config, progress=False)
    return plot_network_escapes(table, curves, config)


def figure_flatness(**config):
    """Run :func:`~stablesam.analysis.experiments.flatness.flatness_table` and draw it."""
    config = FlatnessConfig(**_tuples(config))
    table, _ = flatness_table(config, progress=False)
    return plot_flatness(table, config)
