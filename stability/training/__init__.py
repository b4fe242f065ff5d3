"""What every training run of the toolkit shares: the device resolver and the step loop.

The twin population (:mod:`stablesam.stability.twin`), the edge-of-stability runs, the per-step statistics,
the blow-up runs and ``stablesam train`` all step through :func:`~stablesam.stability.training.loop.run_steps`
with a :class:`~stablesam.stability.training.loop.Divergence` tracker, and resolve their device with
:func:`~stablesam.stability.training.device.resolve_device`. Their run directories are verified stores
(:mod:`stablesam.core.store`).
"""

from stablesam.stability.training.device import resolve_device
from stablesam.stability.training.loop import DIVERGENCE_REASONS, Divergence, DivergenceRule, Hook, closure_for, run_steps

__all__ = ["DIVERGENCE_REASONS", "Divergence", "DivergenceRule", "Hook", "closure_for", "resolve_device", "run_steps"]
