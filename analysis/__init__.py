"""Analysis on top of the optimizers: one room per concept, each a subpackage with its own public names.

- :mod:`stablesam.analysis.curvature`: the Hessian operator, its eigen-solvers and trace, the sharpness measurer;
- :mod:`stablesam.analysis.experiments`: experiments that train or scan models;
- :mod:`stablesam.analysis.verify`: ``stablesam verify``, the paper's claims, their rules, runner and report;
- :mod:`stablesam.analysis.plots`: drawing only, ``plot_*(...) -> Figure``;
- :mod:`stablesam.analysis.figures`: the figure set of ``figures/`` and its deterministic writer.

The rooms load on first use (``stablesam.analysis.plots`` imports no torch).
"""

from stablesam.core.exports import lazy_exports

__all__ = ["curvature", "experiments", "figures", "plots", "verify"]
__getattr__, __dir__ = lazy_exports(__name__, {}, globals())
