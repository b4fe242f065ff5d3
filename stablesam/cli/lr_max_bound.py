"""``stablesam lr-max-bound``: the largest learning rate a stability bound allows for a target eps, and the
largest non-expansive learning rate."""

from __future__ import annotations

import argparse

from stablesam.cli._bounds_common import add_constants, add_method, stablesam_options
from stablesam.cli.schemas import LR_MAX_BOUND_SCHEMA
from stablesam.cli.output import add_json_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lr-max-bound",
        help="maximal learning rate from a stability bound and a target eps; maximal non-expansive rate",
        description="Largest learning rate (largest c of eta_t = c/t in the non-convex setting) whose stability "
        "bound stays below --eps, capped by the theorem's condition, and the largest learning rate keeping the "
        "method's step non-expansive (convex case).",
    )
    add_method(parser)
    add_constants(parser)
    parser.add_argument("--eps", type=float, required=True, help="target uniform-stability level")
    parser.add_argument(
        "--curvature", default="general", choices=("general", "quadratic"),
        help="non-expansiveness: any convex loss, or constant/commuting Hessians (default general)",
    )
    parser.add_argument("--c-max", type=float, default=1e6, help="non-convex: largest c searched (default 1e6)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import math

    from stablesam.core.validation import check_positive
    from stablesam.cli.output import emit
    from stablesam.theory.excess_risk import bound_function, lr_limit, max_lr_for_target
    from stablesam.theory.uniform_stability import assumption_detail, max_nonexpansive_lr

    options = stablesam_options(args)
    constants = dict(L=args.L, n=args.n, T=args.T, rho=args.rho)
    if args.setting == "strongly-convex":
        constants["mu"] = args.mu
    bound = bound_function(args.method, args.setting, beta=args.beta, **options, **constants)
    limit = lr_limit(args.method, args.setting, beta=args.beta, rho=args.rho, **options)
    search_max = limit if math.isfinite(limit) else check_positive("--c-max", args.c_max)
    found = max_lr_for_target(bound, args.eps, search_max)
    variable = "c" if args.setting == "nonconvex" else "lr"
    result = {
        f"max_{variable}": found.lr,
        "bound_at_max": found.bound,
        "binding": found.binding,
        "theorem_limit": limit if math.isfinite(limit) else None,
        "max_nonexpansive_lr": max_nonexpansive_lr(args.method, beta=args.beta, rho=args.rho, curvature=args.curvature, **options),
        "curvature": args.curvature,
        "derived": args.method != "sgd",
        "assumption": args.assumption,
        "assumption_detail": assumption_detail(args.method, args.setting, beta=args.beta, rho=args.rho, **options),
        **_recursion_beside(args, bound, found, search_max, options, constants),
        "inputs": {k: v for k, v in dict(setting=args.setting, method=args.method, beta=args.beta, eps=args.eps, **constants, **options).items() if v is not None},
    }
    emit(result, as_json=args.json, schema=LR_MAX_BOUND_SCHEMA)
    return 0


def _recursion_beside(args, bound, found, search_max: float, options: dict, constants: dict) -> dict:
    """Where the stability bound is a closed form, the same search on the exact growth recursion (tighter; both valid)."""
    from stablesam.theory.excess_risk import bound_function, max_lr_for_target
    from stablesam.theory.uniform_stability import stability_bound

    variable = "c" if args.setting == "nonconvex" else "lr"
    probe = found.lr if found.lr > 0 else search_max
    if stability_bound(args.method, args.setting, beta=args.beta, **{variable: probe}, **options, **constants).closed_form is None:
        return {}
    tighter = max_lr_for_target(bound_function(args.method, args.setting, beta=args.beta, recursion=True, **options, **constants), args.eps, search_max)
    return {
        "closed form": {f"max_{variable}": found.lr, "bound_at_max": found.bound, "binding": found.binding},
        "recursion (tighter)": {f"max_{variable}": tighter.lr, "bound_at_max": tighter.bound, "binding": tighter.binding},
    }
