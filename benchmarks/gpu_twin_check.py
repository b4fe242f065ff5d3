"""GPU check of the twin harness: CUDA against CPU, control pairs on CUDA, batched throughput on CUDA.

Without CUDA it prints a message and exits 0. With CUDA (about 3-5 minutes on one H100):

1. **CUDA vs CPU.** The same short float32 run (digits, MLP, 2 pairs, every step logged) on both
   devices. float32 kernels differ between devices (different reduction orders, TF32 is disabled
   here), so results agree to rounding, and the rounding differences then grow with training:
   tolerances are relative, ``5e-4`` on the losses and the distance after the first update,
   ``2e-2`` on the losses and ``2e-1`` on the distance after 20 updates (distance is the
   difference of two nearly equal weight vectors, so it carries the largest relative error).
2. **Control on CUDA.** ``S' = S`` for every optimizer: the distance must be exactly 0.0 at every step.
3. **No host sync.** Training steps of every optimizer (momentum and Adam bases) run under
   ``torch.cuda.set_sync_debug_mode("error")``.
4. **Throughput.** 8 and 32 pairs batched, MLP on digits and ResNet-20 on random CIFAR-shaped data;
   seconds per epoch batched, and (8 pairs) the same models one by one, interleaved rounds through
   ``benchmarks/_timing.py`` (median, and the ratio's median [IQR]).

Writes ``gpu_twin_check.json`` to ``$OUT`` (or the working directory). Exit status 1 if a check fails.

    python benchmarks/gpu_twin_check.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_timing.py

FIRST_STEP_RTOL = 5e-4
LATE_LOSS_RTOL = 2e-2
LATE_DISTANCE_RTOL = 2e-1


def _frame(trainer):
    import pandas as pd

    return pd.DataFrame(trainer.rows)


def _train(config, dataset, epochs=None):
    from stablesam.stability.twin import TwinTrainer

    trainer = TwinTrainer(config, dataset)
    trainer.log()
    for _ in range(epochs or config.epochs):
        trainer.train_epoch()
    return trainer


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


def check_cuda_against_cpu(dataset, report: dict) -> bool:
    from stablesam.stability.twin import TwinConfig

    ok = True
    for method in ("sgd", "sam", "stablesam-u"):
        config = TwinConfig(dataset="digits", model="mlp", optimizer=method, lr=0.1, rho=0.05, epochs=1, batch_size=60,
                            seeds=(0, 1), replaced_indices=(3,), log_every_steps=1)
        frames = {d: _frame(_train(config.replace(device=d), dataset)) for d in ("cpu", "cuda")}
        result = {}
        for step, loss_tol, dist_tol in ((1, FIRST_STEP_RTOL, FIRST_STEP_RTOL), (20, LATE_LOSS_RTOL, LATE_DISTANCE_RTOL)):
            for metric, tol in (("train_loss", loss_tol), ("test_loss", loss_tol), ("distance", dist_tol)):
                values = {d: f.loc[(f["step"] == step) & (f["metric"] == metric) & (f["layer"] == ""), "value"].to_numpy()
                          for d, f in frames.items()}
                worst = max(_relative(a, b) for a, b in zip(values["cpu"], values["cuda"]))
                passed = bool(worst <= tol)
                ok &= passed
                result[f"{metric}@step{step}"] = {"max_rel_diff": worst, "tolerance": tol, "pass": passed}
        report["cuda_vs_cpu"][method] = result
        print(f"  {method:12s} " + "  ".join(f"{k} {v['max_rel_diff']:.1e}{'' if v['pass'] else ' FAIL'}"
                                              for k, v in result.items()))
    return ok


def check_control_on_cuda(dataset, report: dict) -> bool:
    from stablesam.stability.twin import TwinConfig
    from stablesam.stability.twin.config import METHODS

    ok = True
    for method in METHODS:
        config = TwinConfig(dataset="digits", model="mlp", optimizer=method, lr=0.5, rho=0.1, epochs=1, batch_size=100,
                            seeds=(0, 1), replaced_indices=(3,), control=True, log_every_steps=1, device="cuda",
                            base_optimizer="momentum")
        rows = _frame(_train(config, dataset))
        distances = rows.query("metric in ('distance', 'layer_distance', 'loss_diff_max')")["value"]
        passed = bool((distances == 0.0).all())
        ok &= passed
        report["control_on_cuda"][method] = {"max": float(distances.max()), "pass": passed}
        print(f"  {method:12s} max distance {distances.max():.1e} {'ok' if passed else 'FAIL'}")
    return ok


def check_no_sync_in_training_steps(dataset, report: dict) -> bool:
    """Training steps (every optimizer, momentum and Adam) under ``torch.cuda.set_sync_debug_mode("error")``."""
    from stablesam.stability.twin import TwinConfig, TwinTrainer
    from stablesam.stability.twin.config import METHODS

    ok = True
    for method in METHODS:
        for base in ("momentum", "adam"):
            config = TwinConfig(dataset="digits", model="mlp", optimizer=method, base_optimizer=base, lr=0.05,
                                rho=0.05, epochs=1, batch_size=64, seeds=(0, 1), replaced_indices=(3,), device="cuda")
            trainer = TwinTrainer(config, dataset)
            idx = torch.arange(64, device=trainer.device).expand(trainer.n_models, -1)
            x, y = trainer.data.batch(idx)
            trainer._track(*trainer.population.train_step(x, y, trainer.alive, config.lr))  # warm-up (lazy state)
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            try:
                for _ in range(3):
                    x, y = trainer.data.batch(idx)
                    trainer._track(*trainer.population.train_step(x, y, trainer.alive, config.lr))
                    trainer.step += 1
                error = None
            except RuntimeError as caught:
                error = str(caught).splitlines()[0]
            finally:
                torch.cuda.set_sync_debug_mode("default")
            ok &= error is None
            report["no_sync"][f"{method}/{base}"] = error or "ok"
            if error:
                print(f"  {method}/{base}: host sync in the training step: {error}")
    print(f"  {'no host sync in any training step' if ok else 'FAIL'}")
    return ok


def cifar_shaped(n_train: int, n_test: int, seed: int = 0):
    """Random inputs of CIFAR-10's shape with random labels (throughput only; nothing is learnt)."""
    import stablesam.stability.data as data

    rng = np.random.default_rng(seed)
    n = n_train + 2 * n_test
    x = torch.as_tensor(rng.standard_normal((n, 3, 32, 32)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, 10, size=n))
    fields = dict(x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:n_train + n_test],
                  y_test=y[n_train:n_train + n_test], x_pool=x[n_train + n_test:], y_pool=y[n_train + n_test:],
                  task="classification", num_classes=10, input_shape=(3, 32, 32), name="random-cifar")
    cls = getattr(data, "Dataset", None)
    if cls is not None and dataclasses.is_dataclass(cls):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in fields.items() if k in known})
    return dataclasses.make_dataclass("RandomCifar", list(fields))(**fields)


