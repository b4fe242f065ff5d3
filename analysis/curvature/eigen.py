"""Spectral estimates of a symmetric operator from matrix-vector products alone (Hessians of networks).

- :func:`lanczos_top_eigenpairs`: the ``k`` largest eigenpairs by implicitly restarted Lanczos (ARPACK,
  through ``scipy.sparse.linalg.eigsh`` on a ``LinearOperator``), started from a seeded vector. ARPACK stops
  when every Ritz pair satisfies ``||H v - theta v|| <= tol |theta|``; we recompute the residuals
  ``r_i = ||H v_i - lambda_i v_i||`` explicitly (``k`` more products) and report them.
- :func:`power_iteration`: the baseline of the common tools (PyHessian, Yao et al. 2020): ``v <- Hv/||Hv||``,
  Rayleigh quotient ``lambda_t = v_t^T H v_t``, stop when ``|lambda_t - lambda_{t-1}| / (|lambda_{t-1}| + 1e-6) < tol``
  or after ``max_iter`` products (PyHessian's defaults: ``tol=1e-3``, ``max_iter=100``); further eigenpairs by
  orthogonalising against the ones found. It converges at the rate ``(lambda_2/lambda_1)^t`` and finds the
  eigenvalue of largest *magnitude*, where Lanczos converges at a rate governed by the Chebyshev polynomial
  of the gap (Saad 2011, "Numerical Methods for Large Eigenvalue Problems", ch. 6).
- :func:`hutchinson_trace`: ``tr H = E[z^T H z]`` for Rademacher ``z`` (Hutchinson 1989); with ``m`` probes
  the estimate is the sample mean of ``z_j^T H z_j`` and its standard error ``s / sqrt(m)`` (``s`` the sample
  standard deviation). The variance of one probe is ``2 (||H||_F^2 - sum_i H_ii^2)``.

Every function accepts a :class:`stablesam.analysis.curvature.hessian.HessianOperator`, a ``scipy.sparse.linalg.LinearOperator``
or a dense symmetric array, and counts the products it uses. Randomness comes from an explicit
``numpy.random.Generator``.

Example::

    >>> import numpy as np
    >>> H = np.diag([3.0, 2.0, 1.0, 0.5])
    >>> result = lanczos_top_eigenpairs(H, k=2, generator=np.random.default_rng(0))
    >>> np.round(result.eigenvalues, 12).tolist(), result.converged
    ([3.0, 2.0], True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stablesam.core.validation import UsageError, check_choice, check_integer, check_nonnegative

__all__ = ["EigenResult", "TraceResult", "default_ncv", "hutchinson_trace", "lanczos_top_eigenpairs", "power_iteration"]


@dataclass(frozen=True)
class EigenResult:
    """Eigenpairs, largest first. ``eigenvectors[:, i]`` is unit-norm; ``residuals[i] = ||H v_i - lambda_i v_i||``.

    ``num_hvps`` counts the products the method needed; ``num_hvps_residuals`` the extra products spent on
    checking the residuals (zero for power iteration, whose last product gives them for free).
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    residuals: np.ndarray
    converged: bool
    num_hvps: int
    num_hvps_residuals: int
    method: str
    tol: float


@dataclass(frozen=True)
class TraceResult:
    """Hutchinson estimate ``trace``, its standard error, the per-probe samples ``z^T H z``."""

    trace: float
    standard_error: float
    samples: np.ndarray
    num_hvps: int


class _Counted:
    """Wrap an operator as float64 numpy ``matvec`` with a product counter."""

    def __init__(self, operator):
        from scipy.sparse.linalg import LinearOperator, aslinearoperator

        if hasattr(operator, "matvec_numpy") and hasattr(operator, "dim"):
            self._apply, self.dim = operator.matvec_numpy, int(operator.dim)
        elif isinstance(operator, LinearOperator):
            if operator.shape[0] != operator.shape[1]:
                raise UsageError(f"operator must be square, got shape {operator.shape}")
            self._apply, self.dim = operator.matvec, operator.shape[0]
        elif isinstance(operator, np.ndarray):
            if operator.ndim != 2 or operator.shape[0] != operator.shape[1]:
                raise UsageError(f"operator must be a square matrix, got shape {operator.shape}")
            linear = aslinearoperator(np.asarray(operator, dtype=np.float64))
            self._apply, self.dim = linear.matvec, operator.shape[0]
        else:
            raise UsageError(
                f"operator must be a HessianOperator, a scipy LinearOperator or a square array, got {type(operator).__name__}"
            )
        if self.dim < 1:
            raise UsageError("operator must have dimension >= 1")
        self.count = 0

    def __call__(self, v: np.ndarray) -> np.ndarray:
        self.count += 1
        return np.asarray(self._apply(np.asarray(v, dtype=np.float64).reshape(-1)), dtype=np.float64).reshape(-1)


