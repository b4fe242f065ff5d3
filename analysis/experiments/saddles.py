r"""C8, saddle points: escape times of every method from strict saddles, toy functions and a network.

The claim (Tan et al., JMLR 2025 version of arXiv:2401.07250): "SAM is more likely than SGD to get stuck at
saddle points; StableSAM mitigates it". The theory beside it is :mod:`stablesam.theory.saddle` (*derived*,
docs/theory.md section 7): along a negative-curvature direction ``-a``, SAM and StableSAM-N stand still at
``|x| = rho`` and never leave ``|x| < rho`` (SAM bounces when ``eta a <= 1``; StableSAM-N converges *onto* the
saddle when ``eta a < 2``); USAM and StableSAM-U are trapped once ``rho a > 1``; GD always escapes.

**Toy part** (:func:`toy_escape_table`, seconds): on ``f(x, y) = b x^2 / 2 - a y^2 / 2 + y^4 / 4`` (strict saddle
at the origin, minima at ``(0, +-sqrt(a))``; :data:`TOY_SADDLES` has three curvature pairs), every method runs from
a grid of starting points and gradient-noise levels, all rows as one vectorised numpy batch. The noise is
``sigma xi_t`` added to both gradients of a step (the same ``xi_t``, as one mini-batch gives both), drawn from one
``numpy.random.Generator``. A run *escapes* at the first step with ``|y_t| >= sqrt(a) / 2`` (half-way to a minimum);
a run that has not escaped within ``steps`` is an outcome (``escaped = False``), never a number.

**Network part** (:func:`network_escape_table`): a bias-free tanh MLP ``W_2 tanh(W_1 x)`` on standardised digits with
the square loss ``(1/2n) sum ||f(x_i) - e_{y_i}||^2``. The origin is a critical point (every gradient has a factor
``W_1`` or ``W_2``) and, since ``tanh'(0) = 1`` and ``tanh''(0) = 0``, the loss there is ``1/2 - <W_2 W_1, C> + O(|W|^4)``
with ``C = (1/n) sum_i e_{y_i} x_i^T``: its Hessian has eigenvalues ``+-sigma_j(C)`` (and zeros), a strict saddle with
``lambda_min = -sigma_max(C)`` (:func:`network_saddle_curvature`). Seeds are one stacked population (``stacked=True``
in :func:`stablesam.stability.optimizers.make_optimizer`). A seed escapes at the first step where its loss falls to
``escape_fraction`` of the loss at the origin. Detectors: the loss plateau length (steps with loss within 1% of the
origin's), ``gamma = ||g|| / ||g~||`` and ``||g~|| / ||g||`` over the last window, and the hallucinated-minimizer test
(:func:`hallucinated`). The SGD warm-start control continues each method from GD's iterate once every GD seed has
escaped: a method that trains from there but not from the origin is stopped by the saddle, not by its update.

The claim's decision rule lives with the claim, in :mod:`stablesam.analysis.verify.claims.c8_saddles` (this room
does not import ``verify``): paired escape indicators per unit, an exact-conservative interval of the escape-rate
difference, Holm over the settings.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stablesam.core.methods import method
from stablesam.core.progress import progress_mode
from stablesam.core.validation import UsageError, check_choice, check_integer, check_nonnegative, check_positive
from stablesam.theory.saddle import SADDLE_METHODS, trap_radius

__all__ = [
    "C8_THEORY",
    "NetworkSaddleConfig",
    "TOY_SADDLES",
    "ToySaddle",
    "escape_step",
    "hallucinated",
    "network_escape_table",
    "network_predictions",
    "network_saddle_curvature",
    "plateau_length",
    "summarise_escapes",
    "toy_escape_table",
    "toy_step",
]


# ------------------------------------------------------------------------------------------------ detectors


def escape_step(values, threshold: float, *, above: bool = True) -> np.ndarray:
    """First index along the last axis where ``values >= threshold`` (``above``) or ``<= threshold``; ``-1``: never.

    >>> escape_step([0.1, 0.3, 0.7, 0.2], 0.5).item(), escape_step([0.1, 0.2], 0.5).item()
    (2, -1)
    """
    values = np.asarray(values, dtype=np.float64)
    hit = values >= threshold if above else values <= threshold
    return np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)


def plateau_length(loss, reference: float, rel_tol: float = 0.01) -> np.ndarray:
    """Number of leading steps with ``loss >= (1 - rel_tol) reference`` (the whole length if it never drops).

    >>> plateau_length([0.5, 0.499, 0.498, 0.3, 0.5], 0.5).item()
    3
    """
    loss = np.asarray(loss, dtype=np.float64)
    below = loss < (1 - rel_tol) * reference
    return np.where(below.any(axis=-1), below.argmax(axis=-1), loss.shape[-1])


def hallucinated(grad_norm, surrogate_grad_norm, *, grad_tol: float, ratio_tol: float = 0.25) -> np.ndarray:
    r"""The hallucinated-minimizer test: ``||g|| > grad_tol`` and ``||g~|| <= ratio_tol ||g||``.

    ``grad f(w + eps) ~ 0`` while ``grad f(w)`` is not (arXiv:2509.21818). Apply it at the average of the last
    iterates: StableSAM-N *hovers* around a hallucinated minimizer within ``eta ||g||``, so at single iterates
    ``||g~|| / ||g||`` reaches about ``eta f''`` (0.1 on the double well of :mod:`stablesam.theory.hallucination` at
    ``eta = 0.1``, ``s = 1``), and only the average sits on it. ``ratio_tol = 0.25`` sits above that and far below
    the ratio ``~1`` at an ordinary point.

    >>> hallucinated([0.375, 1e-9, 0.3], [0.0, 0.0, 0.3], grad_tol=1e-6).tolist()
    [True, False, False]
    """
    g = np.asarray(grad_norm, dtype=np.float64)
    gt = np.asarray(surrogate_grad_norm, dtype=np.float64)
    return (g > grad_tol) & (gt <= ratio_tol * g)


# ------------------------------------------------------------------------------------------------ toy saddles


@dataclass(frozen=True)
class ToySaddle:
    """``f(x, y) = b x^2 / 2 - a y^2 / 2 + y^4 / 4``: curvatures ``(b, -a)`` at the saddle, minima ``(0, +-sqrt(a))``."""

    name: str
    b: float
    a: float

    @property
    def escape_radius(self) -> float:
        return math.sqrt(self.a) / 2


TOY_SADDLES: tuple[ToySaddle, ...] = (
    ToySaddle("b1-a1", 1.0, 1.0),  # f = (x^2 - y^2)/2 + y^4/4, the probe
    ToySaddle("b10-a1", 10.0, 1.0),  # curvature ratio 10, sharp positive direction
    ToySaddle("b1-a4", 1.0, 4.0),  # strong negative curvature: rho a > 1 already at rho = 0.5
)


def _grad(w: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    x, y = w[..., 0], w[..., 1]
    return np.stack([b * x, -a * y + y**3], axis=-1)


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...i,...i->...", v, v))


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den > 0``, else 0; NaN stays NaN (a diverged run), without warnings."""
    num, den = np.broadcast_arrays(num, den)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.divide(num, den, out=np.zeros(num.shape), where=den > 0)


