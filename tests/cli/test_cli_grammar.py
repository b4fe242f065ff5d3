"""One list grammar on the command line: plural flags with space-separated values; the previous release's
spellings (``twin --optimizer``, ``train --optimizers a,b``, commas) still parse, with one deprecation line."""

import pytest

from stablesam.cli import build_parser

CANONICAL = [
    (["twin", "--methods", "sgd", "sam", "--lrs", "0.1", "0.3", "--seeds", "0", "1"],
     {"methods": ["sgd", "sam"], "lrs": [0.1, 0.3], "seeds": [0, 1]}),
    (["eos", "--methods", "gd", "sam", "--lrs", "0.1", "--rhos", "0.05", "--seeds", "0", "1"],
     {"methods": ["gd", "sam"], "lrs": [0.1], "rhos": [0.05], "seeds": [0, 1]}),
    (["train", "--methods", "sgd", "stablesam-n"], {"methods": ["sgd", "stablesam-n"]}),
    (["lr-scan", "--methods", "gd", "sam"], {"methods": ["gd", "sam"]}),
    (["verify", "--claims", "C1", "C7"], {"claims": ["C1", "C7"]}),
]
OLD = [
    (["twin", "--optimizer", "sgd", "sam", "--lr", "0.1"], {"methods": ["sgd", "sam"], "lrs": [0.1]}, 2),
    (["twin", "--seed", "0", "1"], {"seeds": [0, 1]}, 1),
    (["train", "--optimizers", "sgd,sam"], {"methods": ["sgd", "sam"]}, 2),
    (["lr-scan", "--methods", "gd,sam"], {"methods": ["gd", "sam"]}, 1),
    (["verify", "--claims", "C1,C7"], {"claims": ["C1", "C7"]}, 1),
]


@pytest.mark.parametrize("argv, expected", CANONICAL, ids=lambda v: v[0] if isinstance(v, list) else "")
def test_plural_flags_take_space_separated_values(argv, expected, capsys):
    args = build_parser().parse_args(argv)
    assert {key: getattr(args, key) for key in expected} == expected
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("argv, expected, lines", OLD, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_old_spellings_parse_with_a_deprecation_line(argv, expected, lines, capsys):
    args = build_parser().parse_args(argv)
    assert {key: getattr(args, key) for key in expected} == expected
    err = capsys.readouterr().err.splitlines()
    assert len(err) == lines and all(line.startswith("stablesam: deprecated: ") for line in err)


@pytest.mark.parametrize("argv, message", [
    (["train", "--methods", "sgd", "lion"], "stablesam train: error: --methods entries must be one of 'sgd', "),
    (["twin", "--lrs", "0.1", "fast"], "stablesam twin: error: --lrs takes float values; got 'fast'"),
    (["verify", "--claims", ","], "stablesam verify: error: --claims needs at least one value"),
])
def test_a_bad_list_value_is_one_line_naming_flag_and_value_exit_2(argv, message, capsys):
    from stablesam.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message)


@pytest.mark.parametrize("argv, message", [
    (["lr-scan", "--problem", "network", "--rel-tol", "0.02"], "--rel-tol applies to --problem least-squares only"),
    (["lr-scan", "--problem", "least-squares", "--grid-points", "9"], "--grid-points applies to --problem network only"),
])
def test_a_flag_of_another_mode_is_refused(argv, message, capsys):
    from stablesam.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


@pytest.mark.parametrize("command", ["train", "twin", "eos", "sharpness"])
def test_training_commands_share_one_threads_flag(command):
    from stablesam.cli._grammar import THREADS_HELP

    args = build_parser().parse_args([command] + (["--checkpoint", "x.pt"] if command == "sharpness" else []))
    action = next(a for a in build_parser()._subparsers._group_actions[0].choices[command]._actions
                  if "--threads" in a.option_strings)
    assert args.threads == 1 and action.help == THREADS_HELP
