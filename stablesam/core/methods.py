"""The one table of methods: every CLI choice, plot, harness run, threshold and claim reads it.

A method is a base optimizer step, optionally preceded by an ascent to ``w~`` and optionally followed
by StableSAM's renormalization (``docs/theory.md`` section 1):

===============  ==============================  ==============  ======================================
key              ascent point ``w~``             renormalized    source
===============  ==============================  ==============  ======================================
``gd``/``sgd``   none                            no              (full batch / mini-batch)
``usam``         ``w + rho g``                   no              Andriushchenko & Flammarion, ICML 2022
``sam``          ``w + rho g/||g||``             no              Foret et al., ICLR 2021
``asam``         ``w + rho T^2 g/||T g||``       no              Kwon et al., ICML 2021
``stablesam-u``  as ``usam``                     ``gamma g~``    Tan et al. (their ``usam.py``)
``stablesam-n``  as ``sam``                      ``gamma g~``    Tan et al., arXiv:2401.07250
``stablesam-a``  as ``asam``                     ``gamma g~``    Tan et al.
===============  ==============================  ==============  ======================================

with ``gamma = ||g|| / ||g~||``. Each layer interprets a row with its own code, keyed by the row's
fields: :mod:`stablesam.theory.quadratic` its map on quadratics, :mod:`stablesam.theory.stability_edge` its edge formula,
:mod:`stability` its optimizer; this module holds data only, so that it can sit below them all.

>>> from stablesam.core.methods import method
>>> method("stablesam-u").ascent, method("stablesam-u").stable, method("stablesam-u").edge
('unnormalized', True, 'gd')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stablesam.core.validation import check_choice

__all__ = ["DEFAULT_RHO", "METHODS", "OKABE_ITO", "Ascent", "Method", "method", "method_keys"]

DEFAULT_RHO = 0.05  # Foret et al. (2021)'s default radius; the one place the default is written

Ascent = Literal["none", "normalized", "unnormalized", "adaptive"]


@dataclass(frozen=True)
class Method:
    """One row of the table. ``ascent == "none"`` means the base optimizer alone (``rho`` unused)."""

    key: str
    label: str
    color: str
    marker: str
    ascent: Ascent
    stable: bool

    @property
    def uses_rho(self) -> bool:
        """Whether ``rho`` enters the update (``sgd``/``gd`` ignore it: they are SAM at ``rho = 0``)."""
        return self.ascent != "none"

    @property
    def edge(self) -> str | None:
        """Which edge formula of ``docs/theory.md`` section 3 bounds the sharpness: ``"gd"`` (``2/eta``),
        ``"usam"``, ``"sam"`` (needs ``||g||``), or ``None`` where none is known (the adaptive ascent)."""
        if self.ascent == "adaptive":
            return None
        if self.stable or self.ascent == "none":
            return "gd"
        return {"normalized": "sam", "unnormalized": "usam"}[self.ascent]

    @property
    def has_quadratic_map(self) -> bool:
        """Whether :mod:`stablesam.theory.quadratic` has this method's map (``f(w) = w^T H w / 2``)."""
        return self.ascent != "adaptive"


# Okabe & Ito (2008), "Color Universal Design": colour-blind safe; each method keeps one colour everywhere.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
_BLACK, _ORANGE, _SKY_BLUE, _GREEN = (OKABE_ITO[c] for c in ("black", "orange", "sky_blue", "green"))
_BLUE, _VERMILLION, _PURPLE = (OKABE_ITO[c] for c in ("blue", "vermillion", "purple"))

METHODS: dict[str, Method] = {
    m.key: m
    for m in (
        Method("gd", "GD", _BLACK, "o", "none", False),
        Method("sgd", "SGD", _BLACK, "o", "none", False),
        Method("usam", "USAM", _ORANGE, "^", "unnormalized", False),
        Method("sam", "SAM", _VERMILLION, "s", "normalized", False),
        Method("asam", "ASAM", _PURPLE, "v", "adaptive", False),
        Method("stablesam-u", "StableSAM-U", _SKY_BLUE, "P", "unnormalized", True),
        Method("stablesam-n", "StableSAM-N", _BLUE, "D", "normalized", True),
        Method("stablesam-a", "StableSAM-A", _GREEN, "X", "adaptive", True),
    )
}


def method_keys(*, quadratic: bool | None = None, edge: bool | None = None, full_batch: bool | None = None) -> tuple[str, ...]:
    """Keys of the methods with the requested properties, in table order.

    ``quadratic=True``: those with a map in :mod:`stablesam.theory.quadratic`; ``edge=True``: those with an edge
    formula; ``full_batch=True`` keeps ``gd`` and drops ``sgd`` (``False``: the reverse).
    """
    keys = []
    for m in METHODS.values():
        if quadratic is not None and m.has_quadratic_map != quadratic:
            continue
        if edge is not None and (m.edge is not None) != edge:
            continue
        if full_batch is not None and m.key == ("sgd" if full_batch else "gd"):
            continue
        keys.append(m.key)
    return tuple(keys)


def method(key: str) -> Method:
    """The row of ``key``; a :class:`~stablesam.core.validation.UsageError` naming the allowed keys otherwise."""
    return METHODS[check_choice("method", key, METHODS)]
