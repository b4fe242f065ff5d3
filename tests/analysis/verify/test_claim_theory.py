"""Each claim's theory check says what the theory proves, no more (issue 24: C7's label)."""

from types import SimpleNamespace

from stablesam.analysis.verify.claims.c7_gamma_cap import theory as c7_theory
from stablesam.theory.method_constants import C7_THEORY


def test_c7_theory_is_proved_for_convex_losses_only():
    check = c7_theory(SimpleNamespace(rho=0.05))
    assert check.status == "consistent" and check.summary.startswith(C7_THEORY)
    assert max(check.numbers["max_gamma_psd"].values()) <= 1.0  # convex: never above 1 (co-coercivity)
    assert check.numbers["gamma_negative_curvature"] > 1.0  # negative curvature: the cap can act
    assert check.numbers["gamma_nonconvex_highest"]["stablesam-u"] == 1 / (1 - 0.05)
