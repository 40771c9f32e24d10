#!/usr/bin/env bash
# Stage-2 training speed on one CUDA GPU (fp32 and bf16 mixed precision, two batch sizes),
# well under 10 minutes. Same set-up rules as bench/gpu.sh (.venv, or .gpu/ from gpu_prepare.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
if [ -x .venv/bin/python ]; then
    PY=.venv/bin/python
else
    PY=python3
    [ -d .gpu/wheels ] || { echo "no .venv and no .gpu/: run bench/gpu_prepare.sh first" >&2; exit 1; }
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu-site .gpu/wheels/*.whl
    export PYTHONPATH="/tmp/gpu-site:$PWD/.gpu/site:$PWD"
fi
export UPSCALER_DATA_DIR=${UPSCALER_DATA_DIR:-/tmp/upscaler-gpu-data}
for amp in off bf16; do
    for batch in 4 12; do
        timeout 200 $PY bench/train.py --device cuda --amp "$amp" --batch-size "$batch" --iters 10 \
            --title "Training stage 2 speed (CUDA, amp $amp, batch $batch)"
    done
done
if [ -n "${OUT:-}" ]; then cp bench/RESULTS.md "$OUT/"; fi
