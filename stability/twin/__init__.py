"""The twin harness: pairs of models trained on neighbouring datasets (docs/theory.md section 6).

``TwinConfig`` describes an experiment, ``run_twin`` runs it into a directory, ``TwinTrainer`` is
the in-memory engine (every pair batched into one ``torch.func`` computation). Attributes load
lazily so that reading a config does not import torch.
"""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so a light
# path (``stablesam --help``, reading a config) does not import torch.
_EXPORTS = {
    **dict.fromkeys(
        ("BASE_OPTIMIZERS", "DEVICES", "DTYPES", "METHODS", "SAMPLINGS", "SCHEDULES", "TwinConfig"),
        "stablesam.stability.twin.config",
    ),
    **dict.fromkeys(("evaluate", "pair_distances"), "stablesam.stability.twin.metrics"),
    **dict.fromkeys(("TwinData", "build_twin_data", "stream_seed"), "stablesam.stability.twin.pairs"),
    **dict.fromkeys(
        ("SequentialPopulation", "StackedPopulation", "example_losses", "mean_loss"),
        "stablesam.stability.twin.population",
    ),
    **dict.fromkeys(
        (
            "PreparedRun", "RunModel", "TwinResult", "latest_checkpoint", "load_checkpoint", "load_run_model",
            "load_twin_dataset", "prepare_twin", "run_name", "run_twin",
        ),
        "stablesam.stability.twin.run",
    ),
    **dict.fromkeys(("DIVERGENCE_REASONS", "TwinTrainer", "resolve_device"), "stablesam.stability.twin.trainer"),
    **dict.fromkeys(("MAX_EPOCHS", "MOMENTUM"), "stablesam.stability.twin.config"),
    **dict.fromkeys(("StackedParameterPopulation", "stacked_population"), "stablesam.stability.twin.stacked"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
