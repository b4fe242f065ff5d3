"""The stacked-parameter population (stablesam.stability.stacked, stablesam.stability.twin.stacked): every method of
the table and every translated model follows, model by model, the trajectory of that model trained alone
(``nn.Module`` + ``torch.optim`` + the SAM wrapper), within the propagated rounding of the two computations;
identical twins stay identical; no step reads the device; checkpoints are interchangeable with the vmap population."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from _rounding import propagated_rounding_bound, whole_run_rounding_bound
from stablesam.core.methods import method_keys
from stablesam.stability.models import build_model
from stablesam.stability.stacked.network import network_of
from stablesam.stability.twin import TwinConfig
from stablesam.stability.twin.population import SequentialPopulation, StackedPopulation
from stablesam.stability.twin.stacked import StackedParameterPopulation, stacked_population

METHODS = method_keys(full_batch=False)  # every method the twin harness trains: sgd, usam, sam, asam, stablesam-u/-n/-a
# (model, options, input shape): the harness's translated models, small; the CNN in 1-D (mnist1d) and 2-D (digits).
MODELS = {
    "linear": ("linear", {}, (6,)),
    "mlp-relu": ("mlp", {"hidden": (7, 5)}, (6,)),
    "mlp-tanh": ("mlp", {"hidden": (5,), "activation": "tanh"}, (2, 3)),
    "cnn-1d": ("cnn", {"channels": (3, 4)}, (2, 9)),
    "cnn-2d": ("cnn", {"channels": (2, 3)}, (1, 5, 4)),
}
CLASSES, N, P = 3, 12, 3


def make(model_key: str, method: str, *, base: str = "sgd", seed: int = 0, **config):
    """``P`` float64 models of ``model_key`` (different initialisations), each with its own classification data."""
    name, options, shape = MODELS[model_key]
    modules = [build_model(name, shape, CLASSES, generator=torch.Generator().manual_seed(seed + p), dtype=torch.float64,
                           **options) for p in range(P)]
    rng = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(P, N, *shape, generator=rng, dtype=torch.float64)
    y = torch.randint(CLASSES, (P, N), generator=rng)
    settings = dict(optimizer=method, base_optimizer=base, lr=0.2, rho=0.3, dtype="float64",
                    momentum=0.8 if base == "momentum" else None)
    return modules, x, y, TwinConfig(**{**settings, **config})


def stacked(modules, config, shape):
    return StackedParameterPopulation(copy.deepcopy(modules), "classification", config, network_of(modules[0], shape))


def ops_per_step(model_key: str, method: str) -> int:
    """Roundings per coordinate of one step: every product sums over the batch and the layers' widths, in each of the
    step's passes (two for the ascent methods), plus a dozen elementwise operations (ascent, gamma, descent)."""
    modules, *_ = make(model_key, method)
    widths = sum(sum(p.shape[:2]) if p.ndim > 1 else 0 for p in modules[0].parameters())
    kernel = max((p[0, 0].numel() for p in modules[0].parameters() if p.ndim > 2), default=1)
    passes = 2 if method != "sgd" else 1
    return passes * (N + kernel * widths) + 12


@pytest.mark.parametrize("model_key", list(MODELS))
@pytest.mark.parametrize("method", METHODS)
def test_each_model_follows_its_trajectory_trained_alone(model_key, method):
    """``T`` full-batch steps (float64): stacked rows against the models trained one by one. Tolerance: each step's
    rounding (``ops_per_step``) propagated through the measured sensitivity of the remaining steps (tests/_rounding)."""
    modules, x, y, config = make(model_key, method)
    shape = MODELS[model_key][2]
    alive = torch.ones(P, dtype=torch.bool)
    steps = 4

    def advance(rows: np.ndarray, k: int) -> np.ndarray:
        population = stacked(modules, config, shape)
        population.weights.copy_(torch.from_numpy(np.ascontiguousarray(rows)))
        for _ in range(k):
            population.train_step(x, y, alive, config.lr)
        return population.weights.numpy().copy()

    population = stacked(modules, config, shape)
    alone = SequentialPopulation(copy.deepcopy(modules), "classification", config)
    start = population.weights.clone()
    for _ in range(steps):
        losses, stats = population.train_step(x, y, alive, config.lr)
        alone_losses, alone_stats = alone.train_step(x, y, alive, config.lr)
    got = population.weights.numpy()
    expected = population.network.stack(alone.modules).numpy()
    bound = propagated_rounding_bound(advance, start.numpy(), steps, ops=ops_per_step(model_key, method),
                                      rng=np.random.default_rng(0))
    error = np.abs(got - expected).max(axis=1)
    assert (error <= bound).all(), (error, bound)
    assert (np.abs(got - start.numpy()).max(axis=1) > 1e3 * bound).all()  # the runs moved: the test is not vacuous
    assert set(stats) == set(alone_stats)
    for key, value in stats.items():  # the statistics of the last step, of nearly identical weights
        np.testing.assert_allclose(value, alone_stats[key], rtol=1e3 * bound.max() / np.abs(got).max() + 1e-13)
    np.testing.assert_allclose(losses, alone_losses, rtol=1e-10)


