"""``TwinTrainer``: trains every pair of a :class:`~stablesam.stability.twin.config.TwinConfig` in lock-step.

Per pair ``(seed, i)`` the two models share the initialisation (``build_model`` with a generator
seeded from ``seed``) and the sequence of mini-batch indices (one CPU ``torch.Generator`` per pair,
seeded from ``seed``, draws a permutation of ``0..n-1`` per epoch, or ``n`` independent uniform indices with
``sampling="with-replacement"``; mini-batches are consecutive slices, the last one possibly smaller). Pairs with the same seed share both, so they differ only in
which example was replaced.

The training step has no host synchronisation: losses, divergence flags and optimizer statistics
stay on the device and are accumulated there; :meth:`TwinTrainer.log` syncs once per logging point
(every epoch, and every ``log_every_steps`` updates when set).

Sharpness tracking (``config.sharpness_every``): at those epoch ends (and at epoch 0), after the
evaluation, the top Hessian eigenvalue ``lambda_max`` of every live model's mean loss on its own full
training set (``S`` or ``S'``, with its labels) is measured by the injected ``sharpness`` measurer (this
layer does not import curvature code: :func:`stablesam.analysis.curvature.sharpness.top_hessian_eigenvalue` is the one the CLI
passes; it gets the run's dtype and a numpy generator seeded by ``(seed, model, step)``) and logged as
``sharpness`` and ``lr_max_gd`` = ``2 / lambda_max``. It reads copies of the weights only, so training is
unchanged.

The steps run through the one step loop, :func:`stablesam.stability.training.loop.run_steps`, with the
logging point as its hook; :meth:`TwinTrainer.train_step` is the single place a step of the population happens.

Divergence (:class:`stablesam.stability.training.loop.Divergence`): a model whose mini-batch loss is
non-finite or above ``divergence_threshold``, or whose gradient norm is non-finite, is marked at that step
(``step`` = number of updates done before the loss was computed) with its reason; so is a model whose weights
are no longer finite at a logging point (checked there: no per-step host synchronisation). Its loss is masked
out of the summed objective from then on and the run goes on.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable

import torch

from stablesam.core.validation import UsageError
from stablesam.stability.training.device import resolve_device
from stablesam.stability.training.loop import DIVERGENCE_REASONS, Divergence, DivergenceRule, Hook, finite_rows, run_steps
from stablesam.stability.twin.config import TwinConfig
from stablesam.stability.twin.metrics import PAIR_METRICS, evaluate
from stablesam.stability.twin.pairs import STREAM_BATCHES, STREAM_INIT, build_twin_data, stream_seed
from stablesam.stability.twin.population import SequentialPopulation
from stablesam.stability.twin.stacked import stacked_population

__all__ = ["DIVERGENCE_REASONS", "TwinTrainer", "resolve_device"]

# ``(module, loss_fn, (x, y), *, generator, dtype, chunk_size) -> lambda_max`` (NaN when not measured).
SharpnessMeasure = Callable[..., float]
TWINS = ("S", "S'")
COLUMNS = ("run", "dataset", "model", "optimizer", "base_optimizer", "rho", "lr", "label_noise", "control",
           "seed", "pair", "replaced_index", "twin", "layer", "epoch", "step", "metric", "value")


class TwinTrainer:
    """Builds the pairs of ``config`` on ``dataset`` and trains them (see the module docstring).

    ``run_name`` fills the ``run`` column of the metrics. ``rows`` holds the tidy metrics so far,
    column-wise (``{column: list}``).
    """

    def __init__(self, config: TwinConfig, dataset, *, run_name: str = "", sharpness: SharpnessMeasure | None = None) -> None:
        from stablesam.stability.models import build_model

        self.config = config
        self.measure_sharpness = sharpness
        self.run_name = run_name or config.name
        self.device = resolve_device(config.device)
        dtype = getattr(torch, config.dtype)
        self.data = build_twin_data(dataset, config, device=self.device, dtype=dtype)
        num_outputs = self.data.num_classes if self.data.task == "classification" else 1
        modules = []
        init_by_seed = {}
        for seed, _ in config.pairs:
            if seed not in init_by_seed:
                generator = torch.Generator().manual_seed(stream_seed(seed, STREAM_INIT))
                init_by_seed[seed] = build_model(config.model, self.data.input_shape, num_outputs, generator=generator,
                                                 dtype=dtype).to(self.device)
            modules += [copy.deepcopy(init_by_seed[seed]) for _ in TWINS]
        self.n_models = len(modules)
        self.fallback_reason = None
        self.population = self._population(modules)
        self.batch_generators = [torch.Generator().manual_seed(stream_seed(seed, STREAM_BATCHES))
                                 for seed, _ in config.pairs]
        self.steps_per_epoch = math.ceil(self.data.n_train / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.step = 0
        self.epoch = 0
        self.divergence = Divergence(DivergenceRule(config.divergence_threshold), self.n_models, self.device)
        self._reset_stats()
        self.rows: dict[str, list] = {c: [] for c in COLUMNS}

    # ------------------------------------------------------------------ construction
    def _population(self, modules):
        config = self.config
        if not config.vectorize:
            return SequentialPopulation(modules, self.data.task, config)
        population = stacked_population(modules, self.data.task, config, self.data.input_shape)
        idx = torch.arange(min(2, self.data.n_train), device=self.device).expand(self.n_models, -1)
        try:
            population.probe(*self.data.batch(idx))
        except Exception as error:  # vmap's refusals come as RuntimeError/ValueError/NotImplementedError
            self.fallback_reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            warnings.warn(f"model {config.model!r} cannot be vectorised with torch.func.vmap ({self.fallback_reason}); "
                          "training the models one after another instead", RuntimeWarning, stacklevel=3)
            return SequentialPopulation(modules, self.data.task, config)
        return population

    # ------------------------------------------------------------------ training
    @property
    def alive(self) -> torch.Tensor:
        return self.divergence.alive

    @property
    def divergence_step(self) -> torch.Tensor:
        return self.divergence.step

    @property
    def divergence_reason(self) -> torch.Tensor:
        return self.divergence.reason

    def _reset_stats(self) -> None:
        self._stat_sums: dict[str, torch.Tensor] = {}
        self._gamma_min = self._gamma_max = None
        self._stat_count = 0

    def _track(self, losses: torch.Tensor, stats: dict[str, torch.Tensor]) -> None:
        self.divergence.update(self.step, losses, stats.get("grad_norm"))
        if self.config.gamma_cap is not None and "gamma" in stats:  # logged as the fraction of steps it acted on
            stats = {**stats, "cap_active": (stats["gamma"] > self.config.gamma_cap).to(stats["gamma"].dtype)}
        for key, value in stats.items():
            value = value.detach()
            self._stat_sums[key] = self._stat_sums[key] + value if key in self._stat_sums else value.clone()
        if "gamma" in stats:
            gamma = stats["gamma"].detach()
            self._gamma_min = gamma.clone() if self._gamma_min is None else torch.minimum(self._gamma_min, gamma)
            self._gamma_max = gamma.clone() if self._gamma_max is None else torch.maximum(self._gamma_max, gamma)
        self._stat_count += 1

    def train_epoch(self, on_step: Callable[[], None] | None = None) -> None:
        """One epoch of every model; logs at its end (and every ``log_every_steps`` updates)."""
        config = self.config
        n = self.data.n_train
        if config.sampling == "with-replacement":
            perms = torch.stack([torch.randint(n, (n,), generator=g) for g in self.batch_generators])
        else:
            perms = torch.stack([torch.randperm(n, generator=g) for g in self.batch_generators])
        perms = perms.repeat_interleave(len(TWINS), dim=0)
        if self.device.type == "cuda":
            perms = perms.pin_memory()  # so that the copy below does not block the host
        perms = perms.to(self.device, non_blocking=True)
        begin = self.step

        def step(t: int) -> None:
            start = (t - begin) * config.batch_size
            self.train_step(perms[:, start:start + config.batch_size])
            if on_step is not None:
                on_step()

        # The epoch's end is logged below, after the epoch count moves on.
        run_steps(step, start=begin, stop=begin + self.steps_per_epoch,
                  hooks=[Hook(config.log_every_steps, lambda t: self.log(), at_stop=False)])
        self.epoch += 1
        self.log()

    def train_step(self, indices: torch.Tensor) -> None:
        """One update of every model on its mini-batch ``indices`` ``(M, B)`` of its own training set."""
        x, y = self.data.batch(indices)
        losses, stats = self.population.train_step(x, y, self.alive, self.config.lr_at(self.step, self.total_steps))
        self._track(losses, stats)
        self.step += 1

    # ------------------------------------------------------------------ logging
    def log(self) -> None:
        """Evaluate every model, sync once, and append the tidy rows of this logging point."""
        self.divergence.check_parameters(self.step, finite_rows(self.population.params.values()))
        values = evaluate(self.population, self.data, batch_size=self.config.eval_batch_size)
        layers = values.pop("layer_distance")
        device_values = {**values, **{f"layer:{k}": v for k, v in layers.items()},
                         "diverged": (~self.alive).to(values["train_loss"].dtype)}
        if self._stat_count:
            for key, total in self._stat_sums.items():  # means over the steps since the last log
                device_values[f"{key}_mean"] = total / self._stat_count
            if self._gamma_min is not None:
                device_values["gamma_min"] = self._gamma_min
                device_values["gamma_max"] = self._gamma_max
        keys = list(device_values)
        flat = torch.cat([device_values[k].detach().to(torch.float64).flatten() for k in keys]).cpu().tolist()  # one sync
        host, start = {}, 0
        for key in keys:
            size = device_values[key].numel()
            host[key], start = flat[start:start + size], start + size
        self._reset_stats()
        epoch = self.step / self.steps_per_epoch
        every = self.config.sharpness_every
        if every and self.step % self.steps_per_epoch == 0 and self.epoch % every == 0:
            host.update(self.sharpness())
        layer_of = {f"layer:{name}": name for name in layers}
        for key, vals in host.items():
            if key in PAIR_METRICS or key in layer_of:  # one value per pair; every other key one per model
                metric, layer = ("layer_distance", layer_of[key]) if key in layer_of else (key, "")
                for p, value in enumerate(vals):
                    self._add_row(p, "pair", layer, epoch, metric, value)
            else:
                for m, value in enumerate(vals):
                    self._add_row(m // 2, TWINS[m % 2], "", epoch, key, value)

    def training_set(self, m: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and labels of model ``m``'s own training set (``S`` for even ``m``, ``S'`` for odd)."""
        return self.data.x[self.data.rows[m]], self.data.y[m]

    def sharpness(self) -> dict[str, list[float]]:
        """``{"sharpness": [lambda_max per model], "lr_max_gd": [2 / lambda_max]}`` (NaN for diverged models)."""
        import numpy as np

        if self.measure_sharpness is None:  # prepare_twin refuses sharpness_every > 0 without a measurer
            raise RuntimeError("sharpness tracking needs the sharpness= measurer")
        alive = self.alive.cpu().tolist()
        values = []
        for m in range(self.n_models):
            if not alive[m]:
                values.append(math.nan)
                continue
            generator = np.random.default_rng([self.config.pairs[m // 2][0], m, self.step])
            values.append(self.measure_sharpness(self.population.module(m), self.population.loss, self.training_set(m),
                                                 generator=generator, dtype=getattr(torch, self.config.dtype),
                                                 chunk_size=self.config.eval_batch_size))
        return {"sharpness": values, "lr_max_gd": [2.0 / v if v > 0 else math.inf if v <= 0 else math.nan for v in values]}

    def _add_row(self, pair: int, twin: str, layer: str, epoch: float, metric: str, value: float) -> None:
        config = self.config
        seed, index = config.pairs[pair]
        row = (self.run_name, config.dataset, config.model, config.optimizer, config.base_optimizer,
               config.effective_rho, config.lr, config.label_noise, config.control, seed, pair,
               index, twin, layer, epoch, self.step, metric, value)
        for column, value in zip(COLUMNS, row):
            self.rows[column].append(value)

    def divergences(self) -> list[dict]:
        """One record per diverged model: pair, seed, replaced index, twin, step, epoch and reason (syncs)."""
        steps = self.divergence_step.cpu().tolist()
        reasons = self.divergence_reason.cpu().tolist()
        out = []
        for m, (step, reason) in enumerate(zip(steps, reasons)):
            if step >= 0:
                seed, index = self.config.pairs[m // 2]
                out.append({"pair": m // 2, "seed": seed, "replaced_index": index, "twin": TWINS[m % 2],
                            "step": step, "epoch": step / self.steps_per_epoch, "reason": DIVERGENCE_REASONS[reason]})
        return out

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Everything needed to continue bit for bit (plain tensors, dicts and lists)."""
        return {
            "format": 1,
            "config": self.config.to_dict(),
            "vectorized": self.population.vectorized,
            "step": self.step,
            "epoch": self.epoch,
            "population": self.population.state_dict(),
            "batch_generators": [g.get_state() for g in self.batch_generators],
            "alive": self.alive.clone(),
            "divergence_step": self.divergence_step.clone(),
            "divergence_reason": self.divergence_reason.clone(),
            "rows": {k: list(v) for k, v in self.rows.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("format") != 1:
            raise UsageError(f"checkpoint format {state.get('format')!r} is not supported (expected 1)")
        if not self.config.matches(state["config"]):
            raise UsageError("the checkpoint was written by a different config; start a new run directory")
        if state["vectorized"] != self.population.vectorized:
            raise UsageError("the checkpoint was written by the other (vectorised/sequential) implementation")
        self.population.load_state_dict(state["population"])
        for generator, generator_state in zip(self.batch_generators, state["batch_generators"]):
            generator.set_state(generator_state)
        self.step, self.epoch = state["step"], state["epoch"]
        self.divergence.alive = state["alive"].to(self.device)
        self.divergence.step = state["divergence_step"].to(self.device)
        self.divergence.reason = state["divergence_reason"].to(self.device)
        self.rows = {k: list(v) for k, v in state["rows"].items()}
        self._reset_stats()
