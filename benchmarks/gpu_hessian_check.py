"""CUDA check of the curvature tools: Hessian-vector products and Lanczos on the GPU against the CPU, and
the time of one product with each backend on the GPU.

1. Agreement: ``HessianOperator`` on CUDA vs CPU (float64), both backends, a digits MLP (eval) and a digits
   CNN with BatchNorm in batch-statistics mode, chunked; tolerance rtol 1e-10 relative to ``||Hv||``.
2. Lanczos top-3 eigenvalues on CUDA vs CPU (relative difference < 1e-8).
3. Timing (``benchmarks/_timing.py``: interleaved rounds, median [IQR] of per-round ratios, CUDA
   synchronised around each timed block only): one full-batch product with the double-backward backend
   reusing its graph (the default), rebuilding it (``reuse_graph=False``), and the ``func`` backend,
   float32 and float64; also the reused graph against the rebuilt one for agreement (rtol 1e-12: the same
   kernels, up to GPU reduction order).

    python benchmarks/gpu_hessian_check.py            # exits 0 with a message when CUDA is absent
    python benchmarks/gpu_hessian_check.py --device cpu   # the same code path on the CPU (a dry run)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleave  # noqa: E402

from stablesam.analysis.curvature.eigen import lanczos_top_eigenpairs  # noqa: E402
from stablesam.analysis.curvature.hessian import BACKENDS, HessianOperator  # noqa: E402
from stablesam.stability.data import load_dataset  # noqa: E402
from stablesam.stability.models import build_model  # noqa: E402


def problem(model_name, dtype, n_train, **options):
    data = load_dataset("digits", generator=np.random.default_rng(0), n_train=n_train, dtype=dtype)
    model = build_model(model_name, data.input_shape, 10, generator=torch.Generator().manual_seed(0), dtype=dtype, **options)
    return model, (data.x_train, data.y_train)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available: nothing to check")
        return 0
    failures = 0
    print("1. products, device vs CPU, float64")
    cases = [("mlp", {"hidden": (64,)}, "eval", None), ("cnn", {"channels": (8, 16)}, "train", 300)]
    for name, options, bn_mode, chunk in cases:
        if name == "cnn":  # a BatchNorm layer in front of the read-out, so bn_mode matters
            model, data = problem(name, torch.float64, 600, **options)
            model.readout = torch.nn.Sequential(torch.nn.BatchNorm1d(model.readout.in_features, dtype=torch.float64), model.readout)
        else:
            model, data = problem(name, torch.float64, 600, **options)
        dim = sum(p.numel() for p in model.parameters())
        v = torch.randn(dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        cpu = HessianOperator(model, F.cross_entropy, data, bn_mode=bn_mode, chunk_size=chunk).matvec(v)
        for backend in BACKENDS:
            op = HessianOperator(model, F.cross_entropy, data, backend=backend, bn_mode=bn_mode, chunk_size=chunk, device=device)
            out = op.matvec(v).cpu()
            error = float((out - cpu).norm() / cpu.norm())
            ok = error < 1e-10
            failures += not ok
            print(f"  {name:4s} bn={bn_mode:5s} {backend:15s} relative difference {error:.2e} {'ok' if ok else 'FAIL'}")
        lanczos = [
            lanczos_top_eigenpairs(HessianOperator(model, F.cross_entropy, data, bn_mode=bn_mode, chunk_size=chunk, device=d),
                                   k=3, generator=np.random.default_rng(0)).eigenvalues
            for d in (torch.device("cpu"), device)
        ]
        error = float(np.max(np.abs(lanczos[1] - lanczos[0]) / abs(lanczos[0][0])))
        ok = error < 1e-8
        failures += not ok
        print(f"2. {name} Lanczos top-3 {np.round(lanczos[1], 6).tolist()} device vs CPU {error:.2e} {'ok' if ok else 'FAIL'}")

    print(f"3. one full-batch product on {device}")
    for name, options in [("mlp", {"hidden": (512, 512)}), ("cnn", {"channels": (32, 64)})]:
        for dtype in (torch.float32, torch.float64):
            model, data = problem(name, dtype, None, **options)
            ops = {"reused": HessianOperator(model, F.cross_entropy, data, dtype=dtype, device=device),
                   "rebuilt": HessianOperator(model, F.cross_entropy, data, dtype=dtype, device=device, reuse_graph=False),
                   "func": HessianOperator(model, F.cross_entropy, data, backend="func", dtype=dtype, device=device)}
            v = torch.randn(ops["reused"].dim, generator=torch.Generator().manual_seed(2), dtype=dtype).to(device)
            same = float((ops["reused"].matvec(v) - ops["rebuilt"].matvec(v)).norm() / ops["rebuilt"].matvec(v).norm())
            ok = same < (1e-12 if dtype == torch.float64 else 1e-5)
            failures += not ok
            timings = interleave({key: (lambda op=op: op.matvec(v)) for key, op in ops.items()}, rounds=max(10, args.repeats),
                                 calls=5, warmup=3, synchronize=lambda: sync(device))
            print(f"  {name} {str(dtype)[6:]:8s} reused vs rebuilt {same:.1e} {'ok' if ok else 'FAIL'}; {timings.describe()}")
            print(timings.table("ms"))
            print(f"    rebuilt / reused {timings.ratio('rebuilt', 'reused')}   func / reused {timings.ratio('func', 'reused')}")
    print("all checks passed" if not failures else f"{failures} check(s) FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