def toy_step(key: str, w, b, a, lr: float, rho: float, noise=None, *, adaptive_eta: float = 0.01):
    r"""One step of ``key`` (a row of :data:`stablesam.core.methods.METHODS` with a saddle map) on the toy saddles.

    Returns ``(w', ||g||, ||g~||)``; ``noise`` (shape of ``w``) is added to both gradients. The ascent and the
    renormalization follow docs/theory.md section 1 (ASAM: ``T = diag(|w| + eta_a)``).
    """
    row = method({"sgd": "gd"}.get(key, key))
    w = np.asarray(w, dtype=np.float64)
    b, a = np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)
    noise = 0.0 if noise is None else noise
    g = _grad(w, b, a) + noise
    g_norm = _norm(g)
    if row.ascent == "none":
        return w - lr * g, g_norm, g_norm
    if row.ascent == "unnormalized":
        ascent = w + rho * g
    elif row.ascent == "normalized":
        ascent = w + rho * _safe_ratio(np.ones_like(g_norm), g_norm)[..., None] * g
    else:
        t = np.abs(w) + adaptive_eta
        ascent = w + rho * _safe_ratio(np.ones_like(g_norm), _norm(t * g))[..., None] * t * t * g
    surrogate = _grad(ascent, b, a) + noise
    s_norm = _norm(surrogate)
    if not row.stable:
        return w - lr * surrogate, g_norm, s_norm
    if row.ascent == "adaptive":
        gamma = _safe_ratio(_norm((np.abs(w) + adaptive_eta) * g), _norm((np.abs(ascent) + adaptive_eta) * surrogate))
    else:
        gamma = _safe_ratio(g_norm, s_norm)
    return w - lr * gamma[..., None] * surrogate, g_norm, s_norm


