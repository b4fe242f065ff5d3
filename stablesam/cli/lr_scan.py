"""``stablesam lr-scan``: observed divergence thresholds (bisection with the optimizers) vs predicted ones."""

from __future__ import annotations

import argparse

from core.validation import UsageError
from stablesam.cli._models import add_model_arguments, build
from stablesam.cli.output import add_json_flag, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lr-scan",
        help="observed divergence thresholds by bisection vs the predicted maximal stable learning rates",
        description="Bisect, for each method, the smallest learning rate at which full-batch training diverges "
        "(loss non-finite or above BLOWUP times its initial value within STEPS steps), and compare with the "
        "threshold predicted from the measured top Hessian eigenvalue and gradient norm. --problem least-squares: "
        "the digits least-squares problem, whose Hessian is exact; --problem network: a freshly initialised model.",
    )
    parser.add_argument("--problem", choices=("least-squares", "network"), default="least-squares")
    add_model_arguments(parser)
    parser.add_argument("--methods", default="gd,usam,sam,stablesam-u,stablesam-n", help="comma-separated method keys")
    parser.add_argument("--steps", type=int, default=1000, help="horizon of each run (default: 1000)")
    parser.add_argument("--blowup", type=float, default=None, help="divergence factor of the loss (default: 1e6 least squares, 10 network)")
    parser.add_argument("--rel-tol", type=float, default=1e-3, help="relative width of the final bracket (default: 1e-3)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from analysis.lr_scan import SCAN_METHODS, least_squares_thresholds, thresholds_along_training
    from core.validation import check_choice, check_integer, check_nonnegative, check_positive

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise UsageError("--methods must name at least one method")
    for method in methods:
        check_choice("--methods entry", method, SCAN_METHODS)
    rho = check_nonnegative("--rho", args.rho)
    steps = check_integer("--steps", args.steps, minimum=1)
    rel_tol = check_positive("--rel-tol", args.rel_tol)
    seed = check_integer("--seed", args.seed, minimum=0)
    blowup = args.blowup if args.blowup is not None else (1e6 if args.problem == "least-squares" else 10.0)
    if check_positive("--blowup", blowup) <= 1:
        raise UsageError(f"--blowup must be > 1, got {blowup!r}")
    if args.problem == "least-squares":
        table = least_squares_thresholds(methods, rho=rho, steps=steps, blowup=blowup, rel_tol=rel_tol,
                                         generator=np.random.default_rng(seed))
        rows = table[["method", "predicted_lr", "observed_lr", "observed_low", "observed_high", "relative_error"]]
        result = {"problem": "least squares on standardised digits (exact Hessian X^T X / n)",
                  "lambda_max": float(table["lambda_max"].iloc[0])}
    else:

        model, loss_fn, data = build(args)
        tidy = thresholds_along_training(model, loss_fn, data, methods, rho=rho, train_lr=1e-3, checkpoints=[0],
                                         steps=steps, blowup=blowup, rel_tol=rel_tol, generator=np.random.default_rng(seed))
        wide = tidy[tidy.method != ""].pivot_table(index="method", columns="metric", values="value").reindex(methods)
        wide["relative_error"] = wide["observed_lr"] / wide["predicted_lr"] - 1
        rows = wide.reset_index()[["method", "predicted_lr", "observed_lr", "observed_low", "observed_high", "relative_error"]]
        scalars = tidy[tidy.method == ""].set_index("metric")["value"]
        result = {"problem": f"{args.model} on {args.dataset} at initialisation", "lambda_max": float(scalars["sharpness"]),
                  "grad_norm": float(scalars["grad_norm"])}
    result.update({"rho": rho, "steps": steps, "blowup": blowup, "thresholds": rows.to_dict(orient="records")})
    emit(result, as_json=args.json, rows_key="thresholds")
    return 0
