"""``stablesam edge``: the largest stable sharpness at a given learning rate (docs/theory.md section 3).

    stablesam edge --method usam --lr 0.1 --rho 0.05
    stablesam edge --method sam --lr 0.1 --rho 0.05 --grad-norm 0.5 --json
"""

from __future__ import annotations

from stablesam.core.methods import method_keys
from stablesam.cli.schemas import EDGE_SCHEMA
from stablesam.cli.output import add_json_flag, emit


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "edge",
        help="largest stable sharpness at a learning rate (GD 2/eta, USAM edge, SAM edge)",
        description="Edge of stability: largest top Hessian eigenvalue at which the local quadratic model is "
        "stable at learning rate ETA. GD/SGD/StableSAM: 2/eta; USAM (Agarwala and Dauphin 2023): "
        "(sqrt(1 + 8 rho/eta) - 1)/(2 rho); SAM (Long and Bartlett 2023; needs --grad-norm): "
        "(||g||/(2 rho)) (sqrt(1 + 8 rho/(eta ||g||)) - 1).",
    )
    parser.add_argument("--method", required=True, choices=method_keys(edge=True))
    parser.add_argument("--lr", required=True, type=float, metavar="ETA", help="learning rate (> 0)")
    parser.add_argument("--rho", type=float, default=0.0, metavar="R", help="ascent radius (>= 0; default 0)")
    parser.add_argument("--grad-norm", type=float, default=None, metavar="G", help="gradient norm ||g|| > 0 (SAM only)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from stablesam.theory.stability_edge import edge_row, edge_source, max_stable_sharpness

    sharpness_max = float(max_stable_sharpness(args.method, args.lr, rho=args.rho, grad_norm=args.grad_norm))
    result = {"method": args.method, "lr": args.lr, "rho": args.rho}
    if edge_row(args.method).edge == "sam":
        result["grad_norm"] = args.grad_norm
    result["sharpness_max"] = sharpness_max
    result["derived"], result["source"] = edge_source(args.method)
    emit(result, as_json=args.json, schema=EDGE_SCHEMA)
    return 0
