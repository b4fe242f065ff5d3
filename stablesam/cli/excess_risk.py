"""``stablesam excess-risk``: optimization + generalization terms of the convex excess-risk bound and its optimal lr."""

from __future__ import annotations

import argparse

from stablesam.cli._bounds_common import add_constants, add_method, stablesam_options
from stablesam.cli.schemas import EXCESS_RISK_SCHEMA
from stablesam.cli.output import add_json_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "excess-risk",
        help="convex excess-risk bound: optimization + generalization terms, optimal learning rate",
        description="Convex excess-risk bound D^2/(2 eta T) + eta L^2/2 + eps_stab (SGD; the SAM-family terms are "
        "derived). Prints the terms at --lr (if given) and the learning rate minimising the bound, found "
        "numerically and, for SGD, in closed form eta* = D/(L sqrt(T (1 + 4T/n))).",
    )
    add_method(parser, setting=False)
    add_constants(parser, mu=False)
    parser.add_argument("--D", dest="D", type=float, required=True, help="bound on ||w_0 - w*||")
    parser.add_argument("--lr", type=float, help="evaluate the terms at this constant learning rate")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import math

    from stablesam.cli.output import emit
    from stablesam.theory.uniform_stability import assumption_detail, stability_bound
    from stablesam.theory.excess_risk import convex_sgd_optimal_lr, excess_risk, excess_risk_function, lr_limit, optimal_lr

    constants = dict(L=args.L, beta=args.beta, D=args.D, n=args.n, T=args.T, rho=args.rho, **stablesam_options(args))
    result: dict = {"method": args.method, "derived": args.method != "sgd", "assumption": args.assumption}
    result["assumption_detail"] = assumption_detail(args.method, "convex", beta=args.beta, rho=args.rho, **stablesam_options(args))
    if args.assumption == "shared-gamma":  # the optimization term needs gamma_t >= gamma, the stability term <= gamma
        result["assumption_detail"] += "; the optimization term also needs gamma_t >= gamma: gamma_t = gamma at every step (an assumption)"
    if args.lr is not None:
        risk = excess_risk(args.method, args.lr, **constants)
        result.update(lr=args.lr, optimization=risk.optimization, generalization=risk.generalization, total=risk.total)
    limit = lr_limit(args.method, "convex", **{k: constants[k] for k in ("beta", "rho", "gamma", "assumption", "g_min")})
    search_max = limit if math.isfinite(limit) else 2.0 / args.beta  # no learning-rate condition: search SGD's range
    objective = excess_risk_function(args.method, **constants)
    best_lr, best = optimal_lr(objective, search_max * 1e-8, search_max)
    best_terms = excess_risk(args.method, best_lr, **constants)
    result.update(
        optimal_lr=best_lr, optimal_total=best, optimal_optimization=best_terms.optimization,
        optimal_generalization=best_terms.generalization, lr_limit=limit if math.isfinite(limit) else None,
    )
    probe = stability_bound(args.method, "convex", L=args.L, beta=args.beta, n=args.n, T=args.T, lr=best_lr, rho=args.rho, **stablesam_options(args))
    if probe.closed_form is not None:
        # The generalization term is a closed form: print the exact recursion's bound beside it (both valid).
        closed = {"optimal_lr": best_lr, "optimal_total": best, "optimal_generalization": best_terms.generalization}
        rec_lr, rec_best = optimal_lr(excess_risk_function(args.method, recursion=True, **constants), search_max * 1e-8, search_max)
        tighter = {"optimal_lr": rec_lr, "optimal_total": rec_best,
                   "optimal_generalization": excess_risk(args.method, rec_lr, **constants).generalization_recursion}
        if args.lr is not None:
            closed.update(generalization=risk.generalization, total=risk.total)
            tighter.update(generalization=risk.generalization_recursion, total=risk.total_recursion)
        result.update({"closed form": closed, "recursion (tighter)": tighter})
    if args.method == "sgd":
        eta, value = convex_sgd_optimal_lr(L=args.L, D=args.D, n=args.n, T=args.T)
        result.update(closed_form_optimal_lr=eta, closed_form_optimal_total=value, closed_form_within_limit=eta <= limit)
    result["inputs"] = {k: v for k, v in constants.items() if v is not None}
    emit(result, as_json=args.json, schema=EXCESS_RISK_SCHEMA)
    return 0
