r"""A population of ``P`` models of one architecture as stacked-parameter layers over one flat buffer.

Model ``p``'s parameters are row ``p`` of a buffer ``(P, D)`` (padded with zeros to a common alignment); parameter
``name`` is the view ``buffer[:, offset:offset + size].view(P, *shape)``, in ``nn.Module``'s shapes and names, so
that distances, checkpoints and standalone copies read the same tensors as for a module. Whole-population optimizer
arithmetic (norms per model, the ascent, the descent) is then one tensor operation on the buffer.

:func:`network_of` translates the twin harness's models (:mod:`stablesam.stability.models`: ``linear``,
``mlp``, ``cnn``) into layers of :mod:`stablesam.stability.stacked.layers`; it returns ``None`` for any other
module (the caller falls back to ``vmap``).

Example (two MLPs, the gradient of the summed per-model mean losses):

    >>> import torch
    >>> from stablesam.stability.models import build_model
    >>> from stablesam.stability.stacked.network import network_of
    >>> modules = [build_model("mlp", (4,), 3, generator=torch.Generator().manual_seed(s), hidden=(5,)) for s in (0, 1)]
    >>> net = network_of(modules[0], (4,))
    >>> weights = net.stack(modules)
    >>> x, y = torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(2)), torch.tensor([[0, 1, 2] * 2] * 2)
    >>> grads = torch.empty_like(weights)
    >>> losses = net.loss_and_grad(weights, grads, x, y, "classification", torch.ones(2, dtype=torch.bool))
    >>> reference = torch.nn.functional.cross_entropy(modules[1](x[1]), y[1])
    >>> reference.backward()
    >>> readout_grad = net.views(grads)["readout.weight"][1]
    >>> bool(torch.allclose(losses[1], reference)), bool(torch.allclose(readout_grad, modules[1].readout.weight.grad))
    (True, True)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from stablesam.stability.stacked.layers import Activation, Convolution, Flatten, Linear, MaxPool, aligned_size

__all__ = ["StackedNetwork", "network_of"]


class StackedNetwork:
    """Layers in forward order, their parameters' names and shapes, and the layout of the flat buffer."""

    def __init__(self, layers: list, input_shape: tuple[int, ...], channels_last: bool) -> None:
        self.layers = layers
        self.input_shape = input_shape
        self.channels_last = channels_last  # the input (C, *spatial) is moved to (*spatial, C)
        self.shapes: dict[str, tuple[int, ...]] = {}
        for layer in layers:
            self.shapes.update(layer.shapes)
        # Every parameter starts on a 64-byte boundary of its row, and rows are a multiple of 64 bytes long, so that
        # all models' tensors have the same alignment: BLAS kernels may round differently at different alignments,
        # and identical twins must stay identical bit for bit.
        self.sizes = [math.prod(s) for s in self.shapes.values()]
        self.offsets = [sum(aligned_size(n) for n in self.sizes[:i]) for i in range(len(self.sizes))]
        self.size = sum(aligned_size(n) for n in self.sizes)
        self._views: dict[int, tuple[Tensor, dict[str, Tensor]]] = {}

    # ------------------------------------------------------------------ layout
    def views(self, buffer: Tensor, *, cache: bool = False) -> dict[str, Tensor]:
        """``{name: (P, *shape) view of buffer}``; ``cache`` keeps them for the next call (for the step's buffers)."""
        cached = self._views.get(id(buffer))
        if cached is not None and cached[0] is buffer:
            return cached[1]
        out = {}
        for (name, shape), size, start in zip(self.shapes.items(), self.sizes, self.offsets):
            out[name] = buffer[:, start:start + size].view(buffer.shape[0], *shape)
        if cache:
            self._views[id(buffer)] = (buffer, out)
        return out

    def flatten(self, tensors: dict[str, Tensor]) -> Tensor:
        """The buffer ``(P, D)`` whose views are ``tensors`` (``{name: (P, *shape)}``; padding zero)."""
        first = tensors[next(iter(self.shapes))]
        buffer = first.new_zeros(first.shape[0], self.size)
        for name, view in self.views(buffer).items():
            view.copy_(tensors[name])
        return buffer

    def stack(self, modules: list[nn.Module]) -> Tensor:
        """A new buffer ``(len(modules), D)`` holding copies of the modules' parameters."""
        rows = []
        for module in modules:
            named = dict(module.named_parameters())
            if set(named) != set(self.shapes):
                raise ValueError(f"module parameters {sorted(named)} differ from the network's {sorted(self.shapes)}")
            rows.append(named)
        return self.flatten({name: torch.stack([row[name].detach() for row in rows]) for name in self.shapes})

    def layer_flops(self) -> list[int]:
        """Floating-point operations (2 per multiply-add) of each layer's forward pass, per example."""
        flops, spatial = [], list(self.input_shape[1:]) if self.channels_last else []
        for layer in self.layers:
            positions = math.prod(spatial) if isinstance(layer, Convolution) else 1
            if isinstance(layer, MaxPool):
                spatial = [s // 2 for s in spatial]
            flops.append(layer.flops_per_example * positions)
        return flops

    def training_flops(self, batch: int) -> int:
        """Operations of one forward and backward pass on ``batch`` examples of one model: the products only.

        The forward ``F``, the weight gradients ``F`` and the input gradients ``F`` minus the first layer's (not
        computed); elementwise work (activations, the loss, the optimizer) is left out, so this is a floor.
        """
        flops = self.layer_flops()
        first = next(f for f in flops if f)
        return batch * (3 * sum(flops) - first)

    # ------------------------------------------------------------------ passes
    def _inputs(self, x: Tensor) -> Tensor:
        return x.movedim(2, -1) if self.channels_last else x.reshape(x.shape[0], x.shape[1], -1)

    def forward(self, weights: Tensor, x: Tensor) -> Tensor:
        """Outputs ``(P, B, out)`` of inputs ``(P, B, *input_shape)`` (nothing saved for a backward)."""
        views = self.views(weights, cache=True)
        h = self._inputs(x)
        for layer in self.layers:
            h, _ = layer.forward(views, h)
        return h

    def loss_and_grad(self, weights: Tensor, grads: Tensor, x: Tensor, y: Tensor, task: str, alive: Tensor) -> Tensor:
        """Per-model mean mini-batch losses ``(P,)``; writes their gradients into ``grads`` (laid out as ``weights``).

        Models with ``alive`` False get the gradient of a zero loss (the mask multiplies the output gradient),
        so no shared computation sees them and their slices of ``grads`` hold zeros (or their own NaN).
        """
        views, grad_views = self.views(weights, cache=True), self.views(grads, cache=True)
        h = self._inputs(x)
        saved = []
        for layer in self.layers:
            h, keep = layer.forward(views, h)
            saved.append(keep)
        losses, dh = _loss_and_output_grad(task, h, y, alive)
        for index in range(len(self.layers) - 1, -1, -1):
            dh = self.layers[index].backward(views, grad_views, saved[index], dh, index > 0)
        return losses


def _loss_and_output_grad(task: str, out: Tensor, y: Tensor, alive: Tensor) -> tuple[Tensor, Tensor]:
    """Mean losses ``(P,)`` and ``d sum_p [alive_p] loss_p / d out``."""
    batch = out.shape[1]
    scale = alive.to(out.dtype).div_(batch).view(-1, 1, 1)  # no scalar tensor from the host
    if task == "classification":
        log_probs = torch.log_softmax(out, dim=-1)
        target = y.unsqueeze(-1)
        losses = -log_probs.gather(-1, target).squeeze(-1).mean(dim=1)
        grad = log_probs.exp_().scatter_add_(-1, target, torch.full_like(target, -1, dtype=out.dtype))
        return losses, grad.mul_(scale)
    residual = out.reshape(y.shape) - y
    losses = 0.5 * residual.square().mean(dim=1)
    return losses, (residual.unsqueeze(-1) * scale).view(out.shape)


def network_of(module: nn.Module, input_shape: tuple[int, ...]) -> StackedNetwork | None:
    """The stacked network of a harness model (``linear``, ``mlp``, ``cnn``) for inputs ``input_shape``, else ``None``."""
    input_shape = tuple(input_shape)
    from stablesam.stability.models import MLP, LinearModel, SmallCNN

    kind = type(module)
    if kind is LinearModel:
        readout = module.readout
        return StackedNetwork([Linear("readout", readout.in_features, readout.out_features, readout.bias is not None)],
                              input_shape, channels_last=False)
    if kind is MLP:
        layers = []
        for index, child in enumerate(module.features):
            if isinstance(child, nn.Linear):
                layers.append(Linear(f"features.{index}", child.in_features, child.out_features,
                                     child.bias is not None))
            elif type(child) in (nn.ReLU, nn.Tanh):
                layers.append(Activation("relu" if type(child) is nn.ReLU else "tanh"))
            else:
                return None
        readout = module.readout
        layers.append(Linear("readout", readout.in_features, readout.out_features, readout.bias is not None))
        return StackedNetwork(layers, input_shape, channels_last=False)
    if kind is SmallCNN:
        layers = []
        dims = None
        for index, child in enumerate(module.features):
            if isinstance(child, (nn.Conv1d, nn.Conv2d)):
                dims = 1 if isinstance(child, nn.Conv1d) else 2
                k = child.kernel_size[0]
                if (set(child.kernel_size) != {k} or k % 2 == 0 or set(child.stride) != {1}
                        or set(child.dilation) != {1} or child.groups != 1 or child.padding_mode != "zeros" or set(child.padding) != {k // 2}):
                    return None
                layers.append(Convolution(f"features.{index}", child.in_channels, child.out_channels, k, dims,
                                          child.bias is not None))
            elif type(child) is nn.ReLU:
                layers.append(Activation("relu"))
            elif isinstance(child, (nn.MaxPool1d, nn.MaxPool2d)):
                if not _is_pool_2(child):
                    return None
                layers.append(MaxPool(dims))
            else:
                return None
        readout = module.readout
        layers += [Flatten(channels_last=True),
                   Linear("readout", readout.in_features, readout.out_features, readout.bias is not None)]
        return StackedNetwork(layers, input_shape, channels_last=True)
    return None


def _is_pool_2(pool: nn.Module) -> bool:
    def single(value) -> set:
        return set(value) if isinstance(value, tuple) else {value}

    return (single(pool.kernel_size) == {2} and single(pool.stride) == {2} and single(pool.padding) == {0}
            and single(pool.dilation) == {1} and not pool.ceil_mode and not pool.return_indices)
