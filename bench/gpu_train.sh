#!/usr/bin/env bash
# Stage-2 training on one CUDA GPU, well under 10 minutes: a run saved and resumed across a
# segment boundary (checkpoint loaded onto the CPU, then moved back: the pool, full by then,
# must come back onto the GPU), with deterministic kernels (weights must equal an uninterrupted
# run's) and without (must run; the drift is reported); then the speed in fp32 and bf16 mixed
# precision at two batch sizes. Same set-up rules as bench/gpu.sh (.venv, or .gpu/ from
# gpu_prepare.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/gpu_env.sh
source bench/gpu_env.sh
# Separate processes: deterministic mode needs CUBLAS_WORKSPACE_CONFIG before CUDA's first
# matrix product, which the trainer sets only when the process has not run one yet.
timeout 150 $PY bench/train.py --device cuda --resume-check --deterministic
timeout 150 $PY bench/train.py --device cuda --resume-check
for amp in off bf16; do
    for batch in 4 12; do
        timeout 200 $PY bench/train.py --device cuda --amp "$amp" --batch-size "$batch" --iters 10 \
            --title "Training stage 2 speed (CUDA, amp $amp, batch $batch)"
    done
done
if [ -n "${OUT:-}" ]; then cp bench/RESULTS.md "$OUT/"; fi
