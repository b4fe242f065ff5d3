"""Atomic file output: a reader never sees a half-written file.

Each writer writes to a temporary file in the destination's directory, flushes it to disk and
renames it over the destination (``os.replace`` is atomic on POSIX and Windows). A full disk is a
:class:`~stablesam.core.validation.UsageError` naming the destination; the temporary file is removed.
Run directories use the verified store built on the same idea, :mod:`stablesam.core.store`.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from stablesam.core.validation import UsageError

__all__ = ["DiskFull", "atomic_path", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]


class DiskFull(UsageError):
    """A write ran out of space (or quota): "no space left on device writing PATH". Nothing half-written stays;
    a long job stops at it rather than recording it as one more failure."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(f"no space left on device writing {str(path)!r}")
        self.path = str(path)

    def __reduce__(self):  # pickled by a sweep's worker processes
        return DiskFull, (self.path,)


@contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place if the block succeeds.

    For writers that want a path rather than a file object (``savefig``, ``DataFrame.to_parquet``,
    ``torch.save``). On error the temporary file is removed and ``destination`` is left untouched.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=destination.suffix, dir=destination.parent)
    except OSError as error:  # name the user's path, not the temporary file
        error.filename = str(destination)
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file 0600; give the result the mode of any new file (0666 less the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, destination)
    except OSError as error:  # name the user's path, not the temporary file
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(destination) from None
        if error.filename is not None and Path(error.filename) == tmp_path:
            error.filename = str(destination)
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def _atomic_write(destination: str | os.PathLike[str], mode: str, write: Callable[[IO[Any]], None]) -> None:
    with atomic_path(destination) as tmp:
        with open(tmp, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_bytes(destination: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``destination`` atomically."""
    _atomic_write(destination, "wb", lambda h: h.write(data))


def atomic_write_text(destination: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``destination`` atomically."""
    _atomic_write(destination, "wb", lambda h: h.write(text.encode("utf-8")))


def atomic_write_json(destination: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``destination`` atomically."""
    atomic_write_text(destination, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")
