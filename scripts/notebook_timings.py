"""Wall time of every cell of the notebooks, run from a fresh kernel as ``tests/project/test_notebooks.py`` runs them.

    python scripts/notebook_timings.py                        # every notebook at its defaults (QUICK = False)
    python scripts/notebook_timings.py --quick                # with the test's QUICK = True
    python scripts/notebook_timings.py notebooks/saddles.ipynb --over 60
    python scripts/notebook_timings.py --record notebooks/saddles.ipynb   # and update notebooks/timings.json

Prints one line per code cell slower than ``--over`` seconds (default 0: every cell), slowest first, with its
notebook, index and first line, then each notebook's total. The times are nbclient's own (the kernel's
``execute_input`` to ``execute_reply`` of the cell). Each notebook runs in a scratch directory: nothing is written here,
except with ``--record``: each timed notebook's entry of ``notebooks/timings.json`` is replaced by this run's times, with
the sha256 of every code cell's source, the date, commit, CPU cores and load average. ``tests/project/test_notebooks.py``
reads that file: every code cell must be timed as it stands, and a cell over 60 s must show progress and state its time
in the markdown cell above it ("*Time at the defaults:* the next cell takes about N s").
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
RECORD = NOTEBOOKS / "timings.json"


def source_digest(source: str) -> str:
    """The sha256 of a cell's source: a cell edited since it was timed no longer matches its record."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _record(path: Path, times: list[tuple[int, float, str]], load: float) -> None:
    import nbformat

    from stablesam.stability.threads import cpu_cores

    notebook = nbformat.read(path, as_version=4)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=NOTEBOOKS, capture_output=True, text=True)
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    record[path.name] = {
        "measured": datetime.date.today().isoformat(), "commit": commit.stdout.strip() or None,
        "cpu_cores": cpu_cores(),
        "load_average_before": round(load, 2),
        "cells": {str(index): {"seconds": round(seconds, 1), "source_sha256": source_digest(notebook.cells[index].source)}
                  for index, seconds, _ in times},
    }
    RECORD.write_text(json.dumps(dict(sorted(record.items())), indent=1) + "\n")


def _seconds(cell) -> float:
    timing = cell.metadata.get("execution", {})
    begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if begin is None or end is None:
        return float("nan")
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(begin.replace("Z", "+00:00"))).total_seconds()


def cell_times(path: Path, *, quick: bool, timeout: int) -> list[tuple[int, float, str]]:
    """(cell index in the committed notebook, seconds, first line) of every code cell of ``path``."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    (index,) = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.get("metadata", {}).get("tags", [])]
    if quick:  # as the test does: QUICK = True after the parameters cell
        notebook.cells.insert(index + 1, nbformat.v4.new_code_cell("QUICK = True"))
    with tempfile.TemporaryDirectory() as scratch:  # what a notebook writes goes there, as in the test
        client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=True,
                                         resources={"metadata": {"path": scratch}})
        client.execute()
    times = []
    for k, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or (quick and k == index + 1):
            continue
        original = k - 1 if quick and k > index else k
        times.append((original, _seconds(cell), cell.source.strip().splitlines()[0] if cell.source.strip() else ""))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks (default: every one in notebooks/)")
    parser.add_argument("--quick", action="store_true", help="inject QUICK = True, as the test does")
    parser.add_argument("--over", type=float, default=0.0, help="print only the cells slower than this (seconds)")
    parser.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds (default 1800)")
    parser.add_argument("--record", action="store_true", help=f"write the defaults' times to {RECORD.name}")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    rows, totals = [], {}
    if args.record and args.quick:
        parser.error("--record keeps the defaults' times: drop --quick")
    for path in paths:
        load = os.getloadavg()[0]
        times = cell_times(path, quick=args.quick, timeout=args.timeout)
        if args.record:
            _record(path, times, load)
        totals[path.name] = sum(t for _, t, _ in times)
        rows += [(seconds, path.name, index, first) for index, seconds, first in times]
        slowest = ", ".join(f"[{index}] {seconds:.1f} s" for index, seconds, _ in sorted(times, key=lambda t: -t[1])[:3])
        print(f"{path.name}: {totals[path.name]:.1f} s; slowest cells {slowest}", file=sys.stderr, flush=True)
    print(f"{'seconds':>8}  notebook [cell]  first line ({'QUICK = True' if args.quick else 'defaults'})")
    for seconds, name, index, first in sorted(rows, reverse=True):
        if seconds > args.over:
            print(f"{seconds:8.1f}  {name} [{index}]  {first[:70]}")
    for name, total in totals.items():
        print(f"{total:8.1f}  {name} (total)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
