"""The command line's error contract: a path the operating system refuses is one line and exit status 2."""

import pytest

from stablesam.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["figures", "--quick", "--out", "{blocker}/figures"],
        ["twin", "--epochs", "1", "--n-train", "20", "--out", "{blocker}/run"],
    ],
    ids=["figures", "twin"],
)
def test_an_output_directory_that_cannot_be_created_is_one_line_and_exit_2(tmp_path, capsys, argv):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    argv = [a.format(blocker=blocker) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"stablesam {argv[0]}: error: ") and str(blocker) in err and "not a directory" in err
    assert blocker.read_text() == "not a directory"


def test_an_error_without_a_path_is_not_disguised_as_bad_input(monkeypatch):
    import stablesam.cli.edge as edge

    def fail(args):
        raise OSError("device lost")

    monkeypatch.setattr(edge, "run", fail)
    with pytest.raises(OSError, match="device lost"):
        main(["edge", "--method", "gd", "--lr", "1"])


@pytest.mark.parametrize("error", [ValueError("shapes do not match (a bug)"), TypeError("unsupported operand (a bug)")])
def test_a_value_or_type_error_from_a_bug_keeps_its_traceback(monkeypatch, error):
    import stablesam.cli.edge as edge

    def fail(args):
        raise error

    monkeypatch.setattr(edge, "run", fail)
    with pytest.raises(type(error), match="a bug"):
        main(["edge", "--method", "gd", "--lr", "1"])


def test_a_usage_error_is_one_line_and_exit_2(capsys):
    assert main(["edge", "--method", "gd", "--lr", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("stablesam edge: error: ") and "-1" in err
