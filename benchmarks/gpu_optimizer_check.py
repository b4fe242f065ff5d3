"""CUDA check of the SAM-family optimizers: CUDA against CPU, no host sync, and step timings.

1. Agreement: three steps of every ascent x {SAM, StableSAM} x {SGD with momentum and weight decay,
   Adam} on a small tanh network, and one stacked case, on CUDA and on CPU from the same start.
   Tolerances (reductions run in a different order on the GPU): float64 rtol 1e-9, atol 1e-12;
   float32 rtol 2e-4, atol 1e-6 (parameters and last_stats).
2. No host sync: the steps run under ``torch.cuda.set_sync_debug_mode("error")`` (SGD bases; torch.s
   Adam reads a CPU step counter, which is not a device sync but would be flagged by nothing here).
3. fp16 autocast with ``torch.amp.GradScaler("cuda")`` (``step(closure, grad_scaler=scaler)``): from
   an initial scale of 2^30 the first steps overflow and must be skipped (``w`` unchanged, ``found_inf``
   1, ``gamma`` finite), the scale backs off, then steps are taken; a power-of-two scale on a float32
   problem without autocast must give the same parameters as no scaler (both passes unscaled exactly once).
4. Timing: ``benchmarks/optimizer_step.py`` on CUDA (its faithful common-wrapper and official-StableSAM
   re-implementations included), through ``benchmarks/_timing.py``: each block of steps timed between two
   ``torch.cuda.synchronize()`` calls (synchronisation around the timing only), median [IQR] of ratios.

    python benchmarks/gpu_optimizer_check.py        # exits 0 with a message when CUDA is absent
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import print_ratios  # noqa: E402
from optimizer_step import make_problem, measure, ratios  # noqa: E402

from stablesam.stability import SAM, StableSAM  # noqa: E402

TOLERANCES = {torch.float64: dict(rtol=1e-9, atol=1e-12), torch.float32: dict(rtol=2e-4, atol=1e-6)}
BASES = {
    "sgd_momentum_wd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01),
}


def run_steps(device, dtype, ascent, stable, base, stacked, n_steps=3, forbid_sync=False):
    gen = torch.Generator().manual_seed(0)
    lead = (3,) if stacked else ()
    shapes = [(16, 8), (16,), (4, 16), (4,)]
    params = [torch.randn(lead + s, generator=gen, dtype=dtype).to(device).requires_grad_() for s in shapes]
    x = torch.randn(32, 8, generator=gen, dtype=dtype).to(device)
    y = torch.randn(32, 4, generator=gen, dtype=dtype).to(device)
    opt = SAM(BASES[base](params), rho=0.1, ascent=ascent, stable=stable, gamma_cap=2.0, stacked=stacked)

    def closure():
        opt.zero_grad()
        if stacked:
            h = torch.tanh(torch.einsum("ni,kji->knj", x, params[0]) + params[1][:, None])
            out = torch.einsum("knj,koj->kno", h, params[2]) + params[3][:, None]
        else:
            out = torch.tanh(x @ params[0].T + params[1]) @ params[2].T + params[3]
        loss = ((out - y) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)  # allocates the restore buffers outside the sync check
    if forbid_sync:
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(n_steps - 1):
            opt.step(closure)
    finally:
        if forbid_sync:
            torch.cuda.set_sync_debug_mode("default")
    return [p.detach().cpu() for p in params], {k: v.cpu() for k, v in opt.last_stats.items()}


def check_agreement() -> int:
    failures = 0
    cases = [(d, a, s, b, False) for d in TOLERANCES for a in ("normalized", "unnormalized", "adaptive")
             for s in (False, True) for b in BASES]
    cases += [(torch.float64, "normalized", True, "sgd_momentum_wd", True)]
    worst = {dtype: 0.0 for dtype in TOLERANCES}
    for dtype, ascent, stable, base, stacked in cases:
        forbid = base != "adam"
        try:
            cuda_params, cuda_stats = run_steps("cuda", dtype, ascent, stable, base, stacked, forbid_sync=forbid)
        except RuntimeError as error:  # the sync debug mode raises RuntimeError on a synchronising call
            print(f"  FAIL {dtype} {ascent} stable={stable} {base} stacked={stacked}: {error}")
            failures += 1
            continue
        cpu_params, cpu_stats = run_steps("cpu", dtype, ascent, stable, base, stacked)
        pairs = list(zip(cuda_params, cpu_params)) + [(cuda_stats[k], cpu_stats[k]) for k in cpu_stats]
        for got, expected in pairs:
            scale = expected.abs().clamp_min(TOLERANCES[dtype]["atol"] / TOLERANCES[dtype]["rtol"])
            worst[dtype] = max(worst[dtype], float(((got - expected).abs() / scale).max()))
            try:
                torch.testing.assert_close(got, expected, **TOLERANCES[dtype])
            except AssertionError as error:
                print(f"  FAIL {dtype} {ascent} stable={stable} {base} stacked={stacked}: {str(error).splitlines()[0]}")
                failures += 1
                break
    for dtype, value in worst.items():
        print(f"  {str(dtype).replace('torch.', '')}: worst relative difference CUDA vs CPU {value:.2e} "
              f"(tolerance rtol {TOLERANCES[dtype]['rtol']:g}, atol {TOLERANCES[dtype]['atol']:g})")
    print(f"  {len(cases) - failures}/{len(cases)} cases agree; SGD-based cases ran with sync debug mode 'error'")
    return failures


def check_grad_scaler() -> int:
    failures = 0
    gen = torch.Generator().manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Tanh(), torch.nn.Linear(256, 8)).cuda()
    x, y = torch.randn(128, 64, generator=gen).cuda(), torch.randn(128, 8, generator=gen).cuda()
    opt = StableSAM(torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), rho=0.05)
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**30)

    def closure():
        opt.zero_grad()
        with torch.autocast("cuda", dtype=torch.float16):
            loss = torch.nn.functional.mse_loss(model(x).float(), y)
        scaler.scale(loss).backward()
        return loss

    skipped, taken = 0, 0
    for _ in range(40):
        before = [p.detach().clone() for p in model.parameters()]
        opt.step(closure, grad_scaler=scaler)
        scaler.update()
        stats = {k: v.cpu() for k, v in opt.last_stats.items()}
        unchanged = all(torch.equal(p.detach(), b) for p, b in zip(model.parameters(), before))
        if not (torch.isfinite(stats["gamma"]) and torch.isfinite(stats["applied_gamma"])):
            print(f"  FAIL fp16 GradScaler: non-finite gamma {stats}")
            failures += 1
        if float(stats["found_inf"]):
            skipped += 1
            failures += not unchanged
        else:
            taken += 1
            failures += unchanged
    if skipped == 0 or taken == 0:
        print(f"  FAIL fp16 GradScaler: {skipped} skipped and {taken} taken steps (expected some of each)")
        failures += 1
    print(f"  fp16 autocast + GradScaler: {skipped} overflowed steps skipped with w unchanged, {taken} taken, "
          f"final scale {scaler.get_scale():g}")

    runs = []
    for scale in (None, 2.0**16):
        gen = torch.Generator().manual_seed(2)
        params = [torch.randn(s, generator=gen).cuda().requires_grad_() for s in [(32, 16), (32,), (4, 32), (4,)]]
        xs, ys = torch.randn(64, 16, generator=gen).cuda(), torch.randn(64, 4, generator=gen).cuda()
        sam = StableSAM(torch.optim.SGD(params, lr=0.1, momentum=0.9), rho=0.1, ascent="unnormalized")
        grad_scaler = torch.amp.GradScaler("cuda", init_scale=scale, enabled=scale is not None)

        def plain_closure():
            sam.zero_grad()
            loss = ((torch.tanh(xs @ params[0].T + params[1]) @ params[2].T + params[3] - ys) ** 2).mean()
            grad_scaler.scale(loss).backward()
            return loss

        for _ in range(3):
            sam.step(plain_closure, grad_scaler=grad_scaler)
            grad_scaler.update()
        runs.append([p.detach().cpu() for p in params])
    identical = all(torch.equal(a, b) for a, b in zip(*runs))
    failures += not identical
    print(f"  power-of-two scale without autocast: parameters {'identical' if identical else 'DIFFER'} "
          f"to the unscaled run after 3 steps")
    return failures


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_optimizer_check: no CUDA device here; nothing to check (exit 0)")
        return 0
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    print("1-2. CUDA vs CPU agreement (3 steps each) and no host sync:")
    failures = check_agreement()
    print("3. fp16 autocast with GradScaler:")
    failures += check_grad_scaler()
    for depth, width, batch in ((25, 64, 64), (25, 1024, 256)):
        initial, x, y = make_problem(depth, width, batch, seed=0, device="cuda")
        timings = measure(initial, x, y, rounds=15, calls=20, synchronize=torch.cuda.synchronize)
        print(f"4. step time on CUDA: MLP {depth} x ({width}x{width} + bias) = {len(initial)} tensors, batch {batch}; "
              f"{timings.describe()}, each block between two synchronisations")
        print(timings.table("ms"))
        print_ratios(ratios(timings, f"optimizer_step cuda {width}"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
