"""Claim C9's theory (issue 23): capped StableSAM's derived bounds against its base's, on a grid of eta and rho.

stablesam.theory.capped: with gamma_t <- min(gamma_t, cap), cap <= 1, and the shared-factor assumption, the
stability bound (Hardt et al. 2016 framework, Lemma 2.5 recursion) is at most the base's at every eta in the convex
and non-convex settings; not in the strongly convex one; the excess-risk bound only where the cap binds on every step.
"""

import numpy as np
import pytest

from stablesam.core.validation import UsageError
from stablesam.theory.capped import C9_THEORY, capped_excess_risk_comparison, capped_stability_comparison
from stablesam.theory.uniform_stability import stability_bound

COMMON = dict(L=1.0, beta=2.0, n=40, T=150)
LRS = np.geomspace(1e-3, 1.0, 13)  # up to 2/beta (convex); c of eta_t = c/t in the non-convex setting
RHOS = np.array([0.0, 0.01, 0.1, 0.3])


@pytest.mark.parametrize("method", ["stablesam-u", "stablesam-n"])
@pytest.mark.parametrize("setting", ["convex", "nonconvex"])
@pytest.mark.parametrize("cap", [1.0, 0.9, 0.5])
def test_capped_stability_bound_is_at_most_the_base_at_every_eta(method, setting, cap):
    out = capped_stability_comparison(method, setting, LRS, RHOS, g_min=0.5, cap=cap, **COMMON)
    assert out.theorem and out.holds.all() and out.capped.shape == (RHOS.size, LRS.size)
    assert "shared-factor assumption" in out.assumption and "at most the base's" in C9_THEORY[setting]
    if cap == 1.0:  # equality at cap 1: the capped method is its base at factor 1 in the worst case
        np.testing.assert_allclose(out.capped, out.base, rtol=1e-12)
    else:
        assert np.all(out.capped[1:] < out.base[1:])  # strictly below for rho > 0
    # The base's bound is the library's recursion for the base method (an independent route to the same number).
    base = "usam" if method == "stablesam-u" else "sam"
    key = "c" if setting == "nonconvex" else "lr"
    for i, j in ((2, 4), (3, 12)):
        b = stability_bound(base, setting, rho=RHOS[i], **{key: LRS[j]}, **COMMON)
        expected = b.recursion if b.recursion is not None else b.eps
        assert out.base[i, j] == pytest.approx(expected, rel=1e-12)


def test_strongly_convex_is_not_implied_and_the_grid_shows_it():
    lrs = np.geomspace(1e-3, 0.5, 9)
    out = capped_stability_comparison("stablesam-n", "strongly-convex", lrs, RHOS, mu=0.5, g_min=0.5, **COMMON)
    assert not out.theorem and "not implied" in C9_THEORY["strongly-convex"]
    assert out.holds[0].all() and not out.holds[1:].all()  # equal at rho = 0 (gamma_t = 1), above the base for rho > 0


def test_excess_risk_comparison_holds_only_where_the_cap_binds():
    out = capped_excess_risk_comparison("stablesam-n", LRS, RHOS[1:], D=1.0, g_min=0.5, **COMMON)
    assert not out.theorem and not out.holds.any()  # g_lo < 1: the optimization term is larger at every eta
    binding = capped_excess_risk_comparison("stablesam-n", LRS, RHOS, D=1.0, g_min=0.5, lowest=1.0, **COMMON)
    assert binding.theorem and binding.holds.all()
    np.testing.assert_allclose(binding.capped, binding.base, rtol=1e-12)


def test_bad_input():
    with pytest.raises(UsageError, match="cap=1.5 violates cap <= 1"):
        capped_stability_comparison("stablesam-n", "convex", LRS, RHOS, cap=1.5, **COMMON)
    with pytest.raises(UsageError, match="not renormalized"):
        capped_stability_comparison("sam", "convex", LRS, RHOS, **COMMON)
    with pytest.raises(UsageError, match="lrs must be <= 1"):
        capped_stability_comparison("stablesam-u", "convex", [2.0], RHOS, **COMMON)
