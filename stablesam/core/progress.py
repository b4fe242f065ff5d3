"""How long work reports progress: a tqdm bar on a terminal, one line per finished unit off it, or nothing.

Every long job (twin, eos, lr-scan, sweep, train, figures, verify) takes ``progress: bool | None`` and asks
:func:`progress_mode` what to show, so a run piped into a log file or CI says what it finished instead of staying
silent, and a terminal gets a bar instead of a scroll of lines.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["ProgressMode", "progress_mode"]


@dataclass(frozen=True)
class ProgressMode:
    """``bar``: draw a tqdm bar on stderr; ``lines``: print one line on stderr per finished unit (:meth:`line`)."""

    bar: bool
    lines: bool

    def line(self, text: str) -> None:
        """Print ``text`` as one progress line on stderr when this mode prints lines (flushed: logs show it now)."""
        if self.lines:
            print(text, file=sys.stderr, flush=True)


def progress_mode(progress: bool | None) -> ProgressMode:
    """``True``: a bar; ``False``: nothing; ``None`` (every job's default): a bar when stderr is a terminal, else
    one line per finished unit.

    >>> progress_mode(True), progress_mode(False)
    (ProgressMode(bar=True, lines=False), ProgressMode(bar=False, lines=False))
    """
    if progress is None:
        on_terminal = sys.stderr.isatty()
        return ProgressMode(bar=on_terminal, lines=not on_terminal)
    return ProgressMode(bar=bool(progress), lines=False)
