"""Median time per optimizer step: SGD, SAM, USAM, StableSAM-N/-U, a reference wrapper, and the floor.

All in one run, interleaved (every round runs each method for a block of steps, in a rotated order), on
a deep MLP with at least 50 parameter tensors. Prints the medians and the ratios:

* StableSAM / SAM (goal <= 1.02): the cost of the renormalization itself;
* SAM bookkeeping above the floor, ours / reference (goal <= 0.4). The floor is two forward-backward
  passes plus the base optimizer's step, with no SAM bookkeeping; the reference is written the way the
  common SAM wrappers are (per-parameter Python loop, ``.item()`` on the norms, a clone per step).

    python benchmarks/optimizer_step.py [--depth 25 --width 64 --batch 64 --rounds 15 --steps 20]

Not a test: the figures depend on the machine and its load; they are measured, never asserted.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from stability import SAM  # noqa: E402


class ReferenceSAM:
    """SAM / StableSAM-N written like the common wrappers: loops, ``.item()``, a clone per step."""

    def __init__(self, params, base_optimizer, rho, stable):
        self.params, self.base_optimizer, self.rho, self.stable = list(params), base_optimizer, rho, stable
        self.state = {}

    @torch.no_grad()
    def first_step(self):
        grad_norm = torch.norm(torch.stack([p.grad.norm(p=2) for p in self.params if p.grad is not None]), p=2)
        self.grad_norm = grad_norm.item()
        scale = self.rho / (self.grad_norm + 1e-12)
        for p in self.params:
            if p.grad is None:
                continue
            self.state[p] = p.data.clone()
            p.add_(p.grad * scale)

    @torch.no_grad()
    def second_step(self):
        if self.stable:
            surrogate = torch.norm(torch.stack([p.grad.norm(p=2) for p in self.params if p.grad is not None]), p=2)
            gamma = self.grad_norm / (surrogate.item() + 1e-12)
        for p in self.params:
            if p.grad is None:
                continue
            p.data = self.state[p]
            if self.stable:
                p.grad.mul_(gamma)
        self.base_optimizer.step()

    def step(self, closure):
        loss = closure()
        self.first_step()
        closure()
        self.second_step()
        return loss


def make_problem(depth, width, batch, seed, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    params = []
    for _ in range(depth):
        params.append((torch.randn(width, width, generator=gen) / math.sqrt(width)).to(device).requires_grad_())
        params.append(torch.zeros(width, device=device).requires_grad_())
    x = torch.randn(batch, width, generator=gen).to(device)
    y = torch.randn(batch, width, generator=gen).to(device)
    return params, x, y


def make_method(name, initial, x, y, lr, rho):
    params = [p.detach().clone().requires_grad_() for p in initial]
    base = torch.optim.SGD(params, lr=lr, momentum=0.9)
    kinds = {
        "sam": dict(ascent="normalized"),
        "usam": dict(ascent="unnormalized"),
        "stablesam-n": dict(ascent="normalized", stable=True),
        "stablesam-u": dict(ascent="unnormalized", stable=True),
    }
    if name in kinds:
        optimizer = SAM(base, rho=rho, **kinds[name])
    elif name.startswith("reference"):
        optimizer = ReferenceSAM(params, base, rho, stable=name == "reference-stablesam-n")
    else:
        optimizer = base

    def closure():
        optimizer_zero_grad()
        h = x
        for i in range(0, len(params), 2):
            h = torch.tanh(h @ params[i] + params[i + 1])
        loss = ((h - y) ** 2).mean()
        loss.backward()
        return loss

    def optimizer_zero_grad():
        for p in params:
            p.grad = None

    if name == "sgd":
        return lambda: (closure(), base.step())
    if name == "floor":  # two forward-backward passes and the base step, no SAM bookkeeping
        return lambda: (closure(), closure(), base.step())
    return lambda: optimizer.step(closure)


METHODS = ("floor", "sgd", "sam", "usam", "stablesam-n", "stablesam-u", "reference-sam", "reference-stablesam-n")


def measure(initial, x, y, rounds, steps_per_block, synchronize=None):
    """Median seconds per step of each method, interleaved: each round runs every method for a block
    of steps, in an order rotated round by round. With ``synchronize`` (CUDA), a block is timed as a
    whole between two synchronisations and contributes its mean; otherwise every step is timed."""
    steps = {name: make_method(name, initial, x, y, lr=1e-3, rho=0.05) for name in METHODS}
    times = {name: [] for name in METHODS}
    for step in steps.values():  # warm-up: allocations, lazy imports, restore buffers
        for _ in range(5):
            step()
    for r in range(rounds):
        order = METHODS[r % len(METHODS):] + METHODS[:r % len(METHODS)]
        for name in order:
            step = steps[name]
            if synchronize is not None:
                synchronize()
                start = time.perf_counter()
                for _ in range(steps_per_block):
                    step()
                synchronize()
                times[name].append((time.perf_counter() - start) / steps_per_block)
                continue
            for _ in range(steps_per_block):
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def report(median) -> dict[str, float]:
    """Print the medians and the ratios; return the ratios."""
    for name in METHODS:
        print(f"  {name:<22} {median[name] * 1e3:8.3f} ms")
    floor = median["floor"]
    ratios = {
        "StableSAM-N / SAM (goal <= 1.02)": median["stablesam-n"] / median["sam"],
        "StableSAM-U / USAM (goal <= 1.02)": median["stablesam-u"] / median["usam"],
        "SAM overhead above floor, ours / reference (goal <= 0.4)":
            (median["sam"] - floor) / (median["reference-sam"] - floor),
        "StableSAM-N overhead above floor, ours / reference (goal <= 0.4)":
            (median["stablesam-n"] - floor) / (median["reference-stablesam-n"] - floor),
    }
    print(f"  overhead above floor: ours SAM {(median['sam'] - floor) * 1e3:.3f} ms, StableSAM-N "
          f"{(median['stablesam-n'] - floor) * 1e3:.3f} ms; reference SAM "
          f"{(median['reference-sam'] - floor) * 1e3:.3f} ms, StableSAM-N "
          f"{(median['reference-stablesam-n'] - floor) * 1e3:.3f} ms")
    for label, value in ratios.items():
        print(f"  {label}: {value:.3f}")
    return ratios


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=25, help="linear layers (2 tensors each; default 25)")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per method per round (default 20)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the machine's 2 cores are shared)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    initial, x, y = make_problem(args.depth, args.width, args.batch, seed=0)
    median = measure(initial, x, y, args.rounds, args.steps)
    print(f"optimizer step, CPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
          f"MLP {args.depth} x ({args.width}x{args.width} + bias) = {len(initial)} tensors, batch {args.batch}; "
          f"median of {args.rounds * args.steps} steps each, interleaved")
    report(median)
    return 0


if __name__ == "__main__":
    sys.exit(main())
