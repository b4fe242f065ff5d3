"""Every notebook runs top to bottom from a fresh kernel (quick settings: STABLESAM_QUICK=1)."""

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(path, as_version=4)
    assert all(cell.get("outputs", []) == [] for cell in notebook.cells if cell.cell_type == "code"), (
        f"{path.name} is committed with outputs"
    )
    env_before = os.environ.get("STABLESAM_QUICK")
    os.environ["STABLESAM_QUICK"] = "1"
    try:
        client = nbclient.NotebookClient(
            notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        )
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("STABLESAM_QUICK", None)
        else:
            os.environ["STABLESAM_QUICK"] = env_before
