"""Bad input on the command line: one line on stderr naming the problem, exit status 2, nothing written.

Table-driven: each case is an argv (``{tmp}`` is a scratch directory holding ``blocker``, a plain file,
``conf.d``, a directory, ``empty.toml`` and ``base_only.toml``, and ``mnist300``, an MNIST of 300
training images) and words the one line must contain. Nothing may appear under ``{tmp}/out``.
"""

import shutil

import pytest
import torch

from stablesam.cli import main

BOUNDS = ["bounds", "--setting", "convex", "--method", "sgd", "--L", "1", "--beta", "1", "--n", "100", "--lr", "0.1"]
TWIN = ["twin", "--dataset", "digits", "--n-train", "100", "--epochs", "1"]

CASES = {
    "bounds-T-too-large": (BOUNDS + ["--T", "1000000000000"], ["T = 1000000000000 steps is too many", "GiB"]),
    "lr-max-overflow": (["lr-max", "--method", "usam", "--sharpness", "1e308", "--rho", "1e308"],
                        ["lr_max = 10^-923.7", "outside the range of float64"]),
    "edge-subnormal-lr": (["edge", "--method", "gd", "--lr", "1e-320"], ["lr must be 0 or at least 2.225e-308"]),
    "lr-max-subnormal-result": (["lr-max", "--method", "gd", "--sharpness", "1e308"], ["lr_max = 10^-307.7"]),
    "lr-max-bound-c-max": (["lr-max-bound", "--setting", "nonconvex", "--method", "sgd", "--L", "1", "--beta", "1",
                            "--n", "100", "--T", "100", "--eps", "0.1", "--c-max", "-1"], ["--c-max must be > 0"]),
    "sweep-empty-file": (["sweep", "{tmp}/empty.toml", "--out", "{tmp}/out"], ["needs an [axes] table"]),
    "sweep-without-axes": (["sweep", "{tmp}/base_only.toml", "--out", "{tmp}/out"], ["needs an [axes] table"]),
    "twin-config-is-a-directory": (TWIN + ["--config", "{tmp}/conf.d", "--out", "{tmp}/out"],
                                   ["config file", "conf.d", "is a directory"]),
    "twin-figure-unwritable": (TWIN + ["--out", "{tmp}/out", "--figure", "{tmp}/blocker/fig.png"],
                               ["--figure", "{tmp}/blocker/fig.png", "not a directory"]),
    "twin-out-unwritable": (TWIN + ["--out", "{tmp}/blocker/run"], ["--out", "{tmp}/blocker/run", "not a directory"]),
    "train-out-unwritable": (["train", "--epochs", "1", "--methods", "sgd", "--out", "{tmp}/blocker/t.csv"],
                             ["--out", "{tmp}/blocker/t.csv", "not a directory"]),
    "sweep-out-unwritable": (["sweep", "{tmp}/sweep.toml", "--out", "{tmp}/blocker/sweep"],
                             ["--out", "not a directory"]),
    "mnist-too-small": (["twin", "--dataset", "mnist", "--data-dir", "{tmp}/mnist300", "--epochs", "1",
                         "--out", "{tmp}/out"], ["'mnist' is too small for the requested sizes", "300 examples"]),
    # issue 25, items 4 and 7-10: each crashed with a traceback (or ran on) before
    "sharpness-empty-checkpoint": (["sharpness", "--model", "linear", "--n-train", "50", "--checkpoint",
                                    "{tmp}/empty.pt"], ["--checkpoint", "empty.pt", "empty (0 bytes)"]),
    "sharpness-nan-checkpoint": (["sharpness", "--model", "linear", "--n-train", "50", "--checkpoint",
                                  "{tmp}/nan.pt"], ["--checkpoint", "nan.pt", "non-finite weights", "readout"]),
    "twin-utf16-config": (TWIN + ["--config", "{tmp}/utf16.toml", "--out", "{tmp}/out"],
                          ["config file", "utf16.toml", "not UTF-8"]),
    "mnist-gzip-magic-not-gzip": (["twin", "--dataset", "mnist", "--data-dir", "{tmp}/mnist_badgzip", "--epochs", "1",
                                   "--out", "{tmp}/out"], ["train-images-idx3-ubyte", "does not decompress"]),
    "mnist-huge-header": (["twin", "--dataset", "mnist", "--data-dir", "{tmp}/mnist_huge", "--epochs", "1",
                           "--out", "{tmp}/out"], ["header promises shape (4294967295, 4294967295, 4294967295)",
                                                   "79228162458924105385300197391 bytes"]),
    "quadratic-start-at-the-minimum": (["quadratic", "--eigenvalues", "4,1", "--method", "sam", "--rho", "0.1",
                                        "--start", "0,0"], ["--start 0,0 is w = 0", "nothing diverges"]),
    "eos-steps-absurd": (["eos", "--steps", "1000000000000000000000000000000", "--out", "{tmp}/out"],
                         ["steps must be an integer in [1, 1e+08]"]),
    "eos-figure-unwritable": (["eos", "--n-train", "40", "--hidden", "4", "--steps", "2", "--out", "{tmp}/out",
                               "--figure", "{tmp}/blocker/eos.png"], ["--figure", "{tmp}/blocker/eos.png",
                                                                     "not a directory"]),
    "eos-utf16-config": (["eos", "--config", "{tmp}/utf16.toml", "--out", "{tmp}/out"], ["not UTF-8"]),
}


