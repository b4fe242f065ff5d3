"""Hallucinated minimizers (stablesam.theory.hallucination; arXiv:2509.21818): the closed-form x_h on the double
well checked by sympy, by iterating SAM and StableSAM-N, and by hand; the detector on the same function."""

import numpy as np
import pytest
import sympy as sp

from stablesam.analysis.experiments.saddles import hallucinated, toy_hallucination_table
from stablesam.core.validation import UsageError
from stablesam.theory.hallucination import (
    double_well_grad,
    double_well_hessian,
    sam_hallucinated_minimizer,
    sam_hallucination_attracts,
    stablesam_hover_width,
    usam_hallucinated_minimizers,
)


def test_sympy_x_h_is_a_fixed_point_of_sam_with_nonzero_gradient():
    s, r, x, eta = sp.symbols("s rho x eta", positive=True)
    f = (x**2 - s**2) ** 2 / 4
    fp = sp.diff(f, x)
    x_h = r - s
    assert sp.simplify(fp.subs(x, x_h) - r * (r - s) * (r - 2 * s)) == 0
    assert sp.simplify(fp.subs(x, x_h - r)) == 0  # the ascent (left, since f'(x_h) < 0) lands on the minimum -s
    # SAM's map x - eta f'(x - rho) has derivative 1 - eta f''(-s) = 1 - 2 eta s^2 at x_h.
    assert sp.simplify(sp.diff(x - eta * fp.subs(x, x - r), x).subs(x, x_h) - (1 - 2 * eta * s**2)) == 0
    assert sp.simplify(sp.diff(fp, x) - (3 * x**2 - s**2)) == 0


def test_hand_values():
    assert sam_hallucinated_minimizer(1.0, 1.5) == pytest.approx((0.5, -0.375))  # 1.5 * 0.5 * (-0.5)
    assert stablesam_hover_width(1.0, 1.5, 0.1) == pytest.approx(0.0375)
    assert double_well_grad(0.5, 1.0) == pytest.approx(-0.375) and double_well_hessian(-1.0, 1.0) == pytest.approx(2.0)
    assert sam_hallucination_attracts(1.0, 0.1) and not sam_hallucination_attracts(1.0, 1.5)
    with pytest.raises(UsageError, match=r"rho must lie in \(s, 2 s\)"):
        sam_hallucinated_minimizer(1.0, 0.5)


@pytest.mark.parametrize("s, rho", [(1.0, 1.5), (0.3, 0.5), (2.0, 2.5)])
def test_sam_converges_to_x_h_and_stablesam_n_hovers(s, rho):
    x_h, slope = sam_hallucinated_minimizer(s, rho)
    lr = 0.5 / (s * s)  # eta s^2 = 0.5 < 1: x_h attracts SAM (factor 1 - 2 eta s^2 = 0)
    lr = min(lr, 0.1)
    x_sam = x_stable = x_h + 0.1 * min(x_h, s - x_h)
    stable_tail = []
    for t in range(2000):
        x_sam = x_sam - lr * double_well_grad(x_sam + rho * np.sign(double_well_grad(x_sam, s)), s)
        g = double_well_grad(x_stable, s)
        gt = double_well_grad(x_stable + rho * np.sign(g), s)
        x_stable = x_stable - lr * (abs(g) / abs(gt)) * gt if gt != 0 else x_stable
        if t >= 1900:
            stable_tail.append(x_stable)
    assert x_sam == pytest.approx(x_h, abs=1e-12)
    width = stablesam_hover_width(s, rho, lr)
    tail = np.array(stable_tail)
    # Hovering: within the hover width (first order; 10% slack for f' varying over the band), not converging.
    assert np.max(np.abs(tail - x_h)) <= 1.1 * width and np.ptp(tail) > 0.1 * width
    # The detector: SAM's limit and StableSAM-N's average are hallucinated; a true minimum and a generic point are not.
    g_sam = abs(double_well_grad(x_sam, s))
    gt_sam = abs(double_well_grad(x_sam + rho * np.sign(double_well_grad(x_sam, s)), s))
    mean = tail.mean()
    g_mean = abs(double_well_grad(mean, s))
    gt_mean = abs(double_well_grad(mean - rho, s))
    flags = hallucinated([g_sam, g_mean, 0.0, abs(double_well_grad(1.3 * s, s))],
                         [gt_sam, gt_mean, 0.0, abs(double_well_grad(1.3 * s + rho, s))],
                         grad_tol=1e-3 * abs(slope))
    assert flags.tolist() == [True, True, False, False]


def test_usam_points_solve_their_equation():
    for s, rho in ((1.0, 1.5), (1.0, 3.0)):
        points = usam_hallucinated_minimizers(s, rho)
        for x in points:
            ascent = x + rho * double_well_grad(x, s)
            assert abs(double_well_grad(ascent, s)) < 1e-9 and abs(double_well_grad(x, s)) > 1e-9


def test_toy_table_counts_hallucinations():
    table = toy_hallucination_table(("gd", "sam", "stablesam-n"), starts=(0.3, 0.45, 1.2), noises=(0.0,), steps=300,
                                    window=50)
    by = table.set_index(["method", "x0"])
    assert by.loc[("sam", 0.3), "hallucinated"] and by.loc[("sam", 0.45), "hallucinated"]
    assert not by.loc[("gd", 0.3), "hallucinated"] and by.loc[("gd", 0.3), "at_minimum"]
    assert by.loc[("stablesam-n", 0.3), "hallucinated"] and by.loc[("stablesam-n", 0.3), "spread"] > 0
    assert not table["diverged"].any()
