"""Every notebook runs top to bottom from a fresh kernel, with small settings: after its cell tagged
``parameters`` (``QUICK = False``) the test injects ``QUICK = True``, as papermill does with parameters."""

import hashlib
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(path, as_version=4)
    assert all(cell.get("outputs", []) == [] for cell in notebook.cells if cell.cell_type == "code"), (
        f"{path.name} is committed with outputs"
    )
    (index,) = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.get("metadata", {}).get("tags", [])]
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell("QUICK = True  # injected by tests/project/test_notebooks.py"))
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()


# -- timings at the defaults (notebooks/timings.json, written by scripts/notebook_timings.py --record) -------------
RECORD = NOTEBOOKS[0].parent / "timings.json"
LONG_CELL = 60.0  # seconds: a longer cell shows progress and states its time in the markdown cell above it
# "*Time at the defaults:* the next cell takes about 290 s" (or "... about 12 min")
STATED = re.compile(r"\*Time at the defaults:\* the next cell takes about (\d+(?:\.\d+)?) (s|min)\b")


def _timings() -> dict:
    return json.loads(RECORD.read_text())


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def stated_seconds(markdown: str) -> float | None:
    """The time a markdown cell states for the next cell, in seconds (None: it states none)."""
    found = STATED.search(markdown)
    return None if found is None else float(found[1]) * (60.0 if found[2] == "min" else 1.0)


def long_cell_problems(cells: list[tuple[str, str]], seconds: dict[int, float]) -> list[str]:
    """What is wrong with the cells (type, source) slower than LONG_CELL: no stated time above one, a stated time
    off the measured one by more than a factor 2, or progress switched off."""
    problems = []
    for index, time in sorted(seconds.items()):
        if time <= LONG_CELL:
            continue
        above = cells[index - 1] if index > 0 else ("code", "")
        stated = stated_seconds(above[1]) if above[0] == "markdown" else None
        if stated is None:
            problems.append(f"cell {index} takes {time:.0f} s at the defaults and the markdown cell above it does not "
                            "say so ('*Time at the defaults:* the next cell takes about N s')")
        elif not 0.5 <= stated / time <= 2.0:
            problems.append(f"cell {index} takes {time:.0f} s at the defaults; the cell above says {stated:.0f} s")
        if "progress=False" in cells[index][1]:
            problems.append(f"cell {index} takes {time:.0f} s with its progress switched off")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_is_timed_as_it_stands_and_a_long_one_says_so(path):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(path, as_version=4)
    record = _timings().get(path.name)
    assert record is not None, f"{path.name} is not timed: run python scripts/notebook_timings.py --record {path}"
    seconds = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        timed = record["cells"].get(str(index))
        assert timed is not None and timed["source_sha256"] == _digest(cell.source), (
            f"{path.name} cell {index} changed since it was timed: run python scripts/notebook_timings.py --record {path}")
        seconds[index] = timed["seconds"]
    assert long_cell_problems([(c.cell_type, c.source) for c in notebook.cells], seconds) == []


def test_the_long_cell_rule_can_fail():
    cells = [("markdown", "*Time at the defaults:* the next cell takes about 5 min on 2 CPU cores"), ("code", "run()"),
             ("markdown", "A plot."), ("code", "slow(progress=False)")]
    assert stated_seconds(cells[0][1]) == 300.0 and stated_seconds(cells[2][1]) is None
    assert long_cell_problems(cells, {1: 290.0, 3: 30.0}) == []
    assert long_cell_problems(cells, {1: 900.0, 3: 30.0}) == ["cell 1 takes 900 s at the defaults; the cell above says 300 s"]
    assert long_cell_problems(cells, {1: 290.0, 3: 61.0}) == [
        "cell 3 takes 61 s at the defaults and the markdown cell above it does not say so ('*Time at the defaults:* the "
        "next cell takes about N s')", "cell 3 takes 61 s with its progress switched off"]
