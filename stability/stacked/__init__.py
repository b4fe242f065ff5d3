"""Stacked-parameter training of a population of models of one architecture (layers, network, optimizer).

:mod:`~stablesam.stability.stacked.layers` (batched forward and backward of each layer),
:mod:`~stablesam.stability.stacked.network` (the flat parameter buffer and the translation of a harness model),
:mod:`~stablesam.stability.stacked.optimizer` (every method of the table as whole-population tensor operations).
"""

from stablesam.core.exports import lazy_exports

# Each name loads on first use (PEP 562): importing the package does not import torch.
_EXPORTS = {
    **dict.fromkeys(("Activation", "Convolution", "Flatten", "Linear", "MaxPool"), "stablesam.stability.stacked.layers"),
    **dict.fromkeys(("StackedNetwork", "network_of"), "stablesam.stability.stacked.network"),
    "PopulationOptimizer": "stablesam.stability.stacked.optimizer",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
