"""The ``stablesam`` command line.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``,
which adds its parser and sets ``handler``, the function that runs it. Modules import their heavy
dependencies (torch, sympy) inside the handler so that ``stablesam --help`` stays fast.

Bad input (a :class:`stablesam.core.validation.UsageError` from the validation at the boundary, or an ``OSError``
naming a path the operating system refuses, such as an output directory that cannot be created) becomes
one line on stderr and exit status 2, like argparse's own usage errors. Any other exception, a
``ValueError`` raised by a bug included, keeps its traceback.

Every ``--json`` object is checked against its schema before it is printed; the schemas
(:mod:`stablesam.cli.schemas`, one per document, :data:`COMMAND_SCHEMAS` by command line) are re-exported here.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from collections.abc import Sequence

from stablesam.core.exports import lazy_exports
from stablesam.core.validation import UsageError, check_integer
from stablesam import __version__

# The documents' schemas: public name -> the module that defines it, loaded on first use (stablesam.core.exports).
_EXPORTS = dict.fromkeys(
    (
        "BOUNDS_SCHEMA", "COMMAND_SCHEMAS", "EDGE_SCHEMA", "EOS_SCHEMA", "EXCESS_RISK_SCHEMA", "LR_MAX_BOUND_SCHEMA",
        "LR_MAX_SCHEMA", "LR_SCAN_SCHEMA", "QUADRATIC_SCHEMA", "SHARPNESS_SCHEMA", "SWEEP_PLAN_SCHEMA",
        "SWEEP_SCHEMA", "TRAIN_SCHEMA", "TWIN_SCHEMA", "VERIFY_SCHEMA",
    ),
    "stablesam.cli.schemas",
)

__all__ = ["COMMANDS", "build_parser", "main", *sorted(_EXPORTS)]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

# Subcommand modules, in the order ``stablesam --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "train",
    "twin",
    "lr_max",
    "edge",
    "quadratic",
    "bounds",
    "excess_risk",
    "lr_max_bound",
    "sharpness",
    "lr_scan",
    "eos",
    "figures",
    "sweep",
    "verify",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stablesam",
        description="Theory and experiments for SAM and StableSAM (renormalized sharpness-aware minimization).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"stablesam.cli.{name}").register(subparsers)
    return parser


def _run_with_threads(args):
    """The command's handler, under its ``--threads`` where it has the flag (torch imported only then)."""
    if getattr(args, "threads", None) is None:
        return args.handler(args)
    from stablesam.stability.threads import torch_threads

    with torch_threads(check_integer("--threads", args.threads, minimum=1)):
        return args.handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as error:  # a bad value of a list option (stablesam.cli._grammar), found while parsing
        print(f"{getattr(error, 'prog', 'stablesam')}: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    try:
        code = int(_run_with_threads(args) or 0)
        sys.stdout.flush()  # a full disk under a redirected stdout is reported here, not at exit
        return code
    except UsageError as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"stablesam {args.command}: error: {message}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            where = "standard output" if error.filename is None else repr(str(error.filename))
            print(f"stablesam {args.command}: error: no space left on device writing {where}", file=sys.stderr)
            return 2
        if error.filename is None:  # not about a path the user named: a real failure, keep the traceback
            raise
        reason = error.strerror or type(error).__name__
        print(f"stablesam {args.command}: error: cannot use path {str(error.filename)!r}: {reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stablesam {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
