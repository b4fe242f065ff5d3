"""``stablesam lr-scan``: observed divergence thresholds (bisection with the optimizers) vs predicted ones."""

from __future__ import annotations

import argparse

from stablesam.core.validation import UsageError
from stablesam.cli._grammar import add_list_option
from stablesam.cli._models import add_model_arguments, build
from stablesam.cli.schemas import LR_SCAN_SCHEMA
from stablesam.cli.output import add_json_flag, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lr-scan",
        help="observed divergence thresholds vs the predicted maximal stable learning rates",
        description="Compare, for each method, the threshold predicted from the measured top Hessian eigenvalue and "
        "gradient norm with what full-batch training does (diverged: loss non-finite or above BLOWUP times its "
        "initial value within STEPS steps). --problem least-squares: the digits least-squares problem, whose Hessian "
        "is exact and where divergence is monotone in the learning rate: bisection to --rel-tol. --problem network: "
        "a freshly initialised model, where it is not: a grid of --grid-points learning rates from 1/4 to 128 times "
        "2/lambda (stablesam.analysis.experiments.lr_scan.DEFAULT_GRID), each run classified diverged / collapsed (chance accuracy) / trained; the smallest failing rate "
        "and whether the outcomes are monotone are reported.",
    )
    parser.add_argument("--problem", choices=("least-squares", "network"), default="least-squares")
    add_model_arguments(parser)
    add_list_option(parser, "--methods", default=["gd", "usam", "sam", "stablesam-u", "stablesam-n"],
                    help="method keys (default: gd usam sam stablesam-u stablesam-n)")
    parser.add_argument("--steps", type=int, default=1000, help="horizon of each run (default: 1000)")
    parser.add_argument("--blowup", type=float, default=None, help="divergence factor of the loss (default: 1e6 least squares, 10 network)")
    parser.add_argument("--rel-tol", type=float, default=None,
                        help="least squares only: relative width of the final bisection bracket (default: 1e-3)")
    parser.add_argument("--grid-points", type=int, default=None,
                        help="network only: learning rates scanned (default: 25)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from stablesam.analysis.experiments.blowup_run import SCAN_METHODS
    from stablesam.analysis.experiments.least_squares_digits import least_squares_thresholds
    from stablesam.analysis.experiments.lr_scan import DEFAULT_GRID, thresholds_along_training
    from stablesam.core.validation import check_choice, check_integer, check_nonnegative, check_positive

    methods = list(args.methods)
    if not methods:
        raise UsageError("--methods must name at least one method")
    for method in methods:
        check_choice("--methods entry", method, SCAN_METHODS)
    rho = check_nonnegative("--rho", args.rho)
    steps = check_integer("--steps", args.steps, minimum=1)
    # A flag of the other mode is refused, not silently ignored.
    for flag, value, mode in (("--rel-tol", args.rel_tol, "least-squares"), ("--grid-points", args.grid_points, "network")):
        if value is not None and args.problem != mode:
            raise UsageError(f"{flag} applies to --problem {mode} only; got --problem {args.problem}")
    rel_tol = check_positive("--rel-tol", 1e-3 if args.rel_tol is None else args.rel_tol)
    grid_points = check_integer("--grid-points", 25 if args.grid_points is None else args.grid_points, minimum=2)
    seed = check_integer("--seed", args.seed, minimum=0)
    blowup = args.blowup if args.blowup is not None else (1e6 if args.problem == "least-squares" else 10.0)
    if check_positive("--blowup", blowup) <= 1:
        raise UsageError(f"--blowup must be > 1, got {blowup!r}")
    if args.problem == "least-squares":
        table = least_squares_thresholds(methods, rho=rho, steps=steps, blowup=blowup, rel_tol=rel_tol,
                                         generator=np.random.default_rng(seed))
        rows = table[["method", "predicted_lr", "observed_lr", "observed_low", "observed_high", "relative_error"]].rename(
            columns={"predicted_lr": "max_stable_lr", "observed_lr": "observed_max_stable_lr"})
        result = {"problem": "least squares on standardised digits (exact Hessian X^T X / n)",
                  "lambda_max": float(table["lambda_max"].iloc[0])}
    else:
        model, loss_fn, data = build(args)
        tidy = thresholds_along_training(model, loss_fn, data, methods, rho=rho, train_lr=1e-3, checkpoints=[0],
                                         steps=steps, blowup=blowup, grid=(*DEFAULT_GRID[:2], grid_points),
                                         generator=np.random.default_rng(seed))
        summary = tidy[(tidy.method != "") & (tidy.metric != "outcome")]
        # pivot, not pivot_table: a metric that is NaN for every method (largest_trained_below when the smallest
        # rate of the grid already fails) keeps its column
        wide = summary.pivot(index="method", columns="metric", values="value").reindex(methods)
        wide["monotone"] = wide["monotone"].astype(bool)
        wide["divergence_monotone"] = wide["divergence_monotone"].astype(bool)
        rows = wide.reset_index().rename(columns={"predicted_lr": "max_stable_lr"})[[
            "method", "max_stable_lr", "smallest_failing_lr", "largest_trained_below", "monotone",
            "smallest_diverged_lr", "divergence_monotone"]]
        scalars = tidy[tidy.method == ""].set_index("metric")["value"]
        result = {"problem": f"{args.model} on {args.dataset} at initialisation", "lambda_max": float(scalars["sharpness"]),
                  "grad_norm": float(scalars["grad_norm"])}
    result.update({"rho": rho, "steps": steps, "blowup": blowup, "thresholds": rows.to_dict(orient="records")})
    emit(result, as_json=args.json, schema=LR_SCAN_SCHEMA, rows_key="thresholds")
    return 0
