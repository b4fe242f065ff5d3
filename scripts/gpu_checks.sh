#!/usr/bin/env bash
# The one prepared GPU session: CUDA correctness against CPU float64 (optimizer, stacked population, Hessian
# products), the population at 1,000+ pairs against its FLOP floor, other GPU timings, and `stablesam verify --full`
# (resumable: a rerun reuses its finished experiments). Budget: under 8 minutes on one H100-class GPU, each part
# bounded by `timeout` (60 + 120 + 60 + 45 + 45 + 120 s = 7.5 min at most); verify --full gets VERIFY_SECONDS (120)
# and goes on where it stopped at the next call (on a warm machine: runs/ is kept between calls).
#
# Without a GPU (no CUDA device visible to torch), or with CPU_ONLY=1, it runs its CPU half instead: the same checks
# of the population on the CPU at a small size (agreement with float64, control twins, throughput against the CPU's
# FLOP floor), in about a minute (the Hessian dry run, gpu_hessian_check.py --device cpu, takes minutes on 2 shared
# cores and is left to be run by hand).
# CI runs that half (tests/project/test_gpu_checks.py, `make gpu-checks-cpu`).
#
# Runs from the repository root with $PYTHON (default: .venv/bin/python if present, else python3; on a GPU machine
# its torch build must see the GPU). Every report goes to stdout and to $OUT/gpu_checks.log (OUT default /tmp).
# Exit status: 0 when every check passed, 1 otherwise.
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
log="${OUT:-/tmp}/gpu_checks.log"
: > "$log"
if [ -n "${PYTHON:-}" ]; then py=$PYTHON; elif [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
status=0
run() {  # name, timeout seconds, command...
  local name=$1 limit=$2; shift 2
  echo "=== $name" | tee -a "$log"
  local start=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$log"
  local code=${PIPESTATUS[0]}
  echo "--- $name: exit $code in $((SECONDS - start)) s" | tee -a "$log"
  [ "$code" -eq 0 ] || status=1
}
echo "load: $(uptime)" | tee -a "$log"
if [ "${CPU_ONLY:-0}" != 1 ] && $py -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$log"
  $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" | tee -a "$log"
  run "pytest: CUDA-marked tests" 60 $py -m pytest -q -m cuda -p no:cacheprovider tests
  # Correctness first (CUDA against CPU float64), then the timings.
  run "benchmarks/gpu_population_check.py (CUDA vs CPU float64; 1,000 and 2,000 pairs vs FLOP floor)" 120 \
    $py benchmarks/gpu_population_check.py --device cuda --pairs 1000 2000
  run "benchmarks/gpu_optimizer_check.py" 60 $py benchmarks/gpu_optimizer_check.py
  run "benchmarks/gpu_hessian_check.py" 45 $py benchmarks/gpu_hessian_check.py --repeats 10
  run "benchmarks/gpu_twin_check.py" 45 $py benchmarks/gpu_twin_check.py
  # Resumable: the run directory persists between calls on a warm machine; a rerun skips finished experiments.
  mkdir -p runs
  run "stablesam verify --full (resumable, ${VERIFY_SECONDS:-120} s this time)" "${VERIFY_SECONDS:-120}" \
    $py -m stablesam verify --full --device cuda --out runs/verify-full
  [ -z "${OUT:-}" ] || cp -r runs/verify-full "$OUT/verify-full" 2>/dev/null || true
else
  echo "no CUDA device visible to torch (or CPU_ONLY=1): the CPU half" | tee -a "$log"
  run "benchmarks/gpu_population_check.py --device cpu (agreement with float64, control twins, FLOP floor)" 300 \
    $py benchmarks/gpu_population_check.py --device cpu --pairs 20 --gemm 512 --rounds 10 --steps 3
fi
echo "gpu_checks: exit $status" | tee -a "$log"
exit $status
