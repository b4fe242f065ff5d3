"""``stablesam eos``: edge of stability on real networks, the sharpness along training against each method's edge.

Trains one model per method x learning rate x radius x seed at a fixed learning rate (full batch unless
--batch-size) and every --measure-every steps records, on the full training set, the top Hessian
eigenvalue (Lanczos, warm-started from the previous eigenvector), ||g||, loss, accuracy and the method's
edge: 2/eta for GD and StableSAM-U/-N, USAM's at (eta, rho) (Agarwala and Dauphin 2023), SAM's at the
measured ||g|| (Long and Bartlett 2023). Prints the plateau ratio (median of sharpness/edge over the last
half of training) per method, eta and rho, with its spread over seeds; writes the tidy table, the plateau
ratios and a checkpoint per run to --out (rerunning the command resumes). Examples::

    stablesam eos --methods gd sam usam stablesam-u stablesam-n --lrs 0.1 --rhos 0.05 --seeds 0 1 2 --out runs/eos
    stablesam eos --model cnn --lrs 0.05 0.1 --steps 1000 --figure runs/eos/eos.png --json
    stablesam eos --config eos.toml --seeds 3 4
"""

from __future__ import annotations

import argparse

from stablesam.cli._grammar import add_list_option, add_threads_flag
from stablesam.cli.schemas import EOS_SCHEMA
from stablesam.cli.output import add_json_flag, emit

_SUMMARY_COLUMNS = ("model", "optimizer", "lr", "rho", "plateau_ratio_median", "plateau_ratio_min", "plateau_ratio_max",
                    "plateau_edge_median", "seeds", "diverged")


def register(subparsers) -> None:
    from dataclasses import fields

    from stablesam.analysis.experiments.edge_of_stability import EOS_METHODS, EosConfig

    defaults = {f.name: f.default for f in fields(EosConfig)}
    show = lambda key: " ".join(map(str, v)) if isinstance(v := defaults[key], tuple) else v  # noqa: E731
    p = subparsers.add_parser(
        "eos", help="edge of stability: sharpness along training against each method's edge",
        description=__doc__.split("Examples::")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE.toml", default=None,
                   help="TOML file of EosConfig settings (flags override it)")
    p.add_argument("--dataset", help=f"data set (default {show('dataset')}; also mnist1d)")
    p.add_argument("--data-dir", help="directory holding the files of a file-based data set")
    p.add_argument("--model", help=f"mlp or cnn (default {show('model')})")
    p.add_argument("--activation", help=f"mlp: tanh or relu (default {show('activation')})")
    p.add_argument("--hidden", nargs="*", type=int, help=f"mlp widths (default {show('hidden')})")
    p.add_argument("--channels", nargs="+", type=int, help=f"cnn channels (default {show('channels')})")
    add_list_option(p, "--methods", help=f"method keys among {', '.join(EOS_METHODS)} (default {show('methods')})")
    add_list_option(p, "--lrs", type=float, help=f"learning rates (default {show('lrs')})")
    add_list_option(p, "--rhos", type=float, help=f"radii of the SAM-family methods (default {show('rhos')})")
    add_list_option(p, "--seeds", type=int, help=f"seeds of initialisation and batch order (default {show('seeds')})")
    p.add_argument("--steps", type=int, help=f"training steps (default {show('steps')})")
    p.add_argument("--measure-every", type=int,
                   help=f"measure every K steps, and at steps 0 and the last (default {show('measure_every')})")
    p.add_argument("--batch-size", type=int, help="mini-batch size (default: full batch)")
    p.add_argument("--loss", help=f"mse or cross-entropy (default {show('loss')})")
    p.add_argument("--n-train", type=int, help="training examples (default: the data set's)")
    p.add_argument("--data-seed", type=int, help="seed of the data split (default 0)")
    p.add_argument("--dtype", help=f"float64 or float32 (default {show('dtype')})")
    p.add_argument("--device", help=f"cpu, cuda or auto (default {show('device')})")
    p.add_argument("--lanczos-tol", type=float, help=f"Lanczos relative residual tolerance (default {show('lanczos_tol')})")
    p.add_argument("--lanczos-ncv", type=int, help=f"Lanczos basis size (default {show('lanczos_ncv')})")
    p.add_argument("--divergence-factor", type=float,
                   help=f"diverged: loss above this times its initial value (default {show('divergence_factor')})")
    p.add_argument("--checkpoint-every", type=int, help=f"checkpoint every N steps (default {show('checkpoint_every')})")
    p.add_argument("--out", default=None, help="output directory (tables, checkpoints; rerun to resume)")
    p.add_argument("--overwrite", action="store_true", help="replace an experiment with a different config in --out")
    p.add_argument("--figure", metavar="FILE.png", default=None,
                   help="also write the sharpness and sharpness/edge figure (PNG and PDF)")
    add_threads_flag(p)
    add_json_flag(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import fields
    from pathlib import Path

    from stablesam.analysis.experiments.edge_of_stability import EosConfig, run_edge_of_stability
    from stablesam.core.validation import UsageError

    from stablesam.core.paths import check_output_dir, check_output_file
    from stablesam.stability.twin.config import read_toml

    settings = read_toml(args.config) if args.config else {}
    for f in fields(EosConfig):  # a flag given overrides the file
        if getattr(args, f.name) is not None:
            settings[f.name] = _value(getattr(args, f.name))
    config = EosConfig.from_json(settings)
    figure = None if args.figure is None else Path(args.figure)
    if figure is not None:  # every output checked before any training
        if figure.suffix.lower() not in (".png", ".pdf"):
            raise UsageError(f"--figure must end in .png or .pdf, got {args.figure!r}")
        for suffix in (".png", ".pdf"):
            check_output_file("--figure", figure.with_suffix(suffix))
    if args.out is not None:
        check_output_dir("--out", args.out)
    result = run_edge_of_stability(config, args.out, overwrite=args.overwrite)
    if figure is not None:
        _write_figure(result.table, figure)
    summary = result.summary[list(_SUMMARY_COLUMNS)]
    output = {
        "dataset": config.dataset,
        "loss": config.loss,
        "steps": config.steps,
        "batch_size": config.batch_size or "full",
        "out": args.out,
        "figure": args.figure,
        "plateau_ratios": summary.to_dict(orient="records"),
    }
    emit(output, as_json=args.json, schema=EOS_SCHEMA, rows_key="plateau_ratios")
    return 0


def _value(value):
    return tuple(value) if isinstance(value, list) else value


def _write_figure(table, path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from stablesam.analysis.plots.edge_of_stability import plot_edge_of_stability
    from stablesam.analysis.plots.style import figure_style
    from stablesam.core.io import atomic_path

    with figure_style():
        fig = plot_edge_of_stability(table)
        for suffix in (".png", ".pdf"):
            with atomic_path(path.with_suffix(suffix)) as tmp:
                fig.savefig(tmp, format=suffix[1:])
        plt.close(fig)
