"""Every Python example of the README runs as written.

The blocks run in order in one namespace, as a reader pasting them into one session would (later
blocks use the ``model`` and ``optimizer`` of earlier ones), in a scratch working directory. Blocks
that need hardware or processes a test machine does not have are skipped, each with its reason.
"""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"

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
