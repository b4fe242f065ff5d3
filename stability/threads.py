"""``torch_threads``: torch's intra-op thread count for a block of code, restored afterwards; ``cpu_cores``.

``torch.set_num_threads`` is process-wide state; setting it without restoring it changes every later
computation of the process (a sweep worker, a test session). Many tiny full-batch CPU steps run fastest on
one thread (measured: 8x faster than two threads on a loaded 2-core machine).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from stablesam.core.validation import check_integer

__all__ = ["cpu_cores", "torch_threads"]


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads (``None``: leave torch's setting), then restore it."""
    import torch

    if threads is None:
        yield
        return
    threads = check_integer("threads", threads, minimum=1)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