_DIVERGED = 1e6  # |w| beyond this (or non-finite): diverged


def _trap_or_nan(key: str, curvature: float, lr: float, rho: float, adaptive_eta: float) -> float:
    """The derived 1-D trap radius, or NaN where the theory has none (ASAM-type ascents with ``rho >= 1``)."""
    try:
        return float(trap_radius(key, curvature, lr, rho, adaptive_eta=adaptive_eta))
    except UsageError:
        return math.nan


def _toy_grid(saddles, starts, noises, repeats):
    rows = []
    for saddle in saddles:
        for x0, y0 in starts:
            for sigma in noises:
                for rep in range(repeats if sigma > 0 else 1):
                    rows.append((saddle.name, saddle.b, saddle.a, saddle.escape_radius, x0, y0, sigma, rep))
    return rows


def toy_escape_table(
    methods: Sequence[str] = SADDLE_METHODS,
    *,
    saddles: Sequence[ToySaddle] = TOY_SADDLES,
    starts: Sequence[tuple[float, float]] = ((0.1, 1e-4), (0.1, 1e-3), (0.1, 1e-2), (0.1, 0.03), (0.1, 0.1),
                                             (0.0, 1e-2), (0.3, 0.03)),
    noises: Sequence[float] = (0.0, 1e-3, 1e-2),
    repeats: int = 10,
    lr: float = 0.1,
    rhos: Sequence[float] = (0.05, 0.5),
    steps: int = 1000,
    seed: int = 0,
    adaptive_eta: float = 0.01,
):
    """Escape of every method from the toy saddles: one row per (method, rho, saddle, start, noise, repeat).

    Columns: ``method, rho, saddle, b, a, x0, y0, noise, repeat, diverged`` (``|w| > 1e6`` or non-finite before
    escaping: an outcome, frozen as NaN), ``escaped, escape_step`` (NaN when not escaped), ``final_norm`` (``||w||``
    at the end), ``on_saddle`` (``||w|| < 1e-8``: converged onto the saddle), ``final_grad_norm``,
    ``final_ratio`` (``||g~|| / ||g||`` at the last step), ``trap_radius`` (the derived 1-D radius along ``y``,
    :func:`stablesam.theory.saddle.trap_radius`) and ``predicted_trapped`` (``|y0| <`` it, noise-free prediction).
    Every (method, rho) uses the same noise draws (common random numbers: paired comparisons). ``gd`` runs once
    (``rho = 0``).
    """
    import pandas as pd

    lr = check_positive("lr", lr)
    steps = check_integer("steps", steps, minimum=1)
    repeats = check_integer("repeats", repeats, minimum=1)
    for m in methods:
        check_choice("method", m, SADDLE_METHODS + ("sgd",))
    grid = _toy_grid(saddles, starts, [check_nonnegative("noise", s) for s in noises], repeats)
    names, b, a, radius, x0, y0, sigma, rep = (np.array(col) for col in zip(*grid))
    b, a, radius, sigma = (v.astype(np.float64) for v in (b, a, radius, sigma))
    w0 = np.stack([x0, y0], axis=-1).astype(np.float64)
    xi = np.random.default_rng(seed).standard_normal((steps, len(grid), 2))  # shared by every method
    frames = []
    for key in methods:
        for rho in (rhos if method({"sgd": "gd"}.get(key, key)).uses_rho else (0.0,)):
            w = w0.copy()
            hit, blown = np.full(len(grid), -1), np.full(len(grid), -1)
            with np.errstate(over="ignore", invalid="ignore"):
                for t in range(steps):
                    w, g_norm, s_norm = toy_step(key, w, b, a, lr, rho, sigma[:, None] * xi[t], adaptive_eta=adaptive_eta)
                    size = np.abs(w).max(axis=-1)
                    blown[(blown < 0) & ~(size < _DIVERGED)] = t + 1
                    w = np.where((blown > 0)[:, None], np.nan, w)  # a diverged run is frozen as NaN: an outcome
                    hit[(hit < 0) & (blown < 0) & (np.abs(w[:, 1]) >= radius)] = t + 1
            saddle_key = "gd" if key == "sgd" else key
            trap = np.array([_trap_or_nan(saddle_key, -ai, lr, rho, adaptive_eta) for ai in a])
            frames.append(pd.DataFrame({
                "method": key, "rho": float(rho), "saddle": names, "b": b, "a": a, "x0": x0, "y0": y0,
                "noise": sigma, "repeat": rep, "diverged": blown > 0, "escaped": hit > 0, "escape_step": np.where(hit > 0, hit, np.nan),
                "final_norm": _norm(w), "on_saddle": _norm(w) < 1e-8, "final_grad_norm": g_norm, "final_ratio": _safe_ratio(s_norm, g_norm),
                "trap_radius": trap, "predicted_trapped": np.abs(y0) < trap,
            }))
    return pd.concat(frames, ignore_index=True)


