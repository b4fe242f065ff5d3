r"""Two empirical estimates of uniform stability from the final models of a twin run (docs/theory.md sections 4, 6).

For a pair of neighbouring training sets ``S, S'`` (``S'`` is ``S`` with example ``i`` replaced) and test points
``z``, let ``D_s(z) = l(A_s(S); z) - l(A_s(S'); z)`` be the loss difference of the twins trained with seed ``s``
(the seed fixes the algorithm's randomness: initialisation and mini-batch order). Uniform stability (Hardt,
Recht and Singer 2016, Definition 2.1) bounds

    ``stability_estimate = sup_z | E_A[ D(z) ] |``      (expectation over the seeds first, then the sup),

the quantity the theory bounds. The absolute value accounts for the sup over ordered pairs ``(S, S')`` and
``(S', S)``, which the definition includes. The twin harness logs, per pair, ``loss_diff_max`` =
``sup_z |D_s(z)|``; its mean over seeds is

    ``loss_diff_max`` (mean over seeds) ``= E_A sup_z |D(z)|  >=  sup_z |E_A D(z)|``,

an *upper* estimate (Jensen). Both are computed here, under these names, from the per-test-point losses of
the run's final models (:func:`stablesam.stability.twin.run.load_run_model`, the checkpoint path). With several replaced
indices the estimate is the largest over them (the sup over the neighbouring pairs that were run).

For the expectation to be over the algorithm only, ``S'`` must not change with the seed: the harness draws
the replacement example from the pool with the pair's seed, so the experiments of ``stablesam verify`` use a
pool of one example (``n_pool=1``); with a larger pool the mean also averages over replacement examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stablesam.core.validation import UsageError

__all__ = ["LossDifferences", "loss_diff_max", "stability_estimate", "test_losses"]


@dataclass(frozen=True)
class LossDifferences:
    """Per-test-point losses of the final twins: ``diff[s, i, z] = l(w_S; z) - l(w_S'; z)``.

    Axis 0 runs over ``seeds``, axis 1 over ``replaced_indices``; a pair with a diverged twin is all NaN.
    """

    seeds: tuple[int, ...]
    replaced_indices: tuple[int, ...]
    diff: np.ndarray

    @property
    def finite_seeds(self) -> np.ndarray:
        """Indices of the seeds whose every pair has finite losses."""
        return np.flatnonzero(np.isfinite(self.diff).all(axis=(1, 2)))


def test_losses(run_dir: str | Path) -> LossDifferences:
    """Per-test-point loss differences of every pair of the finished twin run in ``run_dir``.

    Rebuilds the run's population on the CPU from ``config.json`` with the harness's own classes
    (:class:`~stablesam.stability.twin.TwinTrainer`, as :func:`~stablesam.stability.twin.run.load_run_model` does, but once for all
    models), loads the latest checkpoint (``weights_only=True``) and evaluates every model on the test set.
    """
    import json

    import torch

    from stablesam.stability.twin import TwinConfig, TwinTrainer
    from stablesam.stability.twin.population import example_losses
    from stablesam.stability.twin.run import intact_checkpoint, load_twin_dataset, run_name

    run_dir = Path(run_dir)
    config = TwinConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    checkpoint, state = intact_checkpoint(run_dir, quarantine=False)  # verified against summary.json's checksums
    if checkpoint is None or state["epoch"] != config.epochs:
        raise UsageError(f"run directory {str(run_dir)!r} has no intact checkpoint of its final epoch {config.epochs} "
                         "(checkpoints/epoch_*.pt): finish the run first")
    trainer = TwinTrainer(config.replace(device="cpu"), load_twin_dataset(config), run_name=run_name(config))
    trainer.population.load_state_dict(state["population"])
    data = trainer.data
    with torch.no_grad():
        outputs = trainer.population.outputs(data.x_test.expand(trainer.n_models, *data.x_test.shape))
        losses = example_losses(data.task, outputs, data.y_test.expand(trainer.n_models, -1)).double()
    alive = state["alive"].cpu()
    losses[~alive] = float("nan")
    diff = (losses[0::2] - losses[1::2]).numpy()
    shape = (len(config.seeds), len(config.replaced_indices), diff.shape[-1])
    return LossDifferences(config.seeds, config.replaced_indices, diff.reshape(shape))  # pairs are seed-major


def stability_estimate(losses: LossDifferences, seeds: np.ndarray | None = None) -> float:
    """``max_i sup_z |mean_s D_s(i, z)|`` over the seeds ``seeds`` (indices into ``losses.seeds``; default all)."""
    diff = losses.diff if seeds is None else losses.diff[np.asarray(seeds)]
    return float(np.abs(diff.mean(axis=0)).max())


def loss_diff_max(losses: LossDifferences, seeds: np.ndarray | None = None) -> float:
    """``max_i mean_s sup_z |D_s(i, z)|``: the harness's per-pair ``loss_diff_max`` averaged over seeds."""
    diff = losses.diff if seeds is None else losses.diff[np.asarray(seeds)]
    return float(np.abs(diff).max(axis=2).mean(axis=0).max())
