"""``stablesam verify``: the paper's claims, their decision rules and statistics, the runner and the report."""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so a light
# path (``stablesam --help``, reading a config) does not import torch.
_EXPORTS = {
    **dict.fromkeys(
        (
            "Claim", "ClaimResult", "ExperimentFailed", "SOURCE", "TheoryCheck", "case", "weakest"
        ),
        "stablesam.analysis.verify.claim",
    ),
    **dict.fromkeys(("CLAIMS", "claim_ids"), "stablesam.analysis.verify.claims"),
    **dict.fromkeys(
        (
            "difference_comparison", "failure_counts", "stability_comparison"
        ),
        "stablesam.analysis.verify.compare",
    ),
    **dict.fromkeys(
        (
            "Experiment", "ExperimentKind", "KINDS", "PAIRS", "SCALES", "Scale", "exact_experiment",
            "least_squares_problem", "make_scale", "regimes_experiment", "timing_experiment",
            "trajectory_experiment", "twin_experiment"
        ),
        "stablesam.analysis.verify.experiments",
    ),
    **dict.fromkeys(
        (
            "VERDICTS_SCHEMA", "jsonable", "read_verdict_guide", "render_html", "render_markdown", "report_blocks",
            "verdict_table", "write_report"
        ),
        "stablesam.analysis.verify.report",
    ),
    **dict.fromkeys(
        (
            "Cache", "Results", "SCHEMA_VERSION", "evaluate_claims", "provenance", "run_experiments", "verify"
        ),
        "stablesam.analysis.verify.run",
    ),
    **dict.fromkeys(
        (
            "CHANCE_MARGIN", "FAILED", "NEVER_TRAINED_FACTOR", "crossfit_pair", "failure_kinds", "noise_floors",
            "ratio_interval", "trained_seeds"
        ),
        "stablesam.analysis.verify.twin_evidence",
    ),
    "TwinOutcome": "stablesam.analysis.verify.twin_outcome",
    **dict.fromkeys(
        (
            "DecisionRule", "INCONCLUSIVE", "Interval", "NOT_COMPARABLE", "NOT_SUPPORTED", "SUPPORTED", "VERDICTS",
            "combine_existential", "combine_universal", "crossover", "detectable", "holm", "holm_verdicts",
            "median_interval", "min_seeds", "only_below", "paired_binary_bounds", "paired_binary_interval",
            "sign_test_power"
        ),
        "stablesam.analysis.verify.verdicts",
    ),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