def summarise_escapes(table, by: Sequence[str] = ("method", "rho", "saddle", "noise")):
    """Per group: runs, the fraction never escaping (diverged runs included), the fractions diverged and converged
    onto the saddle, and the median escape step of the runs that escaped (NaN if none)."""
    grouped = table.groupby(list(by), sort=False)
    out = grouped.agg(runs=("escaped", "size"), never_escaped=("escaped", lambda e: 1.0 - float(np.mean(e))),
                      diverged=("diverged", "mean"), on_saddle=("on_saddle", "mean"),
                      median_escape_step=("escape_step", "median"))
    return out.reset_index()


# ------------------------------------------------------------------------------------------------ hallucination toy


def toy_hallucination_table(
    methods: Sequence[str] = ("gd", "usam", "sam", "stablesam-u", "stablesam-n"),
    *,
    s: float = 1.0,
    rho: float = 1.5,
    lr: float = 0.1,
    starts: Sequence[float] = tuple(np.round(np.linspace(-1.9, 1.9, 20), 6)),
    noises: Sequence[float] = (0.0, 0.01),
    repeats: int = 10,
    steps: int = 600,
    window: int = 100,
    seed: int = 0,
):
    r"""How often each method ends at a hallucinated minimizer of the double well ``(x^2 - s^2)^2 / 4``.

    For ``s < rho < 2 s``, SAM's hallucinated minimizers are ``+-x_h = +-(rho - s)`` with
    ``|f'(x_h)| = rho (rho - s)(2 s - rho)`` (:mod:`stablesam.theory.hallucination`). The test (:func:`hallucinated`,
    ``grad_tol = 1e-3 |f'(x_h)|``) is applied at the mean of the last ``window`` iterates, with each method's own
    ascent (GD: SAM's normalized one, the definition). One row per (method, start, noise, repeat); columns
    ``method, rho, x0, noise, repeat, diverged`` (``|x| > 1e6``: frozen as NaN, an outcome), ``final_x, mean_x,
    distance_to_xh`` (``min |mean_x -+ x_h|``),
    ``spread`` (``max - min`` of the last iterates: StableSAM-N hovers, SAM converges), ``grad_norm``,
    ``surrogate_ratio`` (at ``mean_x``), ``hallucinated``, ``at_minimum`` (``||mean_x| - s| < 0.01 s``).
    """
    import pandas as pd

    from stablesam.theory.hallucination import double_well_grad, sam_hallucinated_minimizer

    x_h, slope = sam_hallucinated_minimizer(s, rho)
    steps = check_integer("steps", steps, minimum=2)
    window = check_integer("window", window, minimum=1)
    if window > steps:
        raise UsageError(f"window must be <= steps ({steps}), got {window}")
    grid = [(x0, sigma, r) for x0 in starts for sigma in noises for r in range(repeats if sigma > 0 else 1)]
    x0, sigma, rep = (np.array(c, dtype=np.float64) for c in zip(*grid))
    xi = np.random.default_rng(seed).standard_normal((steps, len(grid)))

    def surrogate(key, x, noise):
        g = double_well_grad(x, s) + noise
        row = method({"sgd": "gd"}.get(key, key))
        ascent = x + rho * g if row.ascent == "unnormalized" else x + rho * np.sign(g)
        return g, double_well_grad(ascent, s) + noise, row

    frames = []
    for key in methods:
        x = x0.copy()
        tail = []
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(steps):
                g, gt, row = surrogate(key, x, sigma * xi[t])
                if row.ascent == "none":
                    x = x - lr * g
                elif row.stable:
                    x = x - lr * _safe_ratio(np.abs(g), np.abs(gt)) * gt
                else:
                    x = x - lr * gt
                x = np.where(np.abs(x) < _DIVERGED, x, np.nan)  # diverged: frozen as NaN, an outcome
                if t >= steps - window:
                    tail.append(x)
            tail = np.array(tail)
            mean_x = tail.mean(axis=0)
            g, gt, _ = surrogate(key, mean_x, 0.0)
        frames.append(pd.DataFrame({
            "method": key, "rho": rho if method({"sgd": "gd"}.get(key, key)).uses_rho else 0.0, "x0": x0,
            "noise": sigma, "repeat": rep.astype(int), "diverged": ~np.isfinite(mean_x), "final_x": x, "mean_x": mean_x,
            "distance_to_xh": np.minimum(np.abs(mean_x - x_h), np.abs(mean_x + x_h)),
            "spread": tail.max(axis=0) - tail.min(axis=0), "grad_norm": np.abs(g),
            "surrogate_ratio": _safe_ratio(np.abs(gt), np.abs(g)),
            "hallucinated": hallucinated(np.abs(g), np.abs(gt), grad_tol=1e-3 * abs(slope)),
            "at_minimum": np.abs(np.abs(mean_x) - s) < 1e-2 * s,
        }))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------------ network


