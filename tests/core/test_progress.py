"""The one progress rule every long job follows: a bar on a terminal, one line per finished unit off it."""

import io

import pytest

from stablesam.core.progress import ProgressMode, progress_mode


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_default_is_a_bar_on_a_terminal_and_lines_off_it(monkeypatch, terminal):
    stream = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    mode = progress_mode(None)
    assert mode == ProgressMode(bar=terminal, lines=not terminal)
    mode.line("unit 1/2 done")
    assert stream.getvalue() == ("" if terminal else "unit 1/2 done\n")


@pytest.mark.parametrize("progress", [True, False])
def test_an_explicit_choice_prints_no_lines(monkeypatch, progress):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    mode = progress_mode(progress)
    assert mode.bar is progress and not mode.lines
    mode.line("unit 1/2 done")
    assert stream.getvalue() == ""
