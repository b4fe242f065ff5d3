"""Models of the twin harness, initialised from an explicit ``torch.Generator``.

* ``linear``: ``f(x) = W vec(x) + b``.
* ``mlp``: ``hidden`` fully connected layers with ``activation`` ``"relu"`` (default) or ``"tanh"``, then a
  linear read-out.
* ``cnn``: two blocks ``conv 3x3 -> ReLU -> max-pool 2`` (1-D convolutions for inputs ``(C, L)``,
  2-D for ``(C, H, W)``), then a linear read-out.
* ``resnet20``: the CIFAR ResNet of He et al. (2016, arXiv:1512.03385, §4.2): a 3x3 stem, three
  stages of ``(depth - 2) / 6`` basic blocks of widths ``w, 2w, 4w`` (the last two start with stride
  2, and their shortcuts are the parameter-free "option A": subsample and zero-pad channels),
  global average pooling and a linear read-out; 0.27 M parameters for ``depth=20, width=16``.

Normalisation in ``resnet20``: ``GroupNorm`` with 8 groups (Wu & He, 2018, arXiv:1803.08494) by
default. It normalises each example on its own, so the loss ``l(w; z)`` of an example is a function
of ``w`` and ``z`` alone, as the stability estimate ``|l(w; z) - l(w'; z)|`` requires, and it has no
running buffers, so it works with ``torch.func.functional_call`` and ``vmap`` over stacked
parameters. ``norm="batch"`` gives ``BatchNorm2d(track_running_stats=False)`` instead (also
vmap-safe, but it normalises with the statistics of the batch, in evaluation too).

Initialisation (drawn on the CPU from ``generator`` in float64, then rounded to ``dtype``, so a
seed gives the same model on every device and the float32 model is the float64 one rounded):
weights of layers followed by a ReLU ``~ N(0, 2 / fan_in)`` (He et al., 2015, arXiv:1502.01852),
weights of tanh layers and of the read-out ``~ N(0, 1 / fan_in)`` (LeCun et al., 1998), biases 0, normalisation scales 1 and shifts 0.
Modules are built on the meta device first, so PyTorch's default initialisation never touches the
global random state.

Example:
    >>> import torch
    >>> from stablesam.stability.models import build_model
    >>> model = build_model("cnn", (1, 8, 8), 10, generator=torch.Generator().manual_seed(0))
    >>> model(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from stablesam.core.validation import UsageError, check_choice, check_integer

__all__ = ["MODELS", "MODEL_OPTIONS", "build_model", "count_parameters"]

# The keyword options each model takes, with their defaults.
MODEL_OPTIONS: dict[str, dict[str, object]] = {
    "linear": {},
    "mlp": {"hidden": (128, 128), "activation": "relu"},
    "cnn": {"channels": (16, 32)},
    "resnet20": {"width": 16, "depth": 20, "norm": "group"},
}
MODELS: tuple[str, ...] = tuple(MODEL_OPTIONS)

_NORMS = ("group", "batch")
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}
_GROUPS = 8


class LinearModel(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_outputs: int) -> None:
        super().__init__()
        self.readout = nn.Linear(math.prod(input_shape), num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(x.flatten(1))


class MLP(nn.Module):
    def __init__(
        self, input_shape: tuple[int, ...], num_outputs: int, hidden: Sequence[int], activation: str = "relu"
    ) -> None:
        super().__init__()
        self.activation = activation
        widths = [math.prod(input_shape), *hidden]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths, widths[1:]):
            layers += [nn.Linear(fan_in, fan_out), _ACTIVATIONS[activation]()]
        self.features = nn.Sequential(*layers)
        self.readout = nn.Linear(widths[-1], num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.features(x.flatten(1)))


class SmallCNN(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, channels: Sequence[int]) -> None:
        super().__init__()
        conv, pool = (nn.Conv1d, nn.MaxPool1d) if len(input_shape) == 2 else (nn.Conv2d, nn.MaxPool2d)
        widths = [input_shape[0], *channels]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths, widths[1:]):
            layers += [conv(fan_in, fan_out, 3, padding=1), nn.ReLU(), pool(2)]
        self.features = nn.Sequential(*layers)
        spatial = [size // 2 ** len(channels) for size in input_shape[1:]]
        self.readout = nn.Linear(widths[-1] * math.prod(spatial), num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.features(x).flatten(1))


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(_GROUPS, channels)
    return nn.BatchNorm2d(channels, track_running_stats=False)


class BasicBlock(nn.Module):
    """``relu(shortcut(x) + norm(conv(relu(norm(conv(x))))))`` with an option-A shortcut."""

    def __init__(self, fan_in: int, fan_out: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(fan_in, fan_out, 3, stride=stride, padding=1, bias=False)
        self.norm1 = _norm(norm, fan_out)
        self.conv2 = nn.Conv2d(fan_out, fan_out, 3, padding=1, bias=False)
        self.norm2 = _norm(norm, fan_out)
        self.stride, self.pad = stride, fan_out - fan_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + shortcut)


class ResNet(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, width: int, depth: int, norm: str) -> None:
        super().__init__()
        self.stem = nn.Conv2d(input_shape[0], width, 3, padding=1, bias=False)
        self.stem_norm = _norm(norm, width)
        blocks: list[nn.Module] = []
        fan_in = width
        for stage, fan_out in enumerate((width, 2 * width, 4 * width)):
            for block in range((depth - 2) // 6):
                blocks.append(BasicBlock(fan_in, fan_out, 2 if stage > 0 and block == 0 else 1, norm))
                fan_in = fan_out
        self.blocks = nn.Sequential(*blocks)
        self.readout = nn.Linear(fan_in, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(F.relu(self.stem_norm(self.stem(x))))
        return self.readout(out.mean(dim=(2, 3)))


def _widths(name: str, value: object, *, allow_empty: bool) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, Sequence) or isinstance(value, str) or (not value and not allow_empty):
        raise UsageError(f"{name} must be a sequence of positive integers, got {value!r}")
    return tuple(check_integer(f"{name} entry", w, minimum=1) for w in value)


def _linear(input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    return LinearModel(input_shape, num_outputs)


def _mlp(input_shape: tuple[int, ...], num_outputs: int, hidden: object, activation: object) -> nn.Module:
    activation = check_choice("activation", activation, _ACTIVATIONS)
    return MLP(input_shape, num_outputs, _widths("hidden", hidden, allow_empty=True), activation)


def _cnn(input_shape: tuple[int, ...], num_outputs: int, channels: object) -> nn.Module:
    channels = _widths("channels", channels, allow_empty=False)
    if len(input_shape) not in (2, 3) or min(input_shape[1:]) < 2 ** len(channels):
        raise UsageError(
            f"cnn needs inputs (C, L) or (C, H, W) with sides >= {2 ** len(channels)} "
            f"({len(channels)} pooling steps), got input_shape {input_shape}"
        )
    return SmallCNN(input_shape, num_outputs, channels)


def _resnet(input_shape: tuple[int, ...], num_outputs: int, width: object, depth: object, norm: object) -> nn.Module:
    if len(input_shape) != 3:
        raise UsageError(f"resnet20 needs image inputs (C, H, W), got input_shape {input_shape}")
    width = check_integer("width", width, minimum=_GROUPS)
    depth = check_integer("depth", depth, minimum=8)
    norm = check_choice("norm", norm, _NORMS)
    if (depth - 2) % 6:
        raise UsageError(f"depth must be 6n + 2 (20, 32, 44, 56, ...), got {depth}")
    if norm == "group" and width % _GROUPS:
        raise UsageError(f"width must be a multiple of {_GROUPS} (the GroupNorm groups), got {width}")
    return ResNet(input_shape, num_outputs, width, depth, norm)


_BUILDERS: dict[str, Callable[..., nn.Module]] = {"linear": _linear, "mlp": _mlp, "cnn": _cnn, "resnet20": _resnet}


@torch.no_grad()
def _initialise(model: nn.Module, generator: torch.Generator, dtype: torch.dtype) -> None:
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            fan_in = module.weight[0].numel()
            gain = 1.0 if name.endswith("readout") or getattr(model, "activation", "relu") == "tanh" else 2.0
            std = math.sqrt(gain / fan_in)
            draw = torch.empty(module.weight.shape, dtype=torch.float64).normal_(0.0, std, generator=generator)
            module.weight.copy_(draw.to(dtype))
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, (nn.GroupNorm, nn.BatchNorm2d)):
            module.weight.fill_(1.0)
            module.bias.zero_()


def build_model(
    name: str,
    input_shape: Sequence[int],
    num_outputs: int,
    *,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    **options: object,
) -> nn.Module:
    """Model ``name`` (one of :data:`MODELS`) for inputs of shape ``input_shape``, on the CPU.

    ``options`` (defaults in :data:`MODEL_OPTIONS`): ``hidden`` widths and ``activation`` for ``mlp``; ``channels`` for
    ``cnn``; ``width``, ``depth`` (6n + 2) and ``norm`` (``"group"`` or ``"batch"``) for ``resnet20``.
    The same generator state gives bit-identical parameters; move the model with ``.to(device)``.
    """
    check_choice("model", name, MODELS)
    if not isinstance(generator, torch.Generator):
        raise UsageError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if generator.device.type != "cpu":
        raise UsageError(
            f"generator must be a CPU torch.Generator (parameters are drawn on the CPU), got device {generator.device}"
        )
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise UsageError(f"dtype must be a floating torch dtype, got {dtype!r}")
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence) or not input_shape:
        raise UsageError(f"input_shape must be a non-empty sequence of positive integers, got {input_shape!r}")
    input_shape = tuple(check_integer("input_shape entry", s, minimum=1) for s in input_shape)
    num_outputs = check_integer("num_outputs", num_outputs, minimum=1)
    unknown = sorted(set(options) - set(MODEL_OPTIONS[name]))
    if unknown:
        takes = ", ".join(MODEL_OPTIONS[name]) or "none"
        raise UsageError(f"unknown option(s) {', '.join(map(repr, unknown))} for model {name!r}; it takes {takes}")
    with torch.device("meta"):
        model = _BUILDERS[name](input_shape, num_outputs, **{**MODEL_OPTIONS[name], **options})
    model = model.to_empty(device="cpu").to(dtype)
    _initialise(model, generator, dtype)
    return model


def count_parameters(model: nn.Module) -> int:
    """The number of scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())
