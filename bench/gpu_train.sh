#!/usr/bin/env bash
# Stage-2 training speed on one CUDA GPU (fp32 and bf16 mixed precision, two batch sizes),
# well under 10 minutes. Same set-up rules as bench/gpu.sh (.venv, or .gpu/ from gpu_prepare.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/gpu_env.sh
source bench/gpu_env.sh
for amp in off bf16; do
    for batch in 4 12; do
        timeout 200 $PY bench/train.py --device cuda --amp "$amp" --batch-size "$batch" --iters 10 \
            --title "Training stage 2 speed (CUDA, amp $amp, batch $batch)"
    done
done
if [ -n "${OUT:-}" ]; then cp bench/RESULTS.md "$OUT/"; fi
