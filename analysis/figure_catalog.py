"""The figures of ``figures/``: name, caption, drawing function and parameters (full and quick)."""

from analysis.figures import FigureSpec

FIGURES: tuple[FigureSpec, ...] = ()