def _check_generator(generator) -> np.random.Generator:
    if not isinstance(generator, np.random.Generator):
        raise UsageError(f"generator must be a numpy.random.Generator, got {type(generator).__name__}")
    return generator


def _default_tol(operator) -> float:
    """Relative tolerance the products can support: float32 Hessian-vector products carry ~1e-7 relative error."""
    import torch

    dtype = getattr(operator, "dtype", np.float64)
    single = dtype is torch.float32 if isinstance(dtype, torch.dtype) else np.dtype(dtype) == np.float32
    return 1e-4 if single else 1e-10


def default_ncv(k: int, tol: float) -> int:
    """Lanczos basis size for the ``k`` largest eigenpairs: ``max(2k + 3, k + 5)``, whatever ``tol``.

    Measured (``benchmarks/hessian_eigs.py`` problem, digits MLP at initialisation and after 300 GD steps,
    3 start vectors; products to convergence at ARPACK tol 1e-2 / 1e-4 / 1e-6 / 1e-10):

    * k = 1: ncv 3: 10/19/29/49, ncv 4: 10/16/22/36, **ncv 6: 10/15/19/28**, ncv 8: 9/16/20/28, ncv 20
      (ARPACK's default ``max(2k+1, 20)``): 21/21/21/31; after training ncv 6: 9/11/15/22 vs 21/21/21/21;
    * k = 5: ncv 7: 33/70/101/155, ncv 11: 24/31/38/54, **ncv 13: 25/31/38/51**, ncv 15: 25/31/38/49,
      ncv 20: 32/34/35/48.

    The best basis depended on ``k`` and hardly on the tolerance: a basis much larger than ``k`` pays
    its whole first sweep (``ncv`` products) even when a few products would do, a basis of ``k + 2``
    restarts too often. ``tol`` is kept in the signature so that the rule can be refined per tolerance.
    The eigenvalue error of a converged Ritz value is about ``tol^2 |lambda|`` (quadratic in the residual).
    """
    del tol  # measured not to matter (docstring)
    return max(2 * k + 3, k + 5)


