"""``stablesam figures``: regenerate every figure (PNG and PDF) and its manifest."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "figures",
        help="regenerate the figures (PNG and PDF) with a manifest",
        description="Regenerate every figure of the toolkit as PNG and PDF, with manifest.json listing "
        "each figure, the command and parameters that made it and a digest of the data it draws.",
    )
    parser.add_argument("--out", default="figures", help="output directory (default: figures)")
    parser.add_argument("--quick", action="store_true", help="small settings for a fast check")
    parser.add_argument("--only", action="append", metavar="NAME", help="regenerate only this figure (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the figure names and captions, draw nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stablesam.analysis.figures.writer import catalog, write_figures
    from stablesam.core.paths import check_output_dir
    from stablesam.cli.output import format_table

    if args.list:
        print(format_table([{"name": s.name, "caption": s.caption} for s in catalog()]))
        return 0
    check_output_dir("--out", args.out)
    manifest = write_figures(args.out, quick=args.quick, names=args.only)
    print(f"wrote {len(manifest['figures'])} figures and manifest.json to {args.out}")
    return 0
