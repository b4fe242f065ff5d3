"""Stacked-parameter training of a population of models of one architecture (layers, network, optimizer).

:mod:`~stablesam.stability.stacked.layers` (batched forward and backward of each layer),
:mod:`~stablesam.stability.stacked.network` (the flat parameter buffer and the translation of a harness model),
:mod:`~stablesam.stability.stacked.optimizer` (every method of the table as whole-population tensor operations).
"""

from stablesam.stability.stacked.network import StackedNetwork, network_of
from stablesam.stability.stacked.optimizer import PopulationOptimizer

__all__ = ["PopulationOptimizer", "StackedNetwork", "network_of"]
