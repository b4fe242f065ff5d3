"""``stablesam quadratic``: predicted vs observed divergence threshold on ``f(w) = 1/2 w^T diag(L) w``.

    stablesam quadratic --eigenvalues 4,1,0.25 --method sam --rho 0.1 --lr 0.3
    stablesam quadratic --eigenvalues 2,1 --method stablesam-u --rho 0.5 --steps 5000 --json

Prints the exact threshold (``max_stable_lr``), the one observed by bisection on the simulated map
(``observed_max_stable_lr``; it overestimates by about ``ln(blowup)/steps``), and with ``--lr`` the simulated
outcome at that rate (``diverged``, ``rate``; for SAM the 2-cycle ``cycle_amplitude``). ``rate`` is
the asymptotic per-step factor of ``||w_t||`` (1 on SAM's cycle); for a diverged run, its mean growth
factor up to the divergence step.
"""

from __future__ import annotations

import math

from stablesam.core.methods import method, method_keys
from stablesam.core.validation import UsageError, check_integer, check_nonnegative, check_positive
from stablesam.cli.schemas import QUADRATIC_SCHEMA
from stablesam.cli.output import add_json_flag, emit

METHOD_CHOICES = method_keys(quadratic=True)  # at import; the parser reads the table when it is built


def parse_float_list(name: str, text: str) -> list[float]:
    """``"1,2.5,3"`` -> ``[1.0, 2.5, 3.0]``; raise ``ValueError`` naming ``name`` on anything else."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f"{name} must be a comma-separated list of numbers (e.g. 2,1,0.5), got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{name} must contain finite numbers only, got {text!r}")
    return values


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "quadratic",
        help="exact vs simulated divergence threshold of a method on a quadratic with given eigenvalues",
        description="Exact and observed (bisection on the simulated map) divergence thresholds of METHOD on "
        "f(w) = 1/2 w^T diag(L) w, and with --lr the simulated outcome at that learning rate.",
    )
    parser.add_argument("--eigenvalues", required=True, metavar="L1,L2,...", help="Hessian eigenvalues (all > 0)")
    parser.add_argument("--method", required=True, choices=method_keys(quadratic=True))
    parser.add_argument("--rho", type=float, default=0.0, metavar="R", help="ascent radius (>= 0; default 0)")
    parser.add_argument("--lr", type=float, default=None, metavar="ETA", help="simulate at this learning rate (> 0)")
    parser.add_argument("--steps", type=int, default=2000, metavar="T", help="simulation horizon (default 2000)")
    parser.add_argument("--start", default=None, metavar="X1,X2,...",
                        help="initial iterate in the eigenbasis (default all ones; write --start=-1,1 for a leading minus)")
    parser.add_argument("--blowup", type=float, default=1e8, metavar="B",
                        help="divergence level, relative to max(1, ||w_0||) (default 1e8)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    import numpy as np

    from stablesam.theory.sam_cycle import sam_cycle_amplitude
    from stablesam.theory.simulate import observed_lr_max, simulate
    from stablesam.theory.quadratic_divergence import divergence_threshold, quadratic_map_diverges, threshold_source

    eigenvalues = parse_float_list("--eigenvalues", args.eigenvalues)
    bad = [v for v in eigenvalues if v <= 0]
    if bad:
        raise UsageError(f"--eigenvalues must all be > 0 (a positive-definite quadratic), got {bad[0]!r}")
    check_nonnegative("--rho", args.rho)
    steps = check_integer("--steps", args.steps, minimum=1)
    if check_positive("--blowup", args.blowup) <= 1:
        raise UsageError(f"--blowup must be > 1, got {args.blowup!r}")
    if args.lr is not None:
        check_positive("--lr", args.lr)
    start = None
    if args.start is not None:
        start = parse_float_list("--start", args.start)
        if len(start) != len(eigenvalues):
            raise UsageError(f"--start must have {len(eigenvalues)} entries (one per eigenvalue), got {len(start)}")
        if not any(start):
            raise UsageError(f"--start {args.start} is w = 0, the minimum: every method stays there at every "
                             "learning rate (the gradient is 0), so nothing diverges; give a nonzero start")

    lam = np.array(eigenvalues)
    predicted = float(divergence_threshold(args.method, lam, rho=args.rho))
    derived, source = threshold_source(args.method)
    observed = float(observed_lr_max(args.method, lam, rho=args.rho, start=start, steps=steps, blowup=args.blowup))
    result = {
        "method": args.method,
        "eigenvalues": eigenvalues,
        "rho": args.rho,
        "steps": steps,
        "max_stable_lr": predicted,
        "derived": derived,
        "source": source,
        "observed_max_stable_lr": observed,
        "relative_gap": observed / predicted - 1.0,
        "expected_bias": math.log(args.blowup) / steps,
    }
    if args.lr is not None:
        run_ = simulate(args.method, lam, lr=args.lr, rho=args.rho, start=start, steps=steps, blowup=args.blowup)
        result.update(
            lr=args.lr,
            predicted_diverged=bool(quadratic_map_diverges(args.method, args.lr, lam, rho=args.rho)),
            diverged=bool(run_.diverged),
            divergence_step=int(run_.divergence_step) if run_.diverged else None,
            rate=float(run_.rate),
            final_norm=float(run_.final_norm),
        )
        row = method(args.method)
        if row.ascent == "normalized" and not row.stable:  # SAM's 2-cycle (stablesam.theory.sam_cycle)
            # Below the threshold SAM ends on the 2-cycle +-c v_1: the observed amplitude is ||w_T||. At or above
            # it (eta lambda >= 2, where ||w_t|| grows, linearly at equality) there is no cycle.
            top = float(lam.max())
            cycles = args.lr * top < 2 and not run_.diverged
            result["cycle_amplitude"] = float(run_.final_norm) if cycles else None
            result["predicted_cycle_amplitude"] = float(sam_cycle_amplitude(args.lr, top, args.rho)) if args.lr * top < 2 else None
            if not cycles:
                why = "the run diverged" if run_.diverged else f"eta lambda_max = {args.lr * top:.6g} >= 2: ||w_t|| grows without bound"
                result["cycle_note"] = f"no 2-cycle: {why}"
    emit(result, as_json=args.json, schema=QUADRATIC_SCHEMA)
    return 0
