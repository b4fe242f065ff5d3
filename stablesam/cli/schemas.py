"""The JSON Schema of every subcommand's ``--json`` object, checked before it is printed.

One schema per printed document (``LR_MAX_SCHEMA`` for ``stablesam lr-max --json``, ...); :data:`COMMAND_SCHEMAS`
maps each command line that prints JSON to its schema (``sweep`` prints one of two documents: ``sweep`` and
``sweep --dry-run``). :func:`stablesam.cli.output.emit` checks the object against its command's schema with
:func:`stablesam.core.schema.schema_errors` before printing it: a violation is a bug of the command and raises
``RuntimeError`` (with its traceback) instead of printing a document its readers would misread.

Conventions of every document:

- every key is listed (``additionalProperties: false``), so a key added to a command's output needs its line here;
- a float that may be non-finite is a number, ``null`` (NaN) or the string ``"inf"`` / ``"-inf"``
  (:func:`stablesam.cli.output.emit`'s encoding); a quantity that is always finite is a number;
- flags are booleans (``diverged``, ``derived``, ``converged``, ``monotone``), never 0/1 or strings;
- the maximal stable learning rate is ``max_stable_lr`` (the theory's threshold, ``stablesam.theory.max_stable_lr``),
  an observed one ``observed_max_stable_lr``.

They live in one module, not beside each command: the documents share their pieces (methods, the bound entries
of ``bounds`` / ``excess-risk`` / ``lr-max-bound``, the non-finite floats), a subcommand module may not import
another (``tests/project/test_layering.py``), and the reference page lists them together.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BOUNDS_SCHEMA", "COMMAND_SCHEMAS", "EDGE_SCHEMA", "EOS_SCHEMA", "EXCESS_RISK_SCHEMA", "LR_MAX_BOUND_SCHEMA",
    "LR_MAX_SCHEMA", "LR_SCAN_SCHEMA", "QUADRATIC_SCHEMA", "SHARPNESS_SCHEMA", "SWEEP_PLAN_SCHEMA", "SWEEP_SCHEMA",
    "TRAIN_SCHEMA", "TWIN_SCHEMA", "VERIFY_SCHEMA",
]

Schema = dict[str, Any]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_NUMBER: Schema = {"type": "number"}
_FLOAT: Schema = {"type": ["number", "null", "string"], "pattern": "^-?inf$"}  # NaN -> null, +-inf -> "inf"
_INTEGER: Schema = {"type": "integer"}
_COUNT: Schema = {"type": "integer", "minimum": 0}
_STRING: Schema = {"type": "string"}
_BOOLEAN: Schema = {"type": "boolean"}
# A method key's form, not the list of keys: a row added to the method table (CONTRIBUTING, change (a)) needs no
# edit here, and a table patched at run time (tests/project/test_method_row_theory.py) is not frozen at import.
_METHOD: Schema = {"type": "string", "pattern": "^[a-z][a-z0-9-]*$",
                   "description": "a method key of stablesam.core.methods.METHODS"}
_ASSUMPTION: Schema = {"enum": ["shared-gamma", "lipschitz-step", None]}


def _d(schema: Schema, description: str) -> Schema:
    """``schema`` with its ``description``."""
    return {**schema, "description": description}


def _nullable(schema: Schema) -> Schema:
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": [*names, "null"]}


def _object(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """An object holding exactly ``properties``, all required but ``optional``."""
    return {"type": "object", "required": [k for k in properties if k not in optional], "properties": properties,
            "additionalProperties": False}


def _document(title: str, description: str, properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    return {"$schema": _DRAFT, "title": title, "description": description,
            **_object(properties, optional=optional)}


def _rows(row: Schema, description: str) -> Schema:
    return _d({"type": "array", "items": row}, description)


_DERIVED = _d(_BOOLEAN, "true when the formula is derived by this toolkit, false when it is published")
_SOURCE = _d(_STRING, "where the formula comes from")
_GRAD_NORM = _d(_NUMBER, "the gradient norm ||g|| of SAM's edge (SAM-edge methods only)")

LR_MAX_SCHEMA = _document(
    "stablesam lr-max --json",
    "The maximal stable learning rate of a method's local quadratic model at a sharpness (docs/theory.md section 3).",
    {"method": _METHOD, "sharpness": _d(_NUMBER, "top Hessian eigenvalue lambda"), "rho": _d(_NUMBER, "ascent radius"),
     "grad_norm": _GRAD_NORM, "max_stable_lr": _d(_NUMBER, "largest stable learning rate"),
     "derived": _DERIVED, "source": _SOURCE},
    optional=("grad_norm",),
)

EDGE_SCHEMA = _document(
    "stablesam edge --json",
    "The edge of stability: the largest stable sharpness of a method's local quadratic model at a learning rate.",
    {"method": _METHOD, "lr": _d(_NUMBER, "learning rate eta"), "rho": _d(_NUMBER, "ascent radius"),
     "grad_norm": _GRAD_NORM, "sharpness_max": _d(_NUMBER, "largest stable top Hessian eigenvalue"),
     "derived": _DERIVED, "source": _SOURCE},
    optional=("grad_norm",),
)

QUADRATIC_SCHEMA = _document(
    "stablesam quadratic --json",
    "Exact and observed (bisection on the simulated map) divergence thresholds on f(w) = 1/2 w^T diag(L) w; with "
    "--lr, the simulated outcome at that learning rate (the keys from lr on).",
    {"method": _METHOD,
     "eigenvalues": _d({"type": "array", "items": _NUMBER}, "the Hessian's eigenvalues L"),
     "rho": _d(_NUMBER, "ascent radius"), "steps": _d(_COUNT, "simulation horizon"),
     "max_stable_lr": _d(_FLOAT, "exact divergence threshold"), "derived": _DERIVED, "source": _SOURCE,
     "observed_max_stable_lr": _d(_FLOAT, "threshold found by bisection on the simulated map"),
     "relative_gap": _d(_FLOAT, "observed / exact - 1"),
     "expected_bias": _d(_NUMBER, "ln(blowup) / steps, the bisection's expected overestimate"),
     "lr": _d(_NUMBER, "the simulated learning rate"),
     "predicted_diverged": _d(_BOOLEAN, "whether the exact map diverges at lr"),
     "diverged": _d(_BOOLEAN, "whether the simulation diverged"),
     "divergence_step": _d(_nullable(_COUNT), "step of the divergence (null: none)"),
     "rate": _d(_FLOAT, "asymptotic per-step factor of ||w_t|| (a diverged run: mean growth factor)"),
     "final_norm": _d(_FLOAT, "||w_T||"),
     "cycle_amplitude": _d(_nullable(_NUMBER), "SAM: amplitude of the observed 2-cycle (null: no cycle)"),
     "predicted_cycle_amplitude": _d(_nullable(_NUMBER), "SAM: the closed-form 2-cycle amplitude (null: none)"),
     "cycle_note": _d(_STRING, "SAM: why there is no 2-cycle")},
    optional=("lr", "predicted_diverged", "diverged", "divergence_step", "rate", "final_norm", "cycle_amplitude",
              "predicted_cycle_amplitude", "cycle_note"),
)

_ASSUMPTION_DETAIL = _d(_STRING, "every assumption the bound rests on, in words")
_BOUND_INPUTS = _d(
    {"type": "object",
     "properties": {"setting": {"enum": ["convex", "strongly-convex", "nonconvex"]}, "method": _METHOD,
                    "L": _NUMBER, "beta": _NUMBER, "mu": _NUMBER, "c": _NUMBER, "n": _COUNT, "T": _COUNT,
                    "lr": _NUMBER, "schedule": _STRING, "rho": _NUMBER, "gamma": _NUMBER, "g_min": _NUMBER,
                    "assumption": _ASSUMPTION, "D": _NUMBER, "eps": _NUMBER, "decay_factor": _NUMBER,
                    "decay_every": _COUNT},
     "additionalProperties": False},
    "the constants the bound was computed from (those given)",
)

BOUNDS_SCHEMA = _document(
    "stablesam bounds --json",
    "The uniform-stability bound eps_stab of a method (Hardt, Recht and Singer 2016; the SAM family derived). Where "
    "the bound is a closed form, the exact growth recursion's bound is printed beside it.",
    {"eps_stab": _d(_FLOAT, "the uniform-stability bound"), "source": _SOURCE, "derived": _DERIVED,
     "assumption": _d(_ASSUMPTION, "StableSAM's named assumption (null: none needed)"),
     "closed form": _d(_FLOAT, "the closed form's bound (= eps_stab)"),
     "recursion (tighter)": _d(_FLOAT, "the exact growth recursion's bound, never above the closed form"),
     "eps_stab_is": _d(_STRING, "which of the two eps_stab is"),
     "assumption_detail": _ASSUMPTION_DETAIL,
     "t0": _d(_NUMBER, "non-convex: the burn-in step t0 of Hardt et al.'s Thm 3.12"),
     "inputs": _BOUND_INPUTS},
    optional=("closed form", "recursion (tighter)", "eps_stab_is", "t0"),
)

_RISK_TERMS = _d(
    {"type": "object",
     "properties": {k: _FLOAT for k in ("optimal_lr", "optimal_total", "optimal_generalization", "generalization",
                                        "total")},
     "required": ["optimal_lr", "optimal_total", "optimal_generalization"], "additionalProperties": False},
    "the optimum (and, with --lr, the terms at lr) with this form of the generalization term",
)

EXCESS_RISK_SCHEMA = _document(
    "stablesam excess-risk --json",
    "The convex excess-risk bound D^2/(2 eta T) + eta L^2/2 + eps_stab: its terms at --lr (when given; lr to total) "
    "and the learning rate minimising it, numerically and, for SGD, in closed form (the closed_form_* keys).",
    {"method": _METHOD, "derived": _DERIVED, "assumption": _d(_ASSUMPTION, "StableSAM's named assumption"),
     "assumption_detail": _ASSUMPTION_DETAIL,
     "lr": _d(_NUMBER, "the learning rate of the terms below"),
     "optimization": _d(_FLOAT, "D^2 / (2 eta T)"), "generalization": _d(_FLOAT, "eps_stab at lr"),
     "total": _d(_FLOAT, "the bound at lr"),
     "optimal_lr": _d(_FLOAT, "the learning rate minimising the bound"), "optimal_total": _FLOAT,
     "optimal_optimization": _FLOAT, "optimal_generalization": _FLOAT,
     "lr_limit": _d(_nullable(_NUMBER), "the theorem's largest learning rate (null: none)"),
     "closed form": _RISK_TERMS, "recursion (tighter)": _RISK_TERMS,
     "closed_form_optimal_lr": _d(_NUMBER, "SGD: eta* = D / (L sqrt(T (1 + 4T/n)))"),
     "closed_form_optimal_total": _NUMBER,
     "closed_form_within_limit": _d(_BOOLEAN, "SGD: whether eta* satisfies the theorem's condition"),
     "inputs": _BOUND_INPUTS},
    optional=("lr", "optimization", "generalization", "total", "closed form", "recursion (tighter)",
              "closed_form_optimal_lr", "closed_form_optimal_total", "closed_form_within_limit"),
)

_MAX_FOR_TARGET = {
    "max_lr": _d(_NUMBER, "convex settings: the largest learning rate whose bound stays below eps"),
    "max_c": _d(_NUMBER, "non-convex: the largest c of eta_t = c/t whose bound stays below eps"),
    "bound_at_max": _d(_FLOAT, "the bound there"),
    "binding": _d({"enum": ["target", "condition"]}, "what stopped the search: the target eps or the theorem's "
                  "learning-rate condition"),
}
_MAX_FOR_TARGET_FORM = _d(
    {"type": "object", "properties": _MAX_FOR_TARGET, "required": ["bound_at_max", "binding"],
     "additionalProperties": False, "oneOf": [{"required": ["max_lr"]}, {"required": ["max_c"]}]},
    "the same search with this form of the bound",
)

LR_MAX_BOUND_SCHEMA = _document(
    "stablesam lr-max-bound --json",
    "The largest learning rate (non-convex: the largest c of eta_t = c/t; exactly one of max_lr and max_c is "
    "present) whose stability bound stays below --eps, and the largest non-expansive learning rate.",
    {**_MAX_FOR_TARGET,
     "theorem_limit": _d(_nullable(_NUMBER), "the theorem's largest learning rate (null: none)"),
     "max_nonexpansive_lr": _d(_FLOAT, "the largest learning rate keeping the step non-expansive (convex)"),
     "curvature": {"enum": ["general", "quadratic"]}, "derived": _DERIVED,
     "assumption": _d(_ASSUMPTION, "StableSAM's named assumption"), "assumption_detail": _ASSUMPTION_DETAIL,
     "closed form": _MAX_FOR_TARGET_FORM, "recursion (tighter)": _MAX_FOR_TARGET_FORM,
     "inputs": _BOUND_INPUTS},
    optional=("max_lr", "max_c", "closed form", "recursion (tighter)"),
) | {"oneOf": [{"required": ["max_lr"]}, {"required": ["max_c"]}]}

SHARPNESS_SCHEMA = _document(
    "stablesam sharpness --json",
    "A model's measured curvature on its training set and the maximal stable learning rates it predicts. With "
    "--run, the model's place in the twin run (run to lr) replaces --checkpoint's path.",
    {"dataset": _STRING, "model": _STRING,
     "checkpoint": _d(_nullable(_STRING), "the state_dict measured (null: a fresh initialisation)"),
     "run": _d(_STRING, "--run: the run's name"), "run_dir": _STRING, "epoch": _COUNT, "step": _COUNT,
     "model_index": _COUNT, "pair": _COUNT, "seed": _COUNT, "replaced_index": _COUNT,
     "run_rho": _d(_NUMBER, "--run: the radius the run trained with (0: no ascent step, e.g. sgd)"),
     "twin": _d({"enum": ["S", "S'"]}, "the training set of the model"), "optimizer": _METHOD, "lr": _NUMBER,
     "parameters": _d(_COUNT, "number of parameters"), "examples": _d(_COUNT, "training examples measured on"),
     "loss": _FLOAT, "grad_norm": _d(_FLOAT, "||g|| of the mean loss"),
     "eigenvalues": _d({"type": "array", "items": _FLOAT}, "top-k Hessian eigenvalues (Lanczos), largest first"),
     "residuals": _d({"type": "array", "items": _FLOAT}, "||Hv - lambda v|| of each"),
     "converged": _d(_BOOLEAN, "whether Lanczos converged"), "hvps": _d(_COUNT, "Hessian-vector products used"),
     "trace": _d(_FLOAT, "Hutchinson trace estimate (null: --trace-probes 0)"),
     "trace_standard_error": _FLOAT, "rho": _d(_NUMBER, "the radius of the SAM-family thresholds"),
     "max_stable_lr": _rows(_object({"method": _METHOD, "max_stable_lr": _FLOAT}),
                            "each method's maximal stable learning rate at the measured top eigenvalue")},
    optional=("run", "run_dir", "epoch", "step", "model_index", "pair", "seed", "replaced_index", "run_rho", "twin",
              "optimizer", "lr"),
)

LR_SCAN_SCHEMA = _document(
    "stablesam lr-scan --json",
    "Predicted maximal stable learning rates against observed divergence: bisection on least squares (rows with "
    "observed_max_stable_lr), a grid scan on a network (rows with smallest_failing_lr).",
    {"problem": _d(_STRING, "what was trained"), "lambda_max": _d(_NUMBER, "the top Hessian eigenvalue"),
     "grad_norm": _d(_NUMBER, "network: ||g|| at initialisation"), "rho": _NUMBER, "steps": _COUNT,
     "blowup": _d(_NUMBER, "divergence factor of the loss"),
     "thresholds": _rows(
         {"type": "object", "required": ["method", "max_stable_lr"], "additionalProperties": False,
          "properties": {
              "method": _METHOD, "max_stable_lr": _d(_FLOAT, "predicted from lambda_max (and ||g||)"),
              "observed_max_stable_lr": _d(_FLOAT, "least squares: the bisection's estimate"),
              "observed_low": _d(_FLOAT, "least squares: the final bracket's lower end"),
              "observed_high": _d(_FLOAT, "least squares: the final bracket's upper end"),
              "relative_error": _d(_FLOAT, "least squares: observed / predicted - 1"),
              "smallest_failing_lr": _d(_FLOAT, "network: the smallest rate that diverged or collapsed"),
              "largest_trained_below": _d(_FLOAT, "network: the largest trained rate below it (null: none)"),
              "monotone": _d(_BOOLEAN, "network: whether every rate above a failing one fails"),
              "smallest_diverged_lr": _d(_FLOAT, "network: the smallest rate that blew up"),
              "divergence_monotone": _d(_BOOLEAN, "network: whether every rate above a diverged one diverges")}},
         "one row per method")},
    optional=("grad_norm",),
)

EOS_SCHEMA = _document(
    "stablesam eos --json",
    "Edge of stability: per method, learning rate and radius, the plateau ratio (median of sharpness / edge over "
    "the last half of training) over seeds.",
    {"dataset": _STRING, "loss": {"enum": ["mse", "cross-entropy"]}, "steps": _COUNT,
     "batch_size": _d({"type": ["integer", "string"], "pattern": "^full$"}, "mini-batch size, or \"full\""),
     "out": _d(_nullable(_STRING), "the output directory (null: none)"),
     "figure": _d(_nullable(_STRING), "the figure written (null: none)"),
     "plateau_ratios": _rows(_object({
         "model": _STRING, "optimizer": _METHOD, "lr": _NUMBER, "rho": _NUMBER,
         "plateau_ratio_median": _FLOAT, "plateau_ratio_min": _FLOAT, "plateau_ratio_max": _FLOAT,
         "plateau_edge_median": _d(_FLOAT, "median edge over the last half of training"),
         "seeds": _d(_COUNT, "seeds run"), "diverged": _d(_COUNT, "seeds that diverged")}),
         "one row per method, learning rate and radius")},
)

TRAIN_SCHEMA = _document(
    "stablesam train --json",
    "SGD and the SAM family side by side on scikit-learn's digits: the settings, then one row per optimizer.",
    {"data": _STRING, "n_train": _COUNT, "n_test": _COUNT, "model": _STRING, "epochs": _COUNT, "batch_size": _COUNT,
     "lr": _NUMBER, "rho": _NUMBER, "momentum": _NUMBER, "weight_decay": _NUMBER,
     "gamma_cap": _d(_nullable(_NUMBER), "StableSAM's cap on gamma (null: none)"), "seed": _COUNT,
     "device": _STRING,
     "rows": _rows(_object({
         "optimizer": _METHOD, "train_acc": _FLOAT, "test_acc": _FLOAT, "train_loss": _FLOAT, "test_loss": _FLOAT,
         "mean_gamma": _d(_FLOAT, "mean StableSAM factor ||g|| / ||g~|| over the steps (null: not a SAM method)"),
         "mean_norm_ratio": _d(_FLOAT, "mean ||g~|| / ||g|| over the steps (null: not a SAM method)"),
         "diverged_epoch": _d(_nullable(_COUNT), "epoch of a non-finite loss (null: none)"),
         "seconds": _d(_NUMBER, "training wall time")}), "one row per optimizer")},
)

TWIN_SCHEMA = _document(
    "stablesam twin --json",
    "Twin runs on neighbouring datasets: the run directories and one row per pair (final values).",
    {"runs": _d({"type": "array", "items": _STRING}, "one run directory per method and learning rate"),
     "rows": _rows(_object({
         "optimizer": _METHOD, "lr": _NUMBER, "rho": _d(_NUMBER, "the effective radius (0 for SGD)"),
         "seed": _COUNT, "replaced_index": _COUNT,
         "distance": _d(_FLOAT, "final ||w - w'|| (null: a twin diverged)"),
         "gen_gap": _d(_FLOAT, "final generalization gap of the run on S"),
         "loss_diff_max": _d(_FLOAT, "max over test points of |l(w; z) - l(w'; z)|"),
         "gamma_mean": _d(_FLOAT, "mean StableSAM factor gamma (null: not logged)"),
         "diverged": _d(_BOOLEAN, "whether a twin diverged"),
         "divergence": _d(_nullable(_STRING), "which twin diverged at which step (null: none)")}),
         "one row per pair of every run"),
     "figure": _d({"type": "array", "items": _STRING}, "--figure: the PNG and PDF written")},
    optional=("figure",),
)

_STATUS_COUNTS = {"finished": _COUNT, "failed": _COUNT, "pending": _COUNT}

SWEEP_PLAN_SCHEMA = _document(
    "stablesam sweep --dry-run --json",
    "The trials of a sweep and their status; nothing is written.",
    {"out": _d(_STRING, "the output directory"), "trials": _COUNT, **_STATUS_COUNTS,
     "rows": _rows(_object({"trial": _STRING, "status": {"enum": ["finished", "failed", "pending"]}}),
                   "one row per trial")},
)

SWEEP_SCHEMA = _document(
    "stablesam sweep --json",
    "A finished sweep: how many trials ran, their status counts, the aggregated tables and the failed trials.",
    {"out": _d(_STRING, "the output directory"), "trials": _COUNT, "ran": _d(_COUNT, "trials run by this command"),
     **_STATUS_COUNTS,
     "metrics": _d(_nullable(_STRING), "the stacked tidy metrics (null: no trial finished)"),
     "summary": _d(_nullable(_STRING), "the mean / standard error over seeds (null: no trial finished)"),
     "failed_trials": _rows(_object({"trial": _STRING, "error": _STRING}), "the trials that failed, with why")},
)

VERIFY_SCHEMA = _document(
    "stablesam verify --json",
    "Where the report went and one verdict per claim (the whole document is verdicts.json, "
    "stablesam.analysis.verify.report.VERDICTS_SCHEMA).",
    {"scale": _d(_STRING, "the scale's name (stablesam.analysis.verify.experiments.SCALES)"),
     "wall_seconds": _NUMBER, "report": _d(_STRING, "report.html"), "markdown": _d(_STRING, "report.md"),
     "verdicts": _d(_STRING, "verdicts.json"),
     "rows": _rows(_object({"claim": {"type": "string", "pattern": "^C[0-9]+$"},
                            "verdict": _d(_STRING, "supported, not supported or inconclusive"),
                            "reading": _d(_STRING, "the verdict in one plain line")}), "one row per claim")},
)

# The command line that prints each document -> its schema.
COMMAND_SCHEMAS: dict[str, Schema] = {
    "train": TRAIN_SCHEMA, "twin": TWIN_SCHEMA, "lr-max": LR_MAX_SCHEMA, "edge": EDGE_SCHEMA,
    "quadratic": QUADRATIC_SCHEMA, "bounds": BOUNDS_SCHEMA, "excess-risk": EXCESS_RISK_SCHEMA,
    "lr-max-bound": LR_MAX_BOUND_SCHEMA, "sharpness": SHARPNESS_SCHEMA, "lr-scan": LR_SCAN_SCHEMA, "eos": EOS_SCHEMA,
    "sweep": SWEEP_SCHEMA, "sweep --dry-run": SWEEP_PLAN_SCHEMA, "verify": VERIFY_SCHEMA,
}
