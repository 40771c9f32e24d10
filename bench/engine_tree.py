"""The engine loop of bench/engine.py ("ours", fp32 on the CPU, auto batch) on its images, run on
the source tree given, so that two trees (before and after a change) can be timed interleaved:

    for i in 1 2 3; do for t in /tmp/before .; do .venv/bin/python bench/engine_tree.py $t MODEL; done; done

Prints the tree, the model, input megapixels per second and seconds. Needs no reference package.
"""

import sys
import time

sys.path.insert(0, sys.argv[1])
import upscaler.compat  # noqa: E402,F401
from bench.engine import bench_images  # noqa: E402
from upscaler.engine import Engine  # noqa: E402
from upscaler.settings import get_settings  # noqa: E402
from upscaler.zoo.registry import ModelZoo  # noqa: E402

try:
    from upscaler.engine.options import EngineOptions as Options
except ImportError:  # a tree from before the engine had options of its own
    from upscaler.jobspec import JobParams as Options

model = sys.argv[2] if len(sys.argv) > 2 else "realesr-animevideov3"
engine = Engine(ModelZoo(get_settings().models_dir), "cpu", "fp32")
engine.network(model)
images = bench_images(0)
megapixels = sum(i.shape[0] * i.shape[1] for _, i in images) / 1e6
options = Options(model=model, tile=200, tile_pad=12)
engine.upscale(images[0][1], options)  # warm
start = time.perf_counter()
for _, image in images:
    engine.upscale(image, options)
seconds = time.perf_counter() - start
print(f"{sys.argv[1]} {model} {megapixels / seconds:.4f} MP/s {seconds:.2f} s")