@pytest.mark.parametrize("base", ["momentum", "adam"])
@pytest.mark.parametrize("method", ["sgd", "stablesam-a", "sam", "stablesam-u"])
def test_base_optimizers_with_state_follow_torch_optim(method, base):
    """Momentum and Adam (with weight decay) against ``torch.optim`` one model at a time, over the same full-batch run.
    Their state makes the step not a map of the weights alone, so each step's rounding is propagated with the
    whole run's measured sensitivity to its start (tests/_rounding.whole_run_rounding_bound)."""
    modules, x, y, config = make("mlp-relu", method, base=base, weight_decay=0.01)
    shape = MODELS["mlp-relu"][2]
    alive = torch.ones(P, dtype=torch.bool)
    steps = 5

    def run(starts: np.ndarray) -> np.ndarray:
        population = stacked(modules, config, shape)
        population.weights.copy_(torch.from_numpy(np.ascontiguousarray(starts)))
        for _ in range(steps):
            population.train_step(x, y, alive, config.lr)
        return population.weights.numpy().copy()

    population = stacked(modules, config, shape)
    start = population.weights.numpy().copy()
    alone = SequentialPopulation(copy.deepcopy(modules), "classification", config)
    for _ in range(steps):
        population.train_step(x, y, alive, config.lr)
        alone.train_step(x, y, alive, config.lr)
    got, expected = population.weights.numpy(), population.network.stack(alone.modules).numpy()
    bound = whole_run_rounding_bound(run, start, steps, ops=ops_per_step("mlp-relu", method),
                                     rng=np.random.default_rng(1))
    assert (np.abs(got - expected).max(axis=1) <= bound).all()
    assert (np.abs(got - start).max(axis=1) > 1e3 * bound).all()


@pytest.mark.parametrize("model", ["linear", "cnn"])
@pytest.mark.parametrize("method", METHODS)
def test_control_twins_stay_at_distance_exactly_zero(model, method):
    from tests.stability.test_twin_training import SMALL, frame, train

    config = TwinConfig(**{**SMALL, "dtype": "float32", "model": model}, optimizer=method, lr=0.3, rho=0.1,
                        control=True, seeds=(0, 1), replaced_indices=(3,), base_optimizer="adam", log_every_steps=1)
    trainer = train(config)
    assert isinstance(trainer.population, StackedParameterPopulation)
    rows = frame(trainer)
    for metric in ("distance", "layer_distance", "loss_diff_max"):
        values = rows.loc[rows.metric == metric, "value"]
        assert len(values) > 0 and (values == 0.0).all(), metric
    moved = rows.loc[(rows.metric == "train_loss")].groupby("step")["value"].mean()
    assert moved.iloc[-1] != moved.iloc[0]


def test_models_that_do_not_translate_fall_back_to_vmap():
    modules = [build_model("resnet20", (3, 8, 8), 2, generator=torch.Generator().manual_seed(0), width=8, depth=8)]
    assert network_of(modules[0], (3, 8, 8)) is None
    assert isinstance(stacked_population(modules * 2, "classification", TwinConfig(), (3, 8, 8)), StackedPopulation)
    mlp = [build_model("mlp", (4,), 2, generator=torch.Generator().manual_seed(0))] * 2
    assert isinstance(stacked_population(mlp, "classification", TwinConfig(), (4,)), StackedParameterPopulation)


class _HostRead(AssertionError):
    pass


@pytest.mark.parametrize("base", ["sgd", "momentum", "adam"])
def test_a_training_step_never_reads_the_device(monkeypatch, base):
    """Every way Python reads a tensor's value (a host synchronisation on a GPU) raises inside the step."""
    populations = []
    for method in METHODS:
        modules, x, y, config = make("cnn-1d", method, base=base, weight_decay=0.01, gamma_cap=1.0)
        populations.append(stacked(modules, config, MODELS["cnn-1d"][2]))

    def refuse(*args, **kwargs):
        raise _HostRead("a host read in the training step")

    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    alive = torch.ones(P, dtype=torch.bool)
    for population in populations:
        for _ in range(2):
            population.train_step(x, y, alive, 0.1)


