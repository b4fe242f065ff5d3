"""The twin harness: pairs of models trained on neighbouring datasets (docs/theory.md section 6).

``TwinConfig`` describes an experiment, ``run_twin`` runs it into a directory, ``TwinTrainer`` is
the in-memory engine (every pair batched into one ``torch.func`` computation). Attributes load
lazily so that reading a config does not import torch.
"""

import importlib

__all__ = ["METHODS", "TwinConfig", "TwinResult", "TwinTrainer", "load_checkpoint", "prepare_twin", "run_twin"]

_HOME = {"METHODS": "config", "TwinConfig": "config", "TwinTrainer": "trainer", "TwinResult": "run",
         "load_checkpoint": "run", "prepare_twin": "run", "run_twin": "run"}


def __getattr__(name):
    if name in _HOME:
        return getattr(importlib.import_module(f"stablesam.stability.twin.{_HOME[name]}"), name)
    raise AttributeError(f"module 'stablesam.stability.twin' has no attribute {name!r}")
