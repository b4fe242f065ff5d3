"""Executors: where the trials of a sweep run.

Both executors call :func:`stablesam.stability.sweeps.trial.execute_trial` with the same arguments, so a
trial gives the same results on either; they yield each trial's result record as it completes.

- ``local``: a process pool on this machine (``concurrent.futures.ProcessPoolExecutor``, spawn
  context: each worker is a fresh interpreter, as on a cluster); with no workers, this process.
- ``dask``: a Dask cluster, the one at ``scheduler`` (an address such as ``tcp://10.0.0.1:8786``)
  or a ``LocalCluster`` of worker processes on 127.0.0.1 with the dashboard off. A trial whose
  runner asks for resources (``{"GPU": 1}`` for a CUDA twin run) is only given to a worker that
  offers them (``dask worker ADDRESS --resources GPU=1``): one GPU per trial.

Trial directories must lie on a file system that every worker shares with this process. When a
sweep is interrupted, trials not yet started are dropped; the local workers are terminated (their
trials resume from their last checkpoint on the next run), while a trial already running on a
remote Dask worker runs to its end (Dask cannot stop a running task). A local worker also watches
its parent and exits at once when the parent dies without terminating it (``kill -9``), so that no
orphaned worker goes on writing trials that a rerun is about to take over.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from stablesam.core.validation import UsageError
from stablesam.core.io import DiskFull
from stablesam.stability.sweeps.trial import TrialRunner, execute_trial, record_error

__all__ = ["ENGINES", "run_dask", "run_local"]

ENGINES = ("local", "dask")

# (name, config, trial directory) of each trial to run.
Job = tuple[str, dict[str, Any], Path]


def default_workers(jobs: Sequence[Job]) -> int:
    return max(1, min(os.cpu_count() or 1, len(jobs)))


def run_local(runner: TrialRunner, jobs: Sequence[Job], *, workers: int | None = None) -> Iterator[dict[str, Any]]:
    """Run ``jobs`` on a pool of ``workers`` processes; yield each result record as it completes.

    ``workers=0`` runs them one after another in this process instead (for a debugger or a
    profiler; the runner's settings, such as torch's thread count, then apply to this process).
    """
    if not jobs:
        return
    if workers == 0:
        for name, config, path in jobs:
            yield execute_trial(runner, name, config, path)
        return
    pool = ProcessPoolExecutor(
        max_workers=workers or default_workers(jobs),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(os.getpid(),),
    )
    completed = False
    try:
        futures = {
            pool.submit(execute_trial, runner, name, config, str(path)): (name, path) for name, config, path in jobs
        }
        for future in as_completed(futures):
            name, path = futures[future]
            try:
                yield future.result()
            except DiskFull:  # a trial ran out of space: so would the next; stop with the one line
                raise
            except Exception as error:  # the worker process died (BrokenProcessPool) or the result did not unpickle
                yield record_error(path, name, error)
        completed = True
    finally:
        if completed:
            pool.shutdown(wait=True)
        else:
            # Interrupted: stop at once rather than finish the trials already handed to the workers.
            # A trial cut short is pending; its run directory resumes from its last checkpoint.
            _terminate_workers(pool)


PARENT_POLL_SECONDS = 0.2


def _init_worker(parent_pid: int) -> None:
    # Ctrl-C reaches every process of the terminal's group; the driver alone handles it (by
    # terminating the workers), so that no worker dies half-way through talking to the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()


def _exit_with_parent(parent_pid: int) -> None:
    """Exit this worker as soon as its parent is gone (re-parented: ``getppid`` changes)."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    # No clean-up: writes are atomic and the trial's lock dies with the process; the trial resumes from
    # its last checkpoint when the sweep is run again.
    os._exit(1)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the worker processes (SIGTERM) and shut the pool down, dropping pending trials."""
    # The pool's worker processes (a private attribute; the public API has no way to wait for
    # terminated workers before Python 3.14).
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:  # gone before the caller reads the trial directories
        process.join(timeout=30)
    pool.shutdown(wait=True, cancel_futures=True)


def import_distributed():
    """``dask.distributed``, or an ImportError that says how to install it."""
    try:
        import distributed
    except ImportError as error:
        raise ImportError(
            "the dask engine needs dask.distributed, which is not installed: pip install 'stablesam[dask]'"
        ) from error
    return distributed


def _check_gpu_workers(client, address: str) -> None:
    workers = client.scheduler_info().get("workers", {})
    if workers and not any(info.get("resources", {}).get("GPU") for info in workers.values()):
        raise UsageError(
            f"the trials ask for a GPU each but no worker of the cluster at {address} offers the 'GPU' resource; "
            "start the workers with `dask worker ADDRESS --resources GPU=1`"
        )


def _connect(distributed, scheduler: str, timeout: float):
    """A client of the scheduler at ``scheduler``, or a one-line ``UsageError`` when it cannot be reached."""
    from stablesam.core.validation import UsageError

    try:
        return distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as error:  # refused, unreachable, timed out, bad address
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"cannot reach the scheduler at {scheduler} within {timeout:g} s ({reason}); "
                         "check the address, or raise --scheduler-timeout") from None
    except ValueError as error:  # an address distributed cannot parse
        raise UsageError(f"--scheduler {scheduler!r} is not a Dask scheduler address: {error}") from None


def run_dask(
    runner: TrialRunner,
    jobs: Sequence[Job],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    scheduler_timeout: float = 10.0,
) -> Iterator[dict[str, Any]]:
    """Run ``jobs`` on a Dask cluster; yield each result record as it completes.

    With ``scheduler=None``, a ``LocalCluster`` of ``workers`` single-threaded processes on
    127.0.0.1 (dashboard off) runs them; when the trials need a GPU, each of its workers offers one
    (``resources={"GPU": 1}``) and ``workers`` defaults to 1 (for several GPUs per node, start a
    ``dask_cuda.LocalCUDACluster`` and pass its address). The cluster is connected to (waiting up to
    ``scheduler_timeout`` seconds), and checked, before this function returns; the trials are submitted
    when the iteration starts.
    """
    distributed = import_distributed()
    if not jobs:
        return _Results(iter(()), lambda: None)
    resources = [runner.resources(config) or None for _, config, _ in jobs]
    needs_gpu = any(r and r.get("GPU") for r in resources)
    stack = contextlib.ExitStack()
    try:
        if scheduler is None:
            # The scheduler's small HTTP server (health checks; no dashboard) binds 127.0.0.1 and
            # moves to a free port when 8787 is taken, as when two sweeps run side by side.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
                cluster = stack.enter_context(
                    distributed.LocalCluster(
                        n_workers=workers or (1 if needs_gpu else default_workers(jobs)),
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,
                        resources={"GPU": 1} if needs_gpu else None,
                    )
                )
            client = stack.enter_context(distributed.Client(cluster))
        else:
            client = stack.enter_context(_connect(distributed, scheduler, scheduler_timeout))
            if needs_gpu:
                _check_gpu_workers(client, scheduler)
    except BaseException:
        stack.close()
        raise
    return _Results(_run_on_client(distributed, client, runner, jobs, resources), stack.close)


class _Results:
    """An iterator of results whose ``close()`` also shuts its cluster down, even if never started."""

    def __init__(self, results: Iterator[dict[str, Any]], shutdown: Callable[[], None]):
        self._results, self._shutdown = results, shutdown

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._results

    def close(self) -> None:
        try:
            self._results.close()
        finally:
            self._shutdown()


def _run_on_client(distributed, client, runner, jobs, resources) -> Iterator[dict[str, Any]]:
    tag = uuid.uuid4().hex[:8]
    futures = {}
    for (name, config, path), needed in zip(jobs, resources):
        future = client.submit(
            execute_trial, runner, name, config, str(path), key=f"trial-{name}-{tag}", pure=False, resources=needed
        )
        futures[future] = (name, path)
    try:
        for future in distributed.as_completed(list(futures)):
            name, path = futures[future]
            try:
                yield future.result()
            except DiskFull:
                raise
            except Exception as error:  # the worker died (KilledWorker) or the task was cancelled
                yield record_error(path, name, error)
    finally:
        client.cancel(list(futures))
