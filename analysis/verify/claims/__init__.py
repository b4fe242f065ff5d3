"""The registry of the StableSAM paper's claims that ``stablesam verify`` checks: one file per claim.

Each file holds its claim's statement, rule, experiments, theory, evaluate and plot, and ends with ``CLAIM``; a new
claim is a new file plus its name in ``_FILES`` below. Universal claims (C1, C5, C6, C7, C10) are supported
only if every setting is; existential ones (C3, C4) when some setting supports them after Holm's correction and none
contradicts; C2 is a pattern over eta, C8 two existential parts, and C9 non-inferiority in every case with
superiority in some (see their files). Claims comparing StableSAM with its base run every pair of
:data:`~stablesam.analysis.verify.experiments.PAIRS` (SAM, USAM, ASAM; C9 the SAM pair alone at the quick scale).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from stablesam.analysis.verify.claim import Claim
from stablesam.core.validation import UsageError, check_choice

__all__ = ["CLAIMS", "claim_ids"]

# The claim files in report order: a new claim is one name here.
_FILES = ("c1_surrogate_norm", "c2_small_lr_advantage", "c3_larger_lr", "c4_more_stable", "c5_accuracy", "c6_cost",
          "c7_gamma_cap", "c8_saddles", "c9_capped", "c10_flatness")

CLAIMS: dict[str, Claim] = {claim.id: claim for claim in (
    importlib.import_module(f"{__name__}.{name}").CLAIM for name in _FILES)}


def claim_ids(wanted: str | Sequence[str] | None) -> tuple[str, ...]:
    """Registry ids, in registry order, for ``wanted``: ``None`` (every claim), ids such as ``["C1", "c3"]`` (the
    command line's ``--claims C1 C3``) or one string ``"C1,C3"``; case-insensitive, commas split.

    >>> claim_ids(["c3", "C1"])
    ('C1', 'C3')
    """
    if wanted is None:
        return tuple(CLAIMS)
    items = [wanted] if isinstance(wanted, str) else list(wanted)
    ids = [part.strip().upper() for item in items for part in str(item).split(",") if part.strip()]
    if not ids:
        raise UsageError(f"--claims needs at least one of {', '.join(CLAIMS)}; got {wanted!r}")
    for claim in ids:
        check_choice("claim", claim, CLAIMS)
    return tuple(c for c in CLAIMS if c in ids)
