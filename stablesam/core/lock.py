"""Exclusive advisory locks on output directories: one writer at a time.

A lock is a file ``.lock`` inside the directory, held with ``flock`` by the ``filelock`` package
(installed with torch). The operating system releases it when the process dies, however it dies
(``kill -9`` included), so a stale lock never blocks a rerun. The file itself stays behind (deleting
a lock file while another process waits on it would let two processes hold "the" lock at once),
except in a directory the lock itself created and nothing else wrote to: that directory is removed
again on release, so that a command refused after locking leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stablesam.core.validation import UsageError

__all__ = ["LOCK_FILE", "DirectoryLock", "directory_lock"]

LOCK_FILE = ".lock"


class DirectoryLock:
    """The exclusive lock of ``directory`` (created if absent); ``acquire`` waits up to ``timeout`` seconds.

    ``what`` names the holder in the refusal, e.g. ``"twin run"``: "output directory 'runs/x' is in use by
    another twin run (lock 'runs/x/.lock'); wait for it to finish or choose another directory".
    """

    def __init__(self, directory: str | Path, *, what: str = "process") -> None:
        from filelock import FileLock

        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self.what = what
        self._lock = FileLock(self.path, thread_local=False)
        self._created = False

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self, timeout: float = 0.0) -> DirectoryLock:
        from filelock import Timeout

        if self.held:
            return self
        self._created = not self.directory.exists()
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=timeout)
        except Timeout:
            waited = f" after waiting {timeout:g} s" if timeout > 0 else ""
            raise UsageError(f"output directory {str(self.directory)!r} is in use by another {self.what}{waited} "
                             f"(lock {str(self.path)!r}); wait for it to finish or choose another directory") from None
        return self

    def release(self) -> None:
        if not self.held:
            return
        unused = self._created and [p.name for p in self.directory.iterdir()] == [LOCK_FILE]
        if unused:
            self.path.unlink()
        self._lock.release(force=True)
        if unused:
            self.directory.rmdir()

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


@contextmanager
def directory_lock(directory: str | Path, *, what: str = "process", timeout: float = 0.0) -> Iterator[DirectoryLock]:
    """Hold the exclusive lock of ``directory`` for the block (see :class:`DirectoryLock`)."""
    lock = DirectoryLock(directory, what=what).acquire(timeout)
    try:
        yield lock
    finally:
        lock.release()
