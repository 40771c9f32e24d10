#!/usr/bin/env bash
# Stage-2 training on one CUDA GPU, well under 10 minutes: a run saved and resumed across a
# segment boundary (checkpoint loaded onto the CPU, then moved back: the pool, full by then,
# must come back onto the GPU), with deterministic kernels (weights must equal an uninterrupted
# run's) and without (must run; the drift is reported); then the speed in fp32 and bf16 mixed
# precision at two batch sizes. Same set-up rules as bench/gpu.sh (.venv, or .gpu/ from
# gpu_prepare.sh).
#
# bench/gpu_train.sh --supplier-finetune [SOURCE]: instead, a short fine-tune of x4plus on the
# supplier degradation preset, judged by the validation's texture metrics (detail ratio,
# spectral distance; docs/training-reference.md). SOURCE: a folder of high-resolution material
# photos (default: the bundled samples, enough to run it, too few to learn from).
# SUPPLIER_FINETUNE_ITERS (default 400) iterations of aesrgan-multi at 128 px, batch 12, bf16,
# generator lr 1e-5; perceptual loss only with UPSCALER_VGG19_WEIGHTS (never downloaded),
# else L1 + GAN. x4plus itself is validated by a one-iteration run at learning rate 0 on the
# same seed, data and preset, hence on the same supplier-degraded held-back pairs; both runs
# go side by side through `upscaler train compare` (its JSON also to $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/gpu_env.sh
source bench/gpu_env.sh

supplier_finetune() {
    local source=${1:-samples} iters=${SUPPLIER_FINETUNE_ITERS:-400} work perceptual=0
    work=$(mktemp -d /tmp/supplier-finetune.XXXXXX)
    export UPSCALER_DATA_DIR="$work/state"  # its own SQLite database and run folders
    [ -n "${UPSCALER_VGG19_WEIGHTS:-}" ] && perceptual=1.0
    timeout 120 "$PY" -m cli.main train prepare "$source" -o "$work/data" --crop 160 --step 80
    for run in baseline finetune; do
        local total=$iters lr=1e-5
        [ "$run" = baseline ] && total=1 lr=0
        cat >"$work/$run.json" <<JSON
{"gt_size": 128, "degrade_size": 160, "batch_size": 12, "accumulate": 1, "pool_size": 180,
 "validate_pairs": 8, "amp": "bf16", "total_iter": $total, "checkpoint_every": $total, "segment_iters": $total,
 "loss": {"perceptual_weight": $perceptual}, "optim": {"lr_g": $lr, "lr_d": 1e-4, "milestones": [$total]}}
JSON
        timeout 420 "$PY" -m cli.main train submit --stage aesrgan-multi --degradation supplier \
            --data "$work/data" --init-from realesrgan-x4plus --config "$work/$run.json" --name "x4plus-supplier-$run"
    done
    "$PY" -m cli.main train compare x4plus-supplier-baseline x4plus-supplier-finetune
    if [ -n "${OUT:-}" ]; then
        "$PY" -m cli.main train compare x4plus-supplier-baseline x4plus-supplier-finetune --json \
            >"$OUT/supplier-finetune.json"
    fi
}

if [ "${1:-}" = "--supplier-finetune" ]; then
    supplier_finetune "${2:-samples}"
    exit 0
fi
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
