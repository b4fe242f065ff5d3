"""Wall time of every cell of the notebooks, run from a fresh kernel as ``tests/project/test_notebooks.py`` runs them.

    python scripts/notebook_timings.py                        # every notebook at its defaults (QUICK = False)
    python scripts/notebook_timings.py --quick                # with the test's QUICK = True
    python scripts/notebook_timings.py notebooks/saddles.ipynb --over 60

Prints one line per code cell slower than ``--over`` seconds (default 0: every cell), slowest first, with its
notebook, index and first line, then each notebook's total. The times are nbclient's own (the kernel's
``execute_input`` to ``execute_reply`` of the cell). Each notebook runs in a scratch directory: nothing is written here.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


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
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    rows, totals = [], {}
    for path in paths:
        times = cell_times(path, quick=args.quick, timeout=args.timeout)
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