def time_throughput(digits, report: dict) -> None:
    """Seconds per epoch, batched vs one by one (8 pairs) or batched alone (32 pairs), through
    ``benchmarks/_timing.py``: interleaved rounds of one epoch per trainer, synchronised around each epoch."""
    from _timing import interleave

    from stablesam.stability.twin import TwinConfig, TwinTrainer

    cifar = cifar_shaped(n_train=1280, n_test=256)
    cases = [("mlp", "digits", digits, 60, 8), ("mlp", "digits", digits, 60, 32),
             ("resnet20", "random-cifar", cifar, 64, 8), ("resnet20", "random-cifar", cifar, 64, 32)]
    for model, name, dataset, batch, pairs in cases:
        config = TwinConfig(dataset=name, model=model, optimizer="stablesam-n", lr=0.05, rho=0.05, epochs=1000,
                            batch_size=batch, seeds=tuple(range(pairs)), replaced_indices=(0,), device="cuda",
                            eval_batch_size=256)
        record = {"model": model, "pairs": pairs, "batch_size": batch, "n_train": len(dataset.y_train)}
        try:
            trainers = {key: TwinTrainer(config.replace(vectorize=vectorize), dataset)
                        for key, vectorize in (("batched", True), ("one_by_one", False))[: 2 if pairs == 8 else 1]}
            timings = interleave({key: t.train_epoch for key, t in trainers.items()}, rounds=10, warmup=1,
                                 synchronize=torch.cuda.synchronize)
            for key, trainer in trainers.items():
                record[f"{key}_s_per_epoch"] = timings.spread(key).median
                record[f"{key}_vectorized"] = trainer.population.vectorized
                record["steps_per_epoch"] = trainer.steps_per_epoch
            record["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
            if len(trainers) == 2:
                spread = timings.ratio("batched", "one_by_one")
                record["ratio"], record["ratio_iqr"] = spread.median, [spread.q1, spread.q3]
            del trainers
        except torch.cuda.OutOfMemoryError as error:
            record["error"] = f"out of memory: {str(error).splitlines()[0]}"
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        report["throughput"].append(record)
        print("  " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_twin_check: no CUDA device visible to torch; nothing to check (exit 0)")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    from stablesam.stability.data import load_dataset

    digits = load_dataset("digits", generator=np.random.default_rng(0))
    report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
              "cuda_vs_cpu": {}, "control_on_cuda": {}, "no_sync": {}, "throughput": []}
    print(f"gpu_twin_check on {report['device']} (torch {report['torch']}, CUDA {report['cuda']})")
    print("1. CUDA vs CPU (max relative difference over models)")
    ok = check_cuda_against_cpu(digits, report)
    print("2. control pairs on CUDA")
    ok &= check_control_on_cuda(digits, report)
    print("3. no host synchronisation in the training step")
    ok &= check_no_sync_in_training_steps(digits, report)
    print("4. throughput on CUDA (stablesam-n, seconds per epoch)")
    time_throughput(digits, report)
    report["pass"] = bool(ok)
    out = Path(os.environ.get("OUT", ".")) / "gpu_twin_check.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'PASS' if ok else 'FAIL'}; report written to {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
