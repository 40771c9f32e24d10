# Sourced by bench/gpu.sh and bench/gpu_train.sh: sets PY to a Python with our dependencies.
# With a .venv (a CUDA machine set up by ./setup.sh) it is that; on the lent device machines
# (stock PyTorch image, no registry) run bench/gpu_prepare.sh here first and carry .gpu/.
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