def _seeds(value) -> bool:
    return (isinstance(value, tuple) and len(value) >= 1 and len(set(value)) == len(value)
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value))


def _methods(value) -> bool:
    return (isinstance(value, tuple) and len(value) >= 1 and len(set(value)) == len(value)
            and all(v in SADDLE_METHODS + ("sgd",) for v in value))


def _radii(value) -> bool:
    return (isinstance(value, tuple) and len(value) >= 1
            and all(isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) and r > 0 for r in value))


@dataclass(frozen=True)
class NetworkSaddleConfig:
    """The small-initialisation digits MLP escape experiment (see the module docstring).

    ``init_scale``: every weight is drawn ``N(0, init_scale^2)``, so ``||w_0|| ~ init_scale sqrt(P)``;
    ``escape_fraction``: a seed escapes when its loss is ``<= escape_fraction`` times the origin's loss;
    ``window``: the last steps over which the stall statistics are taken; ``warm_start``: also run the SGD
    warm-start control.
    """

    methods: tuple[str, ...] = ("gd", "usam", "sam", "asam", "stablesam-u", "stablesam-n", "stablesam-a")
    rhos: tuple[float, ...] = (0.05, 2.0)
    hidden: int = 16
    init_scale: float = 1e-3
    lr: float = 0.1
    steps: int = 1500
    seeds: tuple[int, ...] = tuple(range(20))  # the 95% BCa interval of an escape-rate difference covers ~0.92 at 20
    n_train: int | None = None
    data_seed: int = 0
    escape_fraction: float = 0.9
    window: int = 100
    warm_start: bool = True
    adaptive_eta: float = 0.01

    def __post_init__(self) -> None:
        from stablesam.core.constraints import Boolean, Interval, NoneValue, Satisfies, validate_parameters

        constraints = {
            "methods": [Satisfies(_methods, f"a non-empty tuple of distinct methods from {SADDLE_METHODS}", ("nope",))],
            "rhos": [Satisfies(_radii, "a non-empty tuple of radii > 0", (0.0,))],
            "hidden": [Interval(int, 1, None)],
            "init_scale": [Interval(float, 0, None, closed="neither")],
            "lr": [Interval(float, 0, None, closed="neither")],
            "steps": [Interval(int, 2, None)],
            "seeds": [Satisfies(_seeds, "a non-empty tuple of distinct integers >= 0", (-1,))],
            "n_train": [NoneValue(), Interval(int, 10, None)],
            "data_seed": [Interval(int, 0, None)],
            "escape_fraction": [Interval(float, 0, 1, closed="neither")],
            "window": [Interval(int, 1, None)],
            "warm_start": [Boolean()],
            "adaptive_eta": [Interval(float, 0, None, closed="neither")],
        }
        validate_parameters(constraints, {name: getattr(self, name) for name in constraints}, owner="NetworkSaddleConfig")
        if self.window > self.steps:
            raise UsageError(f"NetworkSaddleConfig: window must be <= steps ({self.steps}); got {self.window}")

    def runs(self) -> list[tuple[str, float]]:
        """``(method, rho)`` pairs; methods without an ascent run once with ``rho = 0``."""
        return [(m, rho) for m in self.methods for rho in (self.rhos if method({"sgd": "gd"}.get(m, m)).uses_rho else (0.0,))]


