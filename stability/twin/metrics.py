"""Evaluation of a twin population at a logging point (device tensors; the caller syncs once).

For pair ``p`` with weights ``w`` (trained on ``S``) and ``w'`` (on ``S'``), docs/theory.md section 6:

- ``distance`` ``||w - w'||`` over all parameters; ``distance_normalized``
  ``||w - w'|| / (||w|| + ||w'||)`` (0 when both are 0); ``layer_distance`` the same norm per
  parameter tensor;
- ``loss_diff_max`` / ``loss_diff_mean``: ``max_z`` / ``mean_z`` of ``|l(w; z) - l(w'; z)|`` over
  the test points ``z``, the empirical estimate of uniform stability (Hardt et al. 2016);

and per model: ``train_loss`` / ``train_accuracy`` on the model's *own* training set (``S`` or
``S'``), ``test_loss`` / ``test_accuracy``, and ``gen_gap`` = ``test_loss - train_loss``. With label noise
the train loss is on the noisy labels the model is fitted to, the test loss on clean ones, so ``gen_gap`` mixes
generalization with the noise; ``train_loss_clean`` (the training inputs with their clean labels) and
``gen_gap_clean = test_loss - train_loss_clean`` isolate generalization to new inputs.
"""

from __future__ import annotations

import torch

from stablesam.stability.twin.population import example_losses

__all__ = ["evaluate", "pair_distances"]


@torch.no_grad()
def pair_distances(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Distances between models ``2p`` and ``2p+1`` of stacked ``params`` (see the module docstring)."""
    layer_sq, norm_a_sq, norm_b_sq = {}, 0.0, 0.0
    for name, p in params.items():
        a, b = p[0::2].flatten(1), p[1::2].flatten(1)
        layer_sq[name] = (a - b).square().sum(1)
        norm_a_sq = norm_a_sq + a.square().sum(1)
        norm_b_sq = norm_b_sq + b.square().sum(1)
    distance = torch.stack(list(layer_sq.values())).sum(0).sqrt()
    scale = norm_a_sq.sqrt() + norm_b_sq.sqrt()
    normalized = torch.where(scale > 0, distance / torch.where(scale > 0, scale, 1.0), 0.0)
    return {"distance": distance, "distance_normalized": normalized,
            "layer_distance": {name: sq.sqrt() for name, sq in layer_sq.items()}}


# The metrics of :func:`evaluate` with one value per pair (the others have one per model), besides the
# per-layer distances ("layer_distance", a dict by layer).
PAIR_METRICS = ("distance", "distance_normalized", "loss_diff_max", "loss_diff_mean")


def _accuracy(task: str, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    return (outputs.argmax(-1) == y).sum(-1) if task == "classification" else None


@torch.no_grad()
def evaluate(population, data, *, batch_size: int) -> dict[str, torch.Tensor | dict[str, torch.Tensor]]:
    """Every logged metric of ``population`` on ``data`` (a :class:`~stablesam.stability.twin.pairs.TwinData`)."""
    n, n_test = data.n_train, len(data.y_test)
    m = data.rows.shape[0]
    train_loss = train_correct = train_loss_clean = 0.0
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(start + batch_size, n), device=data.rows.device).expand(m, -1)
        x, y = data.batch(idx)
        out = population.outputs(x)
        train_loss = train_loss + example_losses(data.task, out, y).sum(1)
        if data.y_clean is not None:
            train_loss_clean = train_loss_clean + example_losses(data.task, out, data.y_clean.gather(1, idx)).sum(1)
        if data.task == "classification":
            train_correct = train_correct + _accuracy(data.task, out, y)
    test_losses, test_correct = [], 0.0
    for start in range(0, n_test, batch_size):
        x = data.x_test[start:start + batch_size]
        y = data.y_test[start:start + batch_size]
        out = population.outputs(x.expand(m, *x.shape))
        test_losses.append(example_losses(data.task, out, y.expand(m, *y.shape)))
        if data.task == "classification":
            test_correct = test_correct + _accuracy(data.task, out, y)
    test_losses = torch.cat(test_losses, 1)
    diff = (test_losses[0::2] - test_losses[1::2]).abs()
    result = {
        "train_loss": train_loss / n,
        "test_loss": test_losses.mean(1),
        "loss_diff_max": diff.amax(1),
        "loss_diff_mean": diff.mean(1),
        **pair_distances(population.params),
    }
    result["gen_gap"] = result["test_loss"] - result["train_loss"]
    if data.y_clean is not None:  # label noise: the same model's loss on the clean labels of its training set
        result["train_loss_clean"] = train_loss_clean / n
        result["gen_gap_clean"] = result["test_loss"] - result["train_loss_clean"]
    if data.task == "classification":
        result["train_accuracy"] = train_correct / n
        result["test_accuracy"] = test_correct / n_test
    return result