def _residuals(matvec: _Counted, values: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    return np.array([np.linalg.norm(matvec(vectors[:, i]) - values[i] * vectors[:, i]) for i in range(len(values))])


def lanczos_top_eigenpairs(
    operator,
    k: int = 1,
    *,
    generator: np.random.Generator | None = None,
    v0: np.ndarray | None = None,
    which: str = "LA",
    tol: float | None = None,
    ncv: int | None = None,
    max_restarts: int | None = None,
) -> EigenResult:
    """The ``k`` largest eigenpairs of a symmetric operator by Lanczos (``scipy.sparse.linalg.eigsh``).

    ``which="LA"``: largest algebraic (``lambda_max``, what the stability thresholds need); ``"LM"``: largest
    magnitude (negative curvature included). ``tol``: ARPACK's relative residual tolerance (default 1e-10 in
    float64, 1e-4 for float32 products). ``ncv``: Lanczos basis size (default :func:`default_ncv`, a measured
    rule, capped at the dimension). ``max_restarts``: ARPACK's ``maxiter`` (default ``10 d``).
    The start vector is ``v0`` if given (a warm start, e.g. the previous top eigenvector when tracking
    the spectrum along training), else ``generator.standard_normal(d)``; one of the two is required. Without convergence the Ritz pairs ARPACK did
    converge are returned with ``converged=False`` (fewer than ``k`` pairs, possibly none).
    For a dimension below ``k + 2`` (ARPACK's minimum is ``k < d - 1``) the operator is formed densely.
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    check_choice("which", which, ("LA", "LM"))
    matvec = _Counted(operator)
    d = matvec.dim
    if v0 is None:
        if generator is None:
            raise UsageError("lanczos_top_eigenpairs needs a generator or a start vector v0")
        v0 = _check_generator(generator).standard_normal(d)
    else:
        v0 = np.asarray(v0, dtype=np.float64).reshape(-1)
        if v0.shape != (d,) or not np.all(np.isfinite(v0)) or not np.any(v0):
            raise UsageError(f"v0 must be a finite non-zero vector of length {d}")
    k = check_integer("k", k, minimum=1)
    if k > d:
        raise UsageError(f"k must be at most the dimension {d}, got {k}")
    tol = _default_tol(operator) if tol is None else check_nonnegative("tol", tol)
    if d < k + 2:
        dense = np.column_stack([matvec(e) for e in np.eye(d)])
        values, vectors = np.linalg.eigh((dense + dense.T) / 2)
        order = np.argsort(values if which == "LA" else np.abs(values))[::-1][:k]
        values, vectors = values[order], vectors[:, order]
        converged = True
    else:
        if ncv is not None:
            ncv = check_integer("ncv", ncv, minimum=k + 1)
        ncv = min(d, default_ncv(k, tol) if ncv is None else ncv)
        maxiter = 10 * d if max_restarts is None else check_integer("max_restarts", max_restarts, minimum=1)
        linear = LinearOperator((d, d), matvec=matvec, dtype=np.float64)
        try:
            values, vectors = eigsh(linear, k=k, which=which, v0=v0, tol=tol, ncv=ncv, maxiter=maxiter)
            converged = True
        except ArpackNoConvergence as error:
            values, vectors = error.eigenvalues, error.eigenvectors
            converged = False
        order = np.argsort(values if which == "LA" else np.abs(values))[::-1]
        values, vectors = np.asarray(values)[order], np.asarray(vectors)[:, order]
    used = matvec.count
    residuals = _residuals(matvec, values, vectors)
    return EigenResult(
        eigenvalues=values,
        eigenvectors=vectors,
        residuals=residuals,
        converged=converged and len(values) == k,
        num_hvps=used,
        num_hvps_residuals=matvec.count - used,
        method="lanczos",
        tol=float(tol),
    )


def power_iteration(
    operator,
    k: int = 1,
    *,
    generator: np.random.Generator,
    tol: float = 1e-3,
    max_iter: int = 100,
) -> EigenResult:
    """Top-``k`` eigenpairs (largest magnitude) by power iteration with deflation, PyHessian's semantics.

    For each pair: ``v`` a normalised Gaussian vector; repeat at most ``max_iter`` times: orthogonalise ``v``
    against the pairs found, ``u = H v``, ``lambda = v^T u``, ``v = u / ||u||``; stop once
    ``|lambda - lambda_prev| / (|lambda_prev| + 1e-6) < tol``. The residual ``||u - lambda v||`` of the last
    product is reported (no extra product). ``converged`` is True when every pair met ``tol`` before
    ``max_iter``.
    """
    generator = _check_generator(generator)
    matvec = _Counted(operator)
    d = matvec.dim
    k = check_integer("k", k, minimum=1)
    if k > d:
        raise UsageError(f"k must be at most the dimension {d}, got {k}")
    tol = check_nonnegative("tol", tol)
    max_iter = check_integer("max_iter", max_iter, minimum=1)
    values, vectors, residuals, converged = [], [], [], True
    for _ in range(k):
        v = generator.standard_normal(d)
        v /= np.linalg.norm(v)
        previous, met = None, False
        for _ in range(max_iter):
            for u in vectors:
                v -= (u @ v) * u
            v /= np.linalg.norm(v)
            hv, pair = matvec(v), v
            value = float(v @ hv)
            residual = float(np.linalg.norm(hv - value * v))
            norm = np.linalg.norm(hv)
            if previous is not None and abs(value - previous) / (abs(previous) + 1e-6) < tol:
                met = True
                break
            previous = value
            if norm == 0.0:  # v is in the null space: its eigenvalue is 0, exactly
                met = True
                break
            v = hv / norm
        values.append(value)
        vectors.append(pair)
        residuals.append(residual)
        converged &= met
    return EigenResult(
        eigenvalues=np.array(values),
        eigenvectors=np.column_stack(vectors),
        residuals=np.array(residuals),
        converged=converged,
        num_hvps=matvec.count,
        num_hvps_residuals=0,
        method="power",
        tol=float(tol),
    )


def hutchinson_trace(operator, num_probes: int = 100, *, generator: np.random.Generator) -> TraceResult:
    """Hutchinson's estimate of ``tr H`` from ``num_probes`` Rademacher probes, with its standard error.

    ``trace = mean_j z_j^T H z_j``, ``standard_error = std_j(z_j^T H z_j, ddof=1) / sqrt(num_probes)``
    (``nan`` for a single probe). The estimate is unbiased; the standard error is the usual plug-in one.
    """
    generator = _check_generator(generator)
    matvec = _Counted(operator)
    num_probes = check_integer("num_probes", num_probes, minimum=1)
    samples = np.empty(num_probes)
    for j in range(num_probes):
        z = generator.choice(np.array([-1.0, 1.0]), size=matvec.dim)
        samples[j] = z @ matvec(z)
    se = float(samples.std(ddof=1) / np.sqrt(num_probes)) if num_probes > 1 else float("nan")
    return TraceResult(trace=float(samples.mean()), standard_error=se, samples=samples, num_hvps=matvec.count)
