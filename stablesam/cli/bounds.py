"""``stablesam bounds``: the uniform-stability bound eps_stab of a method, with the inputs it used."""

from __future__ import annotations

import argparse

from stablesam.core.validation import UsageError
from stablesam.cli._bounds_common import add_constants, add_method, stablesam_options
from stablesam.cli.schemas import BOUNDS_SCHEMA
from stablesam.cli.output import add_json_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bounds",
        help="uniform-stability bound eps_stab (Hardt et al. 2016; SAM family derived)",
        description="Uniform-stability bound of SGD (Hardt, Recht and Singer 2016, Thms 3.8, 3.9, 3.12) or of "
        "USAM / SAM / StableSAM (derived in the same framework; StableSAM needs --assumption shared-gamma or "
        "lipschitz-step, and the output says which was used). "
        "Convex settings take --lr (with --schedule); the non-convex setting takes --c (eta_t = c/t).",
    )
    add_method(parser)
    add_constants(parser)
    parser.add_argument("--c", type=float, help="non-convex: eta_t = c/t")
    parser.add_argument("--lr", type=float, help="learning rate (the schedule's base value)")
    parser.add_argument(
        "--schedule", default="constant", choices=("constant", "inverse-time", "step", "cosine"),
        help="learning-rate schedule from --lr: constant, lr/t, step decay, cosine to 0 (default constant)",
    )
    parser.add_argument("--decay-factor", type=float, default=0.1, help="step schedule: factor per drop (default 0.1)")
    parser.add_argument("--decay-every", type=int, help="step schedule: steps between drops (default T//3)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stablesam.cli.output import emit
    from stablesam.theory.schedules import make_schedule
    from stablesam.theory.uniform_stability import stability_bound

    if args.setting != "nonconvex" and args.lr is None:
        raise UsageError(f"setting {args.setting!r} needs --lr")
    if args.setting == "nonconvex" and args.lr is not None:
        raise UsageError("setting 'nonconvex' takes --c (eta_t = c/t), not --lr")
    if args.lr is None or args.schedule == "constant":
        lr = args.lr
    else:
        lr = make_schedule(args.schedule, args.lr, args.T, factor=args.decay_factor, every=args.decay_every)
    bound = stability_bound(
        args.method, args.setting, L=args.L, beta=args.beta, n=args.n, T=args.T, lr=lr, c=args.c,
        rho=args.rho, mu=args.mu, **stablesam_options(args),
    )
    inputs = {k: getattr(args, k) for k in ("setting", "method", "L", "beta", "mu", "c", "n", "T", "lr", "schedule", "rho", "gamma", "g_min", "assumption")}
    if args.setting == "nonconvex":
        inputs.pop("schedule")
    elif args.schedule == "step":
        inputs.update(decay_factor=args.decay_factor, decay_every=args.decay_every or max(1, args.T // 3))
    result = {"eps_stab": bound.eps, "source": bound.source, "derived": bound.derived, "assumption": bound.assumption}
    if bound.closed_form is not None and bound.recursion is not None:
        # Both are valid bounds on the same constants; the recursion is never above the closed form.
        result.update({"closed form": bound.closed_form, "recursion (tighter)": bound.recursion,
                       "eps_stab_is": "closed form (the recursion, a valid bound too, is tighter)"})
    result["assumption_detail"] = bound.assumption_detail
    if bound.t0 is not None:
        result["t0"] = bound.t0
    result["inputs"] = {k: v for k, v in inputs.items() if v is not None}
    emit(result, as_json=args.json, schema=BOUNDS_SCHEMA)
    return 0
