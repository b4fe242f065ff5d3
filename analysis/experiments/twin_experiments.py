"""Twin experiments behind the figures (docs/theory.md section 6): the runs, then :func:`stablesam.analysis.plots.twin.plot_twin_metrics`.

- :func:`twin_metrics` runs one :class:`stablesam.stability.twin.TwinConfig` per (optimizer, label noise) and returns
  the tidy metrics of all of them (columns of ``metrics.csv``).
- :func:`figure_twin_comparison` and :func:`figure_label_noise` run and draw (the catalogue entries).

Runs use the CPU by default, where the harness is bit-reproducible, so a figure's data digest is the same on a
rerun.

Example
-------
>>> from stablesam.analysis.experiments.twin_experiments import figure_twin_comparison
>>> fig = figure_twin_comparison(epochs=2, n_train=100)  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from stablesam.analysis.plots.twin import plot_twin_metrics
from stablesam.core.progress import progress_mode
from stablesam.stability.optimizers import DEFAULT_RHO

__all__ = ["figure_label_noise", "figure_twin_comparison", "twin_metrics"]


def twin_metrics(optimizers: Sequence[str] = ("sgd", "sam", "stablesam-u"), *, label_noises: Sequence[float] = (0.0,),
                 lr: float = 0.1, rho: float = DEFAULT_RHO, epochs: int = 12, n_train: int | None = 400,
                 n_test: int | None = 200, seeds: Sequence[int] = (0,), replaced_indices: Sequence[int] = (0, 1, 2),
                 model: str = "mlp", dataset: str = "digits", batch_size: int = 64, momentum: float = 0.0,
                 device: str = "cpu", out_dir: str | Path | None = None, progress: bool | None = None):
    """Run one twin experiment per (optimizer, label noise) and return their tidy metrics (one DataFrame).

    Each run goes to ``out_dir/<optimizer>_noise<p>`` (kept, resumable), or to a temporary directory removed
    afterwards when ``out_dir`` is None. Every other setting is :class:`stablesam.stability.twin.TwinConfig`'s.
    ``progress``: :func:`stablesam.core.progress.progress_mode` (a bar on a terminal, else one line per finished
    run: a notebook shows what it has done).
    """
    import pandas as pd

    from stablesam.stability.twin import TwinConfig, run_twin

    configs = [
        TwinConfig(dataset=dataset, model=model, optimizer=optimizer, lr=lr, rho=rho, momentum=momentum,
                   epochs=epochs, batch_size=batch_size, seeds=tuple(seeds), replaced_indices=tuple(replaced_indices),
                   label_noise=noise, n_train=n_train, n_test=n_test, device=device,
                   name=f"{optimizer}_noise{noise:g}")
        for noise in label_noises for optimizer in optimizers
    ]  # built (and validated) before any run starts
    with tempfile.TemporaryDirectory(prefix="twin-") as scratch:
        root = Path(scratch if out_dir is None else out_dir)
        mode, started, frames = progress_mode(progress), time.perf_counter(), []
        for index, config in enumerate(tqdm(configs, desc="twin runs", unit="run", disable=not mode.bar), 1):
            frames.append(run_twin(config, root / config.name, progress=False).metrics)
            mode.line(f"twin_metrics: {config.name} done ({index}/{len(configs)}, {time.perf_counter() - started:.0f} s)")
    return pd.concat(frames, ignore_index=True)


def figure_twin_comparison(optimizers: Sequence[str] = ("sgd", "sam", "stablesam-u"), *, lr: float = 0.1,
                           rho: float = DEFAULT_RHO, epochs: int = 12, n_train: int | None = 400, n_test: int | None = 200,
                           replaced_indices: Sequence[int] = (0, 1, 2), seeds: Sequence[int] = (0,),
                           model: str = "mlp"):
    """SGD vs SAM vs StableSAM on digits: distance, gap, stability estimate and gamma over epochs (observed)."""
    metrics = twin_metrics(optimizers, lr=lr, rho=rho, epochs=epochs, n_train=n_train, n_test=n_test,
                           replaced_indices=replaced_indices, seeds=seeds, model=model, progress=False)
    fig = plot_twin_metrics(metrics)
    fig.suptitle(rf"twin runs on digits ({model}), $\eta = {lr:g}$, $\rho = {rho:g}$, "
                 rf"{len(replaced_indices) * len(seeds)} pairs", fontsize=8)
    return fig


def figure_label_noise(optimizers: Sequence[str] = ("sgd", "sam", "stablesam-u"), *,
                       label_noises: Sequence[float] = (0.0, 0.3), lr: float = 0.1, rho: float = DEFAULT_RHO,
                       epochs: int = 12, n_train: int | None = 400, n_test: int | None = 200,
                       replaced_indices: Sequence[int] = (0, 1, 2), seeds: Sequence[int] = (0,), model: str = "mlp"):
    """Label noise: distance, stability estimate, train loss on the labels trained on and on the clean labels, and
    both gaps, over epochs; clean (solid) vs noisy (dashed) training labels.

    ``gen_gap`` = test loss (clean labels) - train loss on the labels the model fits (noisy ones under label
    noise): negative when the model fits noise it cannot predict on test. ``gen_gap_clean`` = test loss - train loss
    on the same training inputs with their clean labels: the generalization gap in the usual sense.
    """
    import pandas as pd

    metrics = twin_metrics(optimizers, label_noises=label_noises, lr=lr, rho=rho, epochs=epochs, n_train=n_train,
                           n_test=n_test, replaced_indices=replaced_indices, seeds=seeds, model=model, progress=False)
    # Without noise the labels trained on are the clean ones (the harness logs *_clean only under label noise).
    noiseless = metrics[(metrics["label_noise"] == 0) & metrics["metric"].isin(["train_loss", "gen_gap"])].copy()
    noiseless["metric"] = noiseless["metric"] + "_clean"
    metrics = pd.concat([metrics, noiseless], ignore_index=True)
    fig = plot_twin_metrics(metrics, metrics_to_plot=("distance", "loss_diff_max", "train_loss", "train_loss_clean",
                                                      "gen_gap", "gen_gap_clean"))
    fig.suptitle(rf"label noise {' vs '.join(f'{p:g}' for p in label_noises)} on digits ({model}), "
                 rf"$\eta = {lr:g}$, $\rho = {rho:g}$", fontsize=8)
    return fig
