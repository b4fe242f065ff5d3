"""The registry of the StableSAM paper's claims that ``stablesam verify`` checks: one file per claim.

Each file holds its claim's statement, rule, experiments, theory, evaluate and plot, and ends with ``CLAIM``; a new
claim is a new file plus its line in :data:`CLAIMS` below. Universal claims (C1, C5, C6, C7, C10) are supported
only if every setting is; existential ones (C3, C4) when some setting supports them after Holm's correction and none
contradicts; C2 is a pattern over eta, C8 two existential parts, and C9 non-inferiority in every case with
superiority in some (see their files). Claims comparing StableSAM with its base run every pair of
:data:`~stablesam.analysis.verify.experiments.PAIRS` (SAM, USAM, ASAM; C9 the SAM pair alone at the quick scale).
"""

from __future__ import annotations

from stablesam.analysis.verify.claim import Claim
from stablesam.analysis.verify.claims import (
    c1_surrogate_norm,
    c2_small_lr_advantage,
    c3_larger_lr,
    c4_more_stable,
    c5_accuracy,
    c6_cost,
    c7_gamma_cap,
    c8_saddles,
    c9_capped,
    c10_flatness,
)
from stablesam.core.validation import UsageError, check_choice

__all__ = ["CLAIMS", "claim_ids"]

CLAIMS: dict[str, Claim] = {m.CLAIM.id: m.CLAIM for m in (
    c1_surrogate_norm,
    c2_small_lr_advantage,
    c3_larger_lr,
    c4_more_stable,
    c5_accuracy,
    c6_cost,
    c7_gamma_cap,
    c8_saddles,
    c9_capped,
    c10_flatness,
)}


def claim_ids(text: str | None) -> tuple[str, ...]:
    """Parse ``"C1,C3"`` (case-insensitive; ``None``: every claim) into registry ids, in registry order."""
    if text is None:
        return tuple(CLAIMS)
    wanted = [t.strip().upper() for t in str(text).split(",") if t.strip()]
    if not wanted:
        raise UsageError(f"--claims needs at least one of {', '.join(CLAIMS)}; got {text!r}")
    for claim in wanted:
        check_choice("claim", claim, CLAIMS)
    return tuple(c for c in CLAIMS if c in wanted)
