"""``stablesam twin``: train twin models on neighbouring datasets and report their stability.

Several ``--optimizer`` and ``--lr`` values run every combination, each in its own run directory
``OUT/<optimizer>_lr<lr>_rho<rho>`` (a single combination writes to ``OUT`` itself). ``--config FILE.toml``
holds any TwinConfig key (``optimizer`` and ``lr`` may be lists there too); flags override it.
Everything (flags, file, datasets, indices, output directories) is validated before anything is
written, and every run directory is locked before any trains (a second writer is refused). Running
the same command again continues an interrupted run from its last intact checkpoint. Examples::

    stablesam twin --optimizer sgd sam stablesam-n --lr 0.05 0.5 --seeds 0 1 2 --epochs 20 --out runs/twin
    stablesam twin --config examples/twin.toml --epochs 5 --json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stablesam.core.paths import check_output_dir, check_output_file
from stablesam.core.validation import UsageError
from stablesam.cli._grammar import add_list_option, add_threads_flag
from stablesam.cli.schemas import TWIN_SCHEMA
from stablesam.cli.output import add_json_flag, emit

# flag dest -> TwinConfig key (flags not listed map to the key of the same name)
_KEYS = {"replaced_index": "replaced_indices", "methods": "optimizer", "lrs": "lr"}
_SUMMARY_COLUMNS = ("optimizer", "lr", "rho", "seed", "replaced_index", "distance", "gen_gap", "loss_diff_max",
                    "gamma_mean", "diverged", "divergence")


def _config_defaults() -> dict:
    """TwinConfig's field defaults: the one place they are written (help texts and the grid read them)."""
    import dataclasses

    from stablesam.stability.twin.config import TwinConfig

    return {f.name: f.default for f in dataclasses.fields(TwinConfig)}


