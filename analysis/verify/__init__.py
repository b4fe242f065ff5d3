"""``stablesam verify``: the paper's claims, their decision rules and statistics, the runner and the report."""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so a light
# path (``stablesam --help``, reading a config) does not import torch.
_EXPORTS = {
    **dict.fromkeys(
        ("CLAIMS", "Claim", "ClaimResult", "Experiment", "SCALES", "Scale", "TheoryCheck", "claim_ids", "make_scale"),
        "stablesam.analysis.verify.claims",
    ),
    **dict.fromkeys(
        (
            "EOS_METHODS", "EOS_SETTINGS", "PLATEAU_RULE", "PLATEAU_RULE_TEXT", "eos_experiments", "plateau_cases",
            "run_eos_experiment",
        ),
        "stablesam.analysis.verify.claims_eos",
    ),
    **dict.fromkeys(
        (
            "VERDICTS_SCHEMA", "jsonable", "read_verdict_guide", "render_html", "render_markdown", "report_blocks",
            "schema_errors", "verdict_table", "write_report",
        ),
        "stablesam.analysis.verify.report",
    ),
    **dict.fromkeys(
        ("ExperimentFailed", "Results", "SCHEMA_VERSION", "evaluate_claims", "provenance", "run_experiments", "verify"),
        "stablesam.analysis.verify.run",
    ),
    **dict.fromkeys(
        (
            "DecisionRule", "INCONCLUSIVE", "Interval", "NOT_SUPPORTED", "SUPPORTED", "VERDICTS", "bootstrap_interval",
            "combine_cases", "crossover", "only_below",
        ),
        "stablesam.analysis.verify.verdicts",
    ),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
