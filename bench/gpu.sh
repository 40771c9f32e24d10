#!/usr/bin/env bash
# The engine benchmark on one CUDA GPU, in under 10 minutes: Real-ESRGAN's RealESRGANer
# (tile=200, fp16, one tile at a time) against our engine in auto/fp16/bf16/fp32 with several
# tile batch sizes, PSNR against the exact fp32 output. Writes bench/RESULTS.md (and copies it
# to $OUT when run through the device tool).
#
# With a .venv (a CUDA machine set up by ./setup.sh) it uses that. On the lent device machines
# (stock PyTorch image, no registry) run bench/gpu_prepare.sh here first and carry .gpu.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/gpu_env.sh
source bench/gpu_env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
$PY -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print(torch.__version__, torch.cuda.get_device_name(0))'

timeout 540 $PY bench/engine.py --device cuda --precisions auto,fp16,bf16,fp32 --batch-sizes 1,4,16 \
    --reference-half --extra-size 1024 --title "Engine vs RealESRGANer (CUDA)"
if [ -n "${OUT:-}" ]; then cp bench/RESULTS.md "$OUT/"; fi
