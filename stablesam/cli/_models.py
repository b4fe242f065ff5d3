"""The model-and-data arguments shared by ``stablesam sharpness`` and ``stablesam lr-scan``, and the model they
build (subcommand modules do not import each other: what two share lives here)."""

from __future__ import annotations

import argparse

from stablesam.core.validation import UsageError
from stablesam.stability.optimizers import DEFAULT_RHO


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The freshly initialised model and its data (shared with ``stablesam lr-scan``)."""
    parser.add_argument("--dataset", default="digits", help="data set of stablesam.stability.data (default: digits)")
    parser.add_argument("--model", default="mlp", help="model of stablesam.stability.models: linear, mlp, cnn, resnet20 (default: mlp)")
    parser.add_argument("--hidden", default=None, help="comma-separated hidden widths of the mlp (default: the model's)")
    parser.add_argument("--checkpoint", default=None,
                        help="a saved state_dict of this model (torch.save; read with weights_only=True) to load "
                        "instead of the fresh initialisation; a dict holding it under 'model' works too")
    parser.add_argument("--n-train", type=int, default=None, help="training examples (default: the data set's)")
    parser.add_argument("--data-dir", default=None, help="folder with the files of mnist / cifar10")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data split, the initialisation and the solvers")
    parser.add_argument("--rho", type=float, default=DEFAULT_RHO, help=f"SAM radius of the thresholds (default: {DEFAULT_RHO})")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")


def build(args: argparse.Namespace):
    """``(model, loss_fn, (x, y))`` from the arguments, validated."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from stablesam.stability.data import load_dataset
    from stablesam.stability.models import build_model
    from stablesam.core.validation import check_integer

    seed = check_integer("--seed", args.seed, minimum=0)
    dtype = getattr(torch, args.dtype)
    data = load_dataset(args.dataset, generator=np.random.default_rng(seed), data_dir=args.data_dir,
                        n_train=args.n_train, dtype=dtype)
    options = {}
    if args.hidden is not None:
        if args.model != "mlp":
            raise UsageError(f"--hidden applies to --model mlp only, got --model {args.model!r}")
        try:
            options["hidden"] = tuple(int(w) for w in args.hidden.split(","))
        except ValueError:
            raise UsageError(f"--hidden must be comma-separated integers, got {args.hidden!r}") from None
    model = build_model(args.model, data.input_shape, data.num_outputs, generator=torch.Generator().manual_seed(seed),
                        dtype=dtype, **options)
    if args.checkpoint is not None:
        load_checkpoint(model, args.checkpoint)
    if data.task == "classification":
        loss_fn = F.cross_entropy
    else:
        def loss_fn(outputs, targets):
            return 0.5 * torch.mean((outputs.squeeze(-1) - targets) ** 2)
    return model, loss_fn, (data.x_train, data.y_train)


def load_checkpoint(model, path: str) -> None:
    """Load a state_dict (``torch.load(weights_only=True)``) into ``model``; a clear error if it does not fit."""
    import os

    import torch

    if not os.path.isfile(path):
        raise UsageError(f"--checkpoint {path!r} is not a file")
    if os.path.getsize(path) == 0:
        raise UsageError(f"--checkpoint {path!r} is empty (0 bytes)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors come in many types, some with an empty message
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise UsageError(f"--checkpoint {path!r} is not a weights-only torch file: {first}") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise UsageError(f"--checkpoint {path!r} holds a {type(state).__name__}, not a state_dict")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise UsageError(f"--checkpoint {path!r} does not fit the model: {first}") from None
    bad = [name for name, tensor in model.state_dict().items()
           if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if bad:  # a diverged model: its curvature is undefined (and ARPACK would fail on it)
        raise UsageError(f"--checkpoint {path!r} holds non-finite weights ({', '.join(bad[:3])}"
                         f"{', ...' if len(bad) > 3 else ''}); there is no curvature to measure")