def _digits(config: NetworkSaddleConfig):
    import torch

    from stablesam.stability.data import load_dataset

    data = load_dataset("digits", generator=np.random.default_rng(config.data_seed), n_train=config.n_train,
                        dtype=torch.float64)
    x = data.x_train.reshape(data.x_train.shape[0], -1)
    y = torch.nn.functional.one_hot(data.y_train, data.num_outputs).to(torch.float64)
    return x, y


def network_saddle_curvature(x, y) -> float:
    r"""``lambda_min`` of the loss Hessian at the origin: ``-sigma_max(C)``, ``C = (1/n) sum_i y_i x_i^T`` (derived)."""
    import torch

    c = y.T @ x / x.shape[0]
    return -float(torch.linalg.matrix_norm(c, ord=2))


def _negative_projection(w1, w2, x, y):
    r"""Norm of each seed's projection on the eigenspace of ``lambda_min`` at the origin: ``||W_1 r + W_2^T p|| / sqrt 2``.

    With ``(p, sigma, r)`` the top singular triplet of ``C``, that eigenspace is spanned by ``W_1 = q r^T / sqrt 2``,
    ``W_2 = p q^T / sqrt 2`` over unit ``q`` (the second-order term ``-<W_2 W_1, C>`` is ``-sigma/2`` there).
    """
    import torch

    u, _, vh = torch.linalg.svd(y.T @ x / x.shape[0])
    p, r = u[:, 0], vh[0]
    return (torch.linalg.vector_norm(w1 @ r + w2.transpose(1, 2) @ p, dim=1) / math.sqrt(2)).numpy()


def network_predictions(config: NetworkSaddleConfig, singular_values, projection) -> dict[tuple[str, float], np.ndarray]:
    r"""The derived prediction per (method, rho): ``"escapes"``, ``"trapped"`` or ``"unknown"``, per seed.

    The Hessian at the origin has eigenvalues ``+-sigma_j(C)`` (and zeros). GD, USAM and StableSAM-U: the ``d``-dim
    linear statement (:func:`stablesam.theory.saddle.escapes_linearised`; StableSAM-U escapes iff some
    ``rho sigma_j < 1``). SAM, StableSAM-N (and ASAM, StableSAM-A with ``r*``): the 1-D statement along the top
    negative eigenspace, trapped when the seed's projection on it is below :func:`~stablesam.theory.saddle.trap_radius`
    (other directions ignored: a heuristic, labelled so), escapes when above.
    """
    from stablesam.theory.saddle import escapes_linearised

    sig = np.asarray(singular_values, dtype=np.float64)
    sig = sig[sig > 1e-12 * sig.max()]
    spectrum = np.concatenate([-sig, sig])
    out = {}
    for key, rho in config.runs():
        saddle_key = {"sgd": "gd"}.get(key, key)
        if saddle_key in ("gd", "usam", "stablesam-u"):
            try:
                verdict = "escapes" if escapes_linearised(saddle_key, spectrum, config.lr, rho) else "trapped"
            except UsageError:
                verdict = "unknown"
            out[key, rho] = np.full(len(projection), verdict, dtype=object)
        elif saddle_key in ("asam", "stablesam-a") and rho >= 1:
            out[key, rho] = np.full(len(projection), "unknown", dtype=object)
        else:
            radius = trap_radius(saddle_key, -sig[0], config.lr, rho, adaptive_eta=config.adaptive_eta)
            out[key, rho] = np.where(np.asarray(projection) < radius, "trapped", "escapes").astype(object)
    return out


def _population(config: NetworkSaddleConfig, d: int, k: int):
    import torch

    w1, w2 = [], []
    for seed in config.seeds:
        gen = torch.Generator().manual_seed(seed)
        w1.append(torch.randn(config.hidden, d, generator=gen, dtype=torch.float64) * config.init_scale)
        w2.append(torch.randn(k, config.hidden, generator=gen, dtype=torch.float64) * config.init_scale)
    return torch.stack(w1), torch.stack(w2)


