"""Sweep engines: the same 4-trial twin sweep on the local process pool and on a Dask LocalCluster.

Each call is one whole sweep (start-up included) into a fresh directory; the two engines alternate in
interleaved rounds (:mod:`_timing`, rotated order, median [IQR] of the per-round ratio dask / local; the
torch thread count of this process is stated, each worker process sets its own). Prints whether the
metric tables of the two engines are identical. Not a test; the project machine's 2 cores are shared. With ``--device cuda`` the trials run on the GPU (each Dask worker
offers one ``GPU`` resource) and a CPU run of the same trials is compared too: the largest relative
difference of the pair distance, a float32 quantity trained for 3 epochs, so expect ~1e-4, not 0.

    python benchmarks/sweep_engines.py [--device cpu|cuda] [--workers 2] [--rounds 10] [--epochs 3]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Ratio, interleave, print_ratios  # noqa: E402

from stablesam.stability.sweeps import SweepSpec, run_sweep  # noqa: E402


def spec(device: str, epochs: int = 3) -> SweepSpec:
    return SweepSpec.from_dict(
        {
            "base": {"dataset": "digits", "model": "mlp", "epochs": epochs, "batch_size": 64, "rho": 0.05,
                     "device": device},
            "axes": {"optimizer": ["sam", "stablesam-n"], "seeds": [0, 1]},
        }
    )


def sweep(out: Path, **kwargs) -> pd.DataFrame:
    result = run_sweep(out_dir=out, **kwargs)
    if result.counts["finished"] != len(result.trials):
        raise SystemExit(f"trials failed: {[t['error'] for t in result.trials if t['error']]}")
    return pd.read_parquet(result.metrics)


def max_relative_distance_difference(a: pd.DataFrame, b: pd.DataFrame) -> float:
    keys = ["trial", "epoch", "step"]
    da = a[(a["metric"] == "distance") & (a["twin"] == "pair")][[*keys, "value"]]
    db = b[(b["metric"] == "distance") & (b["twin"] == "pair")][[*keys, "value"]]
    merged = da.merge(db, on=keys, suffixes=("_a", "_b"))
    merged = merged[merged["value_b"] > 0]
    return float(np.max(np.abs(merged["value_a"] - merged["value_b"]) / merged["value_b"]))


def main(argv=None) -> list[Ratio]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial (default 3)")
    args = parser.parse_args(argv)
    counter = itertools.count()
    tables = {}
    with tempfile.TemporaryDirectory() as scratch:
        def run(engine):
            tables[engine] = sweep(Path(scratch) / f"{engine}-{next(counter)}", spec=spec(args.device, args.epochs),
                                   engine=engine, workers=args.workers)

        timings = interleave({"local": lambda: run("local"), "dask": lambda: run("dask")}, rounds=args.rounds, warmup=0)
        print(f"device {args.device}, 4 trials, {args.workers} workers; {timings.describe()}")
        print(timings.table("s"))
        print(f"identical metric tables: {tables['dask'].equals(tables['local'])}")
        if args.device == "cuda":
            cpu = sweep(Path(scratch) / "cpu", spec=spec("cpu", args.epochs), workers=args.workers)
            difference = max_relative_distance_difference(tables["local"], cpu)
            print(f"cuda vs cpu, max relative difference of the pair distance: {difference:.2e}")
    ratios = [Ratio("sweep_engines", "dask / local pool (4 trials)", timings.ratio("dask", "local"))]
    print_ratios(ratios)
    return ratios


if __name__ == "__main__":
    main()
