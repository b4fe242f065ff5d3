"""The figure set of ``figures/``: each figure as data (:mod:`stablesam.analysis.figures.spec`), the catalogue
and the deterministic writer."""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so a light
# path (``stablesam --help``, reading a config) does not import torch.
_EXPORTS = {
    "FIGURES": "stablesam.analysis.figures.catalog",
    "FigureSpec": "stablesam.analysis.figures.spec",
    # writer.catalog() stays qualified: the name is the catalogue module's, which importing it binds here.
    **dict.fromkeys(("figure_data_digest", "write_figures"), "stablesam.analysis.figures.writer"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
