#!/usr/bin/env bash
# The one prepared GPU session: CUDA correctness against CPU and GPU timings of the toolkit's hot paths.
# Runs from the repository root with the machine's own python3 (its torch build sees the GPU); every
# report goes to stdout and, when OUT is set, to $OUT/gpu_checks.log. Each part is bounded in time.
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
log="${OUT:-/tmp}/gpu_checks.log"
py=${PYTHON:-python3}
run() {  # name, timeout seconds, command...
  local name=$1 limit=$2; shift 2
  echo "=== $name" | tee -a "$log"
  local start=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$log"
  echo "--- $name: exit ${PIPESTATUS[0]} in $((SECONDS - start)) s" | tee -a "$log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$log"
$py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" | tee -a "$log"
run "pytest: CUDA-marked tests" 150 $py -m pytest -q -m cuda -p no:cacheprovider tests
# Scripts to run: the arguments, or every benchmarks/gpu_*.py. All time through benchmarks/_timing.py
# (interleaved rounds, median [IQR], synchronised around each block): gpu_optimizer_check (ours, with
# and without track_stats, against the common wrapper and the official StableSAM algorithm),
# gpu_hessian_check (graph reused vs rebuilt: agreement and time), gpu_twin_check (10 interleaved epochs
# batched vs one by one). The twin check trains the most, so it gets the longest limit.
scripts=("$@"); [ ${#scripts[@]} -gt 0 ] || scripts=(benchmarks/gpu_*.py)
for script in "${scripts[@]}"; do
  limit=150; [ "$(basename "$script")" = gpu_twin_check.py ] && limit=240
  run "$script" "$limit" $py "$script"
done
[ $# -gt 0 ] || run "benchmarks/eos_lanczos.py (CUDA)" 150 $py benchmarks/eos_lanczos.py --device cuda --dtype float32
