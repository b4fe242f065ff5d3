"""Models: forward passes on every data shape, vmap over stacked parameters, reproducible initialisation."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch.func import functional_call, grad, stack_module_state, vmap

from stablesam.stability.models import MODELS, build_model, count_parameters

# (model, input shape of a data set, options); small ResNets keep the suite fast.
CASES = [
    ("linear", (20,), {}),  # synthetic
    ("linear", (1, 8, 8), {}),  # digits
    ("mlp", (1, 40), {"hidden": (32, 16)}),  # mnist1d
    ("mlp", (1, 8, 8), {"hidden": ()}),
    ("mlp", (1, 8, 8), {"hidden": (8,), "activation": "tanh"}),
    ("cnn", (1, 8, 8), {}),  # digits
    ("cnn", (1, 40), {"channels": (8, 8)}),  # mnist1d: 1-D convolutions
    ("cnn", (3, 32, 32), {"channels": (4, 8)}),  # cifar10
    ("resnet20", (1, 8, 8), {"width": 8, "depth": 8}),
    ("resnet20", (3, 32, 32), {"width": 8, "depth": 8, "norm": "batch"}),
]
CASE_IDS = [f"{name}-{'x'.join(map(str, shape))}-{i}" for i, (name, shape, _) in enumerate(CASES)]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def stacked(models: list[torch.nn.Module]):
    """A stateless copy of one model and the stacked parameters and buffers of all."""
    params, buffers = stack_module_state(models)
    return copy.deepcopy(models[0]).to("meta"), params, buffers


@pytest.mark.parametrize(("name", "shape", "options"), CASES, ids=CASE_IDS)
def test_forward_and_vmap_over_stacked_parameters_match(name, shape, options):
    models = [build_model(name, shape, 7, generator=seeded(s), dtype=torch.float64, **options) for s in range(3)]
    x = torch.randn(5, *shape, generator=seeded(10), dtype=torch.float64)
    base, params, buffers = stacked(models)
    batched = vmap(lambda p, b: functional_call(base, (p, b), (x,)))(params, buffers)
    one_by_one = torch.stack([m(x) for m in models])
    assert one_by_one.shape == (3, 5, 7) and torch.isfinite(one_by_one).all()
    torch.testing.assert_close(batched, one_by_one, rtol=1e-12, atol=1e-12)
    assert not torch.equal(one_by_one[0], one_by_one[1])  # different seeds, different models


@pytest.mark.parametrize(("name", "shape", "options"), [c for c in CASES if c[0] in ("cnn", "resnet20")],
                         ids=[i for i, c in zip(CASE_IDS, CASES) if c[0] in ("cnn", "resnet20")])
def test_vmapped_gradients_match_autograd(name, shape, options):
    models = [build_model(name, shape, 3, generator=seeded(s), dtype=torch.float64, **options) for s in range(2)]
    x = torch.randn(4, *shape, generator=seeded(11), dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 1])
    base, params, buffers = stacked(models)

    def loss(p, b):
        return torch.nn.functional.cross_entropy(functional_call(base, (p, b), (x,)), y)

    grads = vmap(grad(loss))(params, buffers)
    for k, model in enumerate(models):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        for key, parameter in model.named_parameters():
            torch.testing.assert_close(grads[key][k], parameter.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_parameters_and_global_rng_untouched(name):
    shape = (3, 16, 16)
    global_state = torch.get_rng_state()
    first = build_model(name, shape, 10, generator=seeded(42))
    second = build_model(name, shape, 10, generator=seeded(42))
    assert torch.equal(torch.get_rng_state(), global_state)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    other = build_model(name, shape, 10, generator=seeded(43))
    assert not all(torch.equal(a, b) for a, b in zip(first.parameters(), other.parameters()))
    # drawn in float64 and rounded: the float32 model is the float64 model rounded
    wide = build_model(name, shape, 10, generator=seeded(42), dtype=torch.float64)
    assert all(torch.equal(a, b.float()) for a, b in zip(first.parameters(), wide.parameters()))


def test_initialisation_scales():
    # He et al. (2015): N(0, 2 / fan_in) before a ReLU; LeCun N(0, 1 / fan_in) at the read-out; zero biases.
    model = build_model("mlp", (400,), 300, generator=seeded(0), hidden=(200,), dtype=torch.float64)
    hidden, readout = model.features[0], model.readout
    # 80000 and 60000 draws: the sample sd has relative error ~ 1/sqrt(2n) < 0.3 %; allow 2 %
    assert abs(hidden.weight.std().item() / math.sqrt(2 / 400) - 1) < 0.02
    assert abs(readout.weight.std().item() / math.sqrt(1 / 200) - 1) < 0.02
    assert abs(hidden.weight.mean().item()) < 5 * math.sqrt(2 / 400 / 80000)
    assert not hidden.bias.any() and not readout.bias.any()


def test_resnet20_has_the_published_size():
    # He et al. (2016), Table 6: ResNet-20 for CIFAR-10 has 0.27 M parameters. By hand, with option-A
    # shortcuts (no parameters) and a scale and shift per normalised channel:
    convs = 3 * 16 * 9 + 6 * 16 * 16 * 9 + (16 * 32 + 5 * 32 * 32) * 9 + (32 * 64 + 5 * 64 * 64) * 9
    norms = 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)
    readout = 64 * 10 + 10
    model = build_model("resnet20", (3, 32, 32), 10, generator=seeded(0))
    assert count_parameters(model) == convs + norms + readout == 269_722
    assert all(isinstance(m, torch.nn.GroupNorm) for m in model.modules() if "norm" in type(m).__name__.lower())
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_build_model_rejects_bad_arguments():
    g = seeded(0)
    with pytest.raises(ValueError, match="'transformer'"):
        build_model("transformer", (4,), 2, generator=g)
    with pytest.raises(ValueError, match="unknown option.*'width'.*'mlp'"):
        build_model("mlp", (4,), 2, generator=g, width=3)
    with pytest.raises(ValueError, match=r"cnn needs inputs .* got input_shape \(20,\)"):
        build_model("cnn", (20,), 2, generator=g)
    with pytest.raises(ValueError, match=r"resnet20 needs image inputs .* got input_shape \(1, 40\)"):
        build_model("resnet20", (1, 40), 2, generator=g)
    with pytest.raises(ValueError, match="depth must be 6n \\+ 2.*got 21"):
        build_model("resnet20", (3, 8, 8), 2, generator=g, depth=21)
    with pytest.raises(ValueError, match="norm must be one of .*got 'layer'"):
        build_model("resnet20", (3, 8, 8), 2, generator=g, norm="layer")
    with pytest.raises(ValueError, match="num_outputs must be an integer >= 1, got 0"):
        build_model("linear", (4,), 0, generator=g)
    with pytest.raises(ValueError, match="hidden must be a sequence"):
        build_model("mlp", (4,), 2, generator=g, hidden="64")
    with pytest.raises(TypeError, match="torch.Generator"):
        build_model("linear", (4,), 2, generator=0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", MODELS)
def test_models_give_the_same_outputs_on_cuda(name):
    # float64 keeps TF32 convolutions out of the comparison; summation order still differs slightly
    models = [build_model(name, (3, 32, 32), 10, generator=seeded(s), dtype=torch.float64) for s in range(2)]
    x = torch.randn(8, 3, 32, 32, generator=seeded(12), dtype=torch.float64)
    base, params, buffers = stacked([copy.deepcopy(m).to("cuda") for m in models])
    on_cuda = vmap(lambda p, b: functional_call(base, (p, b), (x.cuda(),)))(params, buffers)
    torch.testing.assert_close(on_cuda.cpu(), torch.stack([m(x) for m in models]), rtol=1e-10, atol=1e-12)