def _per_seed_loss(w1, w2, x, y):
    """``(1/2n) sum_i ||W_2 tanh(W_1 x_i) - y_i||^2`` for every seed of the stack: shape ``(seeds,)``."""
    import torch

    hidden = torch.tanh(torch.einsum("shd,nd->snh", w1, x))
    out = torch.einsum("skh,snh->snk", w2, hidden)
    return 0.5 * (out - y).square().sum(dim=-1).mean(dim=-1)


def _train(key, rho, w1, w2, x, y, steps, config):
    """``steps`` of ``key`` on the stacked population; per-step losses and per-seed ``||g||``, ``||g~||``."""
    import torch

    from stablesam.stability.optimizers import make_optimizer

    w1 = w1.clone().requires_grad_(True)
    w2 = w2.clone().requires_grad_(True)
    params = [w1, w2]
    row_key = {"sgd": "gd"}.get(key, key)
    optimizer = make_optimizer(row_key, params, lr=config.lr, rho=rho, stacked=True, adaptive_eta=config.adaptive_eta)
    losses, g_norms, s_norms = [], [], []
    calls = []

    def closure():
        optimizer.zero_grad()
        per_seed = _per_seed_loss(w1, w2, x, y)
        per_seed.sum().backward()  # seeds are independent: the sum's gradient is each seed's own
        norm = torch.sqrt(w1.grad.square().sum(dim=(1, 2)) + w2.grad.square().sum(dim=(1, 2)))
        calls.append((per_seed.detach(), norm))
        return per_seed.sum()

    for _ in range(steps):
        calls.clear()
        optimizer.step(closure)
        (loss, g_norm), (_, s_norm) = calls[0], calls[-1]
        losses.append(loss)
        g_norms.append(g_norm)
        s_norms.append(s_norm)
    with torch.no_grad():
        final = _per_seed_loss(w1, w2, x, y)
    return (w1.detach(), w2.detach(), torch.stack(losses).numpy(), torch.stack(g_norms).numpy(),
            torch.stack(s_norms).numpy(), final.numpy())


