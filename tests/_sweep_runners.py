"""Cheap, picklable trial runners for the sweep tests (the real default is a twin run).

``ToyTrial`` writes a tidy metrics table drawn from ``numpy.random.default_rng(seed)`` so its
results depend only on its config, records each call in ``calls.txt``, fails when the config says
``fail = true`` and raises ``KeyboardInterrupt`` (an interrupted sweep) at the learning rate
``abort_at_lr`` (a runner setting, so that the resumed sweep has the same configs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from stablesam.core.validation import check_choice, check_integer, check_positive

ALLOWED = ("optimizer", "lr", "rho", "seed", "epochs", "fail", "device")


class ToyTrial:
    def __init__(self, abort_at_lr: float | None = None):
        self.abort_at_lr = abort_at_lr

    def validate(self, config):
        for key in config:
            if key not in ALLOWED:
                raise ValueError(f"unknown config key {key!r}; allowed: {', '.join(ALLOWED)}")
        check_choice("optimizer", config.get("optimizer", "sgd"), ("sgd", "sam", "stablesam-n"))
        check_positive("lr", config.get("lr", 0.1))
        check_integer("seed", config.get("seed", 0), minimum=0)

    def resources(self, config):
        return {"GPU": 1} if config.get("device") == "cuda" else {}

    def __call__(self, config, out_dir: Path):
        with open(out_dir / "calls.txt", "a") as handle:
            handle.write("call\n")
        if config["lr"] == self.abort_at_lr:
            raise KeyboardInterrupt
        if config.get("fail"):
            raise RuntimeError(f"diverged at lr={config['lr']}")
        rng = np.random.default_rng(config.get("seed", 0))
        epochs = np.arange(1, config.get("epochs", 3) + 1)
        noise = rng.normal(size=epochs.size)
        frame = pd.DataFrame(
            {
                "run": "pair",
                "seed": config.get("seed", 0),
                "optimizer": config.get("optimizer", "sgd"),
                "rho": config.get("rho", 0.0),
                "lr": config["lr"],
                "epoch": epochs,
                "step": epochs * 10,
                "metric": "distance",
                "value": config["lr"] * epochs + noise,
            }
        )
        frame.to_csv(out_dir / "metrics.csv", index=False)
        (out_dir / "summary.json").write_text(json.dumps({"final": float(frame["value"].iloc[-1])}))


def calls(trial_dir: Path) -> int:
    path = trial_dir / "calls.txt"
    return len(path.read_text().splitlines()) if path.is_file() else 0


class ResourceProbe(ToyTrial):
    """Records, in ``resources.json``, the Dask worker's resources while the trial holds its share."""

    def __call__(self, config, out_dir: Path):
        from distributed import get_worker

        state = get_worker().state
        record = {"available": dict(state.available_resources), "total": dict(state.total_resources)}
        (out_dir / "resources.json").write_text(json.dumps(record))
        super().__call__(config, out_dir)


class SlowTrial(ToyTrial):
    """A trial of ``steps`` x 0.1 s that resumes where it stopped, under its directory's lock.

    It records its process id in ``pid`` and each finished step in ``steps.txt``, as a twin run holds
    its lock and checkpoints; a trial found finished under the lock is not run again.
    """

    def __init__(self, steps: int = 40, lock_timeout: float = 30.0):
        super().__init__()
        self.steps, self.lock_timeout = steps, lock_timeout

    def __call__(self, config, out_dir: Path):
        import os
        import time

        from stablesam.core.lock import DirectoryLock

        with DirectoryLock(out_dir, what="trial").acquire(self.lock_timeout):
            if (out_dir / "summary.json").is_file():
                return
            (out_dir / "pid").write_text(str(os.getpid()))
            progress = out_dir / "steps.txt"
            done = len(progress.read_text().splitlines()) if progress.is_file() else 0
            for _ in range(done, self.steps):
                time.sleep(0.1)
                with open(progress, "a") as handle:
                    handle.write("step\n")
            super().__call__(config, out_dir)
