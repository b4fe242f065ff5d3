r"""Stacked-parameter layers: ``P`` independent models, one tensor per layer, explicit forward and backward.

A layer holds no parameters; it reads its weights from views of one flat buffer ``(P, D)`` (model ``p``'s
parameters in row ``p``, see :mod:`stablesam.stability.stacked.network`) and works on activations with a
leading model axis ``(P, B, ...)``. Every product is one batched matrix product over the whole population:

* linear, weight ``W`` ``(P, out, in)`` (``nn.Linear``'s layout), bias ``b`` ``(P, out)``:
  ``y = baddbmm(b, x, W^T)``; backward ``dW = dy^T x``, ``db = sum_B dy``, ``dx = dy W``;
* convolution (kernel ``k``, stride 1, padding ``(k - 1) / 2``, 1-D or 2-D) as im2col: the ``k`` (or
  ``k^2``) shifted copies of the padded input form ``cols`` ``(P, B L, C k)``, and the layer is the linear
  one on ``cols``; backward adds the shifted slices of ``d cols`` back (col2im). Activations are
  channels-last, ``(P, B, *spatial, C)``, so that ``cols`` is a plain reshape;
* ReLU / tanh, with the backward kernels autograd uses (``threshold_backward``, ``tanh_backward``);
* max-pooling (kernel 2, stride 2, floor), backward by scattering into the arg-max positions;
* flatten, in the channels-first order of ``nn.Module`` (``x.flatten(1)`` of ``(B, C, *spatial)``).

``forward(weights, x) -> (y, saved)`` and ``backward(weights, grads, saved, dy, need_input) -> dx``; ``grads``
are views of the gradient buffer, written in place (``out=``), so a step allocates no parameter-sized tensor.
The backward of a model is the transpose of its forward, layer by layer: the same arithmetic as autograd's,
with the summation order of the batched products (results agree with ``nn.Module`` + autograd to rounding).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["Activation", "Convolution", "Flatten", "Linear", "MaxPool"]


# Elements (64 bytes in float32) on which every model's slice of a batched product starts: BLAS kernels round
# differently at different alignments, and identical twins (rows 2p and 2p + 1) must stay identical bit for bit.
ALIGNMENT = 16


def aligned_size(size: int) -> int:
    """``size`` rounded up to a multiple of :data:`ALIGNMENT`."""
    return -(-size // ALIGNMENT) * ALIGNMENT


def _is_aligned(t: Tensor) -> bool:
    return t.stride(0) % ALIGNMENT == 0 and t.data_ptr() % (ALIGNMENT * t.element_size()) == 0


def _aligned_empty(t: Tensor, *shape: int) -> Tensor:
    """An uninitialised ``(P, *shape)`` tensor like ``t`` whose models' slices all start on the alignment."""
    size = math.prod(shape)
    return t.new_empty(t.shape[0], aligned_size(size))[:, :size].view(t.shape[0], *shape)


def _aligned(t: Tensor) -> Tensor:
    """``t`` itself when its models' slices share one alignment (a contiguous copy of each otherwise)."""
    if _is_aligned(t) and t[0].is_contiguous():
        return t
    out = _aligned_empty(t, *t.shape[1:])
    return out.copy_(t)


