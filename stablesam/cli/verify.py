"""``stablesam verify``: every claim of the StableSAM paper checked by theory and experiment, with a verdict.

Runs the claims of :mod:`stablesam.analysis.verify.claims` (C1..C10) at the ``--quick`` scale (at most 5 minutes on two
CPU cores), the ``--standard`` one (about 30 minutes on two CPU cores) or the ``--full`` one (one GPU; it resumes
from its cache); ``--seeds N`` and ``--epochs E`` override the scale's (recorded in the provenance). Writes
``verdicts.json``, ``report.md``
and a self-contained ``report.html`` to ``--out``, and prints the table of verdicts. Experiments are cached
in ``OUT/cache`` by their settings: a rerun reuses every finished one, after checking it (a damaged entry is set
aside as ``*.damaged``, with one line, and recomputed). ``OUT`` is locked while the command runs: a second
``verify`` into it is refused. Examples::

    stablesam verify --quick --out runs/verify
    stablesam verify --standard --seeds 30 --out runs/verify-standard
    stablesam verify --full --device cuda --data-dir ~/data/cifar10 --out runs/verify-full
    stablesam verify --claims C1 C7 --out runs/verify
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from stablesam.cli._grammar import add_list_option
from stablesam.cli.schemas import VERIFY_SCHEMA
from stablesam.cli.output import add_json_flag, emit, format_table

# What a verify output holds: the report (a verified store: its manifest, and entries set aside as damaged) and
# the cache of experiments.
_OUTPUTS = {"verdicts.json", "report.md", "report.html", "figures", "cache", "checksums.json", "checksums.json.damaged",
            "verdicts.json.damaged", "report.md.damaged", "report.html.damaged"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify", help="check every claim of the StableSAM paper by theory and experiment; write a report",
        description=__doc__.split("Examples::")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--quick", dest="scale", action="store_const", const="quick",
                       help="small scale, at most 5 minutes on 2 CPU cores: digits, MLP and linear models, "
                            "10 seeds (8 for the per-step claims) (default)")
    scale.add_argument("--standard", dest="scale", action="store_const", const="standard",
                       help="about 30 minutes on 2 CPU cores: 20 seeds (40 for label noise), longer training")
    scale.add_argument("--full", dest="scale", action="store_const", const="full",
                       help="full scale for one GPU: digits and mnist1d MLP/CNN, 20 seeds "
                            "(+ ResNet-20 on CIFAR-10 with --data-dir); resumes from its cache")
    p.set_defaults(scale="quick")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds of every seeded experiment (at least 6: the sign test's minimum)")
    p.add_argument("--epochs", type=int, default=None, metavar="E", help="epochs of every training run")
    add_list_option(p, "--claims", metavar="ID", help="claim ids, e.g. --claims C1 C7 (default: all)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="torch device of the experiments (default auto: CUDA when available)")
    p.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="where the twin runs go: this process (local) or a Dask LocalCluster (default local)")
    p.add_argument("--workers", type=int, default=None,
                   help="local: worker processes, 0: this process (default: one per CPU core on CPU, this process on "
                   "CUDA); dask: cluster workers")
    p.add_argument("--data-dir", default=None, help="--full: directory holding the CIFAR-10 binary batches")
    p.add_argument("--out", default="runs/verify", help="output directory (default runs/verify)")
    add_json_flag(p)
    p.set_defaults(handler=run)


def _check_out(out: Path) -> None:
    from stablesam.core.paths import check_output_dir
    from stablesam.core.validation import UsageError

    check_output_dir("--out", out)
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in _OUTPUTS and not p.name.startswith("."))
        if foreign:
            raise UsageError(f"--out {str(out)!r} holds other files ({', '.join(foreign[:3])}); "
                             "choose an empty directory or a previous verify output")


def run(args) -> int:
    from stablesam.core.validation import UsageError, check_integer

    from stablesam.analysis.verify.claims import claim_ids
    from stablesam.analysis.verify.experiments import make_scale

    claims = claim_ids(args.claims)
    if args.workers is not None:
        check_integer("--workers", args.workers, minimum=0 if args.engine == "local" else 1)
    if args.data_dir is not None:
        if args.scale != "full":
            raise UsageError("--data-dir is read by --full only (ResNet-20 on CIFAR-10)")
        if not Path(args.data_dir).is_dir():
            raise UsageError(f"--data-dir {args.data_dir!r} is not an existing directory")
        from stablesam.stability.datasets.cifar10 import CIFAR10_FILES
        from stablesam.stability.datasets.files import locate_files

        try:  # before any training: the CIFAR-10 run comes last
            locate_files("cifar10", args.data_dir, CIFAR10_FILES, subdirs=("cifar-10-batches-bin",))
        except ValueError as error:
            raise UsageError(f"--data-dir {args.data_dir!r}: {str(error).splitlines()[0]}") from None
    out = Path(args.out)
    _check_out(out)
    from stablesam.stability.twin.trainer import resolve_device

    device = resolve_device(args.device).type
    scale = make_scale(args.scale, device=device, data_dir=args.data_dir, seeds=args.seeds, epochs=args.epochs)

    from stablesam.analysis.verify.run import verify
    from stablesam.analysis.verify.report import verdict_table, write_report
    from stablesam.core.store import Store
    from stablesam.stability.threads import torch_threads

    options = {k: v for k, v in vars(args).items() if k not in ("handler", "command", "json", "scale") and v is not None}
    command = " ".join(["stablesam verify", f"--{scale.name}",
                        *(f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in options.items())])
    # One torch thread for every experiment, as the sweep engine's twin trials use: results do not depend on the
    # executor or on the machine's load, and the trajectories and timings run like the twin runs.
    # The report's store holds the lock of --out for the whole command (a second `verify` into it gets one line and
    # exit status 2); taking it removes the temporary files of writes a kill cut short (figures/.C7.png.XXXX.png).
    with Store(out, what="stablesam verify").lock() as report:
        _check_out(out)  # again under the lock: what another process left meanwhile
        with torch_threads(1):
            document, figure_data = verify(claims, scale, out, engine=args.engine, workers=args.workers,
                                           command=command)
        paths = write_report(report, document, figure_data)
    rows = [{k: v for k, v in r.items() if k != "title"} for r in verdict_table(document)]
    if args.json:
        emit({"scale": scale.name, "wall_seconds": document["provenance"]["wall_seconds"], "report": str(paths["html"]),
              "markdown": str(paths["markdown"]), "verdicts": str(paths["verdicts"]), "rows": rows},
             as_json=True, schema=VERIFY_SCHEMA)
    else:  # the table first, then where the report is (what `make run` ends with)
        print(format_table(rows))
        print(f"report: {paths['html']} (also {paths['markdown'].name}, {paths['verdicts'].name}, figures/); "
              f"{document['provenance']['wall_seconds']:.0f} s")
    return 0
