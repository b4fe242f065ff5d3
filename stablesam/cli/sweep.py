"""``stablesam sweep FILE``: run a grid of twin runs on a process pool or a Dask cluster.

The sweep file (TOML) has a ``[base]`` table of run settings, an ``[axes]`` table of lists to vary
(their cartesian product) and optional ``[[include]]`` extra grids; see ``stablesam.stability.sweeps``.
Finished trials are skipped, so rerunning the same command resumes an interrupted sweep. Exit
status: 0 when every trial finished, 1 when some failed (their ``error.json`` says why), 2 for a
bad sweep file (nothing is written).
"""

from __future__ import annotations

import sys
from pathlib import Path

from stablesam.cli.output import add_json_flag, emit
from stablesam.cli.schemas import SWEEP_PLAN_SCHEMA, SWEEP_SCHEMA


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run a grid of twin runs (process pool or Dask), resumable, aggregated",
        description=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("file", type=Path, help="sweep file (TOML: [base], [axes], [[include]])")
    parser.add_argument("--engine", choices=("local", "dask"), default="local", help="executor (default: local)")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler (with --engine dask); default: a LocalCluster on 127.0.0.1",
    )
    parser.add_argument(
        "--scheduler-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to try to reach --scheduler before giving up (default: 10)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes (default: one per core, at most one per trial); 0: run the trials in this process",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="output directory (default: runs/sweeps/<file stem>)")
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and list the trials and their status; write nothing"
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from stablesam.analysis.curvature.sharpness import top_hessian_eigenvalue
    from stablesam.core.paths import check_output_dir
    from stablesam.core.validation import check_positive
    from stablesam.stability.sweeps import TwinTrial, load_sweep, plan_sweep, run_sweep

    out_dir = args.out if args.out is not None else Path("runs") / "sweeps" / args.file.stem
    check_output_dir("--out", out_dir)
    spec = load_sweep(args.file)
    if args.dry_run:
        records = plan_sweep(spec, out_dir)
        rows = [{"trial": r["name"], "status": r["status"]} for r in records]
        counts = {s: sum(r["status"] == s for r in records) for s in ("finished", "failed", "pending")}
        emit({"out": str(out_dir), "trials": len(records), **counts, "rows": rows}, as_json=args.json,
             schema=SWEEP_PLAN_SCHEMA, rows_key="rows")
        return 0
    try:
        result = run_sweep(spec, out_dir, engine=args.engine, scheduler=args.scheduler, workers=args.workers,
                           runner=TwinTrial(sharpness=top_hessian_eigenvalue),
                           scheduler_timeout=check_positive("--scheduler-timeout", args.scheduler_timeout))
    except ImportError as error:
        print(f"stablesam sweep: error: {error}", file=sys.stderr)
        return 2
    failed = [{"trial": r["name"], "error": r["error"]} for r in result.trials if r["status"] == "failed"]
    report = {
        "out": str(result.out_dir),
        "trials": len(result.trials),
        "ran": len(result.ran),
        **result.counts,
        "metrics": str(result.metrics) if result.metrics else None,
        "summary": str(result.summary) if result.summary else None,
    }
    if failed or args.json:
        report["failed_trials"] = failed
    emit(report, as_json=args.json, schema=SWEEP_SCHEMA, rows_key="failed_trials" if failed else None)
    return 1 if failed else 0
