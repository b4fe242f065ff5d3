"""What every training run of the toolkit shares: the device resolver and the step loop.

The twin population (:mod:`stablesam.stability.twin`), the edge-of-stability runs, the per-step statistics,
the blow-up runs and ``stablesam train`` all step through :func:`~stablesam.stability.training.loop.run_steps`
with a :class:`~stablesam.stability.training.loop.Divergence` tracker, and resolve their device with
:func:`~stablesam.stability.training.device.resolve_device`. Their run directories are verified stores
(:mod:`stablesam.core.store`).
"""

from stablesam.core.exports import lazy_exports

# Each name loads on first use (PEP 562): importing the package does not import torch.
_EXPORTS = {
    "resolve_device": "stablesam.stability.training.device",
    **dict.fromkeys(
        ("DIVERGENCE_REASONS", "OUTCOMES", "Divergence", "DivergenceRule", "Hook", "all_finite", "closure_for", "finite_rows",
         "run_steps"),
        "stablesam.stability.training.loop",
    ),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
