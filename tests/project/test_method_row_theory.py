"""Methods are data (issue 21): a new row with an existing ascent, added to a copy of the table, is picked up by every
layer with no other edit -- quadratic map, divergence threshold, edge, stability and excess-risk bounds, the
per-step constants, make_optimizer and the CLI choices. Theory dispatches on the row's fields, never on its key."""

import dataclasses
import json

import numpy as np
import pytest

import stablesam.core.methods as methods
from stablesam.cli import main

NEW = "stablesam-n-copy"


@pytest.fixture
def new_row(monkeypatch):
    table = dict(methods.METHODS)
    table[NEW] = dataclasses.replace(methods.METHODS["stablesam-n"], key=NEW, label="StableSAM-N (copy)")
    monkeypatch.setattr(methods, "METHODS", table)
    return table[NEW]


def test_every_theory_layer_picks_up_a_new_row(new_row):
    from stablesam.theory.excess_risk import excess_risk, lr_limit
    from stablesam.theory.method_constants import lipschitz_step_constant, renormalization_theory
    from stablesam.theory.quadratic import Quadratic, step
    from stablesam.theory.quadratic_divergence import divergence_threshold, threshold_source
    from stablesam.theory.least_squares import final_iterates
    from stablesam.theory.renormalization import gamma, gamma_range, stablesam_2d_boundaries
    from stablesam.theory.saddle import escape_steps, saddle_fixed_points, saddle_step, trap_radius
    from stablesam.theory.simulate import simulate
    from stablesam.theory.stability_edge import edge_source, max_stable_sharpness
    from stablesam.theory.twin_moments import expected_twin_distance
    from stablesam.theory.uniform_stability import stability_bound, stablesam_gamma_range

    model, w = Quadratic.from_spectrum([2.0, 0.5]), np.array([1.0, -0.3])
    for method in (NEW, new_row):  # the key and the row itself
        np.testing.assert_array_equal(step(method, model, w, lr=0.3, rho=0.1), step("stablesam-n", model, w, lr=0.3, rho=0.1))
        assert divergence_threshold(method, [2.0, 0.5], rho=0.1) == divergence_threshold("stablesam-n", [2.0, 0.5], rho=0.1)
        assert threshold_source(method) == threshold_source("stablesam-n")
        assert max_stable_sharpness(method, 0.1, rho=0.05) == max_stable_sharpness("stablesam-n", 0.1, rho=0.05)
        assert edge_source(method) == edge_source("stablesam-n")
        for options in (dict(assumption="shared-gamma", gamma=1.0), dict(assumption="lipschitz-step", g_min=1.0)):
            common = dict(L=1.0, beta=1.0, n=50, T=100, lr=0.1, rho=0.05, **options)
            assert stability_bound(method, "convex", **common).eps == stability_bound("stablesam-n", "convex", **common).eps
        assert stablesam_gamma_range(method, "convex", rho=0.1, beta=1.0, g_min=1.0) == stablesam_gamma_range("stablesam-n", "convex", rho=0.1, beta=1.0, g_min=1.0)
        assert lipschitz_step_constant(method, beta=1.0, rho=0.1, g_min=1.0) == lipschitz_step_constant("stablesam-n", beta=1.0, rho=0.1, g_min=1.0)
        assert renormalization_theory(method) == renormalization_theory("stablesam-n")
        risk = dict(L=1.0, beta=1.0, D=1.0, n=50, T=100, rho=0.05, gamma=1.0, assumption="shared-gamma")
        assert excess_risk(method, 0.1, **risk) == excess_risk("stablesam-n", 0.1, **risk)
        assert lr_limit(method, "convex", beta=1.0, gamma=1.0, assumption="shared-gamma") == 2.0
        for f, args in ((saddle_step, (0.02, -1.0, 0.1, 0.05)), (saddle_fixed_points, (-1.0, 0.05)),
                        (trap_radius, (-1.0, 0.1, 0.05)), (escape_steps, (-1.0, 0.1, 0.05, 0.1, 1.0))):
            assert f(method, *args) == f("stablesam-n", *args), f.__name__
    X, y = np.array([[1.0, 0.5], [0.2, -1.0], [0.7, 0.3]]), np.array([0.3, -0.2, 1.0])
    np.testing.assert_array_equal(final_iterates(NEW, X, y, [0.1, 0.4], rho=0.1, T=20),
                                  final_iterates("stablesam-n", X, y, [0.1, 0.4], rho=0.1, T=20))
    X2, y2 = X.copy(), y.copy()
    y2[0] = 1.5
    np.testing.assert_array_equal(expected_twin_distance(X, y, X2, y2, 0.1, method=NEW, steps=5).mean_sq,
                                  expected_twin_distance(X, y, X2, y2, 0.1, method="stablesam-n", steps=5).mean_sq)
    for f, args in ((gamma, ([2.0, 0.5], [1.0, -0.3], 0.1)), (gamma_range, ([2.0, 0.5], 0.1, 0.4)),
                    (stablesam_2d_boundaries, (2.0, 1.0, 0.5, 0.3))):
        assert f(NEW, *args) == f("stablesam-n", *args), f.__name__
    run = simulate(NEW, [2.0, 0.5], lr=0.3, rho=0.1, steps=50)
    assert run.final_norm == simulate("stablesam-n", [2.0, 0.5], lr=0.3, rho=0.1, steps=50).final_norm


def test_make_optimizer_picks_up_a_new_row(new_row):
    torch = pytest.importorskip("torch")
    from stablesam.stability.optimizers import make_optimizer

    def one_step(key):
        generator = torch.Generator().manual_seed(0)
        w = torch.nn.Parameter(torch.randn(3, generator=generator, dtype=torch.float64))
        optimizer = make_optimizer(key, [w], lr=0.1, rho=0.05)

        def closure():
            optimizer.zero_grad()
            loss = (w**4).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        return w.detach().clone()

    # The copy takes the very same step as stablesam-n.
    assert torch.equal(one_step(NEW), one_step("stablesam-n"))


@pytest.mark.parametrize(
    "argv",
    [
        ["quadratic", "--eigenvalues", "2,1", "--method", NEW, "--rho", "0.1", "--lr", "0.3", "--steps", "200"],
        ["edge", "--method", NEW, "--lr", "0.1", "--rho", "0.05"],
        ["bounds", "--setting", "convex", "--method", NEW, "--L", "1", "--beta", "1", "--n", "50", "--T", "100", "--lr", "0.1",
         "--rho", "0.05", "--assumption", "shared-gamma", "--gamma", "1"],
    ],
)
def test_cli_choices_pick_up_a_new_row(new_row, argv, capsys):
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert NEW in json.dumps(out)
