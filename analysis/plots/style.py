"""One visual language for every figure: method names, colours, markers, sizes.

Colours are the Okabe–Ito colour-blind-safe palette; each method keeps the colour :mod:`stablesam.core.methods`
gives it in every figure.
Sizes target a single journal column (3.4 in) or a full width (7 in).
"""

from __future__ import annotations

from contextlib import contextmanager

from stablesam.core.methods import METHODS, OKABE_ITO

__all__ = ["COLUMN_WIDTH", "FULL_WIDTH", "METHOD_COLORS", "METHOD_LABELS", "METHOD_MARKERS", "figure_style", "label"]

COLUMN_WIDTH = 3.4
FULL_WIDTH = 7.0

METHOD_LABELS = {key: m.label for key, m in METHODS.items()}
METHOD_COLORS = {key: m.color for key, m in METHODS.items()}
METHOD_MARKERS = {key: m.marker for key, m in METHODS.items()}


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
        "axes.prop_cycle": mpl.cycler(color=list(OKABE_ITO.values())[1:] + ["#000000"]),
    }
    with mpl.rc_context(rc):
        yield
