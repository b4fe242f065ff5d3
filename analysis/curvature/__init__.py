"""Curvature of a model's loss: the Hessian operator, its eigen-solvers and trace, the sharpness measurer."""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so a light
# path (``stablesam --help``, reading a config) does not import torch.
_EXPORTS = {
    **dict.fromkeys(
        ("EigenResult", "TraceResult", "default_ncv", "hutchinson_trace", "lanczos_top_eigenpairs", "power_iteration"),
        "stablesam.analysis.curvature.eigen",
    ),
    **dict.fromkeys(
        ("BACKENDS", "BN_MODES", "DEFAULT_BACKEND", "HessianOperator"),
        "stablesam.analysis.curvature.hessian",
    ),
    "top_hessian_eigenvalue": "stablesam.analysis.curvature.sharpness",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
