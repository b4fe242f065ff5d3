"""Hessian-vector products of a model's loss on a dataset: the operator behind every curvature estimate.

For parameters ``w`` (all trainable tensors of the model, flattened into one vector of length ``d``) and a
dataset ``S = {(x_i, y_i)}_{i<n}``, the loss is the empirical risk

    F_S(w) = (1/n) sum_i l(w; x_i, y_i),

and the operator applies its Hessian, ``v -> H v = grad^2 F_S(w) v``, without forming ``H`` (d x d).
The data is processed in chunks of at most ``chunk_size`` examples to bound memory; with ``loss_fn``
returning the *mean* over a chunk ``C``, the chunk terms are weighted by ``|C|/n`` so the sum is exactly
the full-data Hessian-vector product (up to floating-point summation order)::

    H v = sum_C (|C|/n) grad^2 F_C(w) v.

Two implementations of the product, selectable by ``backend``:

- ``"double-backward"``: reverse-over-reverse. Form ``g = grad F_C`` with ``create_graph=True``, then
  ``grad <g, v>`` (Pearlmutter 1994's trick through autograd). With ``reuse_graph`` the forward pass and
  the ``create_graph`` backward run once per chunk, on the first product, and every later product is
  only the second backward through that retained graph (``retain_graph=True``): the same kernels on the
  same values as rebuilding it, about half the cost (``benchmarks/hessian_eigs.py``), at the price of
  keeping each chunk's graph (its activations and first-backward intermediates) in memory for the life of
  the operator. Default: reuse when the data is one chunk (``chunk_size=None`` or ``>= n``), the case
  where that memory is already spent by a single product; with several chunks the graphs of all chunks
  would be alive at once, so the default rebuilds them (pass ``reuse_graph=True`` if they fit).
- ``"func"``: forward-over-reverse, ``torch.func.jvp(torch.func.grad(F_C), (w,), (v,))``: a directional
  derivative of the gradient, usually cheaper in memory and time.

``benchmarks/hessian_eigs.py`` times both; the default (:data:`DEFAULT_BACKEND`) is the one measured faster.

BatchNorm: the loss must be a fixed function of ``w``, so the mode is explicit (``bn_mode``):

- ``"eval"``: running statistics (the function the model computes at test time);
- ``"train"``: batch statistics of each chunk (the function SGD differentiates during training). The
  Hessian then depends on the chunking, exactly as the training loss depends on the batch size; the running
  statistics are never updated by the products.

Dropout and other train-time randomness are off in both modes (``model.eval()``), so ``H`` is deterministic.
The model is never modified: parameters and buffers are cast to ``dtype`` copies and the module is called
functionally (``torch.func.functional_call``); its ``training`` flags are restored afterwards.

Example::

    >>> import torch
    >>> model = torch.nn.Linear(3, 1, bias=False)
    >>> x, y = torch.eye(3), torch.zeros(3, 1)
    >>> op = HessianOperator(model, torch.nn.functional.mse_loss, (x, y), dtype=torch.float64)
    >>> op.matvec(torch.ones(3, dtype=torch.float64))  # H = (2/3) x^T x / 1 for the mean squared error
    tensor([0.6667, 0.6667, 0.6667], dtype=torch.float64)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from torch import nn

from stablesam.core.validation import UsageError, check_choice, check_integer

__all__ = ["BACKENDS", "BN_MODES", "DEFAULT_BACKEND", "HessianOperator"]

BACKENDS = ("double-backward", "func")
BN_MODES = ("eval", "train")
# Faster in benchmarks/hessian_eigs.py (CPU, 1.4-3x) and benchmarks/gpu_hessian_check.py (H100, 1.2-2x):
# see README, "Curvature and maximal stable learning rates".
DEFAULT_BACKEND = "double-backward"

_BATCHNORM = (nn.modules.batchnorm._BatchNorm,)


@contextmanager
def _function_mode(model: nn.Module, bn_mode: str) -> Iterator[None]:
    """Put ``model`` in eval mode, BatchNorm layers in batch-statistics mode if asked; restore afterwards.

    Batch statistics without touching the running buffers: a BatchNorm layer with ``training=True`` and
    ``track_running_stats=False`` normalises with the batch statistics and updates nothing.
    """
    flags = [(m, m.training, getattr(m, "track_running_stats", None)) for m in model.modules()]
    try:
        model.eval()
        if bn_mode == "train":
            for module in model.modules():
                if isinstance(module, _BATCHNORM):
                    module.train()
                    module.track_running_stats = False
        yield
    finally:
        for module, training, track in flags:
            module.training = training
            if track is not None:
                module.track_running_stats = track


class HessianOperator:
    """The Hessian of a model's mean loss on a dataset, applied to vectors (see the module docstring).

    Parameters
    ----------
    model:
        Any ``nn.Module``; the Hessian is taken with respect to its parameters with ``requires_grad``.
    loss_fn:
        ``loss_fn(outputs, targets) -> scalar``, the *mean* loss over the examples given (like
        ``torch.nn.functional.cross_entropy`` with its default reduction).
    data:
        ``(inputs, targets)`` tensors whose first dimension indexes the examples (a full dataset or a batch).
    chunk_size:
        At most this many examples per forward pass (``None``: all at once). The result is the exact
        full-data product whatever the chunking, except with ``bn_mode="train"`` where each chunk is a batch.
    backend, dtype, bn_mode:
        ``"double-backward"`` or ``"func"``; ``torch.float32`` or ``torch.float64``; ``"eval"`` or ``"train"``.
    reuse_graph:
        Keep each chunk's gradient graph for all products (double-backward only; see the module docstring).
        ``None``: reuse when the data is a single chunk.
    device:
        Where to compute (default: the model's device).

    Attributes
    ----------
    dim: number of parameters ``d``. num_hvps: Hessian-vector products computed so far (each one a pass
    over the data: a second backward through the kept graph, or forward and both backwards without reuse).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        data: Sequence[torch.Tensor],
        *,
        chunk_size: int | None = None,
        backend: str = DEFAULT_BACKEND,
        dtype: torch.dtype = torch.float64,
        bn_mode: str = "eval",
        device: torch.device | str | None = None,
        reuse_graph: bool | None = None,
    ):
        if not isinstance(model, nn.Module):
            raise UsageError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(loss_fn):
            raise UsageError(f"loss_fn must be callable, got {loss_fn!r}")
        self.backend = check_choice("backend", backend, BACKENDS)
        self.bn_mode = check_choice("bn_mode", bn_mode, BN_MODES)
        if dtype not in (torch.float32, torch.float64):
            raise UsageError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        if not (isinstance(data, Sequence) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
            raise UsageError("data must be a pair (inputs, targets) of tensors")
        inputs, targets = data
        if inputs.shape[0] != targets.shape[0] or inputs.shape[0] == 0:
            raise UsageError(
                f"data must hold the same positive number of inputs and targets, got {inputs.shape[0]} and {targets.shape[0]}"
            )
        n = inputs.shape[0]
        chunk = n if chunk_size is None else check_integer("chunk_size", chunk_size, minimum=1)
        self.model, self.loss_fn, self.dtype = model, loss_fn, dtype
        first = next(model.parameters(), None)
        self.device = torch.device(device) if device is not None else (first.device if first is not None else torch.device("cpu"))
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        if not self.names:
            raise UsageError("model has no parameter with requires_grad=True")
        params = dict(model.named_parameters())
        self.params = {k: params[k].detach().to(self.device, dtype) for k in self.names}
        self.frozen = {
            k: p.detach().to(self.device, dtype) for k, p in model.named_parameters() if k not in self.params
        }
        self.buffers = {
            k: b.detach().to(self.device, dtype) if b.is_floating_point() else b.detach().to(self.device)
            for k, b in model.named_buffers()
        }
        self.shapes = [self.params[k].shape for k in self.names]
        self.sizes = [self.params[k].numel() for k in self.names]
        self.dim = sum(self.sizes)
        self.n = n
        x = inputs.to(self.device, dtype) if inputs.is_floating_point() else inputs.to(self.device)
        y = targets.to(self.device, dtype) if targets.is_floating_point() else targets.to(self.device)
        self.chunks = [(x[i : i + chunk], y[i : i + chunk], min(chunk, n - i) / n) for i in range(0, n, chunk)]
        if reuse_graph is not None and not isinstance(reuse_graph, bool):
            raise UsageError(f"reuse_graph must be True, False or None, got {reuse_graph!r}")
        self.reuse_graph = (len(self.chunks) == 1 if reuse_graph is None else reuse_graph) and self.backend == "double-backward"
        self._graphs: dict[int, tuple[list[torch.Tensor], list[tuple[int, torch.Tensor]]]] = {}
        self.num_hvps = 0

    # -- flat <-> per-tensor -------------------------------------------------------------------------

    def flatten(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat([t.reshape(-1) for t in tensors])

    def unflatten(self, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        pieces = torch.split(vector, self.sizes)
        return {k: p.view(s) for k, p, s in zip(self.names, pieces, self.shapes)}

    def parameter_vector(self) -> torch.Tensor:
        """The point ``w`` (flat, in ``dtype``) at which the Hessian is taken."""
        return self.flatten([self.params[k] for k in self.names])

    # -- the loss as a function of the parameters ----------------------------------------------------

    def _chunk_loss(self, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # Buffers are cloned per call: nothing the forward might write reaches the stored state.
        state = {**params, **self.frozen, **{k: b.clone() for k, b in self.buffers.items()}}
        return self.loss_fn(torch.func.functional_call(self.model, state, (x,)), y)

    def loss_and_gradient(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(F_S(w), grad F_S(w))``, the gradient flat, summed exactly over the chunks."""
        loss = torch.zeros((), dtype=self.dtype, device=self.device)
        grad = torch.zeros(self.dim, dtype=self.dtype, device=self.device)
        with _function_mode(self.model, self.bn_mode):
            for x, y, weight in self.chunks:
                params = {k: p.clone().requires_grad_(True) for k, p in self.params.items()}
                value = self._chunk_loss(params, x, y)
                grads = torch.autograd.grad(value, [params[k] for k in self.names], allow_unused=True)
                grads = [torch.zeros_like(params[k]) if g is None else g for k, g in zip(self.names, grads)]
                loss += weight * value.detach()
                grad += weight * self.flatten(grads)
        return loss, grad

    # -- Hessian-vector products -------------------------------------------------------------------------

    def _gradient_graph(self, index: int) -> tuple[list[torch.Tensor], list[tuple[int, torch.Tensor]]]:
        """Chunk ``index``'s leaves ``w`` and its gradient ``g = grad F_C(w)`` built with ``create_graph``:
        ``(leaves, [(i, g_i)])`` for the parameters the gradient depends on; cached with ``reuse_graph``."""
        if index in self._graphs:
            return self._graphs[index]
        x, y, _ = self.chunks[index]
        params = {k: p.clone().requires_grad_(True) for k, p in self.params.items()}
        leaves = [params[k] for k in self.names]
        grads = torch.autograd.grad(self._chunk_loss(params, x, y), leaves, create_graph=True, allow_unused=True)
        graph = leaves, [(i, g) for i, g in enumerate(grads) if g is not None and g.requires_grad]
        if self.reuse_graph:
            self._graphs[index] = graph
        return graph

    def _hvp_double_backward(self, v: list[torch.Tensor], index: int) -> list[torch.Tensor]:
        leaves, used = self._gradient_graph(index)
        if not used:  # the loss is affine in w
            return [torch.zeros_like(p) for p in leaves]
        hv = torch.autograd.grad([g for _, g in used], leaves, grad_outputs=[v[i] for i, _ in used],
                                 retain_graph=self.reuse_graph, allow_unused=True)
        return [torch.zeros_like(p) if h is None else h for p, h in zip(leaves, hv)]

    def _hvp_func(self, v: list[torch.Tensor], index: int) -> list[torch.Tensor]:
        x, y, _ = self.chunks[index]
        gradient = torch.func.grad(lambda p: self._chunk_loss(p, x, y))
        _, hv = torch.func.jvp(gradient, (self.params,), (dict(zip(self.names, v)),))
        return [hv[k] for k in self.names]

    def matvec(self, vector: torch.Tensor) -> torch.Tensor:
        """``H v`` for a flat vector ``v`` of length :attr:`dim` (a torch tensor, cast to ``dtype``)."""
        if vector.shape != (self.dim,):
            raise UsageError(f"vector must have shape ({self.dim},), got {tuple(vector.shape)}")
        v = list(self.unflatten(vector.to(self.device, self.dtype)).values())
        product = self._hvp_func if self.backend == "func" else self._hvp_double_backward
        out = None
        # Once every chunk's graph is kept, a product never calls the model: no mode to set.
        cached = len(self._graphs) == len(self.chunks)
        with nullcontext() if cached else _function_mode(self.model, self.bn_mode):
            for index, (_, _, weight) in enumerate(self.chunks):
                term = self.flatten(product(v, index))
                if weight != 1.0:  # one chunk: weight 1, the product itself
                    term = term.mul_(weight)
                out = term if out is None else out.add_(term)
        self.num_hvps += 1
        return out.detach()

    def matvec_numpy(self, vector: np.ndarray) -> np.ndarray:
        """``H v`` on float64 numpy vectors (the interface of :mod:`stablesam.analysis.curvature.eigen`)."""
        v = torch.from_numpy(np.ascontiguousarray(vector, dtype=np.float64).reshape(-1))
        return self.matvec(v).to("cpu", torch.float64).numpy()

    def as_linear_operator(self):
        """A ``scipy.sparse.linalg.LinearOperator`` (float64, symmetric) applying ``H``."""
        from scipy.sparse.linalg import LinearOperator

        return LinearOperator((self.dim, self.dim), matvec=self.matvec_numpy, rmatvec=self.matvec_numpy, dtype=np.float64)

    def dense(self) -> np.ndarray:
        """The full ``d x d`` Hessian, one product per column (for tests and small models only)."""
        eye = torch.eye(self.dim, dtype=self.dtype, device=self.device)
        return torch.stack([self.matvec(e) for e in eye], dim=1).cpu().to(torch.float64).numpy()
