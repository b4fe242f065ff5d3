"""``stablesam train``: SGD and the SAM family side by side on scikit-learn's digits.

A one-hidden-layer MLP (``stablesam.stability.models.build_model("mlp")``) on the 8x8 digits
(``stablesam.stability.data.load_dataset("digits")``: standardised with the training split's statistics, split drawn
with an explicit numpy Generator) is trained from the same initialisation, with the same mini-batch order,
by each optimizer (``stablesam.stability.optimizers.make_optimizer``). The table gives the final train/test accuracy and loss, the mean
StableSAM factor ``gamma = ||g|| / ||g~||`` and the mean surrogate/exact gradient-norm ratio
``||g~|| / ||g||`` over all steps (ASAM variants: the T-weighted norms), and the epoch of divergence if
the loss became non-finite. Statistics stay on the device during an epoch and are read once per epoch.

    stablesam train --epochs 10 --methods sgd sam stablesam-u --json
"""

from __future__ import annotations

import argparse
import sys
import time

from stablesam.core.methods import method_keys
from stablesam.core.paths import check_output_file
from stablesam.core.validation import UsageError, check_in_range, check_integer, check_nonnegative, check_positive
from stablesam.stability.optimizers import DEFAULT_RHO
from stablesam.cli._grammar import add_list_option, add_threads_flag
from stablesam.cli.schemas import TRAIN_SCHEMA
from stablesam.cli.output import add_json_flag, emit

DEFAULT_OPTIMIZERS = method_keys(full_batch=False)
_DIGITS = 1797  # examples in scikit-learn's digits
COLUMNS = ("optimizer", "train_acc", "test_acc", "train_loss", "test_loss", "mean_gamma", "mean_norm_ratio",
           "diverged_epoch", "seconds")
