"""Arguments shared by ``bounds``, ``excess-risk`` and ``lr-max-bound``: the constants of the stability theorems."""

from __future__ import annotations

import argparse

from stablesam.core.methods import method_keys

METHODS = method_keys(quadratic=True, full_batch=False)  # at import; parsers read the table when they are built
SETTINGS = ("convex", "strongly-convex", "nonconvex")


def add_method(parser: argparse.ArgumentParser, *, setting: bool = True) -> None:
    if setting:
        parser.add_argument("--setting", required=True, choices=SETTINGS, help="loss class of the theorem")
    parser.add_argument("--method", required=True, choices=method_keys(quadratic=True, full_batch=False), help="optimizer whose bound is computed")


def add_constants(parser: argparse.ArgumentParser, *, mu: bool = True, c: bool = True) -> None:
    parser.add_argument("--L", dest="L", type=float, required=True, help="Lipschitz constant of the loss in w")
    parser.add_argument("--beta", type=float, required=True, help="smoothness constant (gradient Lipschitz)")
    if mu:
        parser.add_argument("--mu", type=float, help="strong-convexity constant (setting strongly-convex)")
    parser.add_argument("--n", type=int, required=True, help="number of training examples")
    parser.add_argument("--T", dest="T", type=int, required=True, help="number of SGD steps")
    parser.add_argument("--rho", type=float, default=0.0, help="SAM radius (default 0; ignored by sgd)")
    parser.add_argument(
        "--assumption", choices=("shared-gamma", "lipschitz-step"),
        help="StableSAM only (required for stablesam-*): shared-gamma (both runs share gamma_t <= --gamma; gamma must "
        "be >= 1/(1 + rho beta) for stablesam-u) or lipschitz-step (derived expansiveness constant, no assumption "
        "on gamma_t; rho beta < 1, and --g-min > rho beta for stablesam-n)",
    )
    parser.add_argument("--gamma", type=float, help="shared-gamma: upper bound on the shared factor gamma_t (1 holds for convex losses)")
    parser.add_argument("--g-min", dest="g_min", type=float, help="stablesam-n: lower bound on ||g|| along the run")


def stablesam_options(args: argparse.Namespace) -> dict:
    return {"gamma": args.gamma, "assumption": args.assumption, "g_min": args.g_min}
