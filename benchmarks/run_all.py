"""Run every CPU benchmark in turn and print one table of all their ratios against their goals (``make bench``).

Each benchmark stays runnable alone (``python benchmarks/<name>.py``); here its ``main(argv)`` is called
with its default arguments (:data:`ARGUMENTS` where not) and returns its :class:`_timing.Ratio` list.
The GPU checks (``gpu_*.py``) run through ``scripts/gpu_checks.sh`` instead. Not a test: the ratios depend on the machine and its load.

    python benchmarks/run_all.py [--only optimizer_step hessian_eigs ...]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _timing import print_ratios  # noqa: E402

BENCHMARKS = ("optimizer_step", "hessian_eigs", "twin_throughput", "quadratic_sweep", "growth_recursion",
              "sweep_engines")
# Arguments other than the defaults: a sweep of 1-epoch trials keeps 10 rounds of both engines to minutes.
ARGUMENTS = {"sweep_engines": ["--epochs", "1"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    args = parser.parse_args(argv)
    ratios = []
    for name in args.only:
        print(f"=== {name}", flush=True)
        start = time.perf_counter()
        ratios += importlib.import_module(name).main(ARGUMENTS.get(name, []))
        print(f"--- {name}: {time.perf_counter() - start:.0f} s\n", flush=True)
    print_ratios(ratios, "All ratios (median [IQR] over interleaved rounds; goals from issue 17)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
