"""Hessian-vector products against the dense Hessian (torch.autograd.functional.hessian), float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.analysis.experiments.test_lr_scan import one_thread  # noqa: F401 (autouse fixture: one intra-op thread)
from stablesam.analysis.curvature.hessian import BACKENDS, HessianOperator


def reinitialise(model, seed):
    """Draw every parameter from N(0, 0.5^2) with an explicit generator (no global RNG state)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def _mlp(seed=0):
    return reinitialise(nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double(), seed)


def _bn_net(seed=0):
    net = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Softplus(), nn.Dropout(0.5), nn.Linear(5, 3)).double()
    reinitialise(net, seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # non-trivial running statistics, so eval and train modes differ
        net[1].running_mean.copy_(torch.rand(5, generator=g, dtype=torch.float64) - 0.5)
        net[1].running_var.copy_(0.5 + 1.5 * torch.rand(5, generator=g, dtype=torch.float64))
    return net


def _data(n=24, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def rounding_tolerance(reference, n):
    """Absolute tolerance between two float64 evaluations of a mean over ``n`` examples that sum in different
    orders (chunks, autograd paths): each coordinate is a sum of ``n`` per-example terms of a few-layer network,
    each term exact to ~16 eps relative, and reordering a sum of n terms moves it by at most (n - 1) eps
    times the sum of their magnitudes, here bounded by n times the largest output coordinate. Factor 4 of slack."""
    eps = torch.finfo(torch.float64).eps
    return 4 * (16 + n) * n * eps * reference.abs().max().item()


def dense_hessian(model, x, y, *, batch_stats=False):
    """Reference: torch.autograd.functional.hessian of the mean cross-entropy in the flat parameters."""
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    model.eval()
    if batch_stats:
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.train()
                m.track_running_stats = False

    def loss(w):
        params = dict(zip(names, (p.view(s) for p, s in zip(torch.split(w, [s.numel() for s in shapes]), shapes))))
        buffers = {k: b.clone() for k, b in model.named_buffers()}
        return F.cross_entropy(torch.func.functional_call(model, {**params, **buffers}, (x,)), y)

    return torch.autograd.functional.hessian(loss, flat).numpy()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("chunk_size", [None, 7])
def test_products_match_the_dense_hessian(backend, chunk_size):
    model, (x, y) = _mlp(), _data()
    op = HessianOperator(model, F.cross_entropy, (x, y), backend=backend, chunk_size=chunk_size)
    reference = dense_hessian(model, x, y)
    np.testing.assert_allclose(op.dense(), reference, rtol=0, atol=1e-12 * np.abs(reference).max())
    assert op.num_hvps == op.dim


def test_both_backends_agree_and_batchnorm_modes_differ():
    model, (x, y) = _bn_net(), _data()
    v = torch.randn(sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = {
        (b, m): HessianOperator(model, F.cross_entropy, (x, y), backend=b, bn_mode=m).matvec(v)
        for b in BACKENDS
        for m in ("eval", "train")
    }
    for mode in ("eval", "train"):
        reference = out["func", mode]
        torch.testing.assert_close(out["double-backward", mode], reference, rtol=0, atol=rounding_tolerance(reference, len(x)))
    assert (out["double-backward", "eval"] - out["double-backward", "train"]).norm() > 1e-3 * out["func", "eval"].norm()


@pytest.mark.parametrize("bn_mode", ["eval", "train"])
def test_batchnorm_modes_match_their_dense_hessians_and_leave_the_model_untouched(bn_mode):
    model, (x, y) = _bn_net(), _data()
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    op = HessianOperator(model, F.cross_entropy, (x, y), bn_mode=bn_mode, backend="func")
    computed = op.dense()
    assert model.training and model[1].track_running_stats
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    reference = dense_hessian(model, x, y, batch_stats=bn_mode == "train")
    np.testing.assert_allclose(computed, reference, rtol=0, atol=1e-12 * np.abs(reference).max())


def test_float32_products_are_close_to_float64():
    model, (x, y) = _mlp(), _data()
    v = torch.randn(sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    exact = HessianOperator(model, F.cross_entropy, (x, y)).matvec(v)
    single = HessianOperator(model, F.cross_entropy, (x, y), dtype=torch.float32).matvec(v)
    assert single.dtype == torch.float32
    assert (single.double() - exact).norm() < 1e-5 * exact.norm()


def test_gradient_is_exact_over_chunks():
    model, (x, y) = _mlp(), _data()
    loss_full, grad_full = HessianOperator(model, F.cross_entropy, (x, y)).loss_and_gradient()
    loss_chunk, grad_chunk = HessianOperator(model, F.cross_entropy, (x, y), chunk_size=5).loss_and_gradient()
    model.zero_grad()
    expected = F.cross_entropy(model(x), y)
    expected.backward()
    reference = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    for grad in (grad_full, grad_chunk):
        torch.testing.assert_close(grad, reference, rtol=0, atol=rounding_tolerance(reference, len(x)))
    torch.testing.assert_close(loss_chunk, expected.detach(), rtol=0, atol=rounding_tolerance(expected.detach(), len(x)))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"backend": "reverse"}, "backend must be one of"),
        ({"bn_mode": "batch"}, "bn_mode must be one of"),
        ({"dtype": torch.float16}, "dtype must be"),
        ({"chunk_size": 0}, "chunk_size must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_named(kwargs, error):
    model, (x, y) = _mlp(), _data()
    with pytest.raises(ValueError, match=error):
        HessianOperator(model, F.cross_entropy, (x, y), **kwargs)


def test_bad_data_and_vectors_are_rejected():
    model, (x, y) = _mlp(), _data()
    with pytest.raises(ValueError, match="same positive number"):
        HessianOperator(model, F.cross_entropy, (x, y[:-1]))
    with pytest.raises(TypeError, match="pair"):
        HessianOperator(model, F.cross_entropy, x)
    with pytest.raises(ValueError, match="shape"):
        HessianOperator(model, F.cross_entropy, (x, y)).matvec(torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("bn_mode", ["eval", "train"])
@pytest.mark.parametrize("chunk_size", [None, 7])
def test_reused_graph_gives_the_rebuilt_products_bit_for_bit(bn_mode, chunk_size):
    # Reuse runs the same second backward on the same retained graph as a rebuild: the same kernels on
    # the same values, so the products are identical, not merely close; the model stays untouched.
    model, (x, y) = _bn_net(), _data()
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    reused = HessianOperator(model, F.cross_entropy, (x, y), bn_mode=bn_mode, chunk_size=chunk_size, reuse_graph=True)
    rebuilt = HessianOperator(model, F.cross_entropy, (x, y), bn_mode=bn_mode, chunk_size=chunk_size, reuse_graph=False)
    g = torch.Generator().manual_seed(4)
    for _ in range(3):
        v = torch.randn(reused.dim, generator=g, dtype=torch.float64)
        assert torch.equal(reused.matvec(v), rebuilt.matvec(v))
    assert len(reused._graphs) == len(reused.chunks) and not rebuilt._graphs
    assert model.training and all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_graph_reuse_default_is_one_chunk_and_double_backward():
    model, (x, y) = _mlp(), _data()
    assert HessianOperator(model, F.cross_entropy, (x, y)).reuse_graph
    assert HessianOperator(model, F.cross_entropy, (x, y), chunk_size=24).reuse_graph
    assert not HessianOperator(model, F.cross_entropy, (x, y), chunk_size=7).reuse_graph
    assert HessianOperator(model, F.cross_entropy, (x, y), chunk_size=7, reuse_graph=True).reuse_graph
    assert not HessianOperator(model, F.cross_entropy, (x, y), backend="func").reuse_graph
    with pytest.raises(TypeError, match="reuse_graph"):
        HessianOperator(model, F.cross_entropy, (x, y), reuse_graph="yes")
