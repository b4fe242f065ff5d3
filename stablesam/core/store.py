"""A verified store: a directory of named entries that a reader can trust or knows to distrust.

Every run directory the toolkit writes (twin runs, edge-of-stability experiments, sweep trials) is a
:class:`Store`, and so can be a cache of computed results: entries are keyed by a relative name
(``"summary.json"``, ``"checkpoints/epoch_0003.pt"``, ``"exact/exact-1a2b.json"``) and hold bytes, JSON or
tensors (``torch.save`` of plain tensors and dicts, read back with ``weights_only=True``).

The guarantees:

* **Atomic writes, checksum first.** An entry is written to a temporary file beside it, flushed to disk,
  and its sha256 is recorded in the manifest ``checksums.json`` *before* the file is renamed into place.
  A reader therefore never sees a file whose checksum is unrecorded, unless the file was not written by
  the store (or the manifest was lost): such a file is *unverified* and is not trusted.
* **Validation on every load.** :meth:`Store.get_bytes` (and the JSON/tensor readers on top of it) check
  the recorded checksum; a missing, zero-byte, altered or unverified entry is reported in one line on stderr
  and, in a store this process holds the lock of, renamed to ``NAME.damaged`` (never deleted, never read
  again), so that the caller recomputes it.
* **One writer.** :meth:`Store.lock` takes the directory's exclusive lock (:mod:`stablesam.core.lock`); a
  second writer gets one line (a :class:`~stablesam.core.validation.UsageError`), or waits ``timeout``
  seconds for it.
* **No debris.** Taking the lock removes the temporary files of writes a kill cut short (``.NAME.XXXXXXXX``,
  in the store and its subfolders).
* **Durable at the end of a batch.** Each write is flushed to disk (``fsync``) before its rename, or, inside
  :meth:`Store.batched_sync`, once per entry and once for the manifest when the batch ends: a twin run writes its
  summary three times and nine entries in all, 18 fsyncs one by one, 6 in one batch. A kill loses nothing either
  way (the written pages are the kernel's); a power cut inside a batch can leave an entry whose bytes differ from
  its checksum, which the next load sets aside and the caller recomputes, as after any damage.
* **Disk full is a usage error.** A write that runs out of space raises
  :class:`~stablesam.core.io.DiskFull` (a ``UsageError``: "no space left on device writing PATH"), after removing its temporary file; the previous version of the entry stays intact.

Example:

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as scratch, Store(scratch, what="example").lock() as store:
...     digest = store.put_json("result.json", {"value": 1.5})
...     (store.get_json("result.json"), store.checksums("result.json") == [digest])
({'value': 1.5}, True)
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stablesam.core.io import DiskFull
from stablesam.core.lock import LOCK_FILE, DirectoryLock

__all__ = ["DAMAGED", "MANIFEST", "DiskFull", "Store", "disk_full", "notice", "sha256_bytes", "sha256_file"]

MANIFEST = "checksums.json"
DAMAGED = ".damaged"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# ``.<name>.<random part of mkstemp>[<suffix>]``
_TEMPORARY = re.compile(r"\.[^/]+\.[a-z0-9_]{6,8}(\.[A-Za-z0-9]+)?")


def notice(message: str) -> None:
    """One line on stderr about something a run did on its own (resumed, set a damaged file aside)."""
    print(f"stablesam: {message}", file=sys.stderr, flush=True)


def disk_full(error: BaseException) -> bool:
    """Whether ``error`` is the operating system's "no space left" (or "quota exceeded")."""
    return isinstance(error, OSError) and error.errno in _NO_SPACE


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Store:
    """The verified store rooted at ``root`` (see the module docstring); ``what`` names its writer in messages.

    Writing methods may be called without the lock (a scratch store), but a run directory shared with other
    processes is written only under :meth:`lock`. Readers need no lock; without it a damaged entry is reported
    and skipped, not renamed.
    """

    def __init__(self, root: str | os.PathLike[str], *, what: str = "process") -> None:
        self.root = Path(root)
        self.what = what
        self._lock: DirectoryLock | None = None
        self._manifest: dict[str, list[str]] | None = None
        self._unsynced: set[Path] | None = None  # inside batched_sync: the files written since it began

    # -- the lock ---------------------------------------------------------------------------------------
    @property
    def locked(self) -> bool:
        return self._lock is not None and self._lock.held

    def lock(self, timeout: float = 0.0) -> Store:
        """Take the directory's exclusive lock (creating it); remove the debris of killed writes."""
        if self._lock is None:
            self._lock = DirectoryLock(self.root, what=self.what)
        if not self._lock.held:
            self._lock.acquire(timeout)
            self._manifest = None
            self.remove_temporaries()
        return self

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> Store:
        return self.lock()

    def __exit__(self, *exc_info) -> None:
        self.unlock()

    def remove_temporaries(self) -> list[Path]:
        """Delete the temporary files of writes cut short by a kill: ``.NAME.XXXXXXXX[.suffix]``, the names
        ``tempfile.mkstemp`` gives them here and in :mod:`stablesam.core.io`, in the store and its subfolders
        (not in hidden ones, nor in a subfolder that is a store of its own, with its own lock: a twin run inside
        a cache cleans itself when its writer takes its lock)."""
        removed = []
        for folder, subfolders, files in os.walk(self.root):
            subfolders[:] = [d for d in subfolders
                             if not d.startswith(".") and not (Path(folder) / d / LOCK_FILE).exists()]
            for file in sorted(files):
                if _TEMPORARY.fullmatch(file) and file != LOCK_FILE:
                    path = Path(folder) / file
                    path.unlink(missing_ok=True)
                    removed.append(path)
                    notice(f"removed {str(path)!r}, left by a write that was interrupted")
        return removed

    @contextmanager
    def batched_sync(self) -> Iterator[Store]:
        """Write without a flush per entry; on leaving, flush every file written meanwhile once (its last version),
        the manifest included. Nested batches are one batch."""
        if self._unsynced is not None:
            yield self
            return
        self._unsynced = set()
        try:
            yield self
        finally:
            paths, self._unsynced = self._unsynced, None
            for path in sorted(paths):
                try:
                    descriptor = os.open(path, os.O_RDONLY)
                except FileNotFoundError:  # removed since (an old checkpoint)
                    continue
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)

    # -- the manifest -----------------------------------------------------------------------------------
    def _read_manifest(self) -> dict[str, list[str]]:
        if self._manifest is not None and self.locked:
            return self._manifest
        path = self.root / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            manifest = {}
        except (OSError, ValueError):
            manifest = None
        if not isinstance(manifest, dict) or not all(
                isinstance(v, list) and all(isinstance(s, str) for s in v) for v in manifest.values()):
            if self.locked and path.exists():
                path.replace(path.with_name(path.name + DAMAGED))
                notice(f"{str(path)!r} is damaged; renamed to {path.name + DAMAGED!r} (every entry is unverified)")
            else:
                notice(f"{str(path)!r} is damaged (every entry is unverified)")
            manifest = {}
        self._manifest = manifest
        return manifest

    def _write_manifest(self, manifest: dict[str, list[str]]) -> None:
        text = json.dumps(dict(sorted(manifest.items())), indent=1) + "\n"
        self._replace(self.root / MANIFEST, text.encode("utf-8"))
        self._manifest = manifest

    def checksums(self, name: str) -> list[str]:
        """The accepted sha256s of ``name``: the newest write first, then the one it replaced (a kill between
        recording a checksum and renaming the file leaves the previous version in place, still intact)."""
        return list(self._read_manifest().get(name, []))

    def recorded(self) -> list[str]:
        """Names of the entries whose checksum the manifest records (present or not), sorted."""
        return sorted(self._read_manifest())

    # -- writing ----------------------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        return self.root / name

    def _replace(self, destination: Path, data: bytes, before: Callable[[], None] | None = None) -> None:
        """Write ``data`` to a temporary file beside ``destination``, run ``before``, rename it into place."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                if self._unsynced is None:
                    os.fsync(handle.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            if before is not None:
                before()
            os.replace(tmp, destination)
            tmp = None
            if self._unsynced is not None:
                self._unsynced.add(destination)
        except OSError as error:
            if disk_full(error):
                raise DiskFull(destination) from None
            if error.filename is not None and tmp is not None and Path(error.filename) == Path(tmp):
                error.filename = str(destination)
            raise
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def put_bytes(self, name: str, data: bytes) -> str:
        """Write entry ``name`` atomically, its checksum recorded before it appears; returns the sha256."""
        digest = sha256_bytes(data)

        def record() -> None:
            manifest = dict(self._read_manifest())
            manifest[name] = [digest, *[s for s in manifest.get(name, [])[:1] if s != digest]]
            self._write_manifest(manifest)

        self._replace(self.path(name), data, before=record)
        return digest

    def put_text(self, name: str, text: str) -> str:
        return self.put_bytes(name, text.encode("utf-8"))

    def put_json(self, name: str, obj: Any) -> str:
        """Indented, key-sorted JSON (NaN allowed, as Python's ``json`` writes it)."""
        return self.put_text(name, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")

    def put_tensors(self, name: str, obj: Any) -> str:
        """``torch.save`` of plain tensors, dicts and lists (serialised in memory: a full disk is an ``OSError``
        naming the entry, not torch's "unexpected pos")."""
        import torch

        buffer = io.BytesIO()
        torch.save(obj, buffer)
        return self.put_bytes(name, buffer.getvalue())

    @contextmanager
    def put_file(self, name: str, suffix: str = "") -> Iterator[Path]:
        """Yield a temporary path for a writer that wants one (``savefig``, ``to_parquet``); the file is then
        stored as entry ``name`` (read back, checksummed and renamed into place)."""
        destination = self.path(name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=suffix or destination.suffix,
                                   dir=destination.parent)
        os.close(fd)
        try:
            try:
                yield Path(tmp)
            except OSError as error:
                if disk_full(error):
                    raise DiskFull(destination) from None
                raise
            self.put_bytes(name, Path(tmp).read_bytes())
        finally:
            Path(tmp).unlink(missing_ok=True)

    def remove(self, name: str) -> None:
        """Delete entry ``name`` and its checksum."""
        self.path(name).unlink(missing_ok=True)
        manifest = self._read_manifest()
        if name in manifest:
            manifest = dict(manifest)
            del manifest[name]
            self._write_manifest(manifest)

    # -- reading ----------------------------------------------------------------------------------------
    def fault(self, name: str, data: bytes | None = None) -> str | None:
        """Why entry ``name`` cannot be trusted (``None`` when it is intact); ``data``: its bytes, if read."""
        path = self.path(name)
        if data is None:
            if not path.is_file():
                return "missing"
            data = path.read_bytes()
        if not data:
            return "zero bytes"
        accepted = self.checksums(name)
        if not accepted:
            return f"no checksum recorded in {MANIFEST} (not written by the store, or cut short before it was recorded)"
        if sha256_bytes(data) not in accepted:
            return f"its sha256 differs from the one recorded in {MANIFEST}"
        return None

    def quarantine(self, name: str, why: str) -> None:
        """Report entry ``name`` as damaged; under the lock, rename it to ``NAME.damaged`` and forget its checksum."""
        path = self.path(name)
        if not path.exists():
            return
        if self.locked:
            aside = path.with_name(path.name + DAMAGED)
            path.replace(aside)
            manifest = self._read_manifest()
            if name in manifest:
                manifest = dict(manifest)
                del manifest[name]
                self._write_manifest(manifest)
            notice(f"{str(path)!r} is damaged ({why}); renamed to {aside.name!r}")
        else:
            notice(f"{str(path)!r} is damaged ({why}); skipped")

    def get_bytes(self, name: str) -> bytes | None:
        """The verified bytes of entry ``name``; ``None`` when it is absent or damaged (then quarantined)."""
        path = self.path(name)
        if not path.is_file():
            return None
        data = path.read_bytes()
        why = self.fault(name, data)
        if why is not None:
            self.quarantine(name, why)
            return None
        return data

    def _get_parsed(self, name: str, parse: Callable[[bytes], Any], valid: Callable[[Any], bool] | None) -> Any:
        data = self.get_bytes(name)
        if data is None:
            return None
        try:
            value = parse(data)
        except Exception as error:  # an intact file of the wrong kind: truncated upstream, pickled, ...
            first = str(error).splitlines()[0].split(". ")[0] if str(error) else ""
            self.quarantine(name, f"does not load: {type(error).__name__}: {first}")
            return None
        if valid is not None and not valid(value):
            self.quarantine(name, "its content is not what this entry holds")
            return None
        return value

    def get_json(self, name: str, *, valid: Callable[[Any], bool] | None = None) -> Any:
        """The verified JSON of ``name`` (``None``: absent or damaged); ``valid`` checks its shape."""
        return self._get_parsed(name, lambda data: json.loads(data.decode("utf-8")), valid)

    def get_tensors(self, name: str, *, valid: Callable[[Any], bool] | None = None) -> Any:
        """The verified ``torch.load(..., weights_only=True)`` of ``name`` (``None``: absent or damaged)."""
        import torch

        return self._get_parsed(name, lambda data: torch.load(io.BytesIO(data), map_location="cpu",
                                                              weights_only=True), valid)

    def names(self, pattern: str = "*") -> list[str]:
        """Names of the entries present that match ``pattern`` (relative glob), sorted; no temporaries, no
        ``*.damaged``, not the manifest or the lock."""
        out = []
        for path in self.root.glob(pattern):
            if path.is_file() and not path.name.startswith(".") and not path.name.endswith(DAMAGED) \
                    and path.name != MANIFEST:
                out.append(path.relative_to(self.root).as_posix())
        return sorted(out)
