"""The one device resolver of every training run: ``auto``, ``cpu``, ``cuda`` or any torch device name."""

from __future__ import annotations

from stablesam.core.validation import UsageError

__all__ = ["resolve_device"]


def resolve_device(name: object, *, flag: str = "device"):
    """The ``torch.device`` named by ``name``; ``auto`` is CUDA when available, else the CPU.

    A CUDA device on a machine without one, or a name torch does not know, is a :class:`UsageError` naming
    ``flag``.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UsageError(f"{flag} must be a torch device such as 'cpu', 'cuda' or 'auto'; got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{flag} {name!r} was requested but torch sees no CUDA device; use 'auto' or 'cpu'")
    return device
