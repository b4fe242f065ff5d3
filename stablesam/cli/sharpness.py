"""``stablesam sharpness``: top Hessian eigenvalues, trace, gradient norm and maximal stable learning rates."""

from __future__ import annotations

import argparse

from stablesam.core.validation import UsageError
from stablesam.stability.optimizers import DEFAULT_RHO
from stablesam.cli._grammar import add_threads_flag
from stablesam.cli._models import add_model_arguments, build
from stablesam.cli.schemas import SHARPNESS_SCHEMA
from stablesam.cli.output import add_json_flag, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sharpness",
        help="top Hessian eigenvalues, trace and maximal stable learning rates of a model",
        description="Measure the top-k Hessian eigenvalues (Lanczos, with residuals), the Hutchinson trace, the "
        "gradient norm and loss of a freshly initialised model, a saved state_dict, or one model of a twin run directory "
        "(--run) on its full training set, and the maximal stable "
        "learning rate of GD, USAM, SAM and StableSAM-U/-N at radius rho (docs/theory.md section 3).",
    )
    add_model_arguments(parser)
    parser.add_argument("--run", default=None, metavar="DIR",
                        help="a twin run directory: measure one of its models at the latest checkpoint on that model's "
                        "own training set (its config decides data and model; --rho defaults to the run's rho, or to "
                        f"{DEFAULT_RHO} for a run with no ascent step)")
    parser.add_argument("--model-index", type=int, default=0,
                        help="with --run: model 2p is pair p trained on S, 2p+1 its twin on S' (default 0)")
    parser.set_defaults(rho=None)
    parser.add_argument("--k", type=int, default=1, help="number of top eigenvalues (default: 1)")
    parser.add_argument("--trace-probes", type=int, default=0, help="Rademacher probes of the trace (0: no trace)")
    parser.add_argument("--backend", choices=("double-backward", "func"), default=None, help="Hessian-vector product")
    parser.add_argument("--bn-mode", choices=("eval", "train"), default="eval", help="BatchNorm statistics")
    parser.add_argument("--chunk-size", type=int, default=None, help="examples per forward pass (default: all)")
    add_threads_flag(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from stablesam.analysis.curvature.hessian import DEFAULT_BACKEND
    from stablesam.analysis.experiments.measured_thresholds import measure_curvature
    from stablesam.core.validation import check_integer, check_nonnegative

    rho = None if args.rho is None else check_nonnegative("--rho", args.rho)
    k = check_integer("--k", args.k, minimum=1)
    probes = check_integer("--trace-probes", args.trace_probes, minimum=0)
    if args.chunk_size is not None:
        check_integer("--chunk-size", args.chunk_size, minimum=1)
    if args.run is not None:
        from stablesam.stability.twin.run import load_run_model

        if args.checkpoint is not None:
            raise UsageError("--checkpoint and --run are exclusive: a run directory names its own checkpoint")
        loaded = load_run_model(args.run, args.model_index)
        model, loss_fn, data = loaded.module, loaded.loss_fn, loaded.data
        # the run's radius, or the default one for a run with no ascent (sgd: its effective radius is 0)
        run_rho = loaded.config.effective_rho
        rho = (run_rho or DEFAULT_RHO) if args.rho is None else rho
        source = {"dataset": loaded.config.dataset, "model": loaded.config.model, **loaded.info, "run_rho": run_rho}
    else:
        model, loss_fn, data = build(args)
        rho = DEFAULT_RHO if args.rho is None else rho
        source = {"dataset": args.dataset, "model": args.model, "checkpoint": args.checkpoint}
    report = measure_curvature(
        model, loss_fn, data, rho=rho, k=k, trace_probes=probes, generator=np.random.default_rng(args.seed),
        backend=args.backend or DEFAULT_BACKEND, dtype=getattr(torch, args.dtype), bn_mode=args.bn_mode,
        chunk_size=args.chunk_size,
    )
    result = {
        **source,
        "parameters": sum(p.numel() for p in model.parameters()),
        "examples": int(data[0].shape[0]),
        "loss": report.loss,
        "grad_norm": report.grad_norm,
        "eigenvalues": report.eigenvalues,
        "residuals": report.residuals,
        "converged": report.converged,
        "hvps": report.num_hvps,
        "trace": report.trace,
        "trace_standard_error": report.trace_standard_error,
        "rho": rho,
        "max_stable_lr": [{"method": m, "max_stable_lr": lr} for m, lr in report.max_stable_lr.items()],
    }
    emit(result, as_json=args.json, schema=SHARPNESS_SCHEMA, rows_key="max_stable_lr")
    return 0