def test_trainer_syncs_only_at_logging_points(monkeypatch):
    from stablesam.stability.data import load_dataset
    from stablesam.stability.twin import TwinTrainer
    from tests.stability.test_twin_training import SMALL

    config = TwinConfig(**SMALL, optimizer="stablesam-n", seeds=(0,), log_every_steps=2)  # 3 steps: logs at 2 and 3
    dataset = load_dataset("digits", generator=np.random.default_rng(0), n_train=120, n_test=60, dtype=torch.float64)
    trainer = TwinTrainer(config, dataset)
    reads = []
    original = torch.Tensor.cpu
    def counting_cpu(self, *args, **kwargs):
        reads.append(trainer.step)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
    monkeypatch.setattr(torch.Tensor, "item", lambda self: (_ for _ in ()).throw(_HostRead("item")))
    trainer.train_epoch()
    assert trainer.steps_per_epoch == 3 and reads == [2, 3]


@pytest.mark.parametrize("base", ["momentum", "adam"])
def test_checkpoints_are_interchangeable_with_the_vmap_population(base):
    modules, x, y, config = make("mlp-relu", "stablesam-u", base=base)
    alive = torch.ones(P, dtype=torch.bool)
    ours = stacked(modules, config, MODELS["mlp-relu"][2])
    vmapped = StackedPopulation(copy.deepcopy(modules), "classification", config)
    for _ in range(2):
        ours.train_step(x, y, alive, 0.1)
        vmapped.train_step(x, y, alive, 0.1)
    # ours -> vmap and vmap -> ours: the weights and every optimizer buffer arrive bit for bit
    fresh_vmap = StackedPopulation(copy.deepcopy(modules), "classification", config)
    fresh_vmap.load_state_dict(ours.state_dict())
    fresh_ours = stacked(modules, config, MODELS["mlp-relu"][2])
    fresh_ours.load_state_dict(vmapped.state_dict())
    for name in ours.names:
        assert torch.equal(fresh_vmap.params[name], ours.params[name])
        assert torch.equal(fresh_ours.params[name], vmapped.params[name])
    torch_state = fresh_vmap.optimizer.state_dict()["state"]
    for key, value in ours.optimizer.state.items():
        views = ours.network.views(value)
        assert all(torch.equal(torch_state[i][key], views[name]) for i, name in enumerate(ours.names))
        views = fresh_ours.network.views(fresh_ours.optimizer.state[key])
        own = vmapped.optimizer.state_dict()["state"]
        assert all(torch.equal(own[i][key], views[name]) for i, name in enumerate(ours.names))
    assert fresh_ours.optimizer.steps == ours.optimizer.steps == 2 or base == "momentum"
    # and a round trip through our own state continues bit for bit
    again = stacked(modules, config, MODELS["mlp-relu"][2])
    again.load_state_dict(ours.state_dict())
    ours.train_step(x, y, alive, 0.1)
    again.train_step(x, y, alive, 0.1)
    assert torch.equal(again.weights, ours.weights)


@pytest.mark.parametrize("model_key", ["mlp-relu", "cnn-2d"])
@pytest.mark.parametrize("batch", [7, 13])
def test_twins_stay_identical_whatever_the_alignment_of_their_slices(model_key, batch):
    """Odd widths and batch sizes put the models' slices of activations at different memory alignments, at which BLAS
    kernels round differently; the layers realign them, so identical twins stay identical bit for bit."""
    name, options, shape = MODELS[model_key]
    for method in METHODS:
        module = build_model(name, shape, CLASSES, generator=torch.Generator().manual_seed(0), **options)
        twins = [module, copy.deepcopy(module)] * 3
        population = stacked(twins, TwinConfig(optimizer=method, base_optimizer="adam"), shape)
        generator = torch.Generator().manual_seed(1)
        for _ in range(3):
            x = torch.randn(1, batch, *shape, generator=generator).expand(6, batch, *shape).contiguous()
            y = torch.randint(CLASSES, (1, batch), generator=generator).expand(6, batch).contiguous()
            population.train_step(x, y, torch.ones(6, dtype=torch.bool), 0.1)
        outputs = population.outputs(x)
        for m in range(1, 6):
            assert torch.equal(population.weights[m], population.weights[0]), (method, m)
            assert torch.equal(outputs[m], outputs[0]), (method, m)
