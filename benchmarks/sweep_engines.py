"""Sweep engines: the same 4-trial twin sweep on the local process pool and on a Dask LocalCluster.

Prints, from one run, each engine's wall time (start-up included), their ratio, and whether the two
metric tables are identical. With ``--device cuda`` the trials run on the GPU (each Dask worker
offers one ``GPU`` resource) and a CPU run of the same trials is compared too: the largest relative
difference of the pair distance, a float32 quantity trained for 3 epochs, so expect ~1e-4, not 0.

    python benchmarks/sweep_engines.py [--device cpu|cuda] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from stability.sweeps import SweepSpec, run_sweep


def spec(device: str) -> SweepSpec:
    return SweepSpec.from_dict(
        {
            "base": {"dataset": "digits", "model": "mlp", "epochs": 3, "batch_size": 64, "rho": 0.05, "device": device},
            "axes": {"optimizer": ["sam", "stablesam-n"], "seeds": [0, 1]},
        }
    )


def timed(**kwargs) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    result = run_sweep(**kwargs)
    seconds = time.perf_counter() - start
    if result.counts["finished"] != len(result.trials):
        raise SystemExit(f"trials failed: {[t['error'] for t in result.trials if t['error']]}")
    return seconds, pd.read_parquet(result.metrics)


def max_relative_distance_difference(a: pd.DataFrame, b: pd.DataFrame) -> float:
    keys = ["trial", "epoch", "step"]
    da = a[(a["metric"] == "distance") & (a["twin"] == "pair")][[*keys, "value"]]
    db = b[(b["metric"] == "distance") & (b["twin"] == "pair")][[*keys, "value"]]
    merged = da.merge(db, on=keys, suffixes=("_a", "_b"))
    merged = merged[merged["value_b"] > 0]
    return float(np.max(np.abs(merged["value_a"] - merged["value_b"]) / merged["value_b"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        local_s, local = timed(spec=spec(args.device), out_dir=out / "local", workers=args.workers)
        dask_s, dask = timed(spec=spec(args.device), out_dir=out / "dask", engine="dask", workers=args.workers)
        print(f"device {args.device}, 4 trials, {args.workers} workers")
        print(f"local pool   {local_s:7.2f} s")
        print(f"dask cluster {dask_s:7.2f} s   ratio dask/local {dask_s / local_s:.2f}")
        print(f"identical metric tables: {dask.equals(local)}")
        if args.device == "cuda":
            _, cpu = timed(spec=spec("cpu"), out_dir=out / "cpu", workers=args.workers)
            difference = max_relative_distance_difference(local, cpu)
            print(f"cuda vs cpu, max relative difference of the pair distance: {difference:.2e}")


if __name__ == "__main__":
    main()