def register(subparsers) -> None:
    from stablesam.stability.twin.config import BASE_OPTIMIZERS, DEVICES, DTYPES, METHODS, MOMENTUM, SCHEDULES

    defaults = _config_defaults()

    def default(key: str) -> str:
        value = defaults[key]
        return "(default " + (",".join(map(str, value)) if isinstance(value, tuple) else str(value)) + ")"

    p = subparsers.add_parser(
        "twin", help="twin models on neighbouring datasets: parameter distance, gap, stability estimate",
        description=__doc__.split("Examples::")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    none = dict(default=None)
    p.add_argument("--config", metavar="FILE.toml", help="TOML file of TwinConfig settings (flags override it)")
    p.add_argument("--dataset", **none, help=f"dataset name {default('dataset')}")
    p.add_argument("--data-dir", **none, help="directory holding the files of a file-based dataset (mnist, cifar10)")
    p.add_argument("--model", **none, help=f"linear, mlp, cnn or resnet20 {default('model')}")
    add_list_option(p, "--methods", choices=list(METHODS), old=("--optimizer",), help=f"method keys {default('optimizer')}")
    p.add_argument("--base-optimizer", choices=BASE_OPTIMIZERS, **none, help=f"base optimizer {default('base_optimizer')}")
    add_list_option(p, "--lrs", type=float, old=("--lr",), help=f"learning rates {default('lr')}")
    p.add_argument("--momentum", type=float, **none, help=f"momentum of --base-optimizer momentum (default {MOMENTUM}; "
                   "the other bases have none)")
    p.add_argument("--weight-decay", type=float, **none, help=f"weight decay {default('weight_decay')}")
    p.add_argument("--schedule", choices=SCHEDULES, **none, help=f"learning-rate schedule {default('schedule')}")
    p.add_argument("--rho", type=float, **none, help=f"SAM radius {default('rho')}")
    p.add_argument("--gamma-cap", type=float, **none, help="StableSAM: gamma <- min(cap, gamma) (default off)")
    p.add_argument("--epochs", type=int, **none, help=f"epochs {default('epochs')}")
    p.add_argument("--batch-size", type=int, **none, help=f"mini-batch size {default('batch_size')}")
    add_list_option(p, "--seeds", type=int, old=("--seed",), help=f"seeds, one pair each {default('seeds')}")
    p.add_argument("--replaced-index", nargs="+", type=int, **none, help=f"replaced training index(es) {default('replaced_indices')}")
    p.add_argument("--label-noise", type=float, **none, help=f"rate of symmetric label flips {default('label_noise')}")
    p.add_argument("--shuffled-labels", action="store_true", default=None, help="shuffle all training labels")
    p.add_argument("--control", action="store_true", default=None, help="control mode: S' = S (distance must stay 0)")
    p.add_argument("--n-train", type=int, **none, help="training-set size (default: the dataset's)")
    p.add_argument("--device", choices=DEVICES, **none, help=f"auto (CUDA when available), cpu or cuda {default('device')}")
    p.add_argument("--dtype", choices=DTYPES, **none, help=f"float32 or float64 {default('dtype')}")
    p.add_argument("--sequential", action="store_false", dest="vectorize", default=None,
                   help="train the models one after another instead of as one vmapped stack")
    p.add_argument("--log-every-steps", type=int, **none, help="also log every K updates (default: per epoch)")
    p.add_argument("--sharpness-every", type=int, **none,
                   help=f"log the top Hessian eigenvalue of every model every N epochs and at epoch 0, 0: off {default('sharpness_every')}")
    p.add_argument("--checkpoint-every", type=int, **none, help=f"checkpoint every N epochs {default('checkpoint_every')}")
    p.add_argument("--out", default="runs/twin", help="output directory (default runs/twin)")
    p.add_argument("--overwrite", action="store_true", help="replace finished runs in the output directory")
    p.add_argument("--no-resume", action="store_false", dest="resume", help="refuse to continue an unfinished run")
    p.add_argument("--figure", metavar="FILE.png", help="also write a figure of distance and gap (PNG and PDF)")
    add_threads_flag(p)
    add_json_flag(p)
    p.set_defaults(handler=run)


def _settings(args) -> dict:
    from stablesam.stability.twin.config import read_toml

    settings = read_toml(args.config) if args.config else {}
    if not isinstance(settings, dict):
        raise UsageError(f"config file {args.config!r} must hold key = value settings")
    skip = {"config", "out", "overwrite", "resume", "figure", "json", "command", "handler", "threads"}
    for dest, value in vars(args).items():
        if dest not in skip and value is not None:
            settings[_KEYS.get(dest, dest)] = value
    return settings


def _grid(settings: dict) -> list[dict]:
    """One settings dict per (optimizer, lr) combination."""
    as_list = lambda v: list(v) if isinstance(v, (list, tuple)) else [v]  # noqa: E731
    defaults = _config_defaults()
    optimizers = as_list(settings.pop("optimizer", defaults["optimizer"]))
    lrs = as_list(settings.pop("lr", defaults["lr"]))
    if not optimizers or not lrs:
        raise UsageError("optimizer and lr need at least one value each")
    return [{**settings, "optimizer": o, "lr": lr} for o in optimizers for lr in lrs]


def run(args) -> int:
    from stablesam.stability.twin import TwinConfig, prepare_twin
    from stablesam.stability.twin.run import run_name

    configs = [TwinConfig.from_dict(s) for s in _grid(_settings(args))]
    names = [run_name(c) for c in configs]
    if len(set(names)) != len(names):
        raise UsageError("optimizer and lr values must not repeat")
    out = check_output_dir("--out", args.out)
    if args.figure:
        if Path(args.figure).suffix.lower() not in (".png", ".pdf"):
            raise UsageError(f"--figure must end in .png or .pdf, got {args.figure!r}")
        for suffix in (".png", ".pdf"):
            check_output_file("--figure", Path(args.figure).with_suffix(suffix))
    dirs = [out] if len(configs) == 1 else [out / name for name in names]
    from stablesam.analysis.curvature.sharpness import top_hessian_eigenvalue

    prepared = [prepare_twin(c, d, overwrite=args.overwrite, resume=args.resume, sharpness=top_hessian_eigenvalue)
                for c, d in zip(configs, dirs)]
    try:
        for job in prepared:  # every directory locked before any run trains
            job.acquire()
        results = [job.execute() for job in prepared]
    finally:
        for job in prepared:
            job.release()
    rows = summary_rows(results)
    result = {"runs": [str(d) for d in dirs], "rows": rows}
    if args.figure:
        result["figure"] = write_figure(results, args.figure)
    emit(result, as_json=args.json, schema=TWIN_SCHEMA, rows_key="rows")
    return 0


def summary_rows(results) -> list[dict]:
    """One row per pair of every run (:class:`stablesam.stability.twin.TwinResult`): final distance, gap, stability
    estimate, mean gamma, divergence."""
    from stablesam.stability.optimizers import effective_rho

    rows = []
    for result in results:
        summary = result.summary
        config = summary["config"]
        diverged = {(d["pair"], d["twin"]): d["step"] for d in summary["divergences"]}
        for pair in summary["pairs"]:
            twins = [f"{t} at step {diverged[pair['pair'], t]}" for t in ("S", "S'") if (pair["pair"], t) in diverged]
            rows.append({
                "optimizer": config["optimizer"], "lr": config["lr"],
                "rho": effective_rho(config["optimizer"], config["rho"]),
                "seed": pair["seed"], "replaced_index": pair["replaced_index"],
                "distance": pair.get("distance"), "gen_gap": pair.get("gen_gap"),
                "loss_diff_max": pair.get("loss_diff_max"), "gamma_mean": pair.get("gamma_mean", float("nan")),
                "diverged": bool(twins), "divergence": ", ".join(twins) or None,
            })
    return [{c: r[c] for c in _SUMMARY_COLUMNS} for r in rows]


def write_figure(results, path: str) -> list[str]:
    """Distance and generalization gap over epochs of every run, one line style per learning rate."""
    import pandas as pd

    from stablesam.analysis.plots.twin import plot_twin_metrics
    from stablesam.core.io import atomic_path

    frame = pd.concat([result.metrics for result in results], ignore_index=True)
    figure = plot_twin_metrics(frame, metrics_to_plot=("distance", "gen_gap"), linestyle_by="lr")
    written = []
    for suffix in (".png", ".pdf"):
        target = Path(path).with_suffix(suffix)
        with atomic_path(target) as tmp:
            figure.savefig(tmp, format=suffix[1:])
        written.append(str(target))
    import matplotlib.pyplot as plt

    plt.close(figure)
    return written
