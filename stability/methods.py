"""The method keys shared by the CLI, the harness and the tables, and the optimizer each one names."""

from __future__ import annotations

__all__ = ["METHODS"]

# Method key -> (ascent of the SAM wrapper, StableSAM renormalisation); ``sgd`` is the base optimizer alone.
METHODS: dict[str, tuple[str, bool] | None] = {
    "sgd": None,
    "sam": ("normalized", False),
    "usam": ("unnormalized", False),
    "asam": ("adaptive", False),
    "stablesam-n": ("normalized", True),
    "stablesam-u": ("unnormalized", True),
    "stablesam-a": ("adaptive", True),
}
