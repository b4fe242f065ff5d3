"""Time per optimizer step against faithful re-implementations of the common SAM wrapper and the StableSAM code.

Problem: a deep tanh MLP (``--depth`` layers, 2 tensors each, default 50 tensors), squared loss, SGD with
momentum 0.9 as the base optimizer. Candidates (one step each, timed by :mod:`_timing`: interleaved blocks,
rotated order, median [IQR] of per-round ratios, 1 thread unless ``--threads``):

* ``floor``: two forward-backward passes and the base step, no SAM bookkeeping at all;
* ``sgd``: one forward-backward pass and the base step;
* ours: ``sam``, ``usam``, ``stablesam-n``, ``stablesam-u`` (:class:`stablesam.stability.SAM`), and ``sam (no stats)``
  (``track_stats=False``: no ``||g~||`` and no logged ``gamma``);
* ``common-sam``: the algorithm of the common PyTorch SAM wrapper (davda54/sam, the one most SAM code
  copies), operation by operation, as :class:`CommonSAM` below:

  1. backward at ``w`` (outside the wrapper, as its README shows), then ``step(closure)``;
  2. ``first_step``: ``grad_norm = torch.norm(torch.stack([(1.0 * p.grad).norm(p=2).to(device) for p ...]), p=2)``
     (one norm kernel per parameter, the ``1.0 *`` is the non-adaptive branch of
     ``(torch.abs(p) if adaptive else 1.0) * p.grad`` and allocates a product; then a stack and a norm);
     per group ``scale = rho / (grad_norm + 1e-12)``; per parameter with a gradient:
     ``state[p]["old_p"] = p.data.clone()``, ``e_w = p.grad * scale.to(p)``, ``p.add_(e_w)``;
     then ``zero_grad()`` (gradients set to ``None``);
  3. ``closure()`` (forward-backward at ``w~``, under ``torch.enable_grad``);
  4. ``second_step``: per parameter with a gradient ``p.data = state[p]["old_p"]`` (restore by swapping
     the storage in, no copy), then ``base_optimizer.step()``.

* ``official-stablesam``: the StableSAM authors' code, which is the same wrapper with the renormalisation
  added, as :class:`OfficialStableSAM`: ``first_step`` also keeps ``grad_norm``; ``second_step`` computes
  ``new_norm`` the same way (per-parameter norms stacked), restores each ``p.data`` as above and multiplies
  each ``p.grad.mul_(grad_norm / new_norm)`` (one kernel per parameter), then the base step.

Both are written here from the published algorithms (no code copied), to time the same operations.
Ratios: ``StableSAM-N / SAM`` (goal <= 1.02), ours / theirs for the total step, and the *bookkeeping
above the floor* ``(t - t_floor) / (t_common - t_floor)`` per round (goal <= 0.35, for ``sam (no stats)``:
the wrapper's own work; ``sam`` keeps the logging of ``||g~||`` and gamma on by default).

Measured (torch 2.13 CPU, 1 thread, 2 cores shared with other jobs; 50 tensors of 64x64/64, float32):

* SAM / common wrapper 0.905 [0.879, 0.923]; StableSAM-N / official 0.837 [0.826, 0.849]; StableSAM-N / SAM
  1.01 [1.01, 1.02].
* The renormalization, each StableSAM against its base, on a quiet machine (load 0.4-0.9), median per-round ratio
  with its exact 95% sign-test interval: at 80 rounds x 20 steps, StableSAM-U / USAM 0.994 [0.971, 1.034],
  StableSAM-N / SAM 1.000 [0.969, 1.047], StableSAM-A / ASAM 0.993 [0.954, 1.039]; at 60 rounds x 100 steps
  (4.7 minutes), 1.017 [0.989, 1.029], 1.026 [1.000, 1.061] and 1.000 [0.962, 1.060]. No interval is narrower than
  2%, so this machine cannot resolve the 2% goal by timing: a round's ratio scatters by +-9% (its IQR) whether a
  block is 20 or 100 steps (the virtual machine's jitter, not the block's length), and an interval of 2% would need
  about a thousand rounds. What decides it is the count: the renormalization adds two norms and one scale per step,
  0.006% of SAM's FLOPs on the digits CNN (``stablesam verify``, C6).
* Bookkeeping above the floor, SAM without stats / common: 0.55 [0.52, 0.66] (goal 0.35 not met). Why: our
  bookkeeping is four foreach kernels (copy w to the restore buffer 52 us, per-tensor norms 135 us,
  addcdiv ascent 94 us, copy back 52 us: 333 us measured op by op) plus ~0.1 ms of Python and dispatch.
  On CPU ``torch._foreach_*`` runs one kernel per tensor (2-3 us each), so with 50 small tensors the
  kernels alone are ~0.25 of the common wrapper's 1.3 ms above the floor; there is no exact way around
  copying ``w`` twice (restoring by subtraction is not exact) and computing the norm once.
* Flat-parameter mode (every parameter a view of one buffer, so each of those four is one kernel): the
  same four operations on one 204,800-float buffer take 17 + 23 + 21 + 17 = 78 us, i.e. it would save
  ~0.25 ms of a 4.8 ms step (5%). Not shipped: it needs the gradients to be views of a second buffer,
  which the usual ``zero_grad(set_to_none=True)`` undoes every step (autograd then allocates fresh
  gradients), and it aliases the model's and the optimizer state's storage; 5% does not pay for that.

    python benchmarks/optimizer_step.py [--depth 25 --width 64 --batch 64 --rounds 15 --calls 20 --threads 1]

Not a test: figures depend on the machine and its load (the project machine's 2 cores are shared).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Ratio, Timings, interleave, print_ratios  # noqa: E402

from stablesam.core.methods import METHODS as TABLE  # noqa: E402
from stablesam.stability import SAM  # noqa: E402


class CommonSAM:
    """The common SAM wrapper's step (davda54/sam), operation by operation (module docstring, 2-4)."""

    def __init__(self, params, base_optimizer, rho):
        self.param_groups = [{"params": list(params), "rho": rho, "adaptive": False}]
        self.base_optimizer = base_optimizer
        self.state = {}

    def _grad_norm(self):
        shared_device = self.param_groups[0]["params"][0].device
        return torch.norm(torch.stack([
            ((torch.abs(p) if group["adaptive"] else 1.0) * p.grad).norm(p=2).to(shared_device)
            for group in self.param_groups for p in group["params"] if p.grad is not None
        ]), p=2)

    def zero_grad(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def first_step(self):
        grad_norm = self._grad_norm()
        for group in self.param_groups:
            scale = group["rho"] / (grad_norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                self.state.setdefault(p, {})["old_p"] = p.data.clone()
                e_w = (torch.pow(p, 2) if group["adaptive"] else 1.0) * p.grad * scale.to(p)
                p.add_(e_w)
        self.zero_grad()
        return grad_norm

    @torch.no_grad()
    def second_step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.data = self.state[p]["old_p"]
        self.base_optimizer.step()

    @torch.no_grad()
    def step(self, closure):
        self.first_step()
        torch.enable_grad()(closure)()
        self.second_step()


class OfficialStableSAM(CommonSAM):
    """The StableSAM authors' step: the common wrapper plus ``p.grad.mul_(||g|| / ||g~||)`` per parameter."""

    @torch.no_grad()
    def first_step(self):
        self.old_grad_norm = super().first_step()

    @torch.no_grad()
    def second_step(self):
        ratio = self.old_grad_norm / self._grad_norm()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.data = self.state[p]["old_p"]
                p.grad.mul_(ratio)
        self.base_optimizer.step()


# Every ascent row of the method table (stablesam.core.methods), plus SAM without its statistics.
OURS = {key: dict(ascent=row.ascent, stable=row.stable) for key, row in TABLE.items() if row.ascent != "none"}
OURS["sam (no stats)"] = dict(ascent="normalized", track_stats=False)
# (StableSAM, its base): every renormalized row against the plain row of the same ascent
RENORMALIZED = [(key, base) for key, row in TABLE.items() if row.stable
                for base, other in TABLE.items() if not other.stable and other.ascent == row.ascent]
METHODS = ("floor", "sgd", *OURS, "common-sam", "official-stablesam")


def make_problem(depth, width, batch, seed, device="cpu", dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    params = []
    for _ in range(depth):
        params.append((torch.randn(width, width, generator=gen, dtype=dtype) / math.sqrt(width)).to(device).requires_grad_())
        params.append(torch.zeros(width, device=device, dtype=dtype).requires_grad_())
    x = torch.randn(batch, width, generator=gen, dtype=dtype).to(device)
    y = torch.randn(batch, width, generator=gen, dtype=dtype).to(device)
    return params, x, y


def make_step(name, initial, x, y, lr=1e-3, rho=0.05):
    """One full training step of method ``name`` on fresh copies of ``initial``; returns (step, params)."""
    params = [p.detach().clone().requires_grad_() for p in initial]
    base = torch.optim.SGD(params, lr=lr, momentum=0.9)

    def closure():
        for p in params:
            p.grad = None
        h = x
        for i in range(0, len(params), 2):
            h = torch.tanh(h @ params[i] + params[i + 1])
        loss = ((h - y) ** 2).mean()
        loss.backward()
        return loss

    if name == "sgd":
        return (lambda: (closure(), base.step())), params
    if name == "floor":
        return (lambda: (closure(), closure(), base.step())), params
    if name in OURS:
        optimizer = SAM(base, rho=rho, **OURS[name])
        return (lambda: optimizer.step(closure)), params
    wrapper = (CommonSAM if name == "common-sam" else OfficialStableSAM)(params, base, rho)
    return (lambda: (closure(), wrapper.step(closure))), params


def measure(initial, x, y, rounds=15, calls=20, num_threads=1, synchronize=None) -> Timings:
    steps = {name: make_step(name, initial, x, y)[0] for name in METHODS}
    return interleave(steps, rounds=rounds, calls=calls, warmup=5, num_threads=num_threads, synchronize=synchronize)


def ratios(timings: Timings, benchmark: str = "optimizer_step") -> list[Ratio]:
    def above_floor(ours, theirs):
        return timings.combine(lambda t: (t[ours] - t["floor"]) / (t[theirs] - t["floor"]))

    return [
        *(Ratio(benchmark, f"{TABLE[stable].label} / {TABLE[base].label}", timings.ratio(stable, base), 1.02)
          for stable, base in RENORMALIZED),
        Ratio(benchmark, "SAM / common wrapper", timings.ratio("sam", "common-sam"), 1.0),
        Ratio(benchmark, "SAM (no stats) / common wrapper", timings.ratio("sam (no stats)", "common-sam"), 1.0),
        Ratio(benchmark, "StableSAM-N / official StableSAM", timings.ratio("stablesam-n", "official-stablesam"), 1.0),
        Ratio(benchmark, "SAM bookkeeping above floor / common", above_floor("sam", "common-sam")),
        Ratio(benchmark, "SAM (no stats) bookkeeping above floor / common",
              above_floor("sam (no stats)", "common-sam"), 0.35),
        Ratio(benchmark, "StableSAM-N bookkeeping above floor / official",
              above_floor("stablesam-n", "official-stablesam"), 0.35),
    ]


def main(argv=None) -> list[Ratio]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=25, help="linear layers (2 tensors each; default 25)")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (>= 10; default 15)")
    parser.add_argument("--calls", type=int, default=20, help="steps per block (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: shared machine)")
    args = parser.parse_args(argv)

    initial, x, y = make_problem(args.depth, args.width, args.batch, seed=0)
    timings = measure(initial, x, y, args.rounds, args.calls, args.threads)
    print(f"optimizer step, CPU, torch {torch.__version__}; MLP {args.depth} x ({args.width}x{args.width} + bias) "
          f"= {len(initial)} tensors, batch {args.batch}; {timings.describe()}")
    print(timings.table("ms"))
    print(renormalization_intervals(timings))
    result = ratios(timings)
    print_ratios(result)
    return result


def renormalization_intervals(timings: Timings) -> str:
    """Each StableSAM / its base: the median of the per-round ratios with its exact 95% sign-test interval (the
    interval C6 decides with), whose width must be below 2% to resolve the 2% goal."""
    from stablesam.analysis.verify.verdicts import DecisionRule, median_interval

    rule = DecisionRule("per-round step-time ratio", claimed="less", boundary=1.02, null=1.0)
    lines = ["  renormalization, median per-round ratio [95% sign-test interval] (width):"]
    for stable, base in RENORMALIZED:
        i = median_interval(timings.seconds[stable] / timings.seconds[base], rule)
        lines.append(f"    {TABLE[stable].label} / {TABLE[base].label}: {i.estimate:.4f} [{i.low:.4f}, {i.high:.4f}] "
                     f"({100 * (i.high - i.low):.1f}%)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
