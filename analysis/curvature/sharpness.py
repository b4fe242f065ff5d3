"""The sharpness measurer the twin harness takes: ``lambda_max`` of a model's mean loss, by Lanczos.

:class:`stablesam.stability.twin.TwinTrainer` sits below :mod:`analysis` and does not import curvature code; a
caller that tracks sharpness (``sharpness_every > 0``) injects a measurer, :func:`top_hessian_eigenvalue`
or any function with its signature (``stablesam twin`` and ``stablesam sweep`` pass this one)::

    run_twin(config.replace(sharpness_every=2), "runs/x", sharpness=top_hessian_eigenvalue)
"""

from __future__ import annotations

import math

__all__ = ["top_hessian_eigenvalue"]


def top_hessian_eigenvalue(module, loss_fn, data, *, generator, dtype, chunk_size=None) -> float:
    """``lambda_max`` of the Hessian of ``loss_fn(module(x), y)`` on ``data = (x, y)``: Lanczos
    (:func:`stablesam.analysis.curvature.eigen.lanczos_top_eigenpairs`) on Hessian-vector products
    (:class:`stablesam.analysis.curvature.hessian.HessianOperator`, in ``dtype``, over chunks of ``chunk_size`` examples), start
    vector from the numpy ``generator``; NaN when no Ritz pair converged."""
    from stablesam.analysis.curvature.eigen import lanczos_top_eigenpairs
    from stablesam.analysis.curvature.hessian import HessianOperator

    operator = HessianOperator(module, loss_fn, data, dtype=dtype, chunk_size=chunk_size)
    eigenvalues = lanczos_top_eigenpairs(operator, k=1, generator=generator).eigenvalues
    return float(eigenvalues[0]) if len(eigenvalues) else math.nan