@pytest.fixture
def scratch(tmp_path):
    from tests.stability.test_data import write_mnist

    (tmp_path / "blocker").write_text("a file, not a directory")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "empty.toml").write_text("")
    (tmp_path / "base_only.toml").write_text("[base]\nepochs = 1\n")
    (tmp_path / "sweep.toml").write_text("[base]\nepochs = 1\nn_train = 100\n[axes]\nlr = [0.1]\n")
    (tmp_path / "mnist300").mkdir()
    write_mnist(tmp_path / "mnist300", n_train=300, n_test=20, compress_train=False)
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save({"readout.weight": torch.full((10, 64), float("nan")), "readout.bias": torch.zeros(10)},
               tmp_path / "nan.pt")
    (tmp_path / "utf16.toml").write_bytes("epochs = 1\n".encode("utf-16"))
    for name, first_file in (("mnist_badgzip", b"\x1f\x8b" + b"not gzip at all" * 10),
                             ("mnist_huge", bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3 + b"\x00" * 64)):
        shutil.copytree(tmp_path / "mnist300", tmp_path / name)
        (tmp_path / name / "train-images-idx3-ubyte").write_bytes(first_file)
    return tmp_path


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_exit_2(scratch, capsys, name):
    argv, words = CASES[name]
    argv = [a.format(tmp=scratch) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"stablesam {argv[0]}: error: ")
    for word in words:
        assert word.format(tmp=scratch) in err, err
    assert not (scratch / "out").exists()
    assert (scratch / "blocker").read_text() == "a file, not a directory"


def test_an_unreachable_dask_scheduler_is_one_line(scratch, capsys):
    pytest.importorskip("distributed")
    argv = ["sweep", str(scratch / "sweep.toml"), "--out", str(scratch / "out"), "--engine", "dask",
            "--scheduler", "tcp://127.0.0.1:1", "--scheduler-timeout", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot reach the scheduler at tcp://127.0.0.1:1 within 1 s" in err
    assert not (scratch / "out").exists()


def test_an_error_inside_an_atomic_write_names_the_destination(tmp_path):
    from stablesam.core.io import atomic_path

    target = tmp_path / "figure.png"
    with pytest.raises(OSError) as error:
        with atomic_path(target) as tmp:
            raise FileNotFoundError(2, "No such file or directory", str(tmp))
    assert error.value.filename == str(target) and not list(tmp_path.iterdir())


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _refused_value(constraints):
    """A value every constraint of a parameter refuses: the first constraint's own invalid example that no other
    constraint accepts (None cannot be written in TOML)."""
    for constraint in constraints:
        value = constraint.invalid_example()
        if value is not None and not any(other.accepts(value) for other in constraints):
            return value
    raise AssertionError(f"no invalid example for {constraints}")


def _constrained_parameters():
    from stablesam.analysis.experiments.edge_of_stability import EosConfig
    from stablesam.stability.twin.config import TwinConfig

    return [("twin", name, constraints) for name, constraints in TwinConfig._parameter_constraints.items()] + \
        [("eos", name, constraints) for name, constraints in EosConfig._parameter_constraints.items()]


@pytest.mark.parametrize("command, name, constraints", _constrained_parameters(),
                         ids=[f"{c}-{n}" for c, n, _ in _constrained_parameters()])
def test_every_constrained_parameter_refuses_an_invalid_value_from_the_command_line(tmp_path, capsys, command, name,
                                                                                  constraints):
    """Generic: the constraints table of TwinConfig and EosConfig drives the command line (via --config)."""
    value = _refused_value(constraints)
    config = tmp_path / "bad.toml"
    config.write_text(f"{name} = {_toml_value(value)}\n")
    out = tmp_path / "out"
    assert main([command, "--config", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"stablesam {command}: error: ") and name in err and repr(value)[:20] in err, err
    assert not out.exists()
