"""Finding and reading the local files of a data set; nothing is ever downloaded."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

from stablesam.core.validation import UsageError

__all__ = ["locate_files", "read_bytes"]

_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The contents of ``path``, decompressed when it is gzip (recognised by its magic bytes); a file that starts
    like gzip but does not decompress is a :class:`UsageError` naming it."""
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError; a bad stream a zlib.error
            raise UsageError(f"{path} starts like a gzip file but does not decompress: {error}") from None
    return raw


def locate_files(
    dataset: str, data_dir: str | os.PathLike[str] | None, names: Sequence[str], *, subdirs: Sequence[str] = (),
    suffixes: Sequence[str] = ("",),
) -> list[Path]:
    """The path of each file in ``names`` inside ``data_dir`` (or one of its ``subdirs``).

    A file may carry any of ``suffixes`` (e.g. ``.gz``). Raises ``ValueError`` naming the directory
    and the files expected when the directory or any file is missing.
    """
    endings = ", ".join(s for s in suffixes if s)
    expected = ", ".join(names) + (f" (each optionally ending in {endings})" if endings else "")
    if data_dir is None:
        raise UsageError(f"dataset {dataset!r} reads local files: pass --data-dir (data_dir= from Python), a directory holding {expected}")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise UsageError(
            f"data_dir {str(root)!r} for dataset {dataset!r} is not a directory; it should hold {expected}"
        )
    for folder in (root, *(root / sub for sub in subdirs)):
        found = [next((folder / (n + s) for s in suffixes if (folder / (n + s)).is_file()), None) for n in names]
        if all(found):
            return found  # type: ignore[return-value]
    searched = ", ".join(repr(str(f)) for f in (root, *(root / sub for sub in subdirs)))
    missing = [n for n in names if not any((root / (n + s)).is_file() for s in suffixes)]
    raise UsageError(
        f"dataset {dataset!r}: {', '.join(missing)} not found in {searched}; expected {expected}"
    )
