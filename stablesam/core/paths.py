"""Output paths checked before any work: a run must not train for an hour and then fail to write.

Each check finds the nearest existing ancestor of the path, which must be a directory in which this
process can create a file (probed with a temporary file that is removed at once, which is what works
for root and on read-only file systems alike, where ``os.access`` does not), and refuses a path that is
itself an existing directory (for a file) or an existing file (for a directory). The refusal is a
:class:`~stablesam.core.validation.UsageError` naming the flag and the user's path.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from stablesam.core.validation import UsageError

__all__ = ["check_output_dir", "check_output_file"]


def _check_creatable(flag: str, path: Path, directory: Path) -> None:
    """Raise unless ``directory`` (where ``path`` goes) exists or can be made, and takes new files."""
    ancestor = directory
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{flag} {str(path)!r} cannot be written: {str(ancestor)!r} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as error:
        raise UsageError(f"{flag} {str(path)!r} cannot be written: {str(ancestor)!r}: "
                         f"{error.strerror or type(error).__name__}") from None


def check_output_file(flag: str, path: str | Path) -> Path:
    """Return ``path``; raise unless a file can be written there."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {str(path)!r} is a directory; give a file name")
    _check_creatable(flag, path, path.parent)
    return path


def check_output_dir(flag: str, path: str | Path) -> Path:
    """Return ``path``; raise unless it is, or can be created as, a directory to write files in."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {str(path)!r} exists and is not a directory")
    _check_creatable(flag, path, path)
    return path
