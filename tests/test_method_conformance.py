"""Conformance of every method of the table (stablesam.core.methods), driven by its rows like torch's ``OptimizerInfo``.

Each row is built by the one factory (stablesam.stability.optimizers.make_optimizer) and checked against what the row
says it is; each row with a quadratic map is checked against :mod:`stablesam.theory.quadratic`, step by step in
float64, so that the torch optimizers and the theory cannot drift apart. The deeper properties of the SAM
wrapper (state dicts, stacking, rho = 0, ...) are in test_sam_conformance.py, over the same rows.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _rounding import propagated_rounding_bound
from stablesam.core.methods import METHODS, method_keys
from stablesam.stability import SAM
from stablesam.stability.optimizers import effective_rho, make_optimizer
from stablesam.theory.quadratic import Quadratic, step

ROWS = pytest.mark.parametrize("row", METHODS.values(), ids=lambda row: row.key)


@ROWS
def test_the_factory_builds_what_the_row_says(row):
    w = torch.zeros(3, requires_grad=True)
    optimizer = make_optimizer(row.key, [w], lr=0.1, rho=0.2, base="momentum", momentum=0.5, weight_decay=0.01)
    base = optimizer.base_optimizer if isinstance(optimizer, SAM) else optimizer
    assert isinstance(optimizer, SAM) == row.uses_rho
    assert type(base) is torch.optim.SGD
    assert base.defaults["momentum"] == 0.5 and base.defaults["weight_decay"] == 0.01 and base.defaults["lr"] == 0.1
    if row.uses_rho:
        assert (optimizer.ascent, optimizer.stable, optimizer.defaults["rho"]) == (row.ascent, row.stable, 0.2)
    assert effective_rho(row.key, 0.2) == (0.2 if row.uses_rho else 0.0)
    adam = make_optimizer(row.key, [w], lr=0.1, base="adam", betas=(0.8, 0.9))
    assert type(adam.base_optimizer if row.uses_rho else adam) is torch.optim.Adam


def test_the_factory_refuses_an_unknown_method_in_one_line():
    with pytest.raises(ValueError, match="method must be one of 'gd', 'sgd'") as error:
        make_optimizer("adam", [torch.zeros(1, requires_grad=True)], lr=0.1)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("key", method_keys(quadratic=True), ids=str)
def test_each_optimizer_follows_its_quadratic_map(key):
    """``T`` steps of the torch optimizer on ``f(w) = w^T H w / 2`` (float64, full batch) against the map of
    :mod:`stablesam.theory.quadratic`. Tolerance: the rounding of each step (a d x d product and a handful of vector
    operations, ops = 2 d + 8 per coordinate) propagated through the measured sensitivity of the map."""
    rng = np.random.default_rng(11)
    d, lr, rho, T = 5, 0.15, 0.3, 12
    a = rng.standard_normal((d, d))
    H = a @ a.T / d + 0.1 * np.eye(d)
    w0 = rng.standard_normal(d)
    model = Quadratic.from_matrix(H)

    w = torch.tensor(w0, requires_grad=True)
    optimizer = make_optimizer(key, [w], lr=lr, rho=rho)
    h = torch.tensor(H)

    def closure():
        optimizer.zero_grad()
        loss = 0.5 * w @ h @ w
        loss.backward()
        return loss

    def advance(start, k):
        out = np.asarray(start, dtype=np.float64)
        for _ in range(k):
            out = step(key, model, out, lr, rho)
        return out

    expected = w0
    for _ in range(T):
        optimizer.step(closure)
        expected = advance(expected, 1)
    bound = propagated_rounding_bound(advance, w0[None], T, ops=2 * d + 8, rng=rng)[0]
    assert np.abs(w.detach().numpy() - expected).max() <= bound, (key, bound)
    assert np.abs(expected - w0).max() > 1e3 * bound  # the run moved: the comparison is not vacuous