class Linear:
    """``y = x W^T + b`` per model (``nn.Linear`` ``name``)."""

    def __init__(self, name: str, fan_in: int, fan_out: int, bias: bool = True) -> None:
        self.weight, self.bias = f"{name}.weight", (f"{name}.bias" if bias else None)
        self.shapes = {self.weight: (fan_out, fan_in), **({self.bias: (fan_out,)} if bias else {})}
        self.flops_per_example = 2 * fan_in * fan_out

    def matrix(self, weights: dict[str, Tensor]) -> Tensor:
        return weights[self.weight]

    def forward(self, weights: dict[str, Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
        w = self.matrix(weights)
        x = _aligned(x)
        y = _aligned_empty(x, x.shape[1], w.shape[1])
        if self.bias is None:
            return torch.bmm(x, w.transpose(1, 2), out=y), x
        return torch.baddbmm(weights[self.bias].unsqueeze(1), x, w.transpose(1, 2), out=y), x

    def backward(self, weights, grads, saved: Tensor, dy: Tensor, need_input: bool) -> Tensor | None:
        dy = _aligned(dy)
        torch.bmm(dy.transpose(1, 2), saved, out=self.matrix(grads))
        if self.bias is not None:
            torch.sum(dy, dim=1, out=grads[self.bias])
        if not need_input:
            return None
        w = self.matrix(weights)
        return torch.bmm(dy, w, out=_aligned_empty(dy, dy.shape[1], w.shape[2]))


class Convolution(Linear):
    """``nn.Conv1d``/``nn.Conv2d`` ``name`` (stride 1, 'same' padding, odd kernel) on channels-last activations."""

    def __init__(self, name: str, fan_in: int, fan_out: int, kernel: int, spatial_dims: int, bias: bool = True) -> None:
        super().__init__(name, fan_in * kernel ** spatial_dims, fan_out, bias)
        self.kernel, self.spatial_dims, self.channels = kernel, spatial_dims, fan_in
        self.shapes[self.weight] = (fan_out, fan_in, *(kernel,) * spatial_dims)
        self.matrix_shape = (fan_out, fan_in * kernel ** spatial_dims)

    def matrix(self, weights: dict[str, Tensor]) -> Tensor:
        w = weights[self.weight]
        return w.view(w.shape[0], *self.matrix_shape)

    def forward(self, weights, x: Tensor) -> tuple[Tensor, Tensor]:
        P, B, *spatial, C = x.shape
        pad = self.kernel // 2
        cols = F.pad(x, (0, 0) + (pad, pad) * self.spatial_dims)
        for dim in range(2, 2 + self.spatial_dims):
            cols = cols.unfold(dim, self.kernel, 1)  # (P, B, *spatial, C, k, ..., k): weight's (C, k, k) order
        cols = cols.reshape(P, B * math.prod(spatial), -1)
        y, cols = super().forward(weights, cols)
        return y.view(P, B, *spatial, -1), cols

    def backward(self, weights, grads, saved: Tensor, dy: Tensor, need_input: bool) -> Tensor | None:
        P, B, *spatial, _ = dy.shape
        dcols = super().backward(weights, grads, saved, dy.reshape(P, B * math.prod(spatial), -1), need_input)
        if dcols is None:
            return None
        k, pad = self.kernel, self.kernel // 2
        dcols = dcols.view(P, B, *spatial, self.channels, *(k,) * self.spatial_dims)
        dx = dcols.new_zeros(P, B, *(s + 2 * pad for s in spatial), self.channels)
        for offsets in itertools.product(range(k), repeat=self.spatial_dims):  # col2im: the shifted slices back
            window = (slice(None), slice(None), *(slice(o, o + s) for o, s in zip(offsets, spatial)))
            dx[window] += dcols[(..., *offsets)]
        inner = (slice(None), slice(None), *(slice(pad, pad + s) for s in spatial))
        return dx[inner]


class Activation:
    """ReLU or tanh, elementwise; the backward reads the saved output (as autograd does)."""

    shapes: dict = {}
    flops_per_example = 0

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def forward(self, weights, x: Tensor) -> tuple[Tensor, Tensor]:
        # In place: the input is the previous layer's fresh output, which that layer does not keep.
        y = torch.relu_(x) if self.kind == "relu" else torch.tanh_(x)
        return y, y

    def backward(self, weights, grads, saved: Tensor, dy: Tensor, need_input: bool) -> Tensor | None:
        # In place too: dy is the next layer's fresh input gradient.
        if self.kind == "relu":
            return torch.ops.aten.threshold_backward.grad_input(dy, saved, 0, grad_input=dy)
        return torch.ops.aten.tanh_backward.grad_input(dy, saved, grad_input=dy)


class MaxPool:
    """``nn.MaxPool1d(2)``/``nn.MaxPool2d(2)`` (floor) on channels-last activations ``(P, B, *spatial, C)``."""

    shapes: dict = {}
    flops_per_example = 0

    def __init__(self, spatial_dims: int) -> None:
        self.spatial_dims = spatial_dims

    def _windows(self, x: Tensor) -> Tensor:
        """``(P, B, *spatial // 2, 2^d, C)``: the pooling windows of the even part of ``x``."""
        P, B, *spatial, C = x.shape
        half = [s // 2 for s in spatial]
        x = x[(slice(None), slice(None), *(slice(0, 2 * h) for h in half))]
        x = x.reshape(P, B, *itertools.chain.from_iterable((h, 2) for h in half), C)
        d = self.spatial_dims
        order = (0, 1, *range(2, 2 + 2 * d, 2), *range(3, 3 + 2 * d, 2), 2 + 2 * d)
        return x.permute(order).reshape(P, B, *half, 2 ** d, C)

    def forward(self, weights, x: Tensor) -> tuple[Tensor, tuple]:
        values, index = self._windows(x).max(dim=-2)
        return values, (index, x.shape)

    def backward(self, weights, grads, saved: tuple, dy: Tensor, need_input: bool) -> Tensor | None:
        index, shape = saved
        P, B, *spatial, C = shape
        half = [s // 2 for s in spatial]
        d = self.spatial_dims
        windows = dy.new_zeros(P, B, *half, 2 ** d, C).scatter_(-2, index.unsqueeze(-2), dy.unsqueeze(-2))
        windows = windows.view(P, B, *half, *(2,) * d, C)
        order = [0, 1]
        for i in range(d):
            order += [2 + i, 2 + d + i]
        even = windows.permute(*order, 2 + 2 * d).reshape(P, B, *(2 * h for h in half), C)
        if list(even.shape[2:-1]) == spatial:
            return even
        dx = dy.new_zeros(shape)
        dx[(slice(None), slice(None), *(slice(0, 2 * h) for h in half))] = even
        return dx


class Flatten:
    """``(P, B, *features)`` -> ``(P, B, n)``; channels-last activations are flattened channels-first."""

    shapes: dict = {}
    flops_per_example = 0

    def __init__(self, channels_last: bool) -> None:
        self.channels_last = channels_last

    def forward(self, weights, x: Tensor) -> tuple[Tensor, torch.Size]:
        if self.channels_last:
            x = x.movedim(-1, 2)
        return x.reshape(x.shape[0], x.shape[1], -1), x.shape

    def backward(self, weights, grads, saved: torch.Size, dy: Tensor, need_input: bool) -> Tensor | None:
        if not need_input:
            return None
        dx = dy.view(saved)
        return dx.movedim(2, -1) if self.channels_last else dx
