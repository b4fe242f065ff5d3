"""One import root: the wheel installs ``stablesam`` only, and neither install is shadowed by a user's own
``analysis/``, ``theory/`` or ``core/`` packages, in the working directory or installed beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests._package_tree import PACKAGES, ROOT, module_files, package_folder, package_folders_on_disk

FOREIGN = ("analysis", "theory", "core", "stability")
PROBE = (
    "import core, analysis, stablesam.analysis.verify.verdicts as v, stablesam.core.methods as m, stablesam.theory as t; "
    "print(core.FOREIGN, analysis.FOREIGN, v.__file__, m.__file__, t.__file__, sep='\\n')"
)


def _foreign_packages(where: Path) -> Path:
    """A folder holding a researcher's own packages named like the toolkit's layers."""
    for name in FOREIGN:
        (where / name).mkdir(parents=True)
        (where / name / "__init__.py").write_text(f"FOREIGN = 'foreign {name}'\n")
    return where


def test_declared_packages_are_the_package_folders():
    declared = {package_folder(p) for p in PACKAGES}
    assert declared == package_folders_on_disk(), "pyproject.toml's packages list and the tree differ"
    assert all(p == "stablesam" or p.startswith("stablesam.") for p in PACKAGES)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path_factory.mktemp("source") / "stablesam"
    skipped = {".git", ".venv", "runs", "build", "figures", "notebooks", "__pycache__"}
    shutil.copytree(ROOT, source, ignore=lambda folder, names: [
        n for n in names if n.endswith(".egg-info") or n in skipped and (Path(folder) == ROOT or n == "__pycache__")])
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
                   check=True, capture_output=True, timeout=600)
    (found,) = out.glob("stablesam-*.whl")
    return found


def test_the_wheel_installs_one_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
        (info,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
        recorded = {line.split(",")[0].split("/")[0] for line in archive.read(f"{info}/RECORD").decode().splitlines()}
        declared_top = {
            line for line in archive.read(f"{info}/top_level.txt").decode().split() if line
        } if f"{info}/top_level.txt" in names else {"stablesam"}
    assert top_level == {"stablesam"} and recorded == {"stablesam", info} and declared_top == {"stablesam"}
    expected = {f"{name.replace('.', '/')}{'/__init__' if path.stem == '__init__' else ''}.py"
                for name, path in module_files().items()}
    assert expected <= set(names), sorted(expected - set(names))[:5]


def test_the_installed_wheel_ignores_foreign_packages(wheel, tmp_path):
    """``pip install .`` (here: the wheel unpacked into a fresh venv) beside installed ``core``/``analysis``."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    _foreign_packages(site)
    # The dependencies (torch, numpy, ...) from this environment, without its editable finder of the toolkit.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    cwd = _foreign_packages(tmp_path / "project")
    lines = subprocess.run([python, "-c", PROBE], cwd=cwd, check=True, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": ""}).stdout.splitlines()
    assert lines[0] == "foreign core" and lines[1] in ("foreign analysis",)
    assert all(Path(line).is_relative_to(site / "stablesam") for line in lines[2:]), lines


def test_the_editable_install_ignores_foreign_packages(tmp_path):
    """The development install (``pip install -e .``) run from a folder with its own layer-named packages, with
    more of them on the path as if installed."""
    cwd = _foreign_packages(tmp_path / "project")
    installed = _foreign_packages(tmp_path / "installed")
    lines = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, check=True, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(installed)}).stdout.splitlines()
    assert lines[:2] == ["foreign core", "foreign analysis"]
    assert [Path(line) for line in lines[2:]] == [ROOT / "analysis" / "verify" / "verdicts.py",
                                                  ROOT / "stablesam" / "core" / "methods.py",
                                                  ROOT / "theory" / "__init__.py"]
