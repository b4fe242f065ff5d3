"""``FigureSpec``: one figure of ``figures/`` as data (name, caption, drawing function, parameters), below both
the catalog (:mod:`stablesam.analysis.figures.catalog`) and the writer (:mod:`stablesam.analysis.figures.writer`), so neither imports the other."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FigureSpec"]


@dataclass(frozen=True)
class FigureSpec:
    """One figure: ``function`` is ``"module:attribute"`` of a ``plot_*`` function returning a Figure."""

    name: str
    caption: str
    function: str
    params: Mapping[str, Any] = field(default_factory=dict)
    quick_params: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self) -> Callable[..., Any]:
        module, attribute = self.function.split(":")
        return getattr(importlib.import_module(module), attribute)

    def parameters(self, quick: bool) -> dict[str, Any]:
        return {**self.params, **(self.quick_params if quick else {})}
