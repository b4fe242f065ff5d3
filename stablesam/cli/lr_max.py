"""``stablesam lr-max``: the maximal stable learning rate at a given sharpness (docs/theory.md section 3).

    stablesam lr-max --method usam --sharpness 10 --rho 0.05
    stablesam lr-max --method sam --sharpness 10 --rho 0.05 --grad-norm 0.5 --json
"""

from __future__ import annotations

from stablesam.core.methods import method_keys
from stablesam.cli.schemas import LR_MAX_SCHEMA
from stablesam.cli.output import add_json_flag, emit

METHOD_CHOICES = method_keys(edge=True)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "lr-max",
        help="maximal stable learning rate at a sharpness (GD/StableSAM 2/lambda, USAM edge, SAM edge)",
        description="Largest learning rate at which the local quadratic model of sharpness LAMBDA is stable: "
        "2/lambda (GD, SGD, StableSAM-U/-N), 2/(lambda (1 + rho lambda)) (USAM, Agarwala and Dauphin 2023), "
        "2/(lambda (1 + rho lambda/||g||)) (SAM, Long and Bartlett 2023; needs --grad-norm).",
    )
    parser.add_argument("--method", required=True, choices=METHOD_CHOICES)
    parser.add_argument("--sharpness", required=True, type=float, metavar="LAMBDA", help="top Hessian eigenvalue (> 0)")
    parser.add_argument("--rho", type=float, default=0.0, metavar="R", help="ascent radius (>= 0; default 0)")
    parser.add_argument("--grad-norm", type=float, default=None, metavar="G", help="gradient norm ||g|| > 0 (SAM only)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from stablesam.theory.stability_edge import edge_source, max_stable_lr

    value = float(max_stable_lr(args.method, args.sharpness, rho=args.rho, grad_norm=args.grad_norm))
    result = {"method": args.method, "sharpness": args.sharpness, "rho": args.rho}
    if args.method == "sam":
        result["grad_norm"] = args.grad_norm
    result["max_stable_lr"] = value
    result["derived"], result["source"] = edge_source(args.method)
    emit(result, as_json=args.json, schema=LR_MAX_SCHEMA)
    return 0
