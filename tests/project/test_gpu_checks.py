"""The CPU half of the prepared GPU session (scripts/gpu_checks.sh) runs and passes without a GPU, so that the script
CI cannot run on a GPU is at least exercised end to end: the stacked population on the CPU in float32 and float64
against CPU float64, control twins, and its throughput against the FLOP floor (printed, not judged)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_cpu_half_of_the_gpu_checks_passes(tmp_path):
    env = {**os.environ, "CPU_ONLY": "1", "PYTHON": sys.executable, "OUT": str(tmp_path)}
    done = subprocess.run(["bash", "scripts/gpu_checks.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    log = (tmp_path / "gpu_checks.log").read_text()
    assert "the CPU half" in log and "gpu_population_check: 0 failure(s)" in log
    assert "FAIL" not in log.replace("0 failure(s)", "")
