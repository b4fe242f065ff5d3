"""One visual language for every figure: method names, colours, markers, sizes.

Colours are the Okabe–Ito colour-blind-safe palette; each method keeps its colour in every figure.
Sizes target a single journal column (3.4 in) or a full width (7 in).
"""

from __future__ import annotations

from contextlib import contextmanager

__all__ = ["COLUMN_WIDTH", "FULL_WIDTH", "METHOD_COLORS", "METHOD_LABELS", "METHOD_MARKERS", "figure_style", "label"]

COLUMN_WIDTH = 3.4
FULL_WIDTH = 7.0

# Okabe & Ito (2008), "Color Universal Design".
_OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}

METHOD_LABELS = {
    "gd": "GD",
    "sgd": "SGD",
    "sam": "SAM",
    "usam": "USAM",
    "asam": "ASAM",
    "stablesam-n": "StableSAM-N",
    "stablesam-u": "StableSAM-U",
    "stablesam-a": "StableSAM-A",
}

METHOD_COLORS = {
    "gd": _OKABE_ITO["black"],
    "sgd": _OKABE_ITO["black"],
    "sam": _OKABE_ITO["vermillion"],
    "usam": _OKABE_ITO["orange"],
    "asam": _OKABE_ITO["purple"],
    "stablesam-n": _OKABE_ITO["blue"],
    "stablesam-u": _OKABE_ITO["sky_blue"],
    "stablesam-a": _OKABE_ITO["green"],
}

METHOD_MARKERS = {
    "gd": "o", "sgd": "o", "sam": "s", "usam": "^", "asam": "v",
    "stablesam-n": "D", "stablesam-u": "P", "stablesam-a": "X",
}


def label(method: str) -> str:
    """Display name of a method key (``"stablesam-u"`` -> ``"StableSAM-U"``)."""
    return METHOD_LABELS.get(method, method)


@contextmanager
def figure_style():
    """Matplotlib settings for publication figures (readable at column width, vector-friendly fonts)."""
    import matplotlib as mpl

    rc = {
        "figure.dpi": 150,
        "savefig.dpi": 200,
        "savefig.bbox": "tight",
        "font.size": 8,
        "axes.titlesize": 8,
        "axes.labelsize": 8,
        "legend.fontsize": 7,
        "xtick.labelsize": 7,
        "ytick.labelsize": 7,
        "lines.linewidth": 1.2,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "pdf.fonttype": 42,
        "svg.hashsalt": "stablesam",
        "axes.prop_cycle": mpl.cycler(color=list(_OKABE_ITO.values())[1:] + ["#000000"]),
    }
    with mpl.rc_context(rc):
        yield