TIDY_COLUMNS = ("run", "seed", "optimizer", "rho", "lr", "epoch", "step", "metric", "value")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a small MLP on scikit-learn digits with SGD, SAM, USAM, ASAM and StableSAM",
        description=__doc__.split("\n\n")[0] + " Prints one row per optimizer.",
    )
    add_list_option(parser, "--methods", choices=DEFAULT_OPTIMIZERS, default=list(DEFAULT_OPTIMIZERS),
                    old=("--optimizers",), help=f"method keys among {', '.join(DEFAULT_OPTIMIZERS)} (default: all)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training split (default 10)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate of the SGD base (default 0.1)")
    parser.add_argument("--rho", type=float, default=DEFAULT_RHO,
                        help="ascent radius, the same for every SAM variant (default 0.05)")
    parser.add_argument("--adaptive-eta", type=float, default=0.01, help="ASAM's eta in T = |w| + eta (default 0.01)")
    parser.add_argument("--gamma-cap", type=float, default=None, help="cap on StableSAM's gamma (default: none)")
    parser.add_argument("--momentum", type=float, default=0.0, help="SGD momentum in [0, 1) (default 0)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="SGD weight decay (default 0)")
    parser.add_argument("--hidden", type=int, default=64, help="hidden units of the MLP (default 64)")
    parser.add_argument("--test-fraction", type=float, default=0.25, help="held-out fraction (default 0.25)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the train/test split (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and batch order (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    add_threads_flag(parser)
    parser.add_argument("--out", default=None,
                        help="also write per-epoch results as a tidy CSV (run, seed, optimizer, rho, lr, epoch, "
                             "step, metric, value)")
    parser.add_argument("--run-dir", default=None,
                        help="keep each finished optimizer's result in this directory (a verified store); running "
                             "the same command again reads them back and trains only the rest")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    optimizers = list(args.methods)
    epochs = check_integer("--epochs", args.epochs, minimum=1)
    batch_size = check_integer("--batch-size", args.batch_size, minimum=1)
    lr = check_positive("--lr", args.lr)
    rho = check_nonnegative("--rho", args.rho)
    adaptive_eta = check_nonnegative("--adaptive-eta", args.adaptive_eta)
    gamma_cap = None if args.gamma_cap is None else check_positive("--gamma-cap", args.gamma_cap)
    momentum = check_in_range("--momentum", args.momentum, 0.0, 1.0, high_open=True)
    weight_decay = check_nonnegative("--weight-decay", args.weight_decay)
    hidden = check_integer("--hidden", args.hidden, minimum=1)
    test_fraction = check_in_range("--test-fraction", args.test_fraction, 0.0, 1.0, low_open=True, high_open=True)
    split_seed = check_integer("--split-seed", args.split_seed, minimum=0)
    seed = check_integer("--seed", args.seed, minimum=0)
    if args.out is not None:
        check_output_file("--out", args.out)
    if args.run_dir is not None:
        from stablesam.core.paths import check_output_dir

        check_output_dir("--run-dir", args.run_dir)

    from stablesam.stability.training.device import resolve_device

    device = resolve_device(args.device, flag="--device")

    # torch's threads: --threads, set by stablesam.cli.main around the handler
    result = _train(optimizers, epochs, batch_size, lr, rho, adaptive_eta, gamma_cap, momentum, weight_decay,
                    hidden, test_fraction, split_seed, seed, device, args.out, args.run_dir)
    if not args.json:
        result = {k: ("-" if v is None else v) for k, v in result.items()}
        result["rows"] = [{k: ("-" if v is None else v) for k, v in row.items()} for row in result["rows"]]
    emit(result, as_json=args.json, schema=TRAIN_SCHEMA, rows_key="rows")
    return 0


def _open_run_dir(run_dir, config: dict):
    """Lock ``run_dir`` (a verified store) for a train run of ``config``; another config's directory is refused."""
    from stablesam.core.store import Store

    store = Store(run_dir, what="train run").lock()
    stored = store.get_json("config.json") if store.path("config.json").exists() else None
    if stored is not None and stored != config:
        store.unlock()
        raise UsageError(f"--run-dir {str(run_dir)!r} holds a train run of another configuration; choose another")
    store.put_json("config.json", config)
    return store


def _train(optimizers, epochs, batch_size, lr, rho, adaptive_eta, gamma_cap, momentum, weight_decay, hidden,
           test_fraction, split_seed, seed, device, out, run_dir=None) -> dict:
    """Train every optimizer in turn; return the result object (per-epoch tidy rows go to ``out``). With
    ``run_dir``, each finished optimizer's result is kept there (a verified store) and a rerun reads it back
    instead of training it again: a killed run resumes with the optimizer it was training."""
    import torch
    from tqdm import tqdm

    from stablesam.core.methods import method
    from stablesam.core.progress import progress_mode
    from stablesam.stability.optimizers import effective_rho, make_optimizer
    from stablesam.stability.training.loop import DivergenceRule, Hook, closure_for, run_steps

    import numpy as np

    from stablesam.stability.data import load_dataset
    from stablesam.stability.models import build_model

    # Every example is train or test: no pool (the pool serves neighbouring sets, which train does not use).
    data = load_dataset("digits", generator=np.random.default_rng(split_seed), n_test=round(test_fraction * _DIGITS),
                        n_pool=0)
    if data.n_train < batch_size:
        raise UsageError(f"--batch-size must be at most the training split's size {data.n_train}; got {batch_size}")
    x_train, y_train, x_test, y_test = (t.to(device) for t in (data.x_train, data.y_train, data.x_test, data.y_test))
    n_train = len(y_train)
    steps_per_epoch = n_train // batch_size
    loss_fn = torch.nn.functional.cross_entropy
    rule = DivergenceRule()  # a non-finite loss

    config = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "rho": rho, "adaptive_eta": adaptive_eta,
              "gamma_cap": gamma_cap, "momentum": momentum, "weight_decay": weight_decay, "hidden": hidden,
              "test_fraction": test_fraction, "split_seed": split_seed, "seed": seed, "device": str(device)}
    rows, tidy = [], []
    mode = progress_mode(None)
    progress = tqdm(total=len(optimizers) * epochs, desc="train", disable=not mode.bar)
    store = _open_run_dir(run_dir, config) if run_dir is not None else None
    try:
        for key in optimizers:
            entry = f"optimizers/{key}.json"
            done = None if store is None else store.get_json(entry, valid=lambda v: isinstance(v, dict)
                                                             and {"row", "tidy"} <= set(v))
            if done is not None:  # finished in an earlier run of the same command: read back, verified
                rows.append(done["row"])
                tidy += done["tidy"]
                progress.update(epochs)
                print(f"stablesam train: {key} already done in {str(store.path(entry))!r}", file=sys.stderr, flush=True)
                continue
            first_row = len(tidy)
            model = build_model("mlp", data.input_shape, data.num_outputs, hidden=(hidden,),
                                generator=torch.Generator().manual_seed(seed)).to(device)
            params = list(model.parameters())
            batch_order = torch.Generator().manual_seed(seed + 1)  # the same batches for every optimizer
            optimizer = make_optimizer(key, params, lr=lr, rho=rho, base="momentum", momentum=momentum,
                                       weight_decay=weight_decay, gamma_cap=gamma_cap, adaptive_eta=adaptive_eta)
            wrapped = method(key).uses_rho  # a SAM wrapper, whose step returns the loss and records statistics
            gammas, ratios, losses = [], [], []
            diverged_epoch = None
            started = time.perf_counter()
            order = None

            def step(t: int) -> None:
                nonlocal order
                if t % steps_per_epoch == 0:  # a new epoch: a new order, the ragged last batch dropped
                    order = torch.randperm(n_train, generator=batch_order).to(device)
                    losses.clear()
                index = order[(t % steps_per_epoch) * batch_size:(t % steps_per_epoch + 1) * batch_size]
                closure = closure_for(model, loss_fn, x_train[index], y_train[index], optimizer)
                if not wrapped:
                    losses.append(closure().detach())
                    optimizer.step()
                else:
                    losses.append(optimizer.step(closure).detach())
                    stats = optimizer.last_stats
                    gammas.append(stats["gamma"])
                    norm = stats["grad_norm"]
                    ratios.append(torch.where(norm == 0, 1.0, stats["surrogate_grad_norm"] / norm))

            def end_of_epoch(t: int) -> bool:
                """Evaluate and read the epoch's statistics (one host sync); True stops the run at a divergence."""
                nonlocal values, diverged_epoch
                epoch = t // steps_per_epoch
                with torch.no_grad():
                    epoch_metrics = {"batch_loss": torch.stack(losses).mean()}
                    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
                        logits = model(x)
                        epoch_metrics[f"{split}_loss"] = loss_fn(logits, y)
                        epoch_metrics[f"{split}_acc"] = (logits.argmax(dim=1) == y).float().mean()
                    if gammas:
                        epoch_metrics["mean_gamma"] = torch.stack(gammas[-len(losses):]).mean()
                        epoch_metrics["mean_norm_ratio"] = torch.stack(ratios[-len(losses):]).mean()
                    values = dict(zip(epoch_metrics, torch.stack(list(epoch_metrics.values())).tolist()))
                tidy.extend(
                    {"run": f"digits-split{split_seed}", "seed": seed, "optimizer": key,
                     "rho": effective_rho(key, rho), "lr": lr, "epoch": epoch, "step": t,
                     "metric": metric, "value": value}
                    for metric, value in values.items()
                )
                progress.update(1)
                if rule.reason(values["batch_loss"]) or rule.reason(values["train_loss"]):
                    diverged_epoch = epoch  # a diverging run is data: report when, keep the other optimizers going
                    progress.update(epochs - epoch)
                    return True
                return False

            values: dict[str, float] = {}
            run_steps(step, start=0, stop=epochs * steps_per_epoch, hooks=[Hook(steps_per_epoch, end_of_epoch)])
            overall = [None, None]
            if gammas:  # means over every step of the run
                overall = torch.stack([torch.stack(gammas).mean(), torch.stack(ratios).mean()]).tolist()
            rows.append({
                "optimizer": key,
                "train_acc": values["train_acc"],
                "test_acc": values["test_acc"],
                "train_loss": values["train_loss"],
                "test_loss": values["test_loss"],
                "mean_gamma": overall[0],
                "mean_norm_ratio": overall[1],
                "diverged_epoch": diverged_epoch,
                "seconds": round(time.perf_counter() - started, 2),
            })
            if store is not None:
                store.put_json(entry, {"row": rows[-1], "tidy": tidy[first_row:]})
            mode.line(f"stablesam train: {key} done ({rows[-1]['seconds']:.1f} s)")
    finally:
        if store is not None:
            store.unlock()
    progress.close()

    if out is not None:
        import pandas as pd

        from stablesam.core.io import atomic_path

        with atomic_path(out) as tmp:
            pd.DataFrame(tidy, columns=list(TIDY_COLUMNS)).to_csv(tmp, index=False)

    return {
        "data": "scikit-learn digits",
        "n_train": n_train,
        "n_test": len(y_test),
        "model": f"MLP 64-{hidden}-10 (ReLU)",
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "rho": rho,
        "momentum": momentum,
        "weight_decay": weight_decay,
        "gamma_cap": gamma_cap,
        "seed": seed,
        "device": str(device),
        "rows": [{column: row[column] for column in COLUMNS} for row in rows],
    }
