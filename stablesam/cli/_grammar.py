"""One grammar for the command line's lists: a plural flag followed by space-separated values.

Every subcommand spells a concept the same way: ``--methods`` (method keys), ``--lrs`` (learning rates),
``--rhos`` (radii), ``--seeds`` (seeds), ``--claims`` (claim ids), each taking one or more values separated by
spaces (``--methods sam stablesam-n``); a single value is a singular flag (``--method``, ``--lr``, ``--rho``,
``--seed``) where a command takes one. The spellings of the previous release (``twin --optimizer``,
``train --optimizers a,b``, comma-separated values) still work for one release and print one deprecation line.

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="demo")
>>> add_list_option(parser, "--lrs", type=float, help="learning rates", old=("--lr",))
>>> parser.parse_args(["--lrs", "0.1", "0.3"]).lrs
[0.1, 0.3]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from stablesam.core.validation import UsageError

__all__ = ["THREADS_HELP", "add_list_option", "add_threads_flag"]

THREADS_HELP = ("CPU threads for torch (default 1, the same for every command: the models are small, more threads "
                "only add synchronisation on a shared machine, and one thread keeps results bit-reproducible)")


def _deprecated(message: str) -> None:
    print(f"stablesam: deprecated: {message} (the old spelling is removed in the next release)", file=sys.stderr)


class _ListAction(argparse.Action):
    """Collect space-separated values (commas split too, with a deprecation line), converted and checked."""

    def __init__(self, option_strings, dest, *, convert: Callable[[str], Any], allowed: Sequence[Any] | None,
                 canonical: str, **kwargs) -> None:
        self.convert, self.allowed, self.canonical = convert, allowed, canonical
        super().__init__(option_strings, dest, nargs="+", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        items = []
        for token in (p.strip() for v in values for p in v.split(",")):
            if not token:
                continue
            try:
                item = self.convert(token)
            except ValueError:
                raise self._usage(parser, f"{self.canonical} takes {self.convert.__name__} values; got {token!r}")
            if self.allowed is not None and item not in self.allowed:
                raise self._usage(parser, f"{self.canonical} entries must be one of "
                                          f"{', '.join(map(repr, self.allowed))}; got {token!r}")
            items.append(item)
        if not items:
            raise self._usage(parser, f"{self.canonical} needs at least one value")
        if option_string != self.canonical:
            _deprecated(f"{option_string} is now {self.canonical}")
        if any("," in v for v in values):
            _deprecated(f"comma-separated values; separate them with spaces: {self.canonical} "
                        + " ".join(p for v in values for p in v.split(",") if p))
        setattr(namespace, self.dest, items)

    @staticmethod
    def _usage(parser, message: str) -> UsageError:
        """One line, exit status 2 (``stablesam.cli.main`` prints it with the subcommand's name)."""
        error = UsageError(message)
        error.prog = parser.prog
        return error


def add_list_option(parser: argparse.ArgumentParser, flag: str, *, type: Callable[[str], Any] = str,
                    choices: Iterable[Any] | None = None, help: str, old: Sequence[str] = (),
                    dest: str | None = None, default: Any = None, metavar: str | None = None) -> None:
    """Add ``flag`` (plural, space-separated values) with the deprecated spellings ``old`` as aliases."""
    allowed = None if choices is None else tuple(choices)
    common = dict(action=_ListAction, convert=type, allowed=allowed, canonical=flag,
                  dest=dest or flag.lstrip("-").replace("-", "_"), default=default,
                  metavar=metavar or flag.lstrip("-").rstrip("s").upper())
    parser.add_argument(flag, help=help, **common)
    for spelling in old:  # accepted, not advertised
        parser.add_argument(spelling, help=argparse.SUPPRESS, **common)


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch's intra-op threads while the command runs (``stablesam.cli.main`` sets and restores
    them with :func:`stablesam.stability.threads.torch_threads`)."""
    parser.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