def network_escape_table(config: NetworkSaddleConfig = NetworkSaddleConfig(), *, progress: bool | None = None):
    """Run the network experiment; return ``(table, curves)``. ``progress``: see
    :func:`stablesam.core.progress.progress_mode` (one line per finished method and radius off a terminal).

    ``table``: one row per (method, rho, seed, start) with ``start`` ``"origin"`` (small initialisation) or
    ``"warm"`` (the SGD warm-start control: GD until every seed has escaped, then the method), and columns
    ``lambda_min`` (derived, at the origin), ``rho_abs_lambda`` (``rho |lambda_min|``), ``init_norm``,
    ``negative_projection`` (on the ``lambda_min`` eigenspace), ``predicted`` (:func:`network_predictions`), ``escaped``,
    ``escape_step`` (NaN if not; for ``warm``: steps after the switch to reach ``escape_fraction^2`` of the origin's
    loss, i.e. to keep training), ``plateau_length``, ``final_loss``, ``final_norm`` (``||w||``), ``final_grad_norm``,
    ``gamma`` and ``surrogate_ratio`` (medians of ``||g||/||g~||`` and ``||g~||/||g||`` over the last ``window``
    steps), ``hallucinated`` (:func:`hallucinated` on the medians of ``||g||`` and ``||g~||`` over the window,
    ``grad_tol = 1e-3 ||g_0||``), ``diverged``.
    ``curves``: the training loss of every run, a tidy table ``method, rho, seed, start, step, loss`` (every
    10th step).
    """
    import pandas as pd
    import torch

    x, y = _digits(config)
    lam_min = network_saddle_curvature(x, y)
    loss0 = float(0.5 * y.square().sum(dim=1).mean())  # the loss at the origin
    w1_0, w2_0 = _population(config, x.shape[1], y.shape[1])
    init_norm = torch.sqrt(w1_0.square().sum(dim=(1, 2)) + w2_0.square().sum(dim=(1, 2))).numpy()
    projection = _negative_projection(w1_0, w2_0, x, y)
    predicted = network_predictions(config, torch.linalg.svdvals(y.T @ x / x.shape[0]).numpy(), projection)
    rows, curves = [], []
    warm_state = None
    if config.warm_start:
        w1_g, w2_g, loss_g, *_ = _train("gd", 0.0, w1_0, w2_0, x, y, config.steps, config)
        hits = escape_step(loss_g.T, config.escape_fraction * loss0, above=False)
        if np.all(hits >= 0):
            warm_steps = int(hits.max()) + 1
            w1_w, w2_w, *_ = _train("gd", 0.0, w1_0, w2_0, x, y, warm_steps, config)
            warm_state = (warm_steps, w1_w, w2_w)
    from tqdm.auto import tqdm

    mode, started = progress_mode(progress), time.perf_counter()  # one line per finished (method, rho) off a tty
    for index, (key, rho) in enumerate(tqdm(config.runs(), desc="saddle runs", unit="run", disable=not mode.bar), 1):
        starts = [("origin", w1_0, w2_0, config.steps, config.escape_fraction)]
        if warm_state is not None and config.steps > warm_state[0]:
            starts.append(("warm", warm_state[1], warm_state[2], config.steps - warm_state[0], config.escape_fraction**2))
        for start, w1, w2, steps, fraction in starts:
            _, _, loss, g_norm, s_norm, final = _train(key, rho, w1, w2, x, y, steps, config)
            loss, g_norm, s_norm = loss.T, g_norm.T, s_norm.T  # (seeds, steps)
            finite = np.isfinite(loss).all(axis=1) & (loss.max(axis=1) < 1e3 * loss0)
            hit = escape_step(np.where(np.isfinite(loss), loss, np.inf), fraction * loss0, above=False)
            tail = slice(steps - min(config.window, steps), steps)
            gamma = np.median(_safe_ratio(g_norm[:, tail], s_norm[:, tail]), axis=1)
            ratio = np.median(_safe_ratio(s_norm[:, tail], g_norm[:, tail]), axis=1)
            g_tail = np.median(g_norm[:, tail], axis=1)
            surrogate_tail = np.median(s_norm[:, tail], axis=1)
            for s_index, seed in enumerate(config.seeds):
                rows.append({
                    "method": key, "rho": float(rho), "seed": seed, "start": start, "lambda_min": lam_min,
                    "rho_abs_lambda": float(rho) * abs(lam_min), "init_norm": float(init_norm[s_index]),
                    "negative_projection": float(projection[s_index]),
                    "predicted": predicted[key, rho][s_index] if start == "origin" else "n/a",
                    "diverged": not bool(finite[s_index]), "escaped": bool(hit[s_index] >= 0 and finite[s_index]),
                    "escape_step": float(hit[s_index] + 1) if hit[s_index] >= 0 and finite[s_index] else math.nan,
                    "plateau_length": int(plateau_length(loss[s_index], loss0)),
                    "final_loss": float(final[s_index]), "final_grad_norm": float(g_tail[s_index]),
                    "gamma": float(gamma[s_index]), "surrogate_ratio": float(ratio[s_index]),
                    "hallucinated": bool(finite[s_index]) and bool(hallucinated(  # a diverged run is not one
                        g_tail[s_index], surrogate_tail[s_index], grad_tol=1e-3 * float(g_norm[s_index, 0]))),
                })
                for t in range(0, steps, 10):
                    curves.append((key, float(rho), seed, start, t, float(loss[s_index, t])))
        mode.line(f"saddles network: {key} rho={rho:g} done ({index}/{len(config.runs())}, "
                  f"{time.perf_counter() - started:.0f} s)")
    table = pd.DataFrame(rows)
    return table, pd.DataFrame(curves, columns=["method", "rho", "seed", "start", "step", "loss"])


# ------------------------------------------------------------------------------------------------ the claim


C8_THEORY = {
    "claim": "C8: SAM is more likely than SGD to get stuck at saddle points; StableSAM mitigates it",
    "status": "derived (contradicts the mitigation part)",
    "line": "along a negative-curvature direction -a, SAM and StableSAM-N cannot leave |x| < rho (SAM bounces for "
    "eta a <= 1, StableSAM-N converges onto the saddle for eta a < 2): renormalization does not remove SAM's trap; "
    "StableSAM-U escapes exactly like GD while rho a < 1 and is trapped beyond (USAM too), GD always escapes",
    "source": "stablesam.theory.saddle (docs/theory.md section 7); Compagnoni et al. 2023 (arXiv:2301.08203) for "
    "SAM's attraction to saddles",
}
"""What the theory says about C8 (status and one line), for ``stablesam verify``."""
