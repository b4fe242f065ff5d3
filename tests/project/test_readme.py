"""Every example of the README runs: its Python blocks as written, its shell commands at a reduced size.

The Python blocks run in order in one namespace, as a reader pasting them into one session would (later
blocks use the ``model`` and ``optimizer`` of earlier ones), in a scratch working directory. Blocks
that need hardware or processes a test machine does not have are skipped, each with its reason.

The shell commands (every line of the ```bash / ```sh / ```shell blocks, backslash continuations joined) run in
order in a scratch directory holding copies of the files they read (``examples/``, ``sweeps/``), with this
interpreter's ``bin`` first on ``PATH`` (``stablesam``, ``python``). The slow ones run smaller by the explicit
table :data:`REDUCED` (and :data:`REDUCED_FILES` for the sweep file they read); those that need what a test machine
lacks are skipped by the named list :data:`SHELL_SKIPPED`. Every entry of the three tables must match the README,
so none goes stale. A ``--json`` command's output is checked against its schema (:mod:`stablesam.cli.schemas`), and
afterwards nothing but ``runs/`` (and the copies) is left in the directory: every example writes under ``runs/``,
each to its own directory.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
COPIED = ("examples", "sweeps")  # what the shell examples read, copied into the scratch directory

# (the start of a command, why it does not run here)
SHELL_SKIPPED = (
    ("make run", "sets up .venv and runs `stablesam verify --quick` (minutes); covered by tests/cli/test_cli_verify.py"),
    ("make test", "the test suite itself"),
    ("make figures", "every figure at full settings (minutes); `stablesam figures --quick` runs below"),
    ("make lab", "starts a JupyterLab server that does not return"),
    ("dask scheduler --host 10.0.0.1", "needs the machine 10.0.0.1 of an existing Dask cluster"),
    ("dask worker tcp://10.0.0.1:8786", "needs the scheduler of an existing Dask cluster"),
    ("stablesam sweep sweeps/digits.toml --engine dask --scheduler tcp://10.0.0.1:8786",
     "needs an existing Dask cluster and a shared /shared; the LocalCluster example runs"),
)
# (text in the README's commands, what the test runs instead, in how many commands): the slow examples, smaller
REDUCED = (
    ("--seeds 0 1 2", "--seeds 0", 3),
    ("--epochs 15", "--epochs 1", 1),
    ("--epochs 20", "--epochs 1", 1),
    ("--epochs 5", "--epochs 1", 1),
    ("--epochs 10", "--epochs 2", 1),
    ("--trace-probes 50", "--trace-probes 5", 1),
    ("--steps 2000", "--steps 100 --rel-tol 0.02", 1),
    ("--n-train 500 --steps 200", "--n-train 100 --steps 20 --grid-points 4", 1),
    ("--steps 1000", "--steps 4 --n-train 100", 1),
    ("--n-train 1000 --lrs 0.2 --steps 1500 --measure-every 25", "--n-train 100 --lrs 0.2 --steps 4 --measure-every 2",
     1),
    ("--batch-size 128", "--batch-size 64 --n-train 128 --steps 4", 1),
)
# (copied file, text, replacement): the sweep the sweep examples run, smaller (3 trials of 1 epoch instead of 18 of 3)
REDUCED_FILES = (
    ("sweeps/digits.toml", "epochs = 3\n", "epochs = 1\n"),
    ("sweeps/digits.toml", "lr = [0.05, 0.5]", "lr = [0.5]"),
    ("sweeps/digits.toml", "seeds = [0, 1, 2]           #", "seeds = [0]           #"),
)

# (text in the block, why it cannot run here)
SKIPPED = (
    ('"cuda"', "needs a CUDA device (fp16 GradScaler); covered by benchmarks/gpu_optimizer_check.py"),
    ("DistributedDataParallel", "needs several processes (torch.distributed); covered by tests/stability/test_sam_ddp.py"),
    ("SLURMCluster", "needs a SLURM cluster and dask-jobqueue"),
)


def python_blocks() -> list[tuple[int, str]]:
    """(line number, code) of every ```python block of the README."""
    text = README.read_text()
    return [(text[: m.start()].count("\n") + 2, m.group(1)) for m in re.finditer(r"```python\n(.*?)```", text, re.S)]


def test_the_readme_has_python_examples():
    assert len(python_blocks()) >= 8


@pytest.mark.slow
def test_every_readme_python_block_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    ran = skipped = 0
    for line, code in python_blocks():
        reason = next((why for marker, why in SKIPPED if marker in code), None)
        if reason is not None:
            print(f"README.md:{line}: skipped: {reason}")
            skipped += 1
            continue
        try:
            exec(compile(code, f"README.md:{line}", "exec"), namespace)
        except Exception as error:
            pytest.fail(f"the README block at line {line} fails: {type(error).__name__}: {error}")
        ran += 1
    assert ran >= 8 and skipped == len(SKIPPED)


def shell_commands() -> list[tuple[int, str]]:
    """(line number, command) of every command of the README's shell blocks: continuations joined, comments and
    blank lines dropped."""
    text = README.read_text()
    commands = []
    for block in re.finditer(r"```(?:bash|sh|shell)\n(.*?)```", text, re.S):
        first = text[: block.start()].count("\n") + 2
        pending, start = "", None
        for k, line in enumerate(block.group(1).splitlines()):
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            start = first + k if not pending else start
            if line.endswith("\\"):
                pending += line[:-1]
                continue
            commands.append((start, pending + line))
            pending = ""
    return commands


def _code(command: str) -> str:
    """The command without its trailing comment (no README command has a ``#`` inside quotes)."""
    return re.sub(r"\s+#.*$", "", command)


def _skip_reason(command: str) -> str | None:
    return next((why for start, why in SHELL_SKIPPED if command.startswith(start)), None)


def _reduced(command: str) -> str:
    for text, replacement, _ in REDUCED:
        command = command.replace(text, replacement)
    return command


def test_every_shell_table_entry_matches_the_readme():
    commands = [command for _, command in shell_commands()]
    assert len(commands) >= 30
    for start, _ in SHELL_SKIPPED:
        assert sum(c.startswith(start) for c in commands) == 1, f"SHELL_SKIPPED {start!r} matches no single command"
    for text, _, count in REDUCED:
        assert sum(text in _code(c) for c in commands) == count, f"REDUCED {text!r} is not in {count} command(s)"
    for name, text, _ in REDUCED_FILES:
        assert (ROOT / name).read_text().count(text) == 1, f"REDUCED_FILES {text!r} is not once in {name}"


def test_the_shell_examples_are_complete_and_write_under_runs_each_to_its_own_directory():
    outputs = []
    for line, command in shell_commands():
        code = _code(command)
        if _skip_reason(command) is not None:
            continue
        assert "..." not in code, f"README.md:{line}: a literal '...' cannot run: {command}"
        for flag, path in re.findall(r"(--out|--figure|--run-dir) (\S+)", code):
            assert path.startswith("runs/"), f"README.md:{line}: {flag} {path} writes outside runs/"
            if flag != "--figure" and "--dry-run" not in code:
                outputs.append(path)
    assert len(outputs) == len(set(outputs)), f"two examples write to one directory: {sorted(outputs)}"


@pytest.mark.slow
def test_every_readme_shell_command_runs(tmp_path):
    from stablesam.cli import COMMAND_SCHEMAS
    from stablesam.core.schema import schema_errors

    for name in COPIED:
        shutil.copytree(ROOT / name, tmp_path / name)
    for name, text, replacement in REDUCED_FILES:
        (tmp_path / name).write_text((tmp_path / name).read_text().replace(text, replacement))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "MPLBACKEND": "Agg"}
    ran = skipped = 0
    started = time.perf_counter()
    for line, command in shell_commands():
        reason = _skip_reason(command)
        if reason is not None:
            print(f"README.md:{line}: skipped: {reason}")
            skipped += 1
            continue
        runs = _reduced(command)
        began = time.perf_counter()
        result = subprocess.run(["bash", "-c", runs], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=600)
        print(f"README.md:{line}: {time.perf_counter() - began:.1f} s: {runs}")
        assert result.returncode == 0, f"README.md:{line} fails ({result.returncode}): {runs}\n{result.stderr[-2000:]}"
        words = _code(command).split()
        if "--json" in words:
            document = json.loads(result.stdout.strip().splitlines()[-1])
            key = words[1] + (" --dry-run" if "--dry-run" in words else "")
            assert schema_errors(document, COMMAND_SCHEMAS[key]) == [], f"README.md:{line}"
        ran += 1
    print(f"{ran} commands ran, {skipped} skipped, {time.perf_counter() - started:.0f} s")
    assert skipped == len(SHELL_SKIPPED) and ran >= 25
    assert {p.name for p in tmp_path.iterdir()} == {*COPIED, "runs"}, "an example left a file outside runs/"


def test_the_notebook_table_lists_every_notebook():
    listed = set(re.findall(r"^\| `notebooks/([\w-]+\.ipynb)` \|", README.read_text(), flags=re.M))
    assert listed == {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
